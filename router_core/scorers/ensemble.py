"""Stacking of base scorers into the router's default score, and per-source battle weights.

- ``PairStack``: from each base scorer's logit of P(strong beats weak) to the pair target
  (1 + q_strong - q_weak) / 2 on out-of-fold base outputs (fractional targets; ties are 0.5): a calibrated
  equal-weight mean of standardised logits (default) or a non-negative logistic regression.
- ``QualityStack``: per model, logistic regression from the base scorers' features of that model to its
  measured score scaled to [0, 1] (min-max of the training scores), so the output is on the scale of the
  training scores (e.g. P(correct)) as a cost/quality policy needs. Also a 1-feature calibration per
  scorer and model, for the per-scorer ``score_<s>`` outputs.
- ``fit_source_weights``: how much each data source's battles count, chosen on validation ranking
  (``decisive_auc_loss`` per source) with a paired-bootstrap significance rule.
All fitted state is plain arrays (stored in npz), never pickled estimators.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from router_core.scorers.base import sigmoid

EPS = 1e-4
# BT-type scores: only differences between models mean anything.
RELATIVE_SCORERS = ("sw", "mf", "lex", "shape")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    return np.log(p / (1.0 - p))


def fit_soft_logistic(
    x: np.ndarray, y: np.ndarray, c: float = 1.0, sample_weight=None
) -> tuple[np.ndarray, float]:
    """Logistic regression with targets in [0, 1]: each row enters as a positive with weight y and a
    negative with weight 1 - y (the same likelihood as BCE with soft labels). Returns (coef, intercept)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, dtype=np.float64)
    y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    xx = np.vstack([x, x])
    yy = np.r_[np.ones(len(y)), np.zeros(len(y))]
    ww = np.r_[sw * y, sw * (1.0 - y)]
    keep = ww > 0
    if len(np.unique(yy[keep])) < 2:  # one class only: constant predictor
        p = float(np.clip(yy[keep].mean() if keep.any() else 0.5, EPS, 1 - EPS))
        return np.zeros(x.shape[1]), float(np.log(p / (1 - p)))
    lr = LogisticRegression(C=c, max_iter=2000, tol=1e-8)
    lr.fit(xx[keep], yy[keep], sample_weight=ww[keep])
    return lr.coef_[0].copy(), float(lr.intercept_[0])


