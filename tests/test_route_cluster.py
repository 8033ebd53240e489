"""Beyond one machine: the route job on a Spark standalone cluster (master + 2 workers on 127.0.0.1).

The router directory is shipped to the executors by Spark (addFile), not read from a shared path by
the UDF; the labels must equal those of a local[2] run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as pads
import pytest
from test_route_job import train_tiny_routers, write_logs

BIN = Path(sys.executable).parent


def spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def wait_for(pred, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(1)
    raise TimeoutError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    logs = tmp_path_factory.mktemp("cluster-logs")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    procs: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> Path:
        log = logs / f"{name}.log"
        fh = open(log, "w")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen([spark_class(), *args], stdout=fh, stderr=subprocess.STDOUT, env=env))
        return log

    try:
        master_log = start(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            "0",  # a free port the master binds itself: none another process can take in between
            "--webui-port",
            "0",
        )
        wait_for(lambda: "Starting Spark master" in master_log.read_text(), 120, "the Spark master")
        url = re.search(r"Starting Spark master at (spark://\S+)", master_log.read_text()).group(1)
        for i in range(2):
            start(
                f"worker{i}",
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "2g",
                "--webui-port",
                "0",
            )
        wait_for(
            lambda: master_log.read_text().count("Registering worker") >= 2, 180, "2 workers to register"
        )
        yield url
    finally:
        for p in procs:  # always stop what we started, by process handle
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BATCH_ROUTER_DRIVER_MEMORY": "1g"}
    return subprocess.run(
        [str(BIN / "batch-router"), *map(str, args)], capture_output=True, text=True, env=env, timeout=900
    )


@pytest.mark.slow
def test_route_on_standalone_cluster_equals_local(standalone_cluster, embedder, tmp_path):
    pair, _ = train_tiny_routers(tmp_path / "routers", embedder)
    logs = tmp_path / "logs.parquet"
    write_logs(logs)
    outs = {}
    for name, master in (("cluster", standalone_cluster), ("local", "local[2]")):
        outs[name] = tmp_path / name
        r = run_cli(
            "route",
            "--router",
            pair,
            "--logs",
            logs,
            "--out",
            outs[name],
            "--master",
            master,
            "--strong-share",
            "0.5",
        )
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert f"spark up ({master})" in r.stdout

    def labels(p: Path):
        return (
            pads.dataset(str(p / "labels"), format="parquet", partitioning="hive")
            .to_table()
            .sort_by("request_id")
        )

    assert labels(outs["cluster"]).num_rows == 36
    assert labels(outs["cluster"]).equals(labels(outs["local"]))
