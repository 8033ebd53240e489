"""Pair / N-model evaluation metrics and the TF-IDF baseline, on small generated data."""

from __future__ import annotations

import numpy as np
import pytest

from router_core.baseline import (
    TfidfMultiBaseline,
    TfidfPairBaseline,
    multi_baseline_scores,
    pair_baseline_scores,
)
from router_core.evaluation import (
    aiq,
    multi_metrics,
    pair_metrics,
    pair_reference,
    pair_table,
    upper_hull,
)
from router_core.outcomes import model_outcomes, pair_outcomes
from router_core.training_data import TrainingSet


def _random_pair(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    qs = (rng.random(n) < 0.8).astype(float)
    qw = (rng.random(n) < 0.65).astype(float)
    return qs, qw, rng


def test_hand_computed_curve():
    qs, qw = np.array([1.0, 1, 0, 1]), np.array([0.0, 1, 0, 0])
    # Gains 1,0,0,1: the perfect score sends the two gain-1 prompts first (a tie block of 2).
    m = pair_metrics(qs, qw, qs - qw, n_boot=0)
    # PGR rises linearly 0 -> 1 over share 0..0.5 then stays 1: area 0.25 + 0.5.
    assert m["apgr"]["value"] == pytest.approx(0.75)
    assert m["cpt"]["50"]["value"] == pytest.approx(0.25)
    assert m["cpt"]["80"]["value"] == pytest.approx(0.40)
    assert m["curve"]["quality"][0] == pytest.approx(0.25) and m["curve"]["quality"][-1] == pytest.approx(
        0.75
    )


def test_all_tied_scores_are_the_random_router():
    qs, qw, _ = _random_pair()
    m = pair_metrics(qs, qw, np.zeros_like(qs), n_boot=50)
    assert m["apgr"]["value"] == pytest.approx(0.5)
    for lv in ("20", "50", "80"):
        assert m["cpt"][lv]["value"] == pytest.approx(int(lv) / 100)
    # Every resample of an all-tied score is still exactly random.
    assert m["apgr"]["ci95"] == pytest.approx([0.5, 0.5])


def test_ties_equal_expectation_over_random_tie_order():
    qs, qw, rng = _random_pair(n=120, seed=1)
    score = rng.integers(0, 4, size=len(qs)).astype(float)  # heavy ties
    exact = pair_metrics(qs, qw, score, n_boot=0)["apgr"]["value"]
    jittered = [
        pair_metrics(qs, qw, score + 1e-6 * rng.random(len(qs)), n_boot=0)["apgr"]["value"]
        for _ in range(400)
    ]
    assert np.mean(jittered) == pytest.approx(exact, abs=3e-3)


def test_reversed_score_mirrors_apgr_and_monotone_invariance():
    qs, qw, rng = _random_pair(seed=2)
    score = (qs - qw) + rng.normal(0, 1.0, len(qs))
    a = pair_metrics(qs, qw, score, n_boot=0)["apgr"]["value"]
    assert pair_metrics(qs, qw, -score, n_boot=0)["apgr"]["value"] == pytest.approx(1.0 - a)
    assert pair_metrics(qs, qw, np.exp(score), n_boot=0)["apgr"]["value"] == pytest.approx(a)
    assert a > 0.5  # informative score beats random


def test_bootstrap_ci_brackets_estimate_and_is_seeded():
    qs, qw, rng = _random_pair(seed=3)
    score = (qs - qw) + rng.normal(0, 0.7, len(qs))
    m1 = pair_metrics(qs, qw, score, n_boot=300, seed=7)
    m2 = pair_metrics(qs, qw, score, n_boot=300, seed=7)
    lo, hi = m1["apgr"]["ci95"]
    assert lo < m1["apgr"]["value"] < hi
    assert m1["apgr"]["ci95"] == m2["apgr"]["ci95"]
    lo, hi = m1["cpt"]["50"]["ci95"]
    assert lo <= m1["cpt"]["50"]["value"] <= hi


def test_oracle_reference_and_table():
    qs, qw, _ = _random_pair(seed=4)
    ref = pair_reference(qs, qw, n_boot=0, seed=0)
    assert ref["quality_strong"] == pytest.approx(qs.mean())
    # The oracle gives strong exactly where it helps: PGR reaches 1 at share P(strong only).
    assert ref["oracle"]["cpt"]["80"]["value"] <= np.mean(qs > qw) + 1e-12
    assert ref["oracle"]["apgr"]["value"] > 1.0
    table = pair_table({"oracle": ref["oracle"]}).splitlines()
    assert table[0].split()[:2] == ["router", "APGR"] and len(table) == 2
    row = table[1].split()
    assert row[0] == "oracle" and float(row[1]) == pytest.approx(ref["oracle"]["apgr"]["value"], abs=5e-4)
    assert row[2] == f"{ref['oracle']['cpt']['20']['value'] * 100:.1f}%"


def test_equal_models_raise():
    with pytest.raises(ValueError, match="PGR is undefined"):
        pair_metrics(np.ones(5), np.ones(5), np.arange(5.0), n_boot=0)


def _ts(prompts, models, scores, battles):
    b = np.array(battles, dtype=np.float64).reshape(-1, 4)
    n = len(prompts)
    return TrainingSet(
        prompts=list(prompts),
        models=list(models),
        scores=np.asarray(scores, np.float32),
        battle_prompt=b[:, 0].astype(np.int64),
        battle_a=b[:, 1].astype(np.int64),
        battle_b=b[:, 2].astype(np.int64),
        battle_outcome=b[:, 3].astype(np.float32),
        battle_weight=np.ones(len(b), np.float32),
        battle_source=np.zeros(len(b), np.int64),
        prompt_source=np.zeros(n, np.int64),
        sources=["s"],
    )


def test_pair_targets_scores_battles_and_order_symmetry():
    nan = np.nan
    scores = [[1, 0], [0, 0], [nan, nan], [nan, nan]]
    # Prompt 2: model 0 beats 1 once, tie once; prompt 3: no battle -> dropped.
    ts = _ts(["p0", "p1", "p2", "p3"], ["m0", "m1"], scores, [[2, 0, 1, 1.0], [2, 1, 0, 0.5], [0, 0, 1, 1.0]])
    t = pair_outcomes(ts, strong="m0", weak="m1")
    assert t.prompt_idx.tolist() == [0, 1, 2] and t.kind == "mixed"
    assert t.q_strong.tolist() == [1.0, 0.0, 0.75] and t.q_weak.tolist() == [0.0, 0.0, 0.25]
    # The same battles written with a and b swapped give the same targets.
    swapped = _ts(
        ["p0", "p1", "p2", "p3"], ["m0", "m1"], scores, [[2, 1, 0, 0.0], [2, 0, 1, 0.5], [0, 1, 0, 0.0]]
    )
    t2 = pair_outcomes(swapped, strong="m0", weak="m1")
    assert np.array_equal(t.q_strong, t2.q_strong)
    # Asking the other way round mirrors it.
    t3 = pair_outcomes(ts, strong="m1", weak="m0")
    assert np.array_equal(t3.q_strong, t.q_weak)
    with pytest.raises(ValueError, match="not in the evaluation data"):
        pair_outcomes(ts, "m0", "zzz")


def test_multi_targets_drop_partial_rows():
    ts = _ts(["a", "b"], ["x", "y"], [[1, 0], [np.nan, 1]], [])
    idx, q = model_outcomes(ts, ["y", "x"])
    assert idx.tolist() == [0] and q.tolist() == [[0.0, 1.0]]


def test_upper_hull_and_aiq():
    c = np.array([0.0, 1.0, 2.0, 3.0, 1.5])
    q = np.array([0.0, 0.5, 0.6, 0.55, 0.4])
    hc, hq = upper_hull(c, q)
    assert hc.tolist() == [0.0, 1.0, 2.0] and hq.tolist() == [0.0, 0.5, 0.6]  # (3, .55) is past the top
    # Area over [0, 3]: 0.25 + 0.55 + 0.6 (flat tail) = 1.4
    assert aiq(hc, hq, 0.0, 3.0) == pytest.approx(1.4 / 3.0)


def test_multi_metrics_oracle_dominates_noise_does_not():
    rng = np.random.default_rng(0)
    n, p = 600, np.array([0.3, 0.5, 0.6, 0.7])
    tq = (rng.random((n, 4)) < p).astype(float)
    cost = np.tile([0.1, 0.2, 0.5, 1.0], (n, 1))
    mm = multi_metrics(tq, cost, {"perfect": tq.copy(), "noise": rng.random((n, 4))}, list("abcd"), n_boot=50)
    perfect, noise = mm["routers"]["perfect"], mm["routers"]["noise"]
    assert perfect["dominates_every_single_model"] and not noise["dominates_every_single_model"]
    assert perfect["aiq"]["value"] == pytest.approx(mm["oracle"]["aiq"])
    assert perfect["aiq"]["value"] > mm["zero_router"]["aiq"] > noise["aiq"]["value"] - 0.05
    assert 0 < perfect["cost_fraction_to_best_single_quality"] < 1
    assert mm["best_single"]["model"] == "d"
    lo, hi = perfect["aiq"]["ci95"]
    assert lo <= perfect["aiq"]["value"] <= hi


def test_multi_metrics_scale_invariant_prediction():
    rng = np.random.default_rng(1)
    tq = (rng.random((300, 3)) < [0.4, 0.6, 0.7]).astype(float)
    cost = np.tile([1.0, 2.0, 4.0], (300, 1))
    pred = tq * 0.6 + rng.random((300, 3)) * 0.4
    a = multi_metrics(tq, cost, {"r": pred}, list("abc"), n_boot=0)["routers"]["r"]["aiq"]["value"]
    b = multi_metrics(tq, cost, {"r": pred * 7.0}, list("abc"), n_boot=0)["routers"]["r"]["aiq"]["value"]
    assert a == pytest.approx(b, abs=5e-3)


def _keyword_data(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    topics = np.array(["integral calculus derivative", "capital city country", "poem rhyme verse"])
    t = rng.integers(0, 3, n)
    texts = [f"{topics[k]} question number {i} {rng.integers(0, 50)}" for i, k in enumerate(t)]
    qs = np.ones(n)
    qw = np.where(t == 0, 0.0, 1.0)  # weak fails on calculus only
    return texts, qs, qw, t


def test_tfidf_pair_baseline_learns_and_is_symmetric():
    texts, qs, qw, t = _keyword_data()
    b = TfidfPairBaseline().fit(texts, qs, qw)
    p = b.score(texts)
    assert p[t == 0].min() > p[t != 0].max()
    flipped = TfidfPairBaseline().fit(texts, qw, qs).score(texts)
    np.testing.assert_allclose(flipped, 1.0 - p, atol=2e-3)
    # A perfect ranking: the baseline's APGR equals the oracle's.
    oracle = pair_metrics(qs, qw, qs - qw, n_boot=0)["apgr"]["value"]
    assert pair_metrics(qs, qw, p, n_boot=0)["apgr"]["value"] == pytest.approx(oracle)


def test_tfidf_multi_baseline_shapes_and_constant_columns():
    texts, qs, qw, t = _keyword_data(seed=1)
    q = np.stack([qs, qw, np.where(t == 2, 1.0, 0.0)], axis=1)
    q[0, 2] = np.nan  # unknown entries are skipped
    b = TfidfMultiBaseline().fit(texts, q)
    p = b.score(texts[:10])
    assert p.shape == (10, 3)
    assert np.allclose(p[:, 0], 1.0)  # always correct -> constant predictor


def test_baseline_scores_leave_out_evaluation_prompts_and_say_why_not_trained():
    texts, qs, qw, t = _keyword_data(n=200, seed=2)
    data = _ts(texts, ["strong", "weak"], np.stack([qs, qw], axis=1), [])
    evaluated = texts[:50]  # also in the baseline's data: left out of its training
    p, info = pair_baseline_scores(data, "strong", "weak", evaluated)
    assert info == {"trained": True, "train_prompts": 150, "excluded_overlap": 50}
    assert p.shape == (50,) and p[t[:50] == 0].min() > p[t[:50] != 0].max()
    q, info = multi_baseline_scores(data, ["weak", "strong"], evaluated)
    assert info == {"trained": True, "train_prompts": 150} and q.shape == (50, 2)
    assert pair_baseline_scores(data, "strong", "other", evaluated) == (None, {
        "trained": False, "reason": "model 'other' is not in the evaluation data; present: ['strong', 'weak']"
    })  # fmt: skip
    none, info = multi_baseline_scores(data, ["strong", "other"], evaluated)
    assert none is None and info["reason"] == "baseline training data lacks model(s) ['other']"
