"""bench/transfer_protocol.py: its summary and acceptance checks (which the docs' learning-curve verdict
reads), the target marking it trains with, and its usage errors. The bench itself is run by hand; its
figures are in docs/routers.md."""

from __future__ import annotations

import numpy as np

from tests.bench_modules import load_bench


def _bench():
    return load_bench("transfer_protocol")


def _runs(value: float, n_seed: int = 2, n_boot: int = 100) -> list[np.ndarray]:
    rng = np.random.default_rng(int(value * 1000))
    return list(value + 0.01 * rng.standard_normal((n_seed, n_boot + 1)))


def test_summary_finds_the_best_reference_and_checks_each_cell():
    tp = _bench()
    results = {
        "dom-a": {"router": {0: _runs(0.50), 50: _runs(0.70)}, "generic": {0: _runs(0.50), 50: _runs(0.50)},
                  "target-lr": {50: _runs(0.65)}, "length": {0: _runs(0.60), 50: _runs(0.60)}},
        "dom-b": {"router": {0: _runs(0.62), 50: _runs(0.64)}, "generic": {0: _runs(0.62), 50: _runs(0.62)},
                  "target-lr": {50: _runs(0.55)}, "length": {0: _runs(0.52), 50: _runs(0.52)}},
    }  # fmt: skip
    s = tp.summarise(results)
    cell = next(c for c in s["cells"] if c["domain"] == "dom-a" and c["n"] == 50)
    assert cell["best_reference"] == "target-lr" and abs(cell["router_minus_best"] - 0.05) < 0.01
    lo, hi = cell["router_ci95"]
    assert lo < cell["router"] < hi
    assert s["checks"]["router_at_least_best_reference_n50"]
    assert s["checks"]["router_above_each_reference_on_average"]
    # n = 0 on dom-a: the router (0.50) is below prompt length (0.60 > 0.55)
    assert not s["checks"]["n0_not_below_length_where_length_above_055"]
    assert abs(s["mean_over_domains"][50]["router"] - 0.67) < 0.01
    assert "| dom-a | 50 |" in tp.table(s, ["router", "generic", "target-lr", "length"])


def test_mark_target_moves_the_rows_and_their_battles_to_a_target_source():
    from tests.battle_sets import battle_set

    tp = _bench()
    ts = battle_set(
        ["p0", "p1", "p2"], ["strong", "weak"], [0, 1, 2, 2], [0, 0, 0, 1], [1, 1, 1, 0], [1, 0, 1, 0]
    )
    marked = tp.mark_target(ts, np.array([2]))
    assert marked.sources == ["s", tp.TARGET_SOURCE]
    assert marked.prompt_source.tolist() == [0, 0, 1]
    assert marked.battle_source.tolist() == [0, 0, 1, 1]
    assert ts.sources == ["s"]  # the input is left as it was


def test_unknown_domain_is_a_usage_error(capsys):
    tp = _bench()
    if not (tp.SHARED / "mmlu_dev.parquet").exists():
        assert tp.main(["--domains", "nowhere"]) == 2
        return
    assert tp.main(["--domains", "nowhere", "--methods", "length"]) == 2
    assert "no known domain" in capsys.readouterr().err


def test_summarise_merges_the_results_files_of_several_runs(tmp_path, capsys):
    import json

    tp = _bench()
    paths = []
    for dom, router in (("dom-a", 0.70), ("dom-b", 0.50)):
        results = {dom: {"router": {50: _runs(router)}, "length": {50: _runs(0.60)}}}
        out = {"args": {"methods": ["router", "length"]}, "summary": tp.summarise(results)}
        paths.append(tmp_path / f"{dom}.json")
        paths[-1].write_text(json.dumps(out))
    assert tp.main(["--summarise", ",".join(map(str, paths))]) == 0
    text = capsys.readouterr().out
    assert "| dom-a | 50 |" in text and "| dom-b | 50 |" in text
    mean_line = next(line for line in text.splitlines() if line.startswith("| mean over domains | 50 |"))
    router_mean, length_mean = (float(v) for v in mean_line.split("|")[3:5])
    assert abs(router_mean - 0.60) < 0.02 and abs(length_mean - 0.60) < 0.02
    assert '"router_at_least_best_reference_n50": false' in text
