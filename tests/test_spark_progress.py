"""A long Spark action logs how many tasks of its running stage are done, and only while it runs."""

from __future__ import annotations

import re
import time

from jobs.spark_progress import task_progress


def test_a_long_action_logs_its_tasks_done_and_a_short_one_nothing(spark):
    def slow(batches):  # defined here: the Python workers get it by value, not by importing this module
        for b in batches:
            time.sleep(0.3)
            yield b

    df = spark.range(0, 800, numPartitions=8)
    lines: list[str] = []
    with task_progress(spark, "embed+score", lines.append, every_s=0.25):
        assert df.mapInArrow(slow, df.schema).count() == 800
    assert lines, "no progress line during a multi-second action"
    parsed = [re.fullmatch(r"embed\+score: (\d+) of (\d+) tasks done after \d+s", line) for line in lines]
    assert all(parsed), lines
    assert any(int(m.group(2)) == 8 for m in parsed)  # the mapInArrow stage's 8 tasks
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None  # later jobs are not in it
    quiet: list[str] = []
    with task_progress(spark, "calibrate", quiet.append, every_s=30):
        spark.range(10).count()
    assert quiet == []
