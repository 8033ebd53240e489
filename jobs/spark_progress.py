"""Progress lines for a long Spark action: how many tasks of its running stage are done, every so often.

A route of a million prompts spends hours (CPU) or minutes (GPU) in one action; without these lines the
log says nothing until it ends. Spark's console progress bar (``spark.show_progress``) redraws one line
with carriage returns, which a scheduler's log file (Airflow) shows as noise."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EVERY_S = 30.0


def running_stage_tasks(spark, group: str) -> tuple[int, int] | None:
    """(tasks done, tasks) of the largest running stage of the job group's jobs, or None when none runs."""
    tracker = spark.sparkContext.statusTracker()
    active = set(tracker.getActiveStageIds())
    jobs = [info for j in tracker.getJobIdsForGroup(group) if (info := tracker.getJobInfo(j)) is not None]
    stages = {s for info in jobs for s in info.stageIds}
    running = [info for s in stages & active if (info := tracker.getStageInfo(s)) is not None]
    if not running:
        return None
    top = max(running, key=lambda info: info.numTasks)
    return top.numCompletedTasks, top.numTasks


@contextmanager
def task_progress(spark, label: str, log: Callable[[str], None], every_s: float = EVERY_S) -> Iterator[None]:
    """Runs the body's Spark actions in a job group of their own and logs ``label: k of n tasks done after
    T s`` every ``every_s`` seconds while they run (nothing for an action shorter than that)."""
    sc = spark.sparkContext
    group = f"batch-router-{label}-{uuid.uuid4().hex[:8]}"
    sc.setJobGroup(group, label)
    stop = threading.Event()
    t0 = time.time()

    def report() -> None:
        while not stop.wait(every_s):
            try:
                tasks = running_stage_tasks(spark, group)
            except Exception:  # noqa: BLE001 - progress is best effort; the action reports its own errors
                return
            if tasks is not None:
                log(f"{label}: {tasks[0]:,} of {tasks[1]:,} tasks done after {time.time() - t0:.0f}s")

    reporter = threading.Thread(target=report, name=f"progress-{label}", daemon=True)
    reporter.start()
    try:
        yield
    finally:
        stop.set()
        reporter.join(timeout=5)
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
