"""A long Spark action logs how many tasks of its running stage are done, and only while it runs."""

from __future__ import annotations

import os
import re
import time

from jobs.spark_progress import task_progress


def test_a_long_action_logs_its_tasks_done_and_a_short_one_nothing(spark, tmp_path):
    # The tasks run until a progress line is logged (the line creates `release`): the action lasts as long
    # as the first line takes, however fast or loaded the machine, and that line finds no task done.
    release, give_up_at = str(tmp_path / "release"), time.time() + 120

    def held(batches):  # defined here: the Python workers get it by value, not by importing this module
        while not os.path.exists(release) and time.time() < give_up_at:
            time.sleep(0.02)
        yield from batches

    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        open(release, "a").close()

    df = spark.range(0, 800, numPartitions=8)
    with task_progress(spark, "embed+score", log, every_s=0.25):
        assert df.mapInArrow(held, df.schema).count() == 800
    assert lines, "no progress line during the held action"
    parsed = [re.fullmatch(r"embed\+score: (\d+) of (\d+) tasks done after \d+s", line) for line in lines]
    assert all(parsed), lines
    assert parsed[0].group(1, 2) == ("0", "8"), lines  # the mapInArrow stage's 8 tasks, none done yet
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None  # later jobs are not in it
    quiet: list[str] = []
    with task_progress(spark, "calibrate", quiet.append, every_s=600):  # far longer than the action
        spark.range(10).count()
    assert quiet == []
