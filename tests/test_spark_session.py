"""The Spark session the jobs share with a caller that reuses it (a notebook, this test run)."""

from __future__ import annotations

from jobs.config import SparkConfig
from jobs.spark_session import get_spark, session_conf_restored

SHUFFLE = "spark.sql.shuffle.partitions"


def test_a_running_session_keeps_its_shuffle_partitions_unless_the_config_sets_them(spark):
    before = spark.conf.get(SHUFFLE)
    try:
        spark.conf.set(SHUFFLE, "7")
        assert get_spark(SparkConfig(master="local[2]")).conf.get(SHUFFLE) == "7"
        assert get_spark(SparkConfig(master="local[2]", partitions=3)).conf.get(SHUFFLE) == "3"
    finally:
        spark.conf.set(SHUFFLE, before)


def test_settings_a_job_makes_are_undone_for_the_caller(spark):
    spark.conf.set("spark.sql.caseSensitive", "false")
    spark.conf.unset("spark.sql.legacy.parquet.nanosAsLong")
    with session_conf_restored():
        spark.conf.set("spark.sql.caseSensitive", "true")  # what reading a log sets
        spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    assert spark.conf.get("spark.sql.caseSensitive") == "false"
    assert "spark.sql.legacy.parquet.nanosAsLong" not in spark.conf.getAll
