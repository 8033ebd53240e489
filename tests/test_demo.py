"""`make demo` end to end: bundled data only (no ../shared, no network), router trained, logs routed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as pads
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_offline(tmp_path):
    # The demo reads only jobs/demo_data (never ../shared) and never a model hub.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "jobs.demo", "--out", str(tmp_path / "demo"), "--master", "local[2]"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = tmp_path / "demo"
    assert "[demo] summary" in r.stdout and "projected cost" in r.stdout
    assert "randomly audited requests: " in r.stdout and "% (95% CI " in r.stdout  # the CI reads as one
    summary = json.loads((out / "demo_summary.json").read_text())
    assert sum(summary["route"]["routed"].values()) == 300
    assert summary["route"]["cost_routed_usd"] < summary["route"]["cost_by_model_usd"]["gpt-4-1106-preview"]
    labels = pads.dataset(str(out / "route" / "labels"), partitioning="hive").to_table()
    assert labels.num_rows == 300 and len(set(labels.column("dt").to_pylist())) == 3
    assert list((out / "route" / "dispatch").glob("*/dt=*/part-*.jsonl"))
    try:
        import jobs.savings  # noqa: F401
    except ImportError:
        return
    assert (out / "report" / "report.html").exists()
