"""bench/label_sampling.py: its verdict logic (which decides the default of ``label sample --strategy``)
and its usage errors. The bench itself is run by hand; its figures are in docs/routers.md."""

from __future__ import annotations

import numpy as np

from tests.bench_modules import load_bench


def _bench():
    return load_bench("label_sampling")


def _runs(inf: float, rnd: float, n_seed: int = 3, n_boot: int = 200, noise: float = 0.01) -> dict:
    rng = np.random.default_rng(0)
    return {
        "informative": inf + noise * rng.standard_normal((n_seed, n_boot + 1)),
        "random": rnd + noise * rng.standard_normal((n_seed, n_boot + 1)),
    }


def _result(name: str, deltas: dict[int, float]) -> dict:
    return {"domain": name, "budgets": {b: _runs(0.6 + d, 0.6) for b, d in deltas.items()}}


def test_clearly_better_informative_keeps_the_default():
    s = _bench().summarise([_result("a", {25: 0.05, 50: 0.05}), _result("b", {25: 0.04, 50: 0.06})], 0)
    assert s["keep_informative_default"] and s["informative_never_worse"]
    assert s["budgets"][25]["domains"] == 2
    assert 0.03 < s["overall"]["delta"] < 0.07
    lo, hi = s["overall"]["delta_ci95"]
    assert 0 < lo < s["overall"]["delta"] < hi


def test_worse_at_one_budget_or_no_clear_gain_means_random():
    s = _bench().summarise([_result("a", {25: -0.05, 50: 0.10})], 0)
    assert not s["informative_never_worse"] and not s["keep_informative_default"]
    s = _bench().summarise([_result("a", {25: 0.0, 50: 0.0})], 0)
    assert not s["informative_better_on_average"] and not s["keep_informative_default"]


def test_delta_ci_holds_the_seed_spread():
    """Seeds that disagree widen the CI even when every test resample agrees."""
    runs = {"informative": np.array([[0.5] * 101, [0.7] * 101]), "random": np.full((2, 101), 0.6)}
    boot = _bench()._delta_boot(runs, np.random.default_rng(0))
    assert boot.min() < -0.05 and boot.max() > 0.05


def test_missing_shared_data_is_one_line_exit_2(tmp_path, capsys):
    bench = _bench()
    bench.SHARED = tmp_path
    assert bench.main(["--out", str(tmp_path / "x.json")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
