"""The route job's decisions on the driver (router_core/route_decision.py)."""

from __future__ import annotations

import json

import numpy as np

from router_core.pricing import PriceTable
from router_core.route_decision import cheapest_cost_floor
from router_core.tokens import completion_matrix, logged_or_counted

MODELS = ["big", "small", "chatty"]


def prices(tmp_path) -> PriceTable:
    # "chatty" has the lowest output price but answers at length; "small" the lowest input price
    doc = {
        "big": {"input_price": 5.0, "output_price": 15.0},
        "small": {"input_price": 0.1, "output_price": 0.6, "completion_tokens": 400},
        "chatty": {"input_price": 0.2, "output_price": 0.5, "completion_tokens": 1000},
    }
    (tmp_path / "prices.json").write_text(json.dumps(doc))
    return PriceTable.load(str(tmp_path / "prices.json"))


def test_the_budget_floor_is_below_the_cheapest_routing_and_meets_it_when_the_log_counts_all(tmp_path):
    table = prices(tmp_path)
    rng = np.random.default_rng(0)
    n = 50
    pt_log = np.where(rng.random(n) < 0.5, rng.integers(1, 2000, n), np.nan)
    ct_log = np.where(rng.random(n) < 0.5, rng.integers(1, 800, n), np.nan)
    counted = rng.integers(1, 2000, n).astype(float)  # what the workers would count
    cost = table.cost_matrix(
        logged_or_counted(pt_log, counted), completion_matrix(ct_log, MODELS, table), MODELS
    )
    floor = cheapest_cost_floor(
        table, MODELS, np.nansum(pt_log), np.nansum(ct_log), int(np.isnan(ct_log).sum())
    )
    assert 0 < floor <= cost.min(axis=1).sum()

    # every count logged, and one model cheapest in both prices: the floor is the cheapest routing
    two = ["big", "small"]
    pt, ct = rng.integers(1, 2000, n).astype(float), rng.integers(1, 800, n).astype(float)
    exact = table.cost_matrix(pt, completion_matrix(ct, two, table), two).min(axis=1).sum()
    assert np.isclose(cheapest_cost_floor(table, two, pt.sum(), ct.sum(), 0), exact, rtol=1e-12)


def test_requests_without_a_completion_count_take_the_cheapest_assumed_answer(tmp_path):
    # small: 400 x 0.6 = 240; chatty: 1000 x 0.5 = 500 (USD per 1M): the floor takes small's
    assert np.isclose(cheapest_cost_floor(prices(tmp_path), MODELS, 0, 0, 3), 3 * 240 / 1e6)