class PairStack:
    """P(strong beats weak) = sigmoid(sum_s coef_s * logit(p_s) + intercept).

    ``mode="mean"`` (default): the equal-weight mean of the base logits standardised on the stack's
    (out-of-fold) data, then one calibration slope and intercept. The base scorers are correlated and
    individually weak, so per-scorer weights fitted on a ~1k-prompt held-out fold mostly fit noise: on
    held-out MMLU the plain mean matched or beat the best single scorer while fitted weights did not
    (docs/routers.md). A scorer whose own calibration slope on that data is negative by more than two
    standard errors (it ranks the wrong way) is left out. Dropping every scorer whose slope was merely
    not positive threw away good scorers on small folds (a few dozen prompts), where the sign of a slope
    is noise (docs/routers.md).
    ``mode="lr"``: logistic regression with non-negative per-scorer weights.
    Both store the same arrays (a linear map of the logits), so ``predict`` / persistence are shared.
    """

    def __init__(self, c: float = 1.0, mode: str = "mean") -> None:
        self.c = c
        self.mode = mode

    def fit(self, probs: Mapping[str, np.ndarray], target: np.ndarray) -> PairStack:
        if self.mode not in ("mean", "lr"):
            raise ValueError(f"PairStack mode must be 'mean' or 'lr', got '{self.mode}'")
        self.scorers_ = list(probs)
        x = np.column_stack([logit(probs[s]) for s in self.scorers_])
        if self.mode == "mean":
            self._fit_mean(x, target)
        else:
            self._fit_lr(x, target)
        return self

    def _fit_mean(self, x: np.ndarray, target: np.ndarray) -> None:
        mu, sd = x.mean(axis=0), x.std(axis=0)
        z = (x - mu) / np.where(sd > 1e-12, sd, 1.0)
        useful = sd > 1e-12
        for j in np.flatnonzero(useful):
            (slope,), b = fit_soft_logistic(z[:, [j]], target, self.c)
            p = sigmoid(slope * z[:, j] + b)
            se = 1.0 / np.sqrt(np.sum(p * (1.0 - p) * z[:, j] ** 2) + 1.0 / self.c)  # Fisher information + L2
            useful[j] = slope + 2.0 * se > 0
        if not useful.any():  # nothing ranks: fall back to every non-constant scorer
            useful = sd > 1e-12
        if not useful.any():
            self.coef_, self.intercept_ = np.zeros(x.shape[1]), fit_soft_logistic(x[:, :1], target, self.c)[1]
            return
        zbar = z[:, useful].mean(axis=1, keepdims=True)
        (a,), b = fit_soft_logistic(zbar, target, self.c)
        if a <= 0:
            # The kept scorers all rank "higher = strong better"; a fold too small to show it must not
            # reverse their order. The slope-constrained fit is a = 0 (the base rate); a tiny positive
            # slope keeps the mean's order for share-based routing.
            a, b = 1e-3, float(logit(np.mean(target)))
        k = int(useful.sum())
        self.coef_ = np.where(useful, a / (k * np.where(sd > 1e-12, sd, 1.0)), 0.0)
        self.intercept_ = float(b - np.sum(self.coef_ * mu))

    def _fit_lr(self, x: np.ndarray, target: np.ndarray) -> None:
        # Every base score is oriented "higher = strong better": a negative weight only fits noise of
        # correlated scorers, so the most negative one is dropped and the rest refitted.
        active = np.ones(x.shape[1], dtype=bool)
        while True:
            coef, self.intercept_ = fit_soft_logistic(x[:, active], target, self.c)
            if (coef >= 0).all() or active.sum() == 1:
                break
            active[np.flatnonzero(active)[int(np.argmin(coef))]] = False
        self.coef_ = np.zeros(x.shape[1])
        self.coef_[active] = coef

    def predict(self, probs: Mapping[str, np.ndarray]) -> np.ndarray:
        x = np.column_stack([logit(probs[s]) for s in self.scorers_])
        return sigmoid(x @ self.coef_ + self.intercept_)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"pair_coef": self.coef_.astype(np.float64), "pair_intercept": np.array([self.intercept_])}

    @classmethod
    def from_arrays(
        cls, scorers: Sequence[str], arrays: Mapping[str, np.ndarray], c: float = 1.0
    ) -> PairStack:
        self = cls(c)
        self.scorers_ = list(scorers)
        self.coef_ = np.asarray(arrays["pair_coef"], dtype=np.float64)
        self.intercept_ = float(np.asarray(arrays["pair_intercept"])[0])
        return self


def quality_features(name: str, raw: np.ndarray) -> np.ndarray:
    """Per-model feature of one scorer: BT-type ratings are centred per prompt (only differences are
    identified); probability-like outputs (knn) become logits; other logits (bert) stay as they are."""
    raw = np.asarray(raw, dtype=np.float64)
    if name in RELATIVE_SCORERS:
        return raw - raw.mean(axis=1, keepdims=True)
    if name == "knn":
        return logit(raw)
    return raw


