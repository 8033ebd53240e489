"""bench/transfer_protocol_multi.py: its AIQ on resamples agrees with ``multi_metrics`` (what `evaluate`
reports), and its summary finds the best reference. The bench itself is run by hand; its figures are in
docs/routers-n-model.md."""

from __future__ import annotations

import numpy as np

from tests.bench_modules import load_bench


def _bench():
    return load_bench("transfer_protocol_multi")


def _setting(n: int = 300, m: int = 4):
    rng = np.random.default_rng(0)
    true_q = (rng.random((n, m)) < np.linspace(0.3, 0.8, m)).astype(float)
    cost = np.tile(np.linspace(0.1, 2.0, m), (n, 1))
    return rng, true_q, cost


def test_aiq_on_the_whole_test_part_is_what_evaluate_reports():
    from router_core.evaluation import bootstrap_weights, multi_metrics

    tmm = _bench()
    rng, true_q, cost = _setting()
    pred = true_q + 0.8 * rng.standard_normal(true_q.shape)
    models = ["a", "b", "c", "d"]
    ref = multi_metrics(true_q, cost, {"r": pred, "oracle": true_q}, models, n_boot=0)
    w = bootstrap_weights(len(true_q), 30, np.random.default_rng(1))
    got = tmm.aiq_resampled(true_q, cost, pred, w)
    assert got.shape == (31,)
    assert abs(got[0] - ref["routers"]["r"]["aiq"]["value"]) < 1e-12
    zero = tmm.zero_router_resampled(true_q, cost, w)
    assert abs(zero[0] - ref["zero_router"]["aiq"]) < 1e-12
    oracle = tmm.aiq_resampled(true_q, cost, true_q, w)
    assert np.all(oracle >= zero - 1e-12) and np.all(oracle >= got - 1e-12)


def test_summary_finds_the_best_reference():
    tmm = _bench()
    runs = lambda v: list(v + 0.01 * np.random.default_rng(int(v * 1000)).standard_normal((2, 51)))  # noqa: E731
    results = {
        "llmrouter-a": {"router": {0: runs(0.60), 50: runs(0.66)}, "generic": {0: runs(0.60), 50: runs(0.60)},
                        "target-knn": {50: runs(0.62)}, "zero-router": {0: runs(0.58), 50: runs(0.58)}},
    }  # fmt: skip
    s = tmm.summarise(results)
    cell = next(c for c in s["cells"] if c["n"] == 50)
    assert cell["best_reference"] == "target-knn" and abs(cell["router_minus_best"] - 0.04) < 0.01
    assert s["checks"] == {
        "router_at_least_best_reference_n50": True,
        "router_above_each_reference_on_average": True,
    }
    assert "| llmrouter-a | 50 |" in tmm.table(s, ["router", "generic", "target-knn", "zero-router"])
