"""The route job's output writers and checks on the driver (jobs/route_outputs.py), without Spark."""

from __future__ import annotations

import json
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


def test_models_json_keeps_the_directories_earlier_runs_left(tmp_path):
    out = tmp_path / "out"
    final = out / "dispatch"
    (final / "gpt-4.1-nano" / "dt=2026-11-01").mkdir(parents=True)  # another router's day
    earlier = {"gpt-4.1-nano": "gpt-4.1-nano", "gpt-4o": "gpt-4o", "retired": "retired-model"}
    (final / "models.json").write_text(json.dumps(earlier))
    (tmp_path / "staged").mkdir()  # this run routed nothing
    dirs = {"gpt-4o": "gpt-4o", "mistralai/Mixtral-8x7B": "mistralai--Mixtral-8x7B"}
    route_outputs.commit_dispatch(tmp_path / "staged", final, out, set(), dirs)
    assert json.loads((final / "models.json").read_text()) == {
        "gpt-4.1-nano": "gpt-4.1-nano",  # its files are still there
        "gpt-4o": "gpt-4o",
        "mistralai--Mixtral-8x7B": "mistralai/Mixtral-8x7B",
    }
