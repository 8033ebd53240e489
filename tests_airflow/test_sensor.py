"""LogPartitionSensor.poke: ready only when LOGS/dt=<ds> holds at least one visible Parquet file."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def sensor(parse_nightly, tmp_path: Path):
    task = parse_nightly().get_task("wait_for_logs")
    task.logs, task.partition = str(tmp_path / "logs"), "dt=2026-11-02"  # as rendered for that ds
    return task


def test_missing_directory_is_not_ready(sensor):
    assert sensor.poke({}) is False


def test_empty_or_staging_only_partition_is_not_ready(sensor):
    part = Path(sensor.logs) / "dt=2026-11-02"
    part.mkdir(parents=True)
    assert sensor.poke({}) is False
    (part / "_temporary-part-0.parquet").write_bytes(b"x")  # a writer's staging file
    (part / "notes.txt").write_text("not parquet")
    assert sensor.poke({}) is False


def test_files_a_spark_writer_still_stages_do_not_count(sensor):
    part = Path(sensor.logs) / "dt=2026-11-02"
    attempt = part / "_temporary" / "0" / "_temporary" / "attempt_202611020101_0001_m_000000_1"
    attempt.mkdir(parents=True)
    (attempt / "part-00000-4f1c.c000.snappy.parquet").write_bytes(b"PAR1")  # the job is still writing
    (part / ".hidden" / "part-0.parquet").parent.mkdir()
    (part / ".hidden" / "part-0.parquet").write_bytes(b"PAR1")
    assert sensor.poke({}) is False
    (part / "part-00000-4f1c.c000.snappy.parquet").write_bytes(b"PAR1")  # committed
    assert sensor.poke({}) is True


def test_partition_with_parquet_is_ready(sensor):
    part = Path(sensor.logs) / "dt=2026-11-02"
    part.mkdir(parents=True)
    (part / "part-0.parquet").write_bytes(b"PAR1")
    assert sensor.poke({}) is True


def test_other_dates_do_not_count(sensor):
    other = Path(sensor.logs) / "dt=2026-11-01"
    other.mkdir(parents=True)
    (other / "part-0.parquet").write_bytes(b"PAR1")
    assert sensor.poke({}) is False