class QualityStack:
    """Expected score per model = lo_m + (hi_m - lo_m) * sigmoid(features_m @ coef_m + b_m)."""

    def __init__(self, c: float = 1.0) -> None:
        self.c = c

    def fit(
        self, feats: Mapping[str, np.ndarray], scores: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> QualityStack:
        """feats: scorer -> [n, M] features; scores: [n, M] measured scores (NaN = unknown)."""
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
            self.coef_[j], self.intercept_[j] = fit_soft_logistic(x, y, self.c)
            for si in range(n_s):
                cf, b = fit_soft_logistic(x[:, [si]], y, self.c)
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


# ------------------------------------------------------------------------------ source weights


def battle_log_loss(p: np.ndarray, outcome: np.ndarray, weight: np.ndarray | None = None) -> float:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    o = np.asarray(outcome, np.float64)
    ll = -(o * np.log(p) + (1 - o) * np.log(1 - p))
    return float(np.average(ll, weights=weight))


def decisive_auc_loss(p: np.ndarray, outcome: np.ndarray) -> float:
    """1 - AUC of p on the decisive battles (outcome != 0.5): 0.5 = no signal, 0 = perfect ranking."""
    from sklearn.metrics import roc_auc_score

    o = np.asarray(outcome, np.float64)
    dec = np.abs(o - 0.5) > 1e-6
    y = o[dec] > 0.5
    if y.all() or not y.any():
        return float("nan")
    return float(1.0 - roc_auc_score(y, np.asarray(p, np.float64)[dec]))


def fit_source_weights(
    evaluate: Callable[[dict[str, float]], dict[str, tuple[np.ndarray, np.ndarray]]],
    sources: Sequence[str],
    grid: Sequence[float] = (0.0, 0.1, 0.3, 1.0),
    n_boot: int = 200,
    min_gain_se: float = 2.0,
    seed: int = 0,
    log: Callable[[str], None] = lambda s: None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Choose a weight per source minimising the mean over sources of ``decisive_auc_loss``.

    ``evaluate(weights)`` trains a probe on the training fold with those source weights and returns, per
    target source, its validation predictions and outcomes (p(a beats b), outcome). Each target source
    counts equally, so a big source cannot drown a small one; AUC puts sources with very different base
    rates and tie shares (MMLU correctness vs a judge that prefers one model 89% of the time) on one scale.

    Coordinate descent over ``grid`` (relative weights; at least one source stays > 0), starting from
    pooling. A move is taken only if its gain exceeds ``min_gain_se`` paired-bootstrap standard errors
    (the same resamples of every source's validation battles for every candidate): a small source's
    validation fold is noisy (AlpacaEval's gives ~100 pair battles, ~11 of them lost by GPT-4), and on the
    held-out data of docs/routers.md, down-weighting a source on such noise cost its own questions 0.11-0.15
    APGR and gained the other source nothing. The report also gives each source alone.
    """
    rng = np.random.default_rng(seed)
    cache: dict[tuple[float, ...], tuple[dict[str, float], np.ndarray]] = {}
    resamples: dict[str, np.ndarray] = {}

    def run(w: dict[str, float]) -> tuple[dict[str, float], np.ndarray]:
        """(validation loss per source, the mean over sources of the loss on each bootstrap resample)."""
        key = tuple(w[s] for s in sources)
        if key not in cache:
            per_source, boots = {}, []
            for s, (p, o) in evaluate(w).items():
                loss = decisive_auc_loss(p, o)
                if not np.isfinite(loss):
                    continue
                if s not in resamples:
                    resamples[s] = rng.integers(0, len(o), (n_boot, len(o)))
                b = np.array([decisive_auc_loss(p[i], o[i]) for i in resamples[s]])
                per_source[s] = round(loss, 5)
                boots.append(np.where(np.isfinite(b), b, loss))
            obj_b = np.mean(boots, axis=0) if boots else np.full(n_boot, np.inf)
            cache[key] = (per_source, obj_b)
            log(f"  source weights {dict(zip(sources, key, strict=True))}: valid 1-AUC {per_source}")
        return cache[key]

    def objective(res: dict[str, float]) -> float:
        vals = [v for v in res.values() if np.isfinite(v)]
        return float(np.mean(vals)) if vals else float("inf")

    pooled = {s: 1.0 for s in sources}
    report: dict[str, Any] = {"loss": "1 - AUC on decisive battles", "pooled": run(pooled)[0], "alone": {}}
    for s in sources:
        report["alone"][s] = run({t: (1.0 if t == s else 0.0) for t in sources})[0]
    best = dict(pooled)
    rejected: list[dict[str, Any]] = []
    for s in sources:
        for g in grid:
            cand = {**best, s: float(g)}
            if max(cand.values()) <= 0 or cand == best:
                continue
            (res_b, boot_b), (res_c, boot_c) = run(best), run(cand)
            if not (res_b and res_c):
                continue  # no source has decisive validation battles to rank: nothing to compare
            gain = objective(res_b) - objective(res_c)
            se = float(np.std(boot_b - boot_c))
            if gain > 1e-6 and gain > min_gain_se * se:
                best = cand
            elif gain > 1e-6:
                rejected.append({"weights": cand, "gain": round(gain, 5), "se": round(se, 5)})
    report["chosen"] = run(best)[0]
    obj = objective(report["chosen"])
    report["objective"] = obj if np.isfinite(obj) else None  # the manifest is strict JSON
    report["not_significant"] = rejected
    top = max(best.values())
    best = {s: round(w / top, 4) for s, w in best.items()}
    return best, report
