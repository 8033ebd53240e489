"""TF-IDF + logistic regression on the prompt text: the non-neural baseline every router must beat.

Pair: one classifier of "strong is better" with soft labels y = 0.5 + 0.5 * gap / max|gap| (gap =
q_strong - q_weak), so correctness ties and battle ties both count as 0.5; the score is P(strong better).
Labels are defined from the strong/weak names, never from column order.
N models: one classifier per model of "this model is correct" on (max-scaled) per-model scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _vectorizer(max_features: int):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=max_features, sublinear_tf=True)


def _fit_soft_logreg(x, y: np.ndarray, c: float, seed: int):
    """Logistic regression on soft labels: each row appears as a positive (weight y) and a negative
    (weight 1 - y), which maximises the same likelihood as a cross-entropy on y."""
    from scipy.sparse import vstack
    from sklearn.linear_model import LogisticRegression

    y = np.clip(np.asarray(y, np.float64), 0.0, 1.0)
    xx = vstack([x, x])
    yy = np.r_[np.ones(len(y)), np.zeros(len(y))]
    ww = np.r_[y, 1.0 - y]
    keep = ww > 0
    if len(np.unique(yy[keep])) < 2:
        return float(yy[keep][0]) if keep.any() else 0.5  # one class only: a constant predictor
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit(xx[keep], yy[keep], sample_weight=ww[keep])
    return clf


def _predict(clf, x) -> np.ndarray:
    if isinstance(clf, float):
        return np.full(x.shape[0], clf, dtype=np.float64)
    return clf.predict_proba(x)[:, 1]


class TfidfPairBaseline:
    """P(strong better) from the prompt text alone."""

    def __init__(self, max_features: int = 50_000, c: float = 1.0, seed: int = 0) -> None:
        self.max_features = max_features
        self.c = c
        self.seed = seed

    def fit(self, texts: Sequence[str], q_strong: np.ndarray, q_weak: np.ndarray) -> TfidfPairBaseline:
        gap = np.asarray(q_strong, np.float64) - np.asarray(q_weak, np.float64)
        scale = float(np.max(np.abs(gap))) or 1.0
        self.vec_ = _vectorizer(self.max_features)
        x = self.vec_.fit_transform(list(texts))
        self.clf_ = _fit_soft_logreg(x, 0.5 + 0.5 * gap / scale, self.c, self.seed)
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return _predict(self.clf_, self.vec_.transform(list(texts)))


class TfidfMultiBaseline:
    """Per-model P(correct) from the prompt text alone (scores scaled to [0, 1] by the training maximum)."""

    def __init__(self, max_features: int = 50_000, c: float = 1.0, seed: int = 0) -> None:
        self.max_features = max_features
        self.c = c
        self.seed = seed

    def fit(self, texts: Sequence[str], quality: np.ndarray) -> TfidfMultiBaseline:
        q = np.asarray(quality, np.float64)
        lo, hi = float(np.nanmin(q)), float(np.nanmax(q))
        y = (q - lo) / (hi - lo) if hi > lo else np.full_like(q, 0.5)
        self.vec_ = _vectorizer(self.max_features)
        x = self.vec_.fit_transform(list(texts))
        self.clfs_ = []
        for j in range(q.shape[1]):
            known = ~np.isnan(y[:, j])
            self.clfs_.append(_fit_soft_logreg(x[np.flatnonzero(known)], y[known, j], self.c, self.seed))
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        x = self.vec_.transform(list(texts))
        return np.stack([_predict(c, x) for c in self.clfs_], axis=1)


def pair_baseline_scores(
    base_data: Any, strong: str, weak: str, texts: Sequence[str], seed: int = 0
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """(P(strong better) for ``texts`` or None, what evaluate records) of the pair baseline trained on
    ``base_data``'s prompts (a TrainingSet) that are not among ``texts``: a prompt seen in training would
    flatter the baseline."""
    from router_core.outcomes import pair_outcomes

    try:  # no prompt of the pair, or too few words for the vectoriser's vocabulary
        out = pair_outcomes(base_data, strong, weak)
        seen = set(texts)
        fresh = np.array([base_data.prompts[i] not in seen for i in out.prompt_idx], dtype=bool)
        rows = out.prompt_idx[fresh]
        bl = TfidfPairBaseline(seed=seed).fit(
            [base_data.prompts[i] for i in rows], out.q_strong[fresh], out.q_weak[fresh]
        )
    except ValueError as exc:
        return None, {"trained": False, "reason": str(exc)}
    info = {"trained": True, "train_prompts": int(len(rows)), "excluded_overlap": int((~fresh).sum())}
    return bl.score(texts), info


def multi_baseline_scores(
    base_data: Any, models: Sequence[str], texts: Sequence[str], seed: int = 0
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """(per-model P(correct) [len(texts), len(models)] or None, what evaluate records) of the N-model
    baseline trained on ``base_data``'s scored prompts that are not among ``texts``."""
    missing = [m for m in models if m not in base_data.models]
    if missing:
        return None, {"trained": False, "reason": f"baseline training data lacks model(s) {missing}"}
    q = base_data.scores[:, [base_data.models.index(m) for m in models]].astype(np.float64)
    seen = set(texts)
    use = ~np.isnan(q).all(axis=1) & np.array([p not in seen for p in base_data.prompts], dtype=bool)
    if use.sum() < 2:
        return None, {"trained": False, "reason": "baseline training data has no per-model scores"}
    rows = np.flatnonzero(use)
    bl = TfidfMultiBaseline(seed=seed).fit([base_data.prompts[i] for i in rows], q[use])
    return bl.score(texts), {"trained": True, "train_prompts": int(use.sum())}
