"""JointStack: the N-model router's default score (one network over every model's scorer features and
the prompt embedding)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from router_core.stacks import JointStack, QualityStack


def _cross_model_data(n: int = 1500, seed: int = 0):
    """Model b is right exactly when model a's scorer feature is high: visible only across models.
    Model c is right in one embedding cluster, and its own feature is noise."""
    rng = np.random.default_rng(seed)
    fa = rng.normal(size=n)
    feats = {"s": np.column_stack([fa, rng.normal(size=n), rng.normal(size=n)])}
    cl = rng.integers(0, 2, n)
    emb = rng.normal(size=(n, 8)) * 0.3 + cl[:, None]
    y = np.column_stack([(fa > 0), (fa > 0), (cl == 1)]).astype(np.float64)
    return feats, emb, y


def test_joint_stack_uses_other_models_features_and_the_embedding():
    feats, emb, y = _cross_model_data()
    lo, hi = np.zeros(3), np.ones(3)
    tr, te = np.arange(1000), np.arange(1000, 1500)
    sub = lambda idx: {k: v[idx] for k, v in feats.items()}  # noqa: E731
    joint = JointStack(n_seeds=2).fit(sub(tr), emb[tr], y[tr], lo, hi).predict(sub(te), emb[te])
    linear = QualityStack().fit(sub(tr), y[tr], lo, hi).predict(sub(te))
    for j in (1, 2):  # b: from a's feature; c: from the embedding
        assert roc_auc_score(y[te, j], joint[:, j]) > 0.9
        assert roc_auc_score(y[te, j], linear[:, j]) < 0.65  # its own feature carries nothing
    assert roc_auc_score(y[te, 0], joint[:, 0]) > 0.9


def test_joint_stack_masks_unknown_scores_and_keeps_the_score_scale():
    feats, emb, y = _cross_model_data(n=400, seed=1)
    scores = 1.0 + 9.0 * y  # a 1-10 judge scale
    scores[::3, 2] = np.nan  # unknown for a third of the prompts
    scores[:, 0] = np.nan  # and for every prompt: the model's output is then uninformed but finite
    lo, hi = np.array([1.0, 1.0, 1.0]), np.array([10.0, 10.0, 10.0])
    q = JointStack(n_seeds=2).fit(feats, emb, scores, lo, hi).predict(feats, emb)
    assert q.shape == (400, 3) and np.isfinite(q).all()
    assert ((q >= 1.0) & (q <= 10.0)).all()
    known = ~np.isnan(scores[:, 2])
    assert roc_auc_score(y[known, 2], q[known, 2]) > 0.9


def test_joint_stack_round_trips_through_arrays():
    feats, emb, y = _cross_model_data(n=300, seed=2)
    js = JointStack(n_seeds=3, seed=5).fit(feats, emb, y, np.zeros(3), np.ones(3))
    back = JointStack.from_arrays(["s"], js.to_arrays())
    assert back.n_seeds == 3
    np.testing.assert_array_equal(back.predict(feats, emb), js.predict(feats, emb))


def test_joint_stack_is_reproducible_and_trains_on_tiny_data():
    feats, emb, y = _cross_model_data(n=300, seed=3)
    a = JointStack(n_seeds=2).fit(feats, emb, y, np.zeros(3), np.ones(3)).predict(feats, emb)
    b = JointStack(n_seeds=2).fit(feats, emb, y, np.zeros(3), np.ones(3)).predict(feats, emb)
    np.testing.assert_array_equal(a, b)
    tiny = {k: v[:5] for k, v in feats.items()}
    q = (
        JointStack(n_seeds=1, max_epochs=20)
        .fit(tiny, emb[:5], y[:5], np.zeros(3), np.ones(3))
        .predict(tiny, emb[:5])
    )
    assert np.isfinite(q).all() and ((q >= 0) & (q <= 1)).all()
