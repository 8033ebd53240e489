"""The DAG folder imports cleanly and the nightly DAG has the promised shape, schedule, retries and params."""

from __future__ import annotations

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
    assert dag.schedule == "@daily"
    assert dag.start_date is not None


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
    route = dag.get_task("route_logs")
    p = dag.params
    args = _render(dag, "route_logs", "application_args", strong_share=0.3)
    assert [a for a in args if a] == [
        "--router", p["router"], "--logs", p["logs"], "--out", p["out"], "--date", DS, "--strong-share=0.3",
    ]
    assert _render(dag, "route_logs", "application", home="/opt/br") == "/opt/br/jobs/route_logs.py"
    assert _render(dag, "route_logs", "_spark_binary", spark_submit="/opt/br/.venv/bin/spark-submit") == (
        "/opt/br/.venv/bin/spark-submit"
    )
    assert _render(dag, "route_logs", "_conn_id", spark_conn_id="spark_prod") == "spark_prod"
    env = _render(dag, "route_logs", "env_vars", python="/opt/br/.venv/bin/python")
    assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == "/opt/br/.venv/bin/python"
    assert route.max_active_tis_per_dag == 1  # route runs share OUT/_staging


def test_route_policy_flags_are_passed_only_when_set(dag):
    budget = _render(dag, "route_logs", "application_args", budget_usd=20, prices="/p.yaml")
    assert "--budget-usd=20" in budget and "--prices=/p.yaml" in budget
    assert not any(a.startswith("--strong-share") for a in budget)
    neither = _render(dag, "route_logs", "application_args", strong_share=None, budget_usd=None)
    assert not any(a.startswith(("--strong-share", "--budget-usd", "--prices")) for a in neither)


def test_savings_command_line(dag):
    cmd = _render(dag, "savings", "bash_command", logs="/l", out="/o", python="/v/bin/python")
    assert cmd == (
        f'"/v/bin/python" -m jobs.savings --logs "/l/dt={DS}" --labels "/o" --date "{DS}" '
        f'--out "/o/savings/dt={DS}"'
    )
    with_prices = _render(dag, "savings", "bash_command", prices="/p.yaml")
    assert with_prices.endswith(' --prices "/p.yaml"')
