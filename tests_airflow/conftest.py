"""Airflow test session: a throw-away AIRFLOW_HOME with a SQLite metadata DB and the repo's DAG folder.

Runs in .venv-airflow (``make airflow-test``); the batch-router jobs themselves run from the main venv
(``.venv`` or $BATCH_ROUTER_VENV), exactly as the DAG calls them in production. Airflow reads its config
when first imported, so the environment is set here, before any test module imports it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAG_FOLDER = REPO / "airflow_dags"
DAG_ID = "batch_router_nightly"
MAIN_VENV = Path(os.environ.get("BATCH_ROUTER_VENV") or REPO / ".venv")

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="batch-router-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # The DAG's default connection, as a deployment would define it: master local[2] (2-core CI).
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # The machine is shared: keep the jobs' torch / BLAS on at most 2 threads.
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "2"),
    }
)
# Parse-time settings of the DAG must come from the tests, not from the caller's shell.
for _k in [k for k in os.environ if k.startswith("BATCH_ROUTER_") and k != "BATCH_ROUTER_VENV"]:
    del os.environ[_k]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """``airflow db migrate`` into the session's SQLite DB (needed by dag.test(), not by parsing)."""
    airflow = Path(sys.executable).parent / "airflow"
    proc = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return _AIRFLOW_HOME


def parse_dag():
    """Parse the DAG folder like the DAG processor does (BATCH_ROUTER_* parse-time settings: os.environ)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FOLDER))
    assert bag.import_errors == {}, f"DAG import errors: {bag.import_errors}"
    assert DAG_ID in bag.dags, f"{DAG_ID} not found in {DAG_FOLDER}; found {sorted(bag.dags)}"
    return bag.dags[DAG_ID]


@pytest.fixture(scope="session")
def parse_nightly():
    """``parse_nightly()`` -> the parsed DAG, with whatever BATCH_ROUTER_* env the caller has set."""
    return parse_dag
