"""How much a router trained with target data knows about the target domain, and what more labels
would buy: the learning-curve estimate ``train`` prints and the manifest records.

The stack's out-of-fold predictions on the target prompts give the router's metric at the labels given
(with a bootstrap CI over those prompts): APGR for a pair router, for N models the mean quality of the
model predicted best (``argmax_quality``, quality at an unlimited budget; train has no prices, so no
cost-aware metric). The curve repeats the stack's cross-fit on random subsets of the target prompts (a
quarter, a half, all), the generic rows kept as the prior, and fits metric(n) = a - b / sqrt(n) through
the points; the gain it projects for twice the labels says whether labelling more is worth it. The base
scorers' outputs are the ones computed with every target prompt, so at the smaller sizes the curve is an
upper estimate of what so few labels give.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from router_core.intervals import percentile_ci
from router_core.training.metrics import chosen_scores

FRACTIONS = (0.25, 0.5, 1.0)
REPEATS = 3
N_BOOT = 200
MIN_CURVE_PROMPTS = 40  # fewer target prompts: the APGR estimate only, no curve


def target_apgr(q_s: np.ndarray, q_w: np.ndarray, score: np.ndarray, n_boot: int = 0, seed: int = 0):
    """(APGR, bootstrap draws or None) of routing by ``score`` on these prompts."""
    from router_core.evaluation import apgr_from_curve, bootstrap_weights, pair_curves

    w = np.ones((1, len(score)))
    if n_boot:
        w = np.vstack([w, bootstrap_weights(len(score), n_boot, np.random.default_rng(seed))])
    share, _, pgr = pair_curves(q_s, q_w, np.asarray(score, np.float64), w)
    vals = apgr_from_curve(share, pgr)
    return float(vals[0]), (vals[1:] if n_boot else None)


def _cross_fit_on(
    rows: np.ndarray, generic: np.ndarray, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    k: int, rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Out-of-fold predictions for ``rows`` (target stack rows), each fold's stack fitted on the other
    folds' rows plus every generic row."""
    fold = rng.permutation(np.arange(len(rows)) % k)
    out = None
    for f in range(k):
        pred = fit_predict(np.r_[generic, rows[fold != f]], rows[fold == f])
        if out is None:
            out = np.zeros((len(rows), *np.shape(pred)[1:]))
        out[fold == f] = pred
    assert out is not None
    return out


Metric = Callable[[np.ndarray, np.ndarray, int], tuple[float, np.ndarray | None]]


def pair_metric(q_s: np.ndarray, q_w: np.ndarray, seed: int = 0) -> Metric:
    """APGR of the stack rows ``rows`` routed by ``pred`` (with ``n_boot`` bootstrap draws)."""
    return lambda rows, pred, n_boot: target_apgr(q_s[rows], q_w[rows], pred, n_boot, seed)


def argmax_quality(scores: np.ndarray, seed: int = 0) -> Metric:
    """Mean measured score of the model ``pred`` ranks first, over the stack rows ``rows`` whose every
    model is scored (``scores`` [rows, M], NaN = unknown)."""

    def value(rows: np.ndarray, pred: np.ndarray, n_boot: int) -> tuple[float, np.ndarray | None]:
        full = ~np.isnan(scores[rows]).any(axis=1)
        got = chosen_scores(np.asarray(pred)[full], scores[rows][full])
        if not len(got):
            return float("nan"), None
        if not n_boot:
            return float(got.mean()), None
        rng = np.random.default_rng(seed)
        draws = got[rng.integers(0, len(got), size=(n_boot, len(got)))].mean(axis=1)
        return float(got.mean()), draws

    return value


def best_single_model(scores: np.ndarray, is_target: np.ndarray, seed: int = 0, folds: int = 5) -> float:
    """``argmax_quality`` of sending every target row to one model: on each fold, the model with the best
    mean on the other folds' target rows (out of fold, like the router's estimate; the best model picked
    on the same rows would flatter it)."""
    t = np.flatnonzero(is_target)

    def fit_predict(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        own = scores[tr]  # target rows only: no generic row is passed in
        known = ~np.isnan(own)
        mean = np.nansum(own, axis=0) / np.maximum(known.sum(axis=0), 1)
        means = np.where(known.any(axis=0), mean, -np.inf)
        return np.tile(means, (len(te), 1))

    pred = _cross_fit_on(t, np.zeros(0, np.int64), fit_predict, folds, np.random.default_rng(seed))
    return argmax_quality(scores, seed)(t, pred, 0)[0]


def learning_curve(
    metric: Metric,
    name: str,
    is_target: np.ndarray,
    oof: np.ndarray | None,
    fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    seed: int = 0,
    folds: int = 5,
    repeats: int = REPEATS,
) -> dict[str, Any]:
    """``metric`` (``pair_metric`` / ``argmax_quality``), recorded under ``name``; ``is_target`` /
    ``oof``: per stack row (``oof``: the stack's own out-of-fold prediction; None: the curve's cross-fit
    on every target prompt stands for it); ``fit_predict(train_rows, test_rows)`` fits the stack on
    ``train_rows`` and predicts ``test_rows``; ``folds`` / ``repeats``: of each curve point's cross-fit
    (fewer for a costly stack)."""
    t = np.flatnonzero(is_target)
    rng, generic = np.random.default_rng(seed), np.flatnonzero(~is_target)
    if oof is None:
        at_all = _cross_fit_on(t, generic, fit_predict, folds, rng)
    else:
        at_all = np.asarray(oof)[t]
    value, draws = metric(t, at_all, N_BOOT)
    ci = percentile_ci(draws) if draws is not None else None
    out: dict[str, Any] = {"target_prompts": int(len(t)), "metric": name, name: round(value, 4),
                           f"{name}_ci95": [round(c, 4) for c in ci] if ci else None}  # fmt: skip
    if len(t) < MIN_CURVE_PROMPTS:
        return out
    points = []
    for frac in FRACTIONS:
        n = max(int(round(frac * len(t))), 10)
        if frac == 1 and oof is None:
            points.append((n, value))
            continue
        vals = []
        for _ in range(repeats if frac < 1 else 1):
            rows = np.sort(rng.choice(t, n, replace=False))
            vals.append(metric(rows, _cross_fit_on(rows, generic, fit_predict, folds, rng), 0)[0])
        points.append((n, float(np.mean(vals))))
    out["curve"] = [{"labels": n, name: round(v, 4)} for n, v in points]
    out.update(_projection(points, len(t), name))
    return out


def _projection(points: list[tuple[int, float]], n: int, name: str) -> dict[str, Any]:
    """Least squares of metric = a - b / sqrt(labels) (b >= 0: more labels never hurt in expectation)."""
    x = np.array([1.0 / np.sqrt(p[0]) for p in points])
    y = np.array([p[1] for p in points])
    b = max(0.0, float(-np.polyfit(x, y, 1)[0]))
    a = float(np.mean(y + b * x))
    at = lambda m: a - b / np.sqrt(m)  # noqa: E731
    return {
        f"projected_{name}_2x_labels": round(float(at(2 * n)), 4),
        "projected_gain_2x_labels": round(float(at(2 * n) - at(n)), 4),
    }
