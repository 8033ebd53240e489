"""The JVM class archive of short local jobs (jobs.jvm_class_archive): when a job uses it, dumps it or
runs without it, and that a damaged archive never stops a job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from jobs import jvm_class_archive as A
from jobs.spark_session import SHORT_JOB_JAVA_OPTIONS, java_binary

VERSION = 'openjdk version "17.0.15"'


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("BATCH_ROUTER_CACHE", str(tmp_path))
    monkeypatch.delenv(A.ARCHIVE_ENV, raising=False)
    return tmp_path / "jvm"


def test_first_job_dumps_the_archive_next_ones_use_it(cache):
    first = A.plan(SHORT_JOB_JAVA_OPTIONS, VERSION)
    assert first.used is None and first.dump is not None and first.dump.parent == cache
    assert first.options.startswith(SHORT_JOB_JAVA_OPTIONS)
    assert f"-XX:ArchiveClassesAtExit={first.dump}" in first.options
    final = cache / A.archive_name(VERSION, SHORT_JOB_JAVA_OPTIONS)
    final.write_bytes(b"archive")
    later = A.plan(SHORT_JOB_JAVA_OPTIONS, VERSION)
    assert later.used == final and later.dump is None
    assert f"-XX:SharedArchiveFile={final}" in later.options


def test_archive_depends_on_java_build_and_options():
    name = A.archive_name(VERSION, SHORT_JOB_JAVA_OPTIONS)
    assert name == A.archive_name(VERSION, SHORT_JOB_JAVA_OPTIONS)
    assert name != A.archive_name('openjdk version "21.0.1"', SHORT_JOB_JAVA_OPTIONS)
    assert name != A.archive_name(VERSION, "-XX:+UseSerialGC")


def test_no_second_dump_while_one_runs_and_dead_leftovers_go(cache):
    cache.mkdir(parents=True)
    name = A.archive_name(VERSION, SHORT_JOB_JAVA_OPTIONS)
    running = cache / f"{name}.tmp-{os.getppid()}"  # a live process (this test's parent)
    running.write_bytes(b"half")
    assert A.plan(SHORT_JOB_JAVA_OPTIONS, VERSION) == A.ArchivePlan(SHORT_JOB_JAVA_OPTIONS)
    running.unlink()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    leftover = cache / f"{name}.tmp-{int(dead.stdout)}"
    leftover.write_bytes(b"half")
    assert A.plan(SHORT_JOB_JAVA_OPTIONS, VERSION).dump is not None
    assert not leftover.exists()


def test_switched_off(cache, monkeypatch):
    monkeypatch.setenv(A.ARCHIVE_ENV, "0")
    assert A.plan(SHORT_JOB_JAVA_OPTIONS, VERSION) == A.ArchivePlan(SHORT_JOB_JAVA_OPTIONS)
    assert not cache.exists()


def test_a_dump_java_cannot_start_with_is_not_promoted(tmp_path):
    java = java_binary()
    if java is None:
        pytest.skip("no java")
    dump = tmp_path / "spark-x.jsa.tmp-1"
    dump.write_bytes(os.urandom(4096))
    assert not A.promote(dump, java)
    assert not dump.exists() and not (tmp_path / "spark-x.jsa").exists()


def _validate(log: Path, out: Path, env: dict[str, str]) -> dict:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.cli",
            "validate",
            "--logs",
            str(log),
            "--out",
            str(out),
            "--master",
            "local[2]",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=out.parent,  # the JVM that crashes on the truncated archive writes its hs_err file here
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads((out / "validate_summary.json").read_text())


def test_jobs_dump_use_and_survive_a_damaged_archive(tmp_path):
    """First job dumps, the next one maps the archive; a truncated archive (Java crashes on one) is
    dropped and the job runs without it."""
    log = tmp_path / "log.parquet"
    pd.DataFrame({"request_id": ["a", "b", "b"], "prompt": ["What is 2+2?", "Hi", "Hi"]}).to_parquet(log)
    env = {**os.environ, "BATCH_ROUTER_CACHE": str(tmp_path / "cache")}
    env.pop(A.ARCHIVE_ENV, None)
    expected = _validate(log, tmp_path / "o1", env)
    assert (expected["valid"], expected["quarantined"]) == (2, 1)
    archives = list((tmp_path / "cache" / "jvm").glob("*.jsa"))
    assert len(archives) == 1 and not list((tmp_path / "cache" / "jvm").glob("*.tmp-*"))
    archive = archives[0]
    stamp = archive.stat().st_mtime_ns
    second = _validate(log, tmp_path / "o2", env)
    assert (second["valid"], second["quarantined"]) == (2, 1)
    assert archive.stat().st_mtime_ns == stamp  # used, not dumped again
    archive.chmod(0o644)
    with archive.open("r+b") as fh:
        fh.truncate(1_000_000)
    third = _validate(log, tmp_path / "o3", env)
    assert (third["valid"], third["quarantined"]) == (2, 1)
    assert not archive.exists()


def test_archive_kept_where_the_setting_says(tmp_path, monkeypatch):
    monkeypatch.setenv(A.ARCHIVE_ENV, str(tmp_path / "archives"))
    dump = A.plan(SHORT_JOB_JAVA_OPTIONS, VERSION).dump
    assert dump is not None and dump.parent == tmp_path / "archives"
