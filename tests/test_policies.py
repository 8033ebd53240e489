"""Batch calibration policies: exact shares, budgets never exceeded, N-model policies, N=2 == pair."""

from __future__ import annotations

import numpy as np
import pytest

from router_core import policies as P


def _batch(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    cw = rng.uniform(1e-4, 5e-4, n)
    cs = cw + rng.uniform(1e-3, 1e-2, n)
    tb = rng.permutation(n).astype(np.int64)
    return score, cs, cw, tb


@pytest.mark.parametrize("n", [1, 7, 100, 1001])
@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 0.333, 1.0])
def test_strong_share_is_exact_to_the_row(n, share):
    score, _, _, tb = _batch(n)
    strong = P.route_strong_share(score, share, tb)
    assert strong.sum() == int(np.floor(share * n + 0.5))
    if 0 < strong.sum() < n:  # the highest scores are the strong ones
        assert score[strong].min() >= score[~strong].max()


def test_strong_share_property_rounds_the_decimal_share():
    """Every share with three decimals, on batch sizes where share x n often lands on a half (multiples
    of 125) and on random ones: the share as written times n, halves up (exact rational reference)."""
    from fractions import Fraction

    sizes = [*range(0, 2001, 125), *np.random.default_rng(7).integers(1, 100_000, 8).tolist()]
    for thousandths in range(1001):
        for n in sizes:
            want = int(Fraction(thousandths, 1000) * n + Fraction(1, 2))  # floor: both are >= 0
            assert P.exact_count(thousandths / 1000, n) == want, (thousandths, n)


def test_strong_share_ties_broken_by_tiebreak_not_input_order():
    score = np.full(10, 0.5)
    tb = np.arange(10)[::-1].copy()
    strong = P.route_strong_share(score, 0.3, tb)
    assert set(np.flatnonzero(strong)) == {7, 8, 9}  # smallest tiebreak values
    perm = np.random.default_rng(1).permutation(10)
    strong_p = P.route_strong_share(score[perm], 0.3, tb[perm])
    assert set(tb[perm][strong_p]) == set(tb[strong])


def test_half_rounds_up():
    assert P.exact_count(0.5, 3) == 2
    assert P.exact_count(0.25, 2) == 1
    # halves that binary floating point puts just below: 0.009 x 1500 = 13.4999999...
    assert P.exact_count(0.009, 1500) == 14
    assert P.exact_count(0.036, 375) == 14
    assert P.exact_count(np.float64(0.071), 1500) == 107
    with pytest.raises(P.PolicyError):
        P.exact_count(1.5, 3)


def test_threshold():
    s = np.array([0.1, 0.5, 0.9])
    assert P.route_threshold(s, 0.5).tolist() == [False, True, True]


