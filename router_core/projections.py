"""Cost projections of a routed batch, per request and per day: what was routed where and what it would
cost."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def map_col(keys: list[str], x: np.ndarray) -> pa.MapArray:
    """[n, d] numpy -> Arrow map<string, value> of the d keys in every row."""
    n, d = x.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32))
    return pa.MapArray.from_arrays(offsets, pa.array(keys * n, pa.string()), pa.array(x.ravel()))


def request_projections(
    requests: pa.Table,
    routed: pa.Array,
    idx: np.ndarray,
    prompt_tokens: np.ndarray,
    completion_tokens: np.ndarray,
    cost: np.ndarray,
    models: list[str],
    pair: tuple[str, str] | None,
) -> pa.Table:
    """One row per request (``requests``: request_id and dt): the routed model (``routed``, index ``idx``
    into ``models``), its token counts and cost, the cost of every model (``cost`` [n, M] USD) and, for a
    pair router (``pair``: strong, weak), the cost of sending everything to either."""
    rows = np.arange(len(idx))
    proj: dict[str, object] = {
        "request_id": requests.column("request_id"),
        "routed_model": routed,
        "prompt_tokens": pa.array(prompt_tokens.astype(np.int64)),
        "completion_tokens": pa.array(np.rint(completion_tokens[rows, idx]).astype(np.int64)),
        "cost_routed_usd": pa.array(cost[rows, idx]),
    }
    if pair is not None:
        proj["cost_all_strong_usd"] = pa.array(cost[:, models.index(pair[0])])
        proj["cost_all_weak_usd"] = pa.array(cost[:, models.index(pair[1])])
    proj["cost_by_model_usd"] = map_col(models, cost)
    proj["dt"] = requests.column("dt")
    return pa.table(proj)


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
