"""Routing policies calibrated on a whole batch of scored prompts (pure numpy).

Pair routers (strong vs weak) get a per-prompt score in [0, 1] (higher = strong more needed):
- ``route_strong_share``: exactly round(share * n) prompts go strong (highest scores first);
- ``route_budget``: prompts go strong by score per extra dollar until a USD budget is spent;
- ``route_threshold``: strong when score >= threshold.

N-model routers get predicted quality ``q[n, M]`` and cost ``c[n, M]``:
- ``route_cost_weight``: argmax_m q - cost_weight * c;
- ``route_quality_target``: the cheapest model whose quality reaches the target;
- ``route_budget_multi``: max total quality with total cost <= budget (Lagrange multiplier by bisection,
  then the prompts tied at the multiplier filled greedily).

Ties never depend on input order or on which model is listed first: prompts tie-break on a hash of their
request_id (``tiebreak``), models on cost and then on name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal

import numpy as np


class PolicyError(ValueError):
    """The policy cannot be satisfied (e.g. even the cheapest routing is over budget)."""


def exact_count(share: float, n: int) -> int:
    """round(share * n) with halves rounded up (Python's round() would round half to even)."""
    if not 0.0 <= share <= 1.0:
        raise PolicyError(f"strong share must be in [0, 1], got {share}")
    # In decimal, as the share is written: the binary 0.009 x 1500 is 13.4999..., not the half 13.5.
    return int((Decimal(repr(float(share))) * n).to_integral_value(rounding=ROUND_HALF_UP))


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
    """Greedy by score per extra dollar: never exceeds ``budget``; the cheapest routing must fit.

    Prompts whose strong call costs no more than the weak one go strong first (they are free upgrades,
    and the cheapest routing); then prompts in decreasing score / (cost_strong - cost_weak) while the
    running total fits.
    """
    cs = np.asarray(cost_strong, dtype=np.float64)
    cw = np.asarray(cost_weak, dtype=np.float64)
    extra = cs - cw
    free = extra <= 0
    # A strong model priced below the weak one on some prompts makes them cheaper strong: count that saving.
    base = float(np.where(free, cs, cw).sum())
    if base > budget:
        raise PolicyError(
            f"budget ${budget:.4f} is below the cheapest possible cost ${base:.4f} of {len(cw)} prompts"
        )
    value = np.where(free, np.inf, np.asarray(score, dtype=np.float64) / np.where(free, 1.0, extra))
    order = _order(value, tiebreak)
    spent = base + np.cumsum(np.maximum(extra[order], 0.0))
    # Prefix that fits: cumulative spend is non-decreasing, so searchsorted finds where it stops fitting.
    k = int(np.searchsorted(spent, budget, side="right"))

    def routed(k: int) -> np.ndarray:
        strong = np.zeros(len(cs), dtype=bool)
        strong[order[:k]] = True
        return strong

    k = _fit_prefix(k, len(cs), lambda k: float(np.where(routed(k), cs, cw).sum()), budget)
    return routed(k)


def _fit_prefix(k: int, n: int, total: Callable[[int], float], budget: float) -> int:
    """The largest prefix length near ``k`` whose batch total fits ``budget``. ``k`` comes from a running
    sum, which adds the costs in another order than the batch total and can be an ulp off either way;
    the totals the route job reports are batch totals."""
    while k < n and total(k + 1) <= budget:
        k += 1
    while k > 0 and total(k) > budget:
        k -= 1
    return k


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
    # A NaN cost (a model without a price) would silently lose every argmax: name the model instead.
    bad = [m for j, m in enumerate(models) if not (np.isfinite(cost[:, j]) & (cost[:, j] >= 0)).all()]
    if bad:
        raise PolicyError(f"cost of model(s) {bad} is missing, negative or not finite (no price?)")
    bad = [m for j, m in enumerate(models) if np.isnan(quality[:, j]).any()]
    if bad:
        raise PolicyError(f"predicted quality of model(s) {bad} contains NaN")


def route_cost_weight(
    quality: np.ndarray, cost: np.ndarray, cost_weight: float, models: Sequence[str]
) -> np.ndarray:
    """Model index per prompt maximising quality - cost_weight * cost (cost in USD)."""
    q, c = np.asarray(quality, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    _check_multi(q, c, models)
    if not cost_weight >= 0:
        raise PolicyError(f"cost weight must be >= 0, got {cost_weight}")
    if np.isinf(cost_weight):
        # The limit: the cheapest model, the best of equally cheap ones (inf x 0 would be NaN).
        return _argmax_tiebreak(np.where(c <= c.min(axis=1, keepdims=True), q, -np.inf), c, models)
    return _argmax_tiebreak(q - cost_weight * c, c, models)


def route_quality_target(
    quality: np.ndarray, cost: np.ndarray, target: float, models: Sequence[str]
) -> np.ndarray:
    """Cheapest model whose predicted quality >= target (of equally cheap ones, the best predicted); when
    none reaches it, the best-quality model."""
    q, c = np.asarray(quality, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    _check_multi(q, c, models)
    ok = q >= target
    # Models at one price are common (same per-token rates and token counts): their name must not pick a
    # worse one of them.
    cheapest = np.where(ok, c, np.inf).min(axis=1, keepdims=True)
    cheapest_ok = _argmax_tiebreak(np.where(ok & (c <= cheapest), q, -np.inf), c, models)
    best = _argmax_tiebreak(q, c, models)
    return np.where(ok.any(axis=1), cheapest_ok, best)


def _fill_marginal(
    q: np.ndarray, c: np.ndarray, chosen: np.ndarray, richer: np.ndarray, budget: float, tiebreak: np.ndarray
) -> np.ndarray:
    """Move prompts from ``chosen`` (within ``budget``) to ``richer`` (their pick at a slightly smaller
    multiplier), best quality gain per extra dollar first, ties by ``tiebreak``, while the total fits."""
    rows = np.flatnonzero(richer != chosen)
    if len(rows) == 0:
        return chosen
    gain = q[rows, richer[rows]] - q[rows, chosen[rows]]
    extra = c[rows, richer[rows]] - c[rows, chosen[rows]]
    free = extra <= 0
    value = np.where(free, np.inf, gain / np.where(free, 1.0, extra))
    order = _order(value, tiebreak[rows])
    base = float(c[np.arange(len(c)), chosen].sum())
    spent = base + np.cumsum(np.maximum(extra[order], 0.0))
    k = int(np.searchsorted(spent, budget, side="right"))  # the prefix that fits, like route_budget

    def routed(k: int) -> np.ndarray:
        out = chosen.copy()
        moved = rows[order[:k]]
        out[moved] = richer[moved]
        return out

    k = _fit_prefix(k, len(rows), lambda k: float(c[np.arange(len(c)), routed(k)].sum()), budget)
    return routed(k)


def route_budget_multi(
    quality: np.ndarray,
    cost: np.ndarray,
    budget: float,
    models: Sequence[str],
    tiebreak: np.ndarray | None = None,
    iters: int = 100,
) -> tuple[np.ndarray, float]:
    """Max total quality subject to total cost <= budget over the batch: (model index per prompt, lambda).

    Each prompt takes argmax q - lambda * c; total cost falls as lambda grows, so the smallest feasible
    lambda is found by bisection. The returned routes always come from a feasible lambda. Prompts tied at
    that lambda (repeated prompts share one score) would all switch together and leave budget unspent, so
    they are then upgraded one by one in ``tiebreak`` order (default: row order) while they fit: with two
    models this gives exactly the pair router's ``route_budget``.
    """
    q, c = np.asarray(quality, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    _check_multi(q, c, models)
    rows = np.arange(len(q))
    tb = rows if tiebreak is None else np.asarray(tiebreak)
    if len(tb) != len(q):
        raise PolicyError(f"{len(tb)} tiebreak values for {len(q)} prompts")

    def total(lam: float) -> tuple[np.ndarray, float]:
        idx = route_cost_weight(q, c, lam, models)
        return idx, float(c[rows, idx].sum())

    cheapest = float(c.min(axis=1).sum()) if len(c) else 0.0
    if cheapest > budget:
        raise PolicyError(f"budget ${budget:.4f} is below the cheapest possible cost ${cheapest:.4f}")
    idx, spent = total(0.0)
    if spent <= budget:
        return idx, 0.0
    lo, lo_idx, hi = 0.0, idx, 1.0
    for _ in range(200):  # grow until feasible: at a huge lambda every prompt takes its cheapest model
        idx, spent = total(hi)
        if spent <= budget:
            break
        lo, lo_idx, hi = hi, idx, hi * 4.0
    else:
        raise PolicyError("no cost weight meets the budget (costs too close to tell apart)")
    best = idx
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        idx, spent = total(mid)
        if spent <= budget:
            hi, best = mid, idx
        else:
            lo, lo_idx = mid, idx
    return _fill_marginal(q, c, best, lo_idx, budget, tb), hi
