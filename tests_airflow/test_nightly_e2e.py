"""End to end: dag.test() of the nightly DAG on generated logs, with the real route and savings jobs.

A tiny pair router is trained with the main venv's ``batch-router train``; logs exist for 2026-11-02 and
2026-11-04 but not 2026-11-03. The DAG runs spark-submit (master local[2] from the spark_default
connection) and ``python -m jobs.savings`` from the main venv, as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

DAY1, MISSING, DAY3 = "2026-11-02", "2026-11-03", "2026-11-04"
ROWS = {DAY1: 24, DAY3: 16}
STRONG, WEAK = "acme-large", "acme-small"  # any names: prices come from the --prices file
SENSOR_TIMEOUT_S = 5
MAIN_VENV = Path(os.environ.get("BATCH_ROUTER_VENV") or Path(__file__).resolve().parents[1] / ".venv")


def _write_training_data(path: Path) -> None:
    hard = [f"Prove that the sum of the first {i} odd numbers equals {i} squared." for i in range(40)]
    easy = [f"Say hello to my friend number {i} in a cheerful way." for i in range(40)]
    pq.write_table(
        pa.table({"prompt": hard + easy, STRONG: [True] * 80, WEAK: [False] * 40 + [True] * 40}), path
    )


def _write_logs(root: Path, day: str, n: int) -> None:
    part = root / f"dt={day}"
    part.mkdir(parents=True)
    base = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    prompts = [
        f"Prove that {i} squared minus one is divisible by 8." if i % 2 else f"Say good morning to {i}."
        for i in range(n)
    ]
    table = pa.table(
        {
            "request_id": [f"{day}-{i}" for i in range(n)],
            "prompt": prompts,
            "ts": pa.array([base + dt.timedelta(minutes=i) for i in range(n)], pa.timestamp("us", tz="UTC")),
            "model": [STRONG] * n,
            "prompt_tokens": pa.array([20 + i for i in range(n)], pa.int64()),
            "completion_tokens": pa.array([100] * n, pa.int64()),
        }
    )
    pq.write_table(table, part / "part-0.parquet")


@pytest.fixture(scope="module")
def nightly(airflow_db, parse_nightly, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """Parsed DAG (no retries, 1 s pokes, short sensor timeout) plus a router, logs and an output dir."""
    work = tmp_path_factory.mktemp("nightly")
    for tool in ("batch-router", "spark-submit", "python"):
        assert (MAIN_VENV / "bin" / tool).exists(), f"{MAIN_VENV}/bin/{tool} missing: run `make setup` first"
    _write_training_data(work / "train.parquet")
    for day, n in ROWS.items():
        _write_logs(work / "logs", day, n)
    prices = work / "prices.json"
    prices.write_text(
        json.dumps(
            {
                STRONG: {"input_price": 10.0, "output_price": 30.0},
                WEAK: {"input_price": 0.5, "output_price": 1.5},
            }
        )
    )
    cmd = [str(MAIN_VENV / "bin" / "batch-router"), "train", "--data", str(work / "train.parquet")]
    cmd += ["--strong", STRONG, "--weak", WEAK, "--scorers", "sw", "--threads", "2"]
    train = subprocess.run([*cmd, "--out", str(work / "router")], capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, f"train failed:\n{train.stdout[-3000:]}\n{train.stderr[-3000:]}"

    with pytest.MonkeyPatch.context() as mp:
        # Parse-time settings: a failure must surface at once (no retry waits), the sensor must time out fast.
        mp.setenv("BATCH_ROUTER_RETRIES", "0")
        mp.setenv("BATCH_ROUTER_POKE_INTERVAL_S", "1")
        mp.setenv("BATCH_ROUTER_SENSOR_TIMEOUT_S", str(SENSOR_TIMEOUT_S))
        yield {
            "dag": parse_nightly(),
            "conf": {
                "router": str(work / "router"),
                "logs": str(work / "logs"),
                "out": str(work / "out"),
                "prices": str(prices),
                "strong_share": None,
                "budget_usd": None,
            },
            "out": work / "out",
        }


def run_date(nightly: dict[str, Any], day: str, **conf: Any) -> dict[str, str]:
    """dag.test() for logical date ``day``; returns {task_id: final state}."""
    logical = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    run = nightly["dag"].test(logical_date=logical, run_conf={**nightly["conf"], **conf})
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def label_dates(out: Path) -> set[str]:
    return {p.name for p in (out / "labels").iterdir() if p.name.startswith("dt=")}


def read_labels(out: Path, day: str) -> pa.Table:
    return pq.read_table(out / "labels" / f"dt={day}")


@pytest.fixture(scope="module")
def first_run(nightly) -> dict[str, Any]:
    states = run_date(nightly, DAY1, strong_share=0.25)
    return {"states": states, "labels": read_labels(nightly["out"], DAY1)}


def test_one_date_routes_and_projects_savings(nightly, first_run):
    assert first_run["states"] == {"wait_for_logs": "success", "route_logs": "success", "savings": "success"}
    out = nightly["out"]
    assert label_dates(out) == {f"dt={DAY1}"}
    labels = first_run["labels"]
    assert labels.num_rows == ROWS[DAY1]
    assert sorted(labels.column("request_id").to_pylist()) == sorted(f"{DAY1}-{i}" for i in range(ROWS[DAY1]))
    # strong_share=0.25 reached the job: exactly round(0.25 x 24) requests go to the strong model.
    assert labels.column("routed_model").to_pylist().count(STRONG) == 6
    summary = json.loads((out / "savings" / f"dt={DAY1}" / "summary.json").read_text())
    assert summary["total"]["requests"] == ROWS[DAY1]
    assert summary["total"]["routed_strong"] == 6
    assert (out / "savings" / f"dt={DAY1}" / "report.html").is_file()


def test_rerunning_a_date_replaces_it(nightly, first_run, capfd):
    states = run_date(nightly, DAY1, strong_share=0.25)
    assert states == {"wait_for_logs": "success", "route_logs": "success", "savings": "success"}
    # The job ran on the spark_default connection's master (conftest: local[2]), not on its own default.
    captured = capfd.readouterr()
    assert "[route] spark up (local[2])" in captured.out + captured.err
    out = nightly["out"]
    again = read_labels(out, DAY1)
    assert label_dates(out) == {f"dt={DAY1}"}
    assert again.num_rows == first_run["labels"].num_rows == ROWS[DAY1]
    assert len(set(again.column("request_id").to_pylist())) == ROWS[DAY1]  # one copy of each request
    assert not (out / "_staging").exists() and not (out / "_trash").exists()


def test_missing_partition_times_out_and_other_dates_are_unaffected(nightly, first_run, capfd):
    states = run_date(nightly, MISSING)
    assert states == dict(wait_for_logs="failed", route_logs="upstream_failed", savings="upstream_failed")
    captured = capfd.readouterr()
    expected = f"log partition {nightly['conf']['logs']}/dt={MISSING} still has no Parquet files"
    assert expected in captured.out + captured.err
    out = nightly["out"]
    assert label_dates(out) == {f"dt={DAY1}"}
    assert read_labels(out, DAY1).num_rows == ROWS[DAY1]

    # The next date still runs (here with a budget instead of a share) and leaves DAY1 as it was.
    budget = 0.02
    states = run_date(nightly, DAY3, budget_usd=budget)
    assert states == {"wait_for_logs": "success", "route_logs": "success", "savings": "success"}
    assert label_dates(out) == {f"dt={DAY1}", f"dt={DAY3}"}
    assert read_labels(out, DAY1).num_rows == ROWS[DAY1]
    assert read_labels(out, DAY3).num_rows == ROWS[DAY3]
    cost = pq.read_table(out / "projections" / f"dt={DAY3}").column("cost_routed_usd").to_pylist()
    strong = read_labels(out, DAY3).column("routed_model").to_pylist().count(STRONG)
    assert sum(cost) <= budget and 0 < strong < ROWS[DAY3]  # --budget-usd reached the job
