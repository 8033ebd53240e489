"""The README's Airflow 3 backfill command accepts the DAG and plans one run per date of the range."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _airflow(db: Path, *args: str) -> subprocess.CompletedProcess:
    airflow = Path(sys.executable).parent / "airflow"
    env = os.environ | {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}"}
    return subprocess.run([str(airflow), *args], env=env, capture_output=True, text=True, timeout=300)


def test_backfill_dry_run_plans_every_date_of_the_range(airflow_db, tmp_path):
    # A copy of the migrated DB: the DAG version serialized here must not mix with the dag.test() runs.
    db = tmp_path / "backfill.db"
    shutil.copy(airflow_db / "airflow.db", db)
    reserialize = _airflow(db, "dags", "reserialize")  # the DAG processor's job: backfills read the DB
    assert reserialize.returncode == 0, reserialize.stderr[-3000:]
    conf = json.dumps({"strong_share": 0.3})
    proc = _airflow(
        db,
        "backfill",
        "create",
        "--dag-id",
        "batch_router_nightly",
        "--from-date",
        "2026-11-01",
        "--to-date",
        "2026-11-03",
        "--reprocess-behavior",
        "failed",
        "--dag-run-conf",
        conf,
        "--dry-run",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    planned = proc.stdout + proc.stderr
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        assert f"{day} 00:00:00+00:00" in planned, planned[-3000:]
    assert "2026-10-31 00:00:00" not in planned and "2026-11-04 00:00:00" not in planned
