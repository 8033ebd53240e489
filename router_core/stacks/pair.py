"""``PairStack``: the default score of a pair router, stacked from each base scorer's logit of
P(strong beats weak), fitted on out-of-fold base outputs against the pair target (1 + q_strong - q_weak) / 2
(fractional targets; ties are 0.5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from router_core.scorers.base import sigmoid
from router_core.stacks.logistic import fit_soft_logistic, logit


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
    ``mode="lr"``: logistic regression with non-negative per-scorer weights on the standardised logits.
    Both store the same arrays (a linear map of the logits), so ``predict`` / persistence are shared.
    ``offsets``: inputs that are not averaged in: each scorer's logit first loses the part a least-squares
    fit on the offsets' logits predicts on the stack's data (``router_core.scorers.source_mix``). The
    stack is fitted on those residuals; an offset's coefficient is then -(its slopes @ the scorers'
    coefficients), so ``predict`` on the raw logits gives the fit on the residuals.
    """

    def __init__(self, c: float = 1.0, mode: str = "mean", offsets: Sequence[str] = ()) -> None:
        self.c = c
        self.mode = mode
        self.offsets = tuple(offsets)

    def fit(self, probs: Mapping[str, np.ndarray], target: np.ndarray) -> PairStack:
        if self.mode not in ("mean", "lr"):
            raise ValueError(f"PairStack mode must be 'mean' or 'lr', got '{self.mode}'")
        self.scorers_ = list(probs)
        base = [s for s in self.scorers_ if s not in self.offsets]
        x = np.column_stack([logit(probs[s]) for s in base])
        off = [s for s in self.scorers_ if s in self.offsets]
        slopes = np.zeros((len(off), len(base)))
        if off:
            x, slopes = _residuals(x, np.column_stack([logit(probs[s]) for s in off]))
        if self.mode == "mean":
            self._fit_mean(x, target)
        else:
            self._fit_lr(x, target)
        coef = dict(zip(base, self.coef_, strict=True))
        coef.update(zip(off, -slopes @ self.coef_, strict=True))
        self.coef_ = np.array([coef[s] for s in self.scorers_])
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
        # Fitted on standardised logits (so the L2 prior treats a low-variance scorer like the others),
        # then mapped back. Every base score is oriented "higher = strong better": a negative weight only
        # fits noise of correlated scorers, so the most negative one is dropped and the rest refitted.
        mu, sd = x.mean(axis=0), x.std(axis=0)
        sd = np.where(sd > 1e-12, sd, 1.0)
        z = (x - mu) / sd
        active = np.ones(x.shape[1], dtype=bool)
        while True:
            coef, b = fit_soft_logistic(z[:, active], target, self.c)
            if (coef >= 0).all() or active.sum() == 1:
                break
            active[np.flatnonzero(active)[int(np.argmin(coef))]] = False
        self.coef_ = np.zeros(x.shape[1])
        self.coef_[active] = coef / sd[active]
        self.intercept_ = float(b - np.sum(self.coef_ * mu))

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


def _residuals(x: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x minus its least-squares fit on the offsets' columns, the slopes [offsets, x columns]). Fitted on
    centred columns, so a constant offset gets slope 0; the means stay in the residuals (the stack
    centres them itself)."""
    slopes, *_ = np.linalg.lstsq(offsets - offsets.mean(axis=0), x - x.mean(axis=0), rcond=None)
    return x - offsets @ slopes, slopes
