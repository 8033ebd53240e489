"""The route job's output writers and checks on the driver (jobs/route_outputs.py), without Spark."""

from __future__ import annotations

from types import SimpleNamespace

from jobs import route_outputs


def test_summary_counts_one_request_in_the_singular(capsys):
    summary = {
        "routed": {"gpt-4o": 1, "gpt-4o-mini": 2},
        "cost_by_model_usd": {"gpt-4o": 0.3, "gpt-4o-mini": 0.03},
        "cost_routed_usd": 0.12,
    }
    route_outputs.print_summary(summary, SimpleNamespace(strong="gpt-4o"))
    out = capsys.readouterr().out
    assert "gpt-4o: 1 request (33.3%)" in out
    assert "gpt-4o-mini: 2 requests (66.7%)" in out
