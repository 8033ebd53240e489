"""Nightly batch-router DAG: wait for a day's prompt logs, route them with Spark, then estimate savings.

One DAG run per logical date ``ds``, started once that UTC day is over (``catchup=True``: unpaused or
``airflow backfill create``, every missing date from ``start_date`` on runs). Tasks, all idempotent per
date:

1. ``wait_for_logs``: reschedule-mode sensor until ``LOGS/dt={{ ds }}`` exists and holds Parquet files;
   fails (no retry) with the missing path in the message after the sensor timeout.
2. ``route_logs``: ``spark-submit jobs/route_logs.py --date {{ ds }}`` from the batch-router venv through
   SparkSubmitOperator, master from the Spark connection (``local[*]`` when that connection is not
   defined); the job atomically replaces only that date's partitions under ``OUT``.
3. ``savings``: ``python -m jobs.savings`` for that date from the batch-router venv; rewrites only
   ``OUT/savings/dt={{ ds }}``. A BashOperator, not spark-submit: the savings job is pandas/pyarrow only,
   so a JVM would add start-up time and, on a cluster master, write the report on a cluster node.

Airflow runs in its own venv; batch-router (and its pyspark, whose ``spark-submit`` we call) in another.
Data locations and the routing policy are DAG params (editable per run, defaults from ``BATCH_ROUTER_*``
environment variables read when the file is parsed); executables and the Spark connection come from the
environment only. Deployment: ``airflow_dags/README.md``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, BaseHook, BaseSensorOperator, Param
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable
from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSensorTimeout

DAG_ID = "batch_router_nightly"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"BATCH_ROUTER_{name}") or default


def _env_float(name: str, default: float | None) -> float | None:
    raw = os.environ.get(f"BATCH_ROUTER_{name}")
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"environment variable BATCH_ROUTER_{name} must be a number, got '{raw}'") from None


def _env_date(name: str, default: str | None) -> datetime | None:
    raw = _env(name, default or "")
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        msg = f"environment variable BATCH_ROUTER_{name} must be YYYY-MM-DD, got '{raw}'"
        raise ValueError(msg) from None


# Deployment settings: what runs on the workers. Environment only, never DAG params, so that whoever may
# trigger a run with a config cannot choose which executable runs.
# The checkout of batch-router: jobs/route_logs.py lives there. Default: the repo this file sits in.
HOME = _env("HOME", str(Path(__file__).resolve().parents[1]))
VENV = _env("VENV", os.path.join(HOME, ".venv"))
SPARK_SUBMIT = _env("SPARK_SUBMIT", os.path.join(VENV, "bin", "spark-submit"))
PYTHON = _env("PYTHON", os.path.join(VENV, "bin", "python"))
SPARK_CONN_ID = _env("SPARK_CONN_ID", "spark_default")
# Master used when that connection does not exist (the provider alone would fall back to yarn).
DEFAULT_MASTER = "local[*]"
DEMO_OUT = os.path.join(HOME, "demo_out")

POKE_INTERVAL_S = _env_float("POKE_INTERVAL_S", 300.0)
SENSOR_TIMEOUT_S = _env_float("SENSOR_TIMEOUT_S", 12 * 3600.0)
RETRIES = int(_env_float("RETRIES", 3))
RETRY_DELAY_S = _env_float("RETRY_DELAY_S", 300.0)
MAX_RETRY_DELAY_S = _env_float("MAX_RETRY_DELAY_S", 3600.0)
# First (and optionally last) logical date of the backfill; the demo logs cover 2026-11-01..03.
START_DATE = _env_date("START_DATE", "2026-11-01")
END_DATE = _env_date("END_DATE", None)


class LogPartitionSensor(BaseSensorOperator):
    """Succeeds once ``{logs}/dt={ds}`` is a directory holding at least one ``*.parquet`` file.

    Local / mounted paths (os.path). On timeout it fails with the partition path in the message.
    """

    template_fields = ("logs", "partition")

    def __init__(self, *, logs: str, partition: str = "dt={{ ds }}", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.logs = logs
        self.partition = partition

    def _path(self) -> Path:
        return Path(self.logs) / self.partition

    def poke(self, context: Any) -> bool:
        path = self._path()
        if not path.is_dir():
            self.log.info("waiting for log partition %s: directory not there yet", path)
            return False
        # Writers stage files under names starting with '_' or '.' (Spark: _temporary/0/.../part-*.parquet),
        # which readers ignore, the directories' as much as the files': so do we.
        files = [
            p
            for p in path.rglob("*.parquet")
            if not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)
        ]
        if not files:
            self.log.info("waiting for log partition %s: no Parquet files yet", path)
            return False
        self.log.info("log partition %s ready: %d Parquet file(s)", path, len(files))
        return True

    def execute(self, context: Any) -> Any:
        try:
            return super().execute(context)
        except AirflowSensorTimeout as exc:
            raise AirflowSensorTimeout(
                f"log partition {self._path()} still has no Parquet files after the sensor timeout of "
                f"{self.timeout:.0f}s: this date is not routed; other dates are unaffected"
            ) from exc


class BatchRouterSparkSubmit(SparkSubmitOperator):
    """SparkSubmitOperator that drops empty arguments after rendering and runs on ``local[*]`` when its
    Spark connection is not defined.

    Optional flags are written as one ``--flag=value`` argument that renders to "" when its param is
    unset; dropping those, the job sees only the flags that were given.
    """

    def execute(self, context: Any) -> None:
        self.application_args = [a for a in self.application_args or [] if str(a) != ""]
        self.default_to_local_master()
        super().execute(context)

    def default_to_local_master(self) -> None:
        """Define the missing connection as ``local[*]`` for this task process only.

        An environment-variable connection is Airflow's own mechanism, so the hook resolves it like any
        other; a connection defined anywhere (metastore, secrets backend, env) is left untouched.
        """
        try:
            BaseHook.get_connection(self._conn_id)
        except AirflowNotFoundException:
            self.log.warning("Spark connection '%s' not defined: master %s", self._conn_id, DEFAULT_MASTER)
            os.environ[f"AIRFLOW_CONN_{self._conn_id.upper()}"] = json.dumps(
                {"conn_type": "spark", "host": DEFAULT_MASTER}
            )


def optional_flag(flag: str, param: str) -> str:
    """Template of ``--flag=<params.param>``, or "" when the param is null / empty."""
    return f"{{{{ '{flag}=' ~ params.{param} if params.{param} not in (none, '') else '' }}}}"


PARAMS = {
    "router": Param(
        _env("ROUTER", os.path.join(DEMO_OUT, "router")),
        type="string",
        description="Router directory written by `batch-router train` (env BATCH_ROUTER_ROUTER).",
    ),
    "logs": Param(
        _env("LOGS", os.path.join(DEMO_OUT, "logs")),
        type="string",
        description="Root of the Hive-partitioned prompt logs, LOGS/dt=YYYY-MM-DD/*.parquet "
        "(env BATCH_ROUTER_LOGS).",
    ),
    "out": Param(
        _env("OUT", os.path.join(DEMO_OUT, "nightly")),
        type="string",
        description="Output root: labels/dt=YYYY-MM-DD from the route job, savings/dt=YYYY-MM-DD reports "
        "(env BATCH_ROUTER_OUT).",
    ),
    "strong_share": Param(
        _env_float("STRONG_SHARE", None),
        type=["null", "number"],
        minimum=0,
        maximum=1,
        description="Pair routers: share of each day's prompts sent to the strong model "
        "(env BATCH_ROUTER_STRONG_SHARE). Null and no budget_usd: the route job's default (0.5).",
    ),
    "budget_usd": Param(
        _env_float("BUDGET_USD", None),
        type=["null", "number"],
        minimum=0,
        description="USD budget for each day's requests, instead of strong_share; the only policy "
        "for N-model routers (env BATCH_ROUTER_BUDGET_USD). Set at most one of the two.",
    ),
    "prices": Param(
        _env("PRICES", "") or None,
        type=["null", "string"],
        description="Optional price file for models the bundled price table does not know, JSON/YAML "
        "model -> {input_price, output_price} USD per 1M tokens (env BATCH_ROUTER_PRICES).",
    ),
}

# Environment of both jobs: the batch-router venv's interpreter on driver and executors, no model-hub calls.
JOB_ENV = {
    "PYSPARK_PYTHON": PYTHON,
    "PYSPARK_DRIVER_PYTHON": PYTHON,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}

# Param values reach the shell only as environment variables, never pasted into the command text.
SAVINGS_COMMAND = (
    '"$BR_PYTHON" -m jobs.savings --logs "$BR_LOGS/dt=$BR_DS" --labels "$BR_OUT" --date "$BR_DS"'
    ' --out "$BR_OUT/savings/dt=$BR_DS" ${BR_PRICES:+--prices "$BR_PRICES"}'
)
SAVINGS_ENV = {
    **JOB_ENV,
    "BR_PYTHON": PYTHON,
    "BR_LOGS": "{{ params.logs }}",
    "BR_OUT": "{{ params.out }}",
    "BR_DS": "{{ ds }}",
    "BR_PRICES": "{{ params.prices or '' }}",
}

with DAG(
    dag_id=DAG_ID,
    description="Route each day's prompt logs with batch-router, then project the savings.",
    # One run per UTC day, started once that day is over: ds is the day the run routes. A plain "@daily"
    # is Airflow 3's CronTriggerTimetable, whose run for ds starts at ds 00:00, with the day's logs
    # still to come.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=START_DATE,
    end_date=END_DATE,
    catchup=True,
    params=PARAMS,
    default_args={
        "retries": RETRIES,
        "retry_delay": timedelta(seconds=RETRY_DELAY_S),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(seconds=MAX_RETRY_DELAY_S),
    },
    tags=["batch-router"],
    doc_md=__doc__,
) as dag:
    wait_for_logs = LogPartitionSensor(
        task_id="wait_for_logs",
        logs="{{ params.logs }}",
        mode="reschedule",
        poke_interval=POKE_INTERVAL_S,
        timeout=SENSOR_TIMEOUT_S,
    )

    route_logs = BatchRouterSparkSubmit(
        task_id="route_logs",
        application=os.path.join(HOME, "jobs", "route_logs.py"),
        spark_binary=SPARK_SUBMIT,
        conn_id=SPARK_CONN_ID,
        name="batch-router-route-{{ ds }}",
        application_args=[
            "--router",
            "{{ params.router }}",
            "--logs",
            "{{ params.logs }}",
            "--out",
            "{{ params.out }}",
            "--date",
            "{{ ds }}",
            optional_flag("--strong-share", "strong_share"),
            optional_flag("--budget-usd", "budget_usd"),
            optional_flag("--prices", "prices"),
        ],
        env_vars=JOB_ENV,
        # Route runs of different dates share OUT/_staging: one at a time, while sensors of other
        # dates keep waiting independently.
        max_active_tis_per_dag=1,
    )

    savings = BashOperator(
        task_id="savings",
        bash_command=SAVINGS_COMMAND,
        env=SAVINGS_ENV,
        append_env=True,
        cwd=HOME,
    )

    wait_for_logs >> route_logs >> savings