@pytest.mark.parametrize("frac", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_budget_never_exceeded_and_spends_most_valuable_first(frac):
    score, cs, cw, tb = _batch(500, seed=3)
    budget = cw.sum() + frac * (cs - cw).sum() + (1e-9 if frac == 1.0 else 0.0)  # float sums differ
    strong = P.route_budget(score, cs, cw, budget, tb)
    spent = np.where(strong, cs, cw).sum()
    assert spent <= budget + 1e-12
    ratio = score / (cs - cw)
    if 0 < strong.sum() < len(score):
        assert ratio[strong].min() >= ratio[~strong].max()
        # the next prompt would not have fitted
        nxt = np.argmax(np.where(strong, -np.inf, ratio))
        assert spent + (cs - cw)[nxt] > budget
    if frac == 1.0:
        assert strong.all()


def test_budget_below_the_cheapest_routing_is_an_error():
    score, cs, cw, tb = _batch(10)
    with pytest.raises(P.PolicyError, match="cheapest possible cost"):
        P.route_budget(score, cs, cw, cw.sum() * 0.5, tb)


def test_budget_free_upgrades_go_strong():
    score = np.array([0.1, 0.9])
    cw = np.array([1.0, 1.0])
    cs = np.array([0.5, 3.0])  # strong is cheaper on row 0
    strong = P.route_budget(score, cs, cw, 2.0, np.arange(2))
    assert strong.tolist() == [True, False]


def test_budget_counts_what_free_upgrades_save():
    """A strong model cheaper than the weak one on some prompts (a pair named by quality, not price, or
    per-model completion lengths) makes the cheapest routing cost less than all-weak: a budget between the
    two is feasible, and the saving pays for upgrades."""
    score = np.array([0.9, 0.1, 0.5])
    cs = np.array([1.0, 0.5, 2.0])
    cw = np.array([0.5, 1.0, 0.5])  # row 1: strong is cheaper; the cheapest routing costs 1.5
    tb = np.arange(3)
    assert P.route_budget(score, cs, cw, 1.6, tb).tolist() == [False, True, False]
    assert P.route_budget(score, cs, cw, 2.0, tb).tolist() == [True, True, False]  # spends exactly 2.0
    with pytest.raises(P.PolicyError, match="cheapest possible cost"):
        P.route_budget(score, cs, cw, 1.4, tb)


def test_budget_property_fits_spends_and_matches_the_n_model_policy():
    """Seeded random batches (some prompts cheaper strong), budgets anywhere from the cheapest routing to
    all-strong, including exactly on a running total: the batch total never exceeds the budget, the next
    prompt in value order would not fit, and the N-model policy with two models routes identically."""
    rng = np.random.default_rng(20261207)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        score = rng.random(n)
        cw = rng.uniform(1e-4, 5e-4, n)
        cs = np.maximum(cw + rng.uniform(-2e-4, 1e-2, n), 0.0)
        tb = rng.integers(0, 1 << 62, n)
        cheapest = float(np.minimum(cs, cw).sum())
        steps = np.cumsum(np.r_[cheapest, np.sort(np.abs(cs - cw))])
        if rng.random() < 0.5:
            budget = cheapest + rng.random() * (float(np.maximum(cs, cw).sum()) - cheapest)
        else:  # exactly where a running total lands: summing in another order rounds either way
            budget = float(rng.choice(steps))
        strong = P.route_budget(score, cs, cw, budget, tb)
        spent = float(np.where(strong, cs, cw).sum())
        assert spent <= budget
        assert strong[cs <= cw].all()  # free upgrades always taken
        rest = np.flatnonzero(~strong)
        if len(rest):  # the greedy stops at the first prompt, by value, that does not fit
            nxt = rest[np.lexsort((tb[rest], -(score / (cs - cw))[rest]))[0]]
            assert spent + float((cs - cw)[nxt]) > budget * (1 - 1e-12)
        q = np.stack([score, np.zeros(n)], axis=1)
        idx, _ = P.route_budget_multi(q, np.stack([cs, cw], axis=1), budget, ["strong", "weak"], tb)
        assert ((idx == 0) == strong).all()


def _multi(n: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    q = rng.random((n, m))
    c = rng.uniform(1e-4, 1e-2, (n, m))
    return q, c, [f"model-{i}" for i in range(m)]


def test_cost_weight_zero_picks_best_and_large_picks_cheapest():
    q, c, models = _multi(200, 4)
    assert (P.route_cost_weight(q, c, 0.0, models) == q.argmax(1)).all()
    assert (P.route_cost_weight(q, c, 1e9, models) == c.argmin(1)).all()


def test_cost_weight_does_not_depend_on_model_listing_order():
    q, c, models = _multi(300, 3, seed=5)
    q[:50] = 0.5  # exact ties in quality
    perm = np.array([2, 0, 1])
    a = np.asarray(models)[P.route_cost_weight(q, c, 10.0, models)]
    permuted = list(np.asarray(models)[perm])
    b = np.asarray(permuted)[P.route_cost_weight(q[:, perm], c[:, perm], 10.0, permuted)]
    assert (a == b).all()


def test_quality_target_cheapest_reaching_target():
    q = np.array([[0.9, 0.7, 0.2], [0.1, 0.2, 0.3]])
    c = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    idx = P.route_quality_target(q, c, 0.6, ["a", "b", "c"])
    assert idx.tolist() == [1, 2]  # row 2: nobody reaches 0.6 -> best quality (c)


def test_quality_target_property_cheapest_then_best_of_equally_cheap():
    """Seeded random batches with few price levels (equal prices are common: five LLMRouter models cost
    $0.20 / $0.20): the pick reaches the target when any model does, nothing cheaper reaches it, and no
    equally cheap model that reaches it is predicted better."""
    rng = np.random.default_rng(11)
    models = ["m-a", "m-b", "m-c", "m-d", "m-e"]
    for _ in range(200):
        n = int(rng.integers(1, 30))
        q = np.round(rng.random((n, 5)), 2)
        c = rng.choice([0.2, 0.2, 0.6, 0.9], size=(n, 5))
        target = float(rng.random())
        idx = P.route_quality_target(q, c, target, models)
        r = np.arange(n)
        qi, ci = q[r, idx], c[r, idx]
        ok = q >= target
        reach = ok.any(axis=1)
        assert (qi[reach] >= target).all()
        assert (qi[~reach] == q[~reach].max(axis=1)).all()
        assert not (ok & (c < ci[:, None])).any()
        assert not (ok & (c == ci[:, None]) & (q > qi[:, None])).any()
    q = np.array([[0.65, 0.9, 0.95]])
    c = np.array([[1.0, 1.0, 5.0]])
    assert P.route_quality_target(q, c, 0.6, ["a-model", "b-model", "c-model"]).tolist() == [1]


@pytest.mark.parametrize("frac", [0.0, 0.2, 0.6, 1.0])
def test_budget_multi_never_exceeds(frac):
    q, c, models = _multi(400, 4, seed=7)
    lo, hi = c.min(1).sum(), c[np.arange(len(c)), q.argmax(1)].sum()
    budget = lo + frac * (hi - lo)
    idx, lam = P.route_budget_multi(q, c, budget, models)
    spent = c[np.arange(len(c)), idx].sum()
    assert spent <= budget + 1e-12
    # tighter budget never gives more quality
    idx2, _ = P.route_budget_multi(q, c, lo + 0.5 * frac * (hi - lo), models)
    assert q[np.arange(len(q)), idx2].sum() <= q[np.arange(len(q)), idx].sum() + 1e-9


def test_budget_multi_below_cheapest_is_an_error():
    q, c, models = _multi(10, 3)
    with pytest.raises(P.PolicyError, match="cheapest"):
        P.route_budget_multi(q, c, c.min(1).sum() * 0.9, models)


@pytest.mark.parametrize("frac", [0.05, 0.3, 0.7])
def test_two_model_policy_matches_pair_router(frac):
    """N = 2 through the N-model budget policy gives the pair router's routes (value = strong_win_prob)."""
    score, cs, cw, tb = _batch(600, seed=11)
    budget = cw.sum() + frac * (cs - cw).sum()
    pair = P.route_budget(score, cs, cw, budget, tb)
    # weak gains nothing, strong gains its win probability: the pair's "value" in quality units
    q = np.stack([np.zeros_like(score), score], axis=1)
    c = np.stack([cw, cs], axis=1)
    idx, _ = P.route_budget_multi(q, c, budget, ["weak-model", "strong-model"])
    assert ((idx == 1) == pair).all()
    # cost weight 0 routes every request to the strong model, like --strong-share 1.0
    assert (P.route_cost_weight(q, c, 0.0, ["weak-model", "strong-model"]) == 1).all()


def test_a_budget_that_does_not_bind_is_noted():
    """A budget above what sending every request to the strong (best) model costs trades nothing: the
    route job says so instead of a bare "0% saved"."""
    from types import SimpleNamespace

    from router_core.route_decision import RoutePolicy, decide, unbound_budget_note

    score, cs, cw, tb = _batch(50, seed=3)
    pair = SimpleNamespace(strong="big", weak="small", models=["big", "small"])
    cost = np.stack([cs, cw], axis=1)  # route_models order: strong, weak

    def note(budget: float) -> str | None:
        policy = RoutePolicy("budget_usd", budget)
        return unbound_budget_note(pair, policy, score, cost, decide(pair, policy, score, tb, cost))

    assert "does not bind: every request goes to the strong model (big)" in note(cs.sum() * 2)
    assert note(cw.sum() + 0.5 * (cs - cw).sum()) is None
    multi = SimpleNamespace(strong=None, weak=None, models=["a", "b", "c"])
    q = np.random.default_rng(0).random((50, 3))
    c3 = np.stack([cw, cs, cs * 2], axis=1)
    policy = RoutePolicy("budget_usd", float(c3.sum()))
    idx = decide(multi, policy, q, tb, c3)
    assert "its best predicted model" in unbound_budget_note(multi, policy, q, c3, idx)
    assert unbound_budget_note(pair, RoutePolicy("strong_share", 1.0), score, cost, np.zeros(50, int)) is None


def test_cost_weight_infinite_takes_the_cheapest_model():
    """W = inf is the limit of a growing cost weight: each prompt's cheapest model, the best predicted of
    equally cheap ones; a free model (cost 0) must not turn inf x 0 into NaN and lose the argmax."""
    q = np.array([[0.1, 0.9, 0.5], [0.8, 0.2, 0.3], [0.4, 0.6, 0.1]])
    c = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 3.0], [0.5, 0.5, 0.0]])
    models = ["a", "b", "c"]
    assert P.route_cost_weight(q, c, np.inf, models).tolist() == [1, 0, 2]
    assert (P.route_cost_weight(q, c, 1e12, models) == P.route_cost_weight(q, c, np.inf, models)).all()
    with pytest.raises(P.PolicyError, match=">= 0"):
        P.route_cost_weight(q, c, float("nan"), models)


