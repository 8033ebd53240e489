"""N-model routing acceptance: a budget is never exceeded, N = 2 routes like the pair router through the
route job's policy step, a model without a price is a one-line error (policies, evaluate, route)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jobs.cli import app
from router_core import policies as P
from router_core.route_decision import RoutePolicy, decide

BIG, MID, SMALL = "inhouse-llm-large", "inhouse-llm-medium", "inhouse-llm-small"  # no public price


def _spent(c: np.ndarray, idx: np.ndarray) -> float:
    return float(c[np.arange(len(c)), idx].sum())


@pytest.mark.parametrize("seed", range(6))
def test_budget_multi_never_exceeded_with_ties_and_equal_costs(seed):
    """Duplicated prompts (exact ties), models of equal price and a free model, budgets from the cheapest
    possible cost to more than the best routing needs: the spend never exceeds the budget and more budget
    never buys less predicted quality."""
    rng = np.random.default_rng(seed)
    n, m = 300, 5
    base_q = rng.random((60, m))
    q = base_q[rng.integers(0, 60, n)]  # every prompt repeated ~5 times
    tokens = rng.integers(50, 2000, n).astype(np.float64)
    price = np.array([0.0, 0.2, 0.2, 0.9, 1.8]) / 1e6
    c = tokens[:, None] * price[None, :]
    models = [f"m{j}" for j in range(m)]
    lo, hi = c.min(axis=1).sum(), _spent(c, q.argmax(axis=1))
    last = -np.inf
    for frac in (0.0, 0.01, 0.1, 0.33, 0.5, 0.9, 1.0, 1.5):
        budget = lo + frac * (hi - lo)
        idx, lam = P.route_budget_multi(q, c, budget, models, tiebreak=rng.permutation(n))
        assert _spent(c, idx) <= budget
        assert lam >= 0
        total_q = float(q[np.arange(n), idx].sum())
        assert total_q >= last - 1e-9
        last = total_q
    assert (P.route_budget_multi(q, c, hi * 2, models)[0] == P.route_cost_weight(q, c, 0.0, models)).all()


def test_budget_multi_spends_the_budget_on_a_block_of_identical_prompts():
    """100 copies of one prompt tie at the multiplier: they are upgraded one by one while they fit
    (a Lagrange multiplier alone would send all of them or none to the better model)."""
    q = np.tile([[0.2, 0.9]], (100, 1))
    c = np.tile([[1.0, 3.0]], (100, 1))
    idx, _ = P.route_budget_multi(q, c, 100.0 + 2.0 * 37 + 1.0, ["cheap", "good"], tiebreak=np.arange(100))
    assert idx.sum() == 37 and idx[:37].all()  # the smallest tiebreak values go first
    assert _spent(c, idx) <= 175.0


def _pair_router() -> SimpleNamespace:
    return SimpleNamespace(strong="strong-model", weak="weak-model", models=["weak-model", "strong-model"])


def _scores(router: SimpleNamespace, p: np.ndarray, models: list[str]) -> np.ndarray:
    """What the route job hands to ``decide``: strong_win_prob for a pair router, predicted quality for an
    N-model router (weak gains nothing, strong gains its win probability)."""
    if router.strong is not None:
        return p
    quality = {"weak-model": np.zeros_like(p), "strong-model": p}
    return np.column_stack([quality[mo] for mo in models])


@pytest.mark.parametrize("models", [["weak-model", "strong-model"], ["strong-model", "weak-model"]])
@pytest.mark.parametrize("frac", [0.0, 0.05, 0.3, 0.77, 0.999])
def test_two_model_router_routes_like_the_pair_router(models, frac):
    rng = np.random.default_rng(3)
    n = 400
    prompt = rng.integers(0, 120, n)  # repeated prompts: tied scores and costs, as in real logs
    p, tokens = rng.random(120)[prompt], rng.integers(20, 800, 120)[prompt].astype(np.float64)
    tb = rng.permutation(n).astype(np.int64)
    price = {"weak-model": 0.15e-6, "strong-model": 2.5e-6}
    pair_cost = tokens[:, None] * np.array([price["strong-model"], price["weak-model"]])[None, :]
    multi_cost = tokens[:, None] * np.array([price[mo] for mo in models])[None, :]
    budget = pair_cost[:, 1].sum() + frac * (pair_cost[:, 0] - pair_cost[:, 1]).sum()

    pair = _pair_router()
    multi = SimpleNamespace(strong=None, weak=None, models=models)
    pair_idx = decide(pair, RoutePolicy("budget_usd", budget), _scores(pair, p, models), tb, pair_cost)
    multi_idx = decide(multi, RoutePolicy("budget_usd", budget), _scores(multi, p, models), tb, multi_cost)
    pair_routes = np.array([pair.strong, pair.weak])[pair_idx]
    multi_routes = np.asarray(models)[multi_idx]
    assert (pair_routes == multi_routes).all()
    assert 0 < (pair_routes == "strong-model").sum() < n or frac == 0.0

    # Cost weight w on the N-model router = threshold w * (strong - weak cost) on the pair score.
    flat = {mo: 100.0 * price[mo] for mo in models}  # 100 tokens per prompt: one cost difference
    w = 0.4 / (flat["strong-model"] - flat["weak-model"])
    cw_cost = np.tile([flat[mo] for mo in models], (n, 1))
    cw_idx = decide(multi, RoutePolicy("cost_weight", w), _scores(multi, p, models), tb, cw_cost)
    th_idx = decide(pair, RoutePolicy("threshold", 0.4), _scores(pair, p, models), tb, pair_cost)
    assert (np.asarray(models)[cw_idx] == np.array([pair.strong, pair.weak])[th_idx]).all()


def test_policies_name_a_model_without_a_price():
    q = np.random.default_rng(0).random((5, 3))
    c = np.full((5, 3), 1e-6)
    c[:, 1] = np.nan  # what a missing price turns into
    for call in (
        lambda: P.route_cost_weight(q, c, 1.0, [BIG, MID, SMALL]),
        lambda: P.route_quality_target(q, c, 0.5, [BIG, MID, SMALL]),
        lambda: P.route_budget_multi(q, c, 1.0, [BIG, MID, SMALL]),
    ):
        with pytest.raises(P.PolicyError, match=f"cost of model\\(s\\) \\['{MID}'\\]"):
            call()


@pytest.fixture(scope="module")
def unpriced(tmp_path_factory, embedder):
    """A tiny 3-model router (SW only: seconds), its data, logs, and a price file that lacks MID."""
    from router_core.training import train_router
    from router_core.training_data import load_training_data

    d = tmp_path_factory.mktemp("unpriced")
    rng = np.random.default_rng(0)
    prompts = [f"{'Prove the theorem' if i % 2 else 'Say hello'} number {i}" for i in range(60)]
    hard = np.arange(60) % 2 == 1
    df = pd.DataFrame(
        {
            "prompt": prompts,
            BIG: rng.random(60) < 0.9,
            MID: rng.random(60) < np.where(hard, 0.5, 0.9),
            SMALL: rng.random(60) < np.where(hard, 0.1, 0.8),
        }
    )
    df.to_parquet(d / "data.parquet")
    data = load_training_data([str(d / "data.parquet")])
    router = train_router(
        data, embedder.encode(data.prompts), embedder.id, scorers=("sw",), log=lambda s: None
    )
    router.save(str(d / "router"))
    prices = d / "prices.json"
    prices.write_text(
        json.dumps(
            {BIG: {"input_price": 3.0, "output_price": 6.0}, SMALL: {"input_price": 0.1, "output_price": 0.2}}
        )
    )
    pd.DataFrame({"request_id": [f"r{i}" for i in range(6)], "prompt": prompts[:6]}).to_parquet(
        d / "logs.parquet"
    )
    return d


def test_evaluate_with_an_unpriced_model_is_a_one_line_error(unpriced, tmp_path):
    d = unpriced
    res = CliRunner().invoke(
        app,
        [
            "evaluate", "--router", str(d / "router"), "--data", str(d / "data.parquet"),
            "--out", str(tmp_path), "--prices", str(d / "prices.json"), "--no-baseline",
        ],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert f"no price for model(s) ['{MID}']" in res.output and "Traceback" not in res.output


def test_route_with_an_unpriced_model_fails_before_spark(unpriced, tmp_path, capsys):
    from jobs.route_cmd import app_main

    d = unpriced
    rc = app_main(
        [
            "--router", str(d / "router"), "--logs", str(d / "logs.parquet"), "--out", str(tmp_path / "out"),
            "--prices", str(d / "prices.json"), "--cost-weight", "0",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"no price for 1 model(s): {MID}" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
