"""Per-request and per-day cost projections of a routed batch (router_core.projections), without Spark."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from router_core.projections import daily_summary, request_projections

MODELS = ["big", "small"]


def _batch():
    requests = pa.table({"request_id": ["a", "b", "c"], "dt": ["2026-11-01", "2026-11-01", "2026-11-02"]})
    idx = np.array([0, 1, 1])
    cost = np.array([[2.0, 0.5], [4.0, 1.0], [6.0, 1.5]])
    completion = np.array([[10.4, 20.6], [30.0, 40.0], [50.0, 60.0]])
    routed = pa.array([MODELS[i] for i in idx])
    return requests, routed, idx, np.array([5.0, 6.0, 7.0]), completion, cost


def test_request_projections_pair_and_n_models():
    requests, routed, idx, prompt, completion, cost = _batch()
    pair = request_projections(requests, routed, idx, prompt, completion, cost, MODELS, ("big", "small"))
    assert pair.column("cost_routed_usd").to_pylist() == [2.0, 1.0, 1.5]
    assert pair.column("completion_tokens").to_pylist() == [10, 40, 60]  # the routed model's, rounded
    assert pair.column("cost_all_strong_usd").to_pylist() == [2.0, 4.0, 6.0]
    assert pair.column("cost_by_model_usd").to_pylist()[0] == [("big", 2.0), ("small", 0.5)]
    multi = request_projections(requests, routed, idx, prompt, completion, cost, MODELS, None)
    assert "cost_all_strong_usd" not in multi.column_names
    assert multi.column("dt").to_pylist() == requests.column("dt").to_pylist()


def test_daily_summary_adds_up_the_requests_of_each_day():
    requests, _, idx, _, _, cost = _batch()
    days = daily_summary(requests.column("dt").to_pylist(), idx, cost, MODELS)
    assert days.column("requests").to_pylist() == [2, 1]
    assert days.column("cost_routed_usd").to_pylist() == [3.0, 1.5]
