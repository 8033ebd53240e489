"""The DAG folder imports cleanly and the nightly DAG has the promised shape, schedule, retries and params."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

DS = "2026-11-02"


@pytest.fixture
def dag(parse_nightly):
    return parse_nightly()


def _render(dag, task_id: str, field: str, **params):
    """Render one templated field of a task for logical date DS with the DAG's params + overrides."""
    task = dag.get_task(task_id)
    ctx_params = {k: dag.params[k] for k in dag.params} | params
    context = {"params": ctx_params, "ds": DS}
    return task.render_template(getattr(task, field), context, jinja_env=dag.get_template_env())


def test_task_graph_is_sensor_then_route_then_savings(dag):
    assert set(dag.task_ids) == {"wait_for_logs", "route_logs", "savings"}
    assert dag.get_task("wait_for_logs").downstream_task_ids == {"route_logs"}
    assert dag.get_task("route_logs").downstream_task_ids == {"savings"}
    assert dag.get_task("savings").downstream_task_ids == set()


def test_schedule_backfills_every_date(dag):
    assert dag.catchup is True
    assert dag.start_date is not None


def test_each_day_is_routed_once_it_is_over(dag):
    """The run of ds = D (what --date and the sensor's dt=D get) starts at D + 1 00:00 UTC, not at the
    start of D, when its logs are still to come; the next run is the next day's."""
    from airflow.serialization.serialized_objects import LazyDeserializedDAG

    scheduled = LazyDeserializedDAG.from_dag(dag)  # what the scheduler computes runs from
    first = scheduled.next_dagrun_info(last_automated_run_info=None)
    assert first.logical_date == dag.start_date
    assert first.run_after == first.logical_date + timedelta(days=1)
    second = scheduled.next_dagrun_info(last_automated_run_info=first)
    assert second.logical_date == first.logical_date + timedelta(days=1)


def test_every_task_retries_with_exponential_backoff(dag):
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.max_retry_delay is not None and task.max_retry_delay > task.retry_delay, task.task_id


def test_sensor_reschedules_and_times_out(dag):
    from airflow.sdk import BaseSensorOperator

    sensor = dag.get_task("wait_for_logs")
    assert isinstance(sensor, BaseSensorOperator)
    assert sensor.mode == "reschedule"
    assert 0 < sensor.poke_interval < sensor.timeout


def test_parse_time_settings_come_from_env(monkeypatch, parse_nightly):
    monkeypatch.setenv("BATCH_ROUTER_POKE_INTERVAL_S", "7")
    monkeypatch.setenv("BATCH_ROUTER_SENSOR_TIMEOUT_S", "70")
    monkeypatch.setenv("BATCH_ROUTER_RETRIES", "5")
    monkeypatch.setenv("BATCH_ROUTER_MAX_RETRY_DELAY_S", "600")
    monkeypatch.setenv("BATCH_ROUTER_ROUTER", "/data/routers/prod")
    monkeypatch.setenv("BATCH_ROUTER_BUDGET_USD", "12.5")
    monkeypatch.setenv("BATCH_ROUTER_START_DATE", "2026-10-01")
    monkeypatch.setenv("BATCH_ROUTER_END_DATE", "2026-10-31")
    dag = parse_nightly()
    assert (str(dag.start_date.date()), str(dag.end_date.date())) == ("2026-10-01", "2026-10-31")
    sensor = dag.get_task("wait_for_logs")
    assert (sensor.poke_interval, sensor.timeout) == (7, 70)
    route = dag.get_task("route_logs")
    assert route.retries == 5 and route.max_retry_delay == timedelta(seconds=600)
    assert dag.params["router"] == "/data/routers/prod"
    assert dag.params["budget_usd"] == 12.5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STRONG_SHARE", "half", "BATCH_ROUTER_STRONG_SHARE must be a number, got 'half'"),
        ("START_DATE", "01/11/2026", "BATCH_ROUTER_START_DATE must be YYYY-MM-DD, got '01/11/2026'"),
    ],
)
def test_bad_env_value_is_an_import_error_naming_the_variable(monkeypatch, name, value, message):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv(f"BATCH_ROUTER_{name}", value)
    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "airflow_dags"))
    (err,) = bag.import_errors.values()
    assert message in err


def test_route_job_command_line(dag):
    p = dag.params
    args = _render(dag, "route_logs", "application_args", strong_share=0.3)
    assert [a for a in args if a] == [
        "--router",
        p["router"],
        "--logs",
        p["logs"],
        "--out",
        p["out"],
        "--date",
        DS,
        "--strong-share=0.3",
    ]
    assert dag.get_task("route_logs").max_active_tis_per_dag == 1  # route runs share OUT/_staging


