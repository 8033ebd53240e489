"""Spark session factory: local[*] by default (no cluster needed), any master URL otherwise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from jobs import jvm_class_archive
from jobs.config import SparkConfig

JAVA_HELP = (
    "Spark needs Java 17 or newer. Install it with `sudo apt-get install -y openjdk-17-jre-headless` "
    "(Debian/Ubuntu) or `brew install openjdk@17` (macOS), then set JAVA_HOME or put `java` on PATH."
)


class JavaMissingError(RuntimeError):
    pass


def java_binary() -> str | None:
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else None
    return java if java and os.path.exists(java) else shutil.which("java")


@cache
def java_version_text(java: str) -> str | None:
    """What ``java -version`` prints (its stderr), or None when it does not run."""
    try:
        return subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None


def java_major_version() -> int | None:
    java = java_binary()
    out = java_version_text(java) if java else None
    if out is None:
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def check_java() -> None:
    v = java_major_version()
    if v is None:
        raise JavaMissingError(f"no Java runtime found. {JAVA_HELP}")
    if v < 17:
        raise JavaMissingError(f"Java {v} found. {JAVA_HELP}")


def default_partitions(master: str) -> int:
    m = re.fullmatch(r"local\[(\d+|\*)(?:,\d+)?\]", master)
    cores = os.cpu_count() or 2
    if m:
        cores = cores if m.group(1) == "*" else int(m.group(1))
    return max(2, 2 * cores)


# A local driver JVM for a small input compiles with C1 only: on a job of seconds, C2's compile threads
# take CPU from the work (JVM warm-up halved on 2 cores) and its faster code never pays back. It also
# maps the classes of the first such job from an archive (jobs.jvm_class_archive).
SHORT_JOB_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
SHORT_JOB_INPUT_BYTES = 32 * 2**20
# The driver JVM's log configuration: Spark's warnings without its start-up notices (jobs/log4j2.properties).
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def logging_java_options() -> str:
    """The Java option that points log4j at LOG_CONFIG ("" where the path would need quoting)."""
    path = str(LOG_CONFIG)
    return "" if any(c.isspace() for c in path) else f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}"


def get_spark(cfg: SparkConfig | None = None, input_bytes: int | None = None, **conf: str):
    """Build (or reuse) the SparkSession with the settings the UDFs rely on. ``input_bytes``: the size
    of the job's input; a small one on a local master gets SHORT_JOB_JAVA_OPTIONS (unless the config
    sets spark.driver.extraJavaOptions)."""
    cfg = cfg or SparkConfig()
    check_java()
    # Executors must run the same interpreter (and so the same venv) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if cfg.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no DNS lookups of the hostname
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    parts = cfg.partitions or default_partitions(cfg.master)
    builder = (
        SparkSession.builder.master(cfg.master)
        .appName(cfg.app_name)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(cfg.arrow_batch_rows))
        # Keep Python workers (and the models they loaded) alive across tasks.
        .config("spark.python.worker.reuse", "true")
        .config("spark.ui.showConsoleProgress", str(cfg.show_progress).lower())
        .config("spark.default.parallelism", str(parts))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.executorEnv.PYSPARK_PYTHON", os.environ["PYSPARK_PYTHON"])
        .config("spark.ui.enabled", "false" if cfg.master.startswith("local") else "true")
        .config("spark.driver.memory", os.environ.get("BATCH_ROUTER_DRIVER_MEMORY", "4g"))
    )
    # A session that is already up keeps its shuffle partitions unless the config sets them: the
    # default is a guess from the master, the session's own value a choice of whoever made it.
    if cfg.partitions or SparkSession.getActiveSession() is None:
        builder = builder.config("spark.sql.shuffle.partitions", str(parts))
    extra = {**cfg.extra_conf, **conf}
    small = input_bytes is not None and input_bytes <= SHORT_JOB_INPUT_BYTES
    archive = None
    # Java options reach only a JVM this process launches (not spark-submit's, not one already running).
    fresh = SparkContext._gateway is None and not os.environ.get("PYSPARK_GATEWAY_PORT")
    if fresh and "spark.driver.extraJavaOptions" not in extra:
        if small and cfg.master.startswith("local"):
            archive = short_job_archive_plan()
        options = f"{archive.options if archive else ''} {logging_java_options()}".strip()
        builder = builder.config("spark.driver.extraJavaOptions", options)
    for k, v in extra.items():
        builder = builder.config(k, v)
    try:
        spark = builder.getOrCreate()
    except Exception:
        if archive is None or archive.used is None:
            raise
        archive.used.unlink(missing_ok=True)  # a damaged archive makes Java crash at start: drop it
        options = f"{SHORT_JOB_JAVA_OPTIONS} {logging_java_options()}"
        spark = builder.config("spark.driver.extraJavaOptions", options).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    if archive is not None and archive.dump is not None:
        jvm_class_archive.promote_at_exit(spark, archive.dump, java_binary() or "java")
    return spark


@contextmanager
def session_conf_restored() -> Iterator[None]:
    """The active SparkSession's runtime settings put back as they were once the body ends: a job sets
    what its reading needs (case-sensitive column names, nanosecond timestamps as longs, its shuffle
    partitions), and a caller that reuses the session (a notebook, a test run) must not inherit them.
    Without an active session (the job creates its own) there is nothing to restore."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    before = dict(spark.conf.getAll) if spark is not None else None
    try:
        yield
    finally:
        if before is not None:
            restore_conf(spark, before)


def restore_conf(spark, before: dict[str, str]) -> None:
    """Set every modifiable setting changed since ``before`` back, unset those added since."""
    for key, value in spark.conf.getAll.items():
        if before.get(key) == value or not spark.conf.isModifiable(key):
            continue
        if key in before:
            spark.conf.set(key, before[key])
        else:
            spark.conf.unset(key)


def short_job_archive_plan() -> jvm_class_archive.ArchivePlan:
    """SHORT_JOB_JAVA_OPTIONS with the class archive's flags (jobs.jvm_class_archive)."""
    java = java_binary()
    version = java_version_text(java) if java else None
    if version is None:
        return jvm_class_archive.ArchivePlan(SHORT_JOB_JAVA_OPTIONS)
    return jvm_class_archive.plan(SHORT_JOB_JAVA_OPTIONS, version)


def submitted_master() -> str | None:
    """The master spark-submit was given (its ``--master`` or default), or None outside spark-submit.

    get_spark() sets the master from the job config (default local[*]), which would silently override
    the one spark-submit, and so an Airflow Spark connection, chose: the jobs' script entry points pass it on
    through ``with_submitted_master``.
    """
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):  # set only by spark-submit / the pyspark launcher
        return None
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # attach to spark-submit's JVM, whose properties hold the master
    return SparkConf().get("spark.master", None)


def with_submitted_master(argv: list[str]) -> list[str]:
    """``argv`` with ``--master <spark-submit's master>`` first, unless it names a master itself."""
    master = submitted_master()
    if master and not any(a == "--master" or a.startswith("--master=") for a in argv):
        return ["--master", master, *argv]
    return argv
