"""Cost projections of a routed batch, per day: what was routed where and what it would cost."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def daily_summary(dts: list[str], idx: np.ndarray, cost: np.ndarray, models: list[str]) -> pa.Table:
    """One row per day: requests, share per model, projected cost routed vs each model for all requests."""
    dts_a = np.asarray(dts, dtype=object)
    rows: dict[str, list] = {
        "requests": [],
        "cost_routed_usd": [],
        "share_by_model": [],
        "cost_all_model_usd": [],
        "dt": [],
    }
    rr = np.arange(len(idx))
    for d in sorted(set(dts)):
        m = dts_a == d
        n = int(m.sum())
        rows["requests"].append(n)
        rows["cost_routed_usd"].append(float(cost[rr[m], idx[m]].sum()))
        rows["share_by_model"].append([(mod, float((idx[m] == i).sum() / n)) for i, mod in enumerate(models)])
        rows["cost_all_model_usd"].append([(mod, float(cost[m, i].sum())) for i, mod in enumerate(models)])
        rows["dt"].append(d)
    mt = pa.map_(pa.string(), pa.float64())
    return pa.table(
        {
            "requests": pa.array(rows["requests"], pa.int64()),
            "cost_routed_usd": pa.array(rows["cost_routed_usd"], pa.float64()),
            "share_by_model": pa.array(rows["share_by_model"], mt),
            "cost_all_model_usd": pa.array(rows["cost_all_model_usd"], mt),
            "dt": pa.array(rows["dt"], pa.string()),
        }
    )
