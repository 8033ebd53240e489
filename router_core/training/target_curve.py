"""How much a router trained with target data knows about the target domain, and what more labels
would buy: the learning-curve estimate ``train`` prints and the manifest records.

The stack's out-of-fold predictions on the target prompts give the APGR at the labels given (with a
bootstrap CI over those prompts). The curve repeats the stack's cross-fit on random subsets of the target
prompts (a quarter, a half, all), the generic rows kept as the prior, and fits APGR(n) = a - b / sqrt(n)
through the points; the gain it projects for twice the labels says whether labelling more is worth it.
The base scorers' outputs are the ones computed with every target prompt, so at the smaller sizes the
curve is an upper estimate of what so few labels give.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from router_core.intervals import percentile_ci

FRACTIONS = (0.25, 0.5, 1.0)
REPEATS = 3
N_BOOT = 200
MIN_CURVE_PROMPTS = 40  # fewer target prompts: the APGR estimate only, no curve


def target_apgr(q_s: np.ndarray, q_w: np.ndarray, score: np.ndarray, n_boot: int = 0, seed: int = 0):
    """(APGR, bootstrap draws or None) of routing by ``score`` on these prompts."""
    from router_core.evaluation import _apgr, _bootstrap_weights, _pair_curves

    w = np.ones((1, len(score)))
    if n_boot:
        w = np.vstack([w, _bootstrap_weights(len(score), n_boot, np.random.default_rng(seed))])
    share, _, pgr = _pair_curves(q_s, q_w, np.asarray(score, np.float64), w)
    vals = _apgr(share, pgr)
    return float(vals[0]), (vals[1:] if n_boot else None)


def _cross_fit_on(
    rows: np.ndarray, generic: np.ndarray, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    k: int, rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Out-of-fold predictions for ``rows`` (target stack rows), each fold's stack fitted on the other
    folds' rows plus every generic row."""
    fold = rng.permutation(np.arange(len(rows)) % k)
    out = np.zeros(len(rows))
    for f in range(k):
        out[fold == f] = fit_predict(np.r_[generic, rows[fold != f]], rows[fold == f])
    return out


def learning_curve(
    q_s: np.ndarray,
    q_w: np.ndarray,
    is_target: np.ndarray,
    oof: np.ndarray,
    fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    seed: int = 0,
) -> dict[str, Any]:
    """``q_s``/``q_w``/``is_target``/``oof``: per stack row (``oof``: the stack's own out-of-fold
    prediction); ``fit_predict(train_rows, test_rows)`` fits the stack on ``train_rows`` and predicts
    ``test_rows``."""
    t = np.flatnonzero(is_target)
    value, draws = target_apgr(q_s[t], q_w[t], oof[t], N_BOOT, seed)
    ci = percentile_ci(draws)
    out: dict[str, Any] = {"target_prompts": int(len(t)), "apgr": round(value, 4),
                           "apgr_ci95": [round(c, 4) for c in ci] if ci else None}  # fmt: skip
    if len(t) < MIN_CURVE_PROMPTS:
        return out
    rng, generic, points = np.random.default_rng(seed), np.flatnonzero(~is_target), []
    for frac in FRACTIONS:
        n = max(int(round(frac * len(t))), 10)
        vals = []
        for _ in range(REPEATS if frac < 1 else 1):
            rows = np.sort(rng.choice(t, n, replace=False))
            pred = _cross_fit_on(rows, generic, fit_predict, 5, rng)
            vals.append(target_apgr(q_s[rows], q_w[rows], pred)[0])
        points.append((n, float(np.mean(vals))))
    out["curve"] = [{"labels": n, "apgr": round(v, 4)} for n, v in points]
    out.update(_projection(points, len(t)))
    return out


def _projection(points: list[tuple[int, float]], n: int) -> dict[str, Any]:
    """Least squares of APGR = a - b / sqrt(labels) (b >= 0: more labels never hurt in expectation)."""
    x = np.array([1.0 / np.sqrt(p[0]) for p in points])
    y = np.array([p[1] for p in points])
    b = max(0.0, float(-np.polyfit(x, y, 1)[0]))
    a = float(np.mean(y + b * x))
    at = lambda m: a - b / np.sqrt(m)  # noqa: E731
    return {
        "projected_apgr_2x_labels": round(at(2 * n), 4),
        "projected_gain_2x_labels": round(at(2 * n) - at(n), 4),
    }
