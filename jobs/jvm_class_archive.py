"""A class-data-sharing archive (Java's AppCDS) of the classes a short local Spark job loads: the driver
JVM of later short jobs maps them from one file instead of finding, parsing and verifying thousands of
classes again, which is most of JVM start-up and of the first read and query plan on a small log.

``make setup`` makes it (``build``: a tiny job, about 45 s on 2 cores); without one, the next short job
dumps it when its JVM exits (``-XX:ArchiveClassesAtExit``: that job runs 25-40 s longer). The dump
gets its final name only after a JVM has started with it, because Java crashes on a truncated archive
rather than ignoring it. One archive per Java build, Spark jars and JVM options (its name is a hash of
them), in ``$BATCH_ROUTER_CACHE/jvm`` (default ``~/.cache/batch-router``)
or the directory ``BATCH_ROUTER_JVM_ARCHIVE`` names; ``BATCH_ROUTER_JVM_ARCHIVE=0`` turns it off.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from router_core.cache_dirs import cache_root

# "0"/"off" switches the archive off; a directory path keeps it there instead of the cache.
ARCHIVE_ENV = "BATCH_ROUTER_JVM_ARCHIVE"
_OFF = ("0", "false", "off", "no")
# Dumping warns about every class it cannot archive (signed jars, generated classes): noise to a user.
_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
_NO_CRASH_FILES = f"-XX:ErrorFile={os.devnull}"  # a JVM crashing on a bad archive leaves no hs_err file


def archive_switched_off() -> bool:
    return os.environ.get(ARCHIVE_ENV, "").strip().lower() in _OFF


def archive_dir() -> Path:
    setting = os.environ.get(ARCHIVE_ENV, "").strip()
    if setting and setting.lower() not in _OFF + ("1", "true", "on", "yes"):
        return Path(setting)
    return Path(cache_root()) / "jvm"


def archive_name(java_version: str, jvm_options: str) -> str:
    """What the archive depends on: the Java build, the Spark jars (names, sizes, times) and options."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    listing = sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in jars.glob("*.jar"))
    key = repr((java_version, pyspark.__version__, listing, jvm_options)).encode()
    return f"spark-{hashlib.sha256(key).hexdigest()[:16]}.jsa"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def _dumps_in_progress(directory: Path, name: str) -> bool:
    """Whether another process is dumping this archive; leftovers of dead ones are removed."""
    busy = False
    for tmp in directory.glob(f"{name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if pid.isdigit() and _pid_alive(int(pid)):
            busy = True
        else:
            tmp.unlink(missing_ok=True)
    return busy


@dataclass(frozen=True)
class ArchivePlan:
    options: str  # the JVM options, with the archive's flags
    used: Path | None = None  # the archive this JVM maps
    dump: Path | None = None  # the file this JVM dumps its classes to at exit (see promote_at_exit)


def plan(jvm_options: str, java_version: str) -> ArchivePlan:
    """Use the archive for these options if there is one, else dump it (unless another job is)."""
    if archive_switched_off():
        return ArchivePlan(jvm_options)
    directory = archive_dir()
    name = archive_name(java_version, jvm_options)
    final = directory / name
    if final.is_file():
        return ArchivePlan(f"{jvm_options} -XX:SharedArchiveFile={final} {_QUIET}", used=final)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return ArchivePlan(jvm_options)
    if not os.access(directory, os.W_OK) or _dumps_in_progress(directory, name):
        return ArchivePlan(jvm_options)
    dump = directory / f"{name}.tmp-{os.getpid()}"
    return ArchivePlan(f"{jvm_options} -XX:ArchiveClassesAtExit={dump} {_QUIET}", dump=dump)


def archive_starts(java: str, archive: Path) -> bool:
    """Whether a JVM starts with ``archive`` (a truncated or foreign one makes it crash or refuse)."""
    try:
        run = subprocess.run(
            [java, f"-XX:SharedArchiveFile={archive}", *_QUIET.split(), _NO_CRASH_FILES, "-version"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return run.returncode == 0 and "sharing" in run.stderr


def promote(dump: Path, java: str) -> bool:
    """Give a finished dump its final name if a JVM starts with it; remove it otherwise."""
    final = dump.with_name(dump.name.split(".tmp-")[0])
    if dump.is_file() and archive_starts(java, dump):
        os.replace(dump, final)
        return True
    dump.unlink(missing_ok=True)
    return False


def promote_at_exit(spark, dump: Path, java: str) -> None:
    """At interpreter exit: stop Spark, let the driver JVM write the archive and exit, then promote it."""

    def finish() -> None:
        proc = getattr(spark.sparkContext._gateway, "proc", None)
        print(
            f"[spark] saving the JVM's loaded classes to {dump.parent} (once; later jobs start faster)",
            file=sys.stderr,
            flush=True,
        )
        try:
            spark.stop()
            if proc is not None:
                proc.stdin.close()  # the gateway JVM exits when its stdin closes, and dumps as it exits
                proc.wait(timeout=300)
        except Exception:  # noqa: BLE001 - an archive not written is only a slower next start
            dump.unlink(missing_ok=True)
            return
        promote(dump, java)

    atexit.register(finish)


def build() -> str:
    """Run a small job of the classes short jobs load (read, checks, prompt key, a Python worker, writes)
    so that its JVM dumps the archive at exit; what ``make setup`` runs. Returns what happened."""
    import tempfile

    import pandas as pd

    from jobs.config import JobConfig
    from jobs.spark_session import get_spark, short_job_archive_plan
    from jobs.validate_logs import validate_logs

    plan_now = short_job_archive_plan()
    if plan_now.dump is None:
        return f"JVM class archive: {plan_now.used or 'not made (switched off, or being made)'}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.parquet"
        prompts = ["What is 2 + 2?", "Write a haiku about rain.", "  ", "Résumé in one line"] * 5
        pd.DataFrame({"request_id": [f"r{i % 19}" for i in range(20)], "prompt": prompts}).to_parquet(log)
        cfg = JobConfig()
        cfg.spark.master = "local[2]"
        spark = get_spark(cfg.spark, input_bytes=log.stat().st_size)
        v = validate_logs(spark, str(log), cfg, prompt_key=True)
        v.valid.write.mode("overwrite").parquet(f"{tmp}/valid")
        v.quarantine.write.mode("overwrite").parquet(f"{tmp}/quarantine")
        distinct = v.valid.select("prompt_hash", "norm_text").dropDuplicates(["prompt_hash"])
        distinct.mapInArrow(lambda batches: batches, distinct.schema).collect()
    return f"JVM class archive: written to {archive_dir()} as this process exits"


if __name__ == "__main__":  # make setup: python -m jobs.jvm_class_archive
    print(build(), flush=True)