def test_a_nan_policy_value_is_refused():
    """NaN compares false with every bound: unchecked, --budget-usd nan would send every request strong."""
    from types import SimpleNamespace

    from router_core.route_decision import RoutePolicy, resolve_policy

    pair = SimpleNamespace(strong="big", weak="small", models=["big", "small"])
    multi = SimpleNamespace(strong=None, weak=None, models=["a", "b", "c"])
    for router, kinds in (
        (pair, ("strong_share", "threshold", "budget_usd")),
        (multi, ("cost_weight", "quality_target", "budget_usd")),
    ):
        for kind in kinds:
            with pytest.raises(P.PolicyError, match="must be a number"):
                resolve_policy(router, RoutePolicy(kind, float("nan")))
    assert resolve_policy(pair, RoutePolicy("budget_usd", float("inf"))).value == float("inf")


def test_an_unbound_budget_is_noted_when_models_tie_in_quality():
    """Equal predicted qualities go to the cheaper model at an unlimited budget, and so does the note's
    idea of "its best predicted model"."""
    from types import SimpleNamespace

    from router_core.route_decision import RoutePolicy, decide, unbound_budget_note

    multi = SimpleNamespace(strong=None, weak=None, models=["a", "b"])
    q = np.array([[0.7, 0.7], [0.6, 0.2]])
    c = np.array([[2.0, 1.0], [2.0, 1.0]])
    policy = RoutePolicy("budget_usd", 100.0)
    idx = decide(multi, policy, q, np.arange(2), c)
    assert idx.tolist() == [1, 0]
    assert "does not bind" in unbound_budget_note(multi, policy, q, c, idx)