def test_executables_come_from_the_environment_not_from_run_params(monkeypatch, parse_nightly):
    monkeypatch.setenv("BATCH_ROUTER_HOME", "/opt/br")
    monkeypatch.setenv("BATCH_ROUTER_SPARK_CONN_ID", "spark_prod")
    dag = parse_nightly()
    route = dag.get_task("route_logs")
    assert route.application == "/opt/br/jobs/route_logs.py"
    assert route._spark_binary == "/opt/br/.venv/bin/spark-submit"
    assert route._conn_id == "spark_prod"
    python = "/opt/br/.venv/bin/python"
    assert route.env_vars["PYSPARK_PYTHON"] == route.env_vars["PYSPARK_DRIVER_PYTHON"] == python
    savings = dag.get_task("savings")
    assert savings.env["BR_PYTHON"] == python and savings.cwd == "/opt/br"
    assert not {"home", "python", "spark_submit", "spark_conn_id"} & set(dag.params)


def test_route_policy_flags_are_passed_only_when_set(dag):
    budget = _render(dag, "route_logs", "application_args", budget_usd=20, prices="/p.yaml")
    assert "--budget-usd=20" in budget and "--prices=/p.yaml" in budget
    assert not any(a.startswith("--strong-share") for a in budget)
    neither = _render(dag, "route_logs", "application_args", strong_share=None, budget_usd=None)
    assert not any(a.startswith(("--strong-share", "--budget-usd", "--prices")) for a in neither)


def _savings_argv(dag, tmp_path: Path, **params) -> list[str]:
    """Run the rendered savings command with a stand-in Python that prints the arguments it got."""
    echo = tmp_path / "python"
    echo.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    echo.chmod(0o755)
    env = _render(dag, "savings", "env", **params) | {"BR_PYTHON": str(echo)}
    command = dag.get_task("savings").bash_command
    proc = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_savings_command_line(dag, tmp_path):
    logs, out = "/data/prompt logs", "/data/out; rm -rf /"  # spaces and shell syntax stay literal
    argv = _savings_argv(dag, tmp_path, logs=logs, out=out, prices=None)
    assert argv == [
        "-m",
        "jobs.savings",
        "--logs",
        f"{logs}/dt={DS}",
        "--labels",
        out,
        "--date",
        DS,
        "--out",
        f"{out}/savings/dt={DS}",
    ]
    with_prices = _savings_argv(dag, tmp_path, logs=logs, out=out, prices="/etc/my prices.yaml")
    assert with_prices[-2:] == ["--prices", "/etc/my prices.yaml"]


def test_dag_file_imports_without_batch_router(tmp_path):
    """Only Airflow + the Spark provider are needed: the DAG imports where batch-router is not importable."""
    dag_file = Path(__file__).resolve().parents[1] / "airflow_dags" / "batch_router_nightly.py"
    code = (
        "import importlib.util, runpy, sys\n"
        "ours = ('router_core', 'jobs', 'udfs', 'schemas')\n"
        "assert not any(importlib.util.find_spec(m) for m in ours), 'batch-router is importable here'\n"
        "runpy.run_path(sys.argv[1])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ours)\n"
        "assert not loaded, loaded\n"
    )
    # -I: no PYTHONPATH, no script directory / cwd on sys.path, as in an Airflow install beside the repo.
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code, str(dag_file)], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_missing_spark_connection_means_local_master(dag, monkeypatch):
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    route = dag.get_task("route_logs")
    monkeypatch.setattr(route, "_conn_id", "br_test_no_such_conn")
    monkeypatch.delenv("AIRFLOW_CONN_BR_TEST_NO_SUCH_CONN", raising=False)  # restored (unset) afterwards
    assert SparkSubmitHook(conn_id="br_test_no_such_conn")._connection["master"] == "yarn"  # provider alone
    route.default_to_local_master()
    assert SparkSubmitHook(conn_id="br_test_no_such_conn")._connection["master"] == "local[*]"


def test_defined_spark_connection_is_kept(dag, monkeypatch):
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    route = dag.get_task("route_logs")
    before = os.environ["AIRFLOW_CONN_SPARK_DEFAULT"]  # conftest: master local[2]
    route.default_to_local_master()
    assert os.environ["AIRFLOW_CONN_SPARK_DEFAULT"] == before
    assert SparkSubmitHook(conn_id=route._conn_id)._connection["master"] == "local[2]"
