"""Percentile bootstrap intervals, shared by evaluation, savings and audits."""

from __future__ import annotations

import numpy as np


def percentile_ci(draws: np.ndarray | None, min_n: int = 1) -> tuple[float, float] | None:
    """The 95% percentile interval of the finite bootstrap draws; None with fewer than ``min_n`` of them."""
    if draws is None:
        return None
    v = np.asarray(draws, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < max(min_n, 1):
        return None
    lo, hi = np.percentile(v, [2.5, 97.5])
    return float(lo), float(hi)
