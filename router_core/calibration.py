"""Calibration of a pair router's ``strong_win_prob`` on audit labels: reliability bins, an isotonic or
Platt recalibration, and the recalibrated expected PGR of the requests without an audit label.

The observed outcome of an audited request is t = P(strong beats weak) its labels stand for
(``router_core.evaluation.strong_win_label``: correctness 0 / 0.5 / 1, battles the strong model's win
rate). The expected quality gain of the strong model on a request is E[q_s - q_w] = 2 E[t] - 1, so with a
calibrated c(p) the expected PGR of a routing is sum_{routed strong} (2c - 1) / sum_all (2c - 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from router_core.intervals import percentile_ci

ISOTONIC_MIN_N = 200  # below this a monotone step function overfits: Platt's two parameters instead
_EPS = 1e-6


def reliability_bins(p: np.ndarray, t: np.ndarray, n_bins: int = 10) -> list[dict[str, float]]:
    """Equal-count bins of ``p``: mean predicted, mean observed and count per bin. Equal counts, since a
    router's probabilities crowd around their mean and equal-width bins would leave most bins empty."""
    n_bins = max(1, min(n_bins, len(p) // 10))
    order = np.argsort(p, kind="stable")
    return [
        {"p_mean": float(p[b].mean()), "observed": float(t[b].mean()), "n": int(len(b))}
        for b in np.array_split(order, n_bins)
        if len(b)
    ]


def _platt(p: np.ndarray, t: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Logistic regression on logit(p); a fractional outcome t counts as t of a win and 1 - t of a loss."""
    from sklearn.linear_model import LogisticRegression

    x = np.log(np.clip(p, _EPS, 1 - _EPS) / np.clip(1 - p, _EPS, 1 - _EPS))[:, None]
    xx, yy = np.vstack([x, x]), np.r_[np.ones(len(x)), np.zeros(len(x))]
    lr = LogisticRegression(C=1e4).fit(xx, yy, sample_weight=np.r_[t, 1 - t] + 1e-9)

    def predict(q: np.ndarray) -> np.ndarray:
        z = np.log(np.clip(q, _EPS, 1 - _EPS) / np.clip(1 - q, _EPS, 1 - _EPS))[:, None]
        return lr.predict_proba(z)[:, 1]

    return predict


def fit_calibrator(p: np.ndarray, t: np.ndarray) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """(method, calibrated probability function): isotonic from ISOTONIC_MIN_N audited requests on,
    Platt scaling below."""
    if len(p) >= ISOTONIC_MIN_N:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, t)
        return "isotonic", iso.predict
    return "platt", _platt(p, t)


def _curve(cal: Callable[[np.ndarray], np.ndarray], p: np.ndarray, points: int = 60) -> list[list[float]]:
    """[p, calibrated p] over the audited range of p, for the reliability diagram."""
    grid = np.linspace(float(p.min()), float(p.max()), points)
    return [[float(x), float(y)] for x, y in zip(grid, cal(grid), strict=True)]


def expected_pgr(c: np.ndarray, to_strong: np.ndarray) -> float:
    gain = 2.0 * c - 1.0
    den = gain.sum()
    return float(gain[to_strong].sum() / den) if abs(den) > 1e-12 else float("nan")


def calibration_report(
    p_audit: np.ndarray,
    t_audit: np.ndarray,
    p_rest: np.ndarray,
    strong_rest: np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Reliability bins, Brier scores, and the recalibrated expected PGR of the unaudited requests
    (``p_rest``, ``strong_rest``) with a CI from refitting the calibrator on resampled audits."""
    method, cal = fit_calibrator(p_audit, t_audit)
    out: dict[str, Any] = {
        "method": method,
        "n": int(len(p_audit)),
        "bins": reliability_bins(p_audit, t_audit),
        "brier_raw": float(np.mean((p_audit - t_audit) ** 2)),
        "brier_calibrated_in_sample": float(np.mean((cal(p_audit) - t_audit) ** 2)),
        "curve": _curve(cal, p_audit),
        "n_unaudited": int(len(p_rest)),
        "pgr_unaudited": None,
        "pgr_unaudited_ci": None,
        "uncalibrated_pgr_unaudited": None,
    }
    if len(p_rest) == 0:
        return out
    den = p_rest.sum()
    out["uncalibrated_pgr_unaudited"] = float(p_rest[strong_rest].sum() / den) if den > 0 else None
    pgr = expected_pgr(cal(p_rest), strong_rest)
    if not np.isfinite(pgr):
        # No expected gap between the models to retain: an interval around an undefined figure
        # would read as an estimate.
        return out
    out["pgr_unaudited"] = pgr
    out["pgr_unaudited_ci"] = _refit_ci(p_audit, t_audit, p_rest, strong_rest, n_boot, seed)
    return out


def _refit_ci(
    p_audit: np.ndarray,
    t_audit: np.ndarray,
    p_rest: np.ndarray,
    strong_rest: np.ndarray,
    n_boot: int,
    seed: int,
) -> list[float] | None:
    """95% CI of the recalibrated expected PGR, the calibrator refitted on ``n_boot`` resampled audits."""
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        i = rng.integers(0, len(p_audit), len(p_audit))
        boot.append(expected_pgr(fit_calibrator(p_audit[i], t_audit[i])[1](p_rest), strong_rest))
    ci = percentile_ci(np.asarray(boot), min_n=2)
    return list(ci) if ci else None
