"""SW scorer: batched exact mode equals a per-query weighted logistic-regression reference."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from router_core.scorers.base import sigmoid
from router_core.scorers.sw import SWScorer
from router_core.training_data import TrainingSet
from tests.battle_sets import make_battles


def reference_ratings(
    ts: TrainingSet, emb: np.ndarray, query: np.ndarray, l2: float, tol: float = 1e-12, max_iter: int = 10_000
) -> np.ndarray:
    """RouteLLM-style: one weighted logistic regression per query, ties as a half win and a half loss.

    Also the reference that bench/sw_speed.py times (with RouteLLM-like looser tol/max_iter).
    """
    sims = emb[ts.battle_prompt] @ query
    mx = (emb @ query).max()
    w = 10.0 * 10.0 ** (sims / mx) * ts.battle_weight
    n, m = ts.n_battles, len(ts.models)
    x = np.zeros((2 * n, m))
    x[np.arange(n), ts.battle_a] = 1.0
    x[np.arange(n), ts.battle_b] = -1.0
    x[n:] = x[:n]
    y = np.r_[np.ones(n), np.zeros(n)]
    sw = np.r_[w * ts.battle_outcome, w * (1 - ts.battle_outcome)]
    keep = sw > 0
    lr = LogisticRegression(C=1.0 / l2, fit_intercept=False, tol=tol, max_iter=max_iter)
    lr.fit(x[keep], y[keep], sample_weight=sw[keep])
    return lr.coef_[0]


def test_exact_mode_matches_per_query_reference():
    ts, emb, queries = make_battles()
    sw = SWScorer(l2=1.0).fit(ts, emb)
    got = sw.score(queries)
    assert got.shape == (len(queries), len(ts.models)) and got.dtype == np.float32
    for qi in range(len(queries)):
        ref = reference_ratings(ts, emb, queries[qi], l2=1.0)
        for i in range(len(ts.models)):
            for j in range(len(ts.models)):
                p_ref = 1 / (1 + np.exp(-(ref[i] - ref[j])))
                p_got = 1 / (1 + np.exp(-(float(got[qi, i]) - float(got[qi, j]))))
                assert abs(p_ref - p_got) < 1e-3


def test_swapping_a_and_b_gives_same_probabilities():
    ts, emb, queries = make_battles(seed=1)
    swapped = TrainingSet(**{**ts.__dict__})
    swapped.battle_a, swapped.battle_b = ts.battle_b.copy(), ts.battle_a.copy()
    swapped.battle_outcome = (1.0 - ts.battle_outcome).astype(np.float32)
    p1 = SWScorer().fit(ts, emb).win_prob(queries, None, "m0", "m2")
    p2 = SWScorer().fit(swapped, emb).win_prob(queries, None, "m0", "m2")
    np.testing.assert_allclose(p1, p2, atol=1e-6)


def test_top_k_covering_everything_equals_exact():
    ts, emb, queries = make_battles(seed=2)
    exact = SWScorer().fit(ts, emb).score(queries)
    topk = SWScorer(top_k=len(ts.prompts)).fit(ts, emb).score(queries)
    np.testing.assert_allclose(exact, topk, atol=1e-4)


def test_similar_prompts_dominate_ratings():
    # Model 0 wins everything on prompts near +e0, model 1 near -e0: the rating flips with the query.
    dim, n = 8, 40
    emb = np.zeros((n, dim), dtype=np.float32)
    emb[: n // 2, 0], emb[n // 2 :, 0] = 1.0, -1.0
    p = np.arange(n)
    ts = TrainingSet(
        prompts=[f"p{i}" for i in range(n)],
        models=["x", "y"],
        scores=np.full((n, 2), np.nan, dtype=np.float32),
        battle_prompt=p.astype(np.int64),
        battle_a=np.zeros(n, dtype=np.int64),
        battle_b=np.ones(n, dtype=np.int64),
        battle_outcome=(p < n // 2).astype(np.float32),
        battle_weight=np.ones(n, dtype=np.float32),
        battle_source=np.zeros(n, dtype=np.int64),
        prompt_source=np.zeros(n, dtype=np.int64),
        sources=["s"],
    )
    sw = SWScorer(base=1000.0).fit(ts, emb)
    q = np.zeros((2, dim), dtype=np.float32)
    q[0, 0], q[1, 0] = 1.0, -1.0
    prob = sw.win_prob(q, None, "x", "y")
    assert prob[0] > 0.9 and prob[1] < 0.1


@pytest.mark.parametrize("index", ["flat", "hnsw", "ivf"])
def test_save_load_roundtrip(tmp_path, index):
    ts, emb, queries = make_battles(n_prompts=200, seed=3)
    top_k = None if index == "flat" else 50
    sw = SWScorer(index=index, top_k=top_k, nlist=4, nprobe=4).fit(ts, emb)
    params = sw.save(str(tmp_path))
    back = SWScorer.load(str(tmp_path), params)
    np.testing.assert_allclose(sw.score(queries), back.score(queries), atol=1e-5)
    assert back.models_ == ts.models


def test_approximate_index_needs_top_k():
    ts, emb, _ = make_battles()
    with pytest.raises(ValueError, match="top_k"):
        SWScorer(index="hnsw").fit(ts, emb)


def test_sigmoid_matches_probabilities():
    ts, emb, queries = make_battles(seed=4)
    sw = SWScorer().fit(ts, emb)
    r = sw.score(queries)
    np.testing.assert_allclose(sw.win_prob(queries, None, "m1", "m3"), sigmoid(r[:, 1] - r[:, 3]), atol=1e-6)
