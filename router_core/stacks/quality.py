"""``QualityStack``: per model, logistic regression from the base scorers' features of that model to its
measured score scaled to [0, 1] (min-max of the training scores), so the output is on the scale of the
training scores (e.g. P(correct)) as a cost/quality policy needs. Also a 1-feature calibration per scorer
and model, for the per-scorer ``score_<s>`` outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from router_core.scorers.base import ScoreKind, sigmoid
from router_core.stacks.logistic import fit_soft_logistic, logit


def quality_features(kind: ScoreKind, raw: np.ndarray) -> np.ndarray:
    """Per-model feature of one scorer's ``score`` output, by what that output is (``Scorer.output``):
    ratings (BT-type) are centred per prompt (only differences are identified); probabilities become
    logits; logits stay as they are."""
    raw = np.asarray(raw, dtype=np.float64)
    if kind == "rating":
        return raw - raw.mean(axis=1, keepdims=True)
    if kind == "probability":
        return logit(raw)
    if kind == "logit":
        return raw
    raise ValueError(f"unknown scorer output kind '{kind}' (rating, probability, logit)")


class QualityStack:
    """Expected score per model = lo_m + (hi_m - lo_m) * sigmoid(features_m @ coef_m + b_m)."""

    def __init__(self, c: float = 1.0) -> None:
        self.c = c

    def fit(
        self,
        feats: Mapping[str, np.ndarray],
        scores: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        weight: np.ndarray | None = None,
    ) -> QualityStack:
        """feats: scorer -> [n, M] features; scores: [n, M] measured scores (NaN = unknown); weight: per
        row (None: 1 each)."""
        w_all = np.ones(len(scores)) if weight is None else np.asarray(weight, np.float64)
        self.scorers_ = list(feats)
        n_s, m = len(self.scorers_), scores.shape[1]
        self.lo_, self.hi_ = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        self.coef_ = np.zeros((m, n_s))
        self.intercept_ = np.zeros(m)
        self.cal_ = np.zeros((n_s, m, 2))  # per scorer and model: (slope, intercept)
        self.calibrated_ = np.zeros(m, dtype=bool)
        for j in range(m):
            known = ~np.isnan(scores[:, j])
            if known.sum() < 2:
                continue  # battle-only model: predicted as BT win rate, see predict()
            span = max(self.hi_[j] - self.lo_[j], 1e-12)
            y = (scores[known, j] - self.lo_[j]) / span
            x = np.column_stack([feats[s][known, j] for s in self.scorers_])
            w = w_all[known] * (known.sum() / max(w_all[known].sum(), 1e-12))  # same L2 scale as unweighted
            self.coef_[j], self.intercept_[j] = fit_soft_logistic(x, y, self.c, w)
            for si in range(n_s):
                cf, b = fit_soft_logistic(x[:, [si]], y, self.c, w)
                self.cal_[si, j] = (cf[0], b)
            self.calibrated_[j] = True
        return self

    def _uncalibrated(self, feats: Mapping[str, np.ndarray]) -> np.ndarray:
        # Models without scores in the stack's data: mean over scorers of sigmoid(feature) (a win rate).
        return np.mean([sigmoid(feats[s]) for s in self.scorers_], axis=0)

    def predict(self, feats: Mapping[str, np.ndarray]) -> np.ndarray:
        x = np.stack([feats[s] for s in self.scorers_], axis=2)  # [n, M, S]
        z = np.einsum("nms,ms->nm", x, self.coef_) + self.intercept_
        q = self.lo_ + (self.hi_ - self.lo_) * sigmoid(z)
        if not self.calibrated_.all():
            q[:, ~self.calibrated_] = self._uncalibrated(feats)[:, ~self.calibrated_]
        return q.astype(np.float32)

    def predict_one(self, name: str, feat: np.ndarray) -> np.ndarray:
        si = self.scorers_.index(name)
        q = self.lo_ + (self.hi_ - self.lo_) * sigmoid(feat * self.cal_[si, :, 0] + self.cal_[si, :, 1])
        if not self.calibrated_.all():
            q[:, ~self.calibrated_] = sigmoid(feat)[:, ~self.calibrated_]
        return q.astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "q_coef": self.coef_,
            "q_intercept": self.intercept_,
            "q_cal": self.cal_,
            "q_lo": self.lo_,
            "q_hi": self.hi_,
            "q_calibrated": self.calibrated_,
        }

    @classmethod
    def from_arrays(
        cls, scorers: Sequence[str], arrays: Mapping[str, np.ndarray], c: float = 1.0
    ) -> QualityStack:
        self = cls(c)
        self.scorers_ = list(scorers)
        self.coef_, self.intercept_ = np.asarray(arrays["q_coef"]), np.asarray(arrays["q_intercept"])
        self.cal_, self.lo_, self.hi_ = (
            np.asarray(arrays["q_cal"]),
            np.asarray(arrays["q_lo"]),
            np.asarray(arrays["q_hi"]),
        )
        self.calibrated_ = np.asarray(arrays["q_calibrated"]).astype(bool)
        return self
