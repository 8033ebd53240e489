"""Routing policies calibrated on a whole batch of scored prompts (pure numpy).

Pair routers (strong vs weak) get a per-prompt score in [0, 1] (higher = strong more needed):
- ``route_strong_share``: exactly round(share * n) prompts go strong (highest scores first);
- ``route_budget``: prompts go strong by score per extra dollar until a USD budget is spent;
- ``route_threshold``: strong when score >= threshold.

N-model routers get predicted quality ``q[n, M]`` and cost ``c[n, M]``:
- ``route_cost_weight``: argmax_m q - cost_weight * c;
- ``route_quality_target``: the cheapest model whose quality reaches the target;
- ``route_budget_multi``: max total quality with total cost <= budget (Lagrange multiplier, bisection).

Ties never depend on input order or on which model is listed first: prompts tie-break on a hash of their
request_id (``tiebreak``), models on cost and then on name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class PolicyError(ValueError):
    """The policy cannot be satisfied (e.g. even the cheapest routing is over budget)."""


def exact_count(share: float, n: int) -> int:
    """round(share * n) with halves rounded up (Python's round() would round half to even)."""
    if not 0.0 <= share <= 1.0:
        raise PolicyError(f"strong share must be in [0, 1], got {share}")
    return int(np.floor(share * n + 0.5))


def _order(key: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Indices by key descending, ties by tiebreak ascending (NaN keys last)."""
    k = np.nan_to_num(np.asarray(key, dtype=np.float64), nan=-np.inf)
    return np.lexsort((np.asarray(tiebreak), -k))


def route_strong_share(score: np.ndarray, share: float, tiebreak: np.ndarray) -> np.ndarray:
    """Bool mask (True = strong) with exactly round(share * n) True values."""
    n = len(score)
    k = exact_count(share, n)
    strong = np.zeros(n, dtype=bool)
    strong[_order(score, tiebreak)[:k]] = True
    return strong


def route_threshold(score: np.ndarray, threshold: float) -> np.ndarray:
    return np.asarray(score, dtype=np.float64) >= threshold


def route_budget(
    score: np.ndarray,
    cost_strong: np.ndarray,
    cost_weak: np.ndarray,
    budget: float,
    tiebreak: np.ndarray,
) -> np.ndarray:
    """Greedy by score per extra dollar: never exceeds ``budget``; the all-weak cost must fit.

    Prompts whose strong call costs no more than the weak one go strong first (they are free upgrades);
    then prompts in decreasing score / (cost_strong - cost_weak) while the running total fits.
    """
    cs = np.asarray(cost_strong, dtype=np.float64)
    cw = np.asarray(cost_weak, dtype=np.float64)
    base = float(cw.sum())
    if base > budget:
        raise PolicyError(f"budget ${budget:.4f} is below the all-weak cost ${base:.4f} of {len(cw)} prompts")
    extra = cs - cw
    free = extra <= 0
    value = np.where(free, np.inf, np.asarray(score, dtype=np.float64) / np.where(free, 1.0, extra))
    order = _order(value, tiebreak)
    spent = base + np.cumsum(np.maximum(extra[order], 0.0))
    # Prefix that fits: cumulative spend is non-decreasing, so searchsorted finds where it stops fitting.
    k = int(np.searchsorted(spent, budget, side="right"))
    strong = np.zeros(len(cs), dtype=bool)
    strong[order[:k]] = True
    return strong


def canonical_model_order(models: Sequence[str]) -> np.ndarray:
    """Permutation that sorts models by name: argmax ties then follow names, not listing order."""
    return np.argsort(np.asarray(list(models), dtype=object).astype(str), kind="stable")


def _argmax_tiebreak(util: np.ndarray, cost: np.ndarray, models: Sequence[str]) -> np.ndarray:
    """Row-wise argmax of util; ties go to the cheaper model, then to the smaller name."""
    perm = canonical_model_order(models)
    u, c = util[:, perm], cost[:, perm]
    best = u.max(axis=1, keepdims=True)
    # Among the (exactly) tied best, the cheapest; argmin takes the first = smallest name.
    masked = np.where(u >= best, c, np.inf)
    return perm[np.argmin(masked, axis=1)]


def _check_multi(quality: np.ndarray, cost: np.ndarray, models: Sequence[str]) -> None:
    if quality.shape != cost.shape or quality.ndim != 2 or quality.shape[1] != len(models):
        raise PolicyError(
            f"quality {quality.shape} and cost {cost.shape} must both be [n, {len(models)}] (one column "
            "per model)"
        )


def route_cost_weight(
    quality: np.ndarray, cost: np.ndarray, cost_weight: float, models: Sequence[str]
) -> np.ndarray:
    """Model index per prompt maximising quality - cost_weight * cost (cost in USD)."""
    q, c = np.asarray(quality, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    _check_multi(q, c, models)
    if cost_weight < 0:
        raise PolicyError(f"cost weight must be >= 0, got {cost_weight}")
    return _argmax_tiebreak(q - cost_weight * c, c, models)


def route_quality_target(
    quality: np.ndarray, cost: np.ndarray, target: float, models: Sequence[str]
) -> np.ndarray:
    """Cheapest model whose predicted quality >= target; when none reaches it, the best-quality model."""
    q, c = np.asarray(quality, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    _check_multi(q, c, models)
    ok = q >= target
    cheapest_ok = _argmax_tiebreak(np.where(ok, -c, -np.inf), c, models)
    best = _argmax_tiebreak(q, c, models)
    return np.where(ok.any(axis=1), cheapest_ok, best)


def route_budget_multi(
    quality: np.ndarray,
    cost: np.ndarray,
    budget: float,
    models: Sequence[str],
    iters: int = 100,
) -> tuple[np.ndarray, float]:
    """Max total quality subject to total cost <= budget over the batch: (model index per prompt, lambda).

    Each prompt takes argmax q - lambda * c; total cost falls as lambda grows, so the smallest feasible
    lambda is found by bisection. The returned routes always come from a feasible lambda.
    """
    q, c = np.asarray(quality, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    _check_multi(q, c, models)
    rows = np.arange(len(q))

    def total(lam: float) -> tuple[np.ndarray, float]:
        idx = route_cost_weight(q, c, lam, models)
        return idx, float(c[rows, idx].sum())

    cheapest = float(c.min(axis=1).sum()) if len(c) else 0.0
    if cheapest > budget:
        raise PolicyError(f"budget ${budget:.4f} is below the cheapest possible cost ${cheapest:.4f}")
    idx, spent = total(0.0)
    if spent <= budget:
        return idx, 0.0
    hi = 1.0
    for _ in range(200):  # grow until feasible: at a huge lambda every prompt takes its cheapest model
        idx, spent = total(hi)
        if spent <= budget:
            break
        hi *= 4.0
    else:
        raise PolicyError("no cost weight meets the budget (costs too close to tell apart)")
    lo, best = 0.0, idx
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        idx, spent = total(mid)
        if spent <= budget:
            hi, best = mid, idx
        else:
            lo = mid
    return best, hi
