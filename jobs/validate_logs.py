"""Read prompt logs and split them into valid rows and quarantine rows (every input row ends in one).

Runnable with ``spark-submit jobs/validate_logs.py --logs F --out D`` and as ``batch-router validate``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.dataset as pads

from jobs.config import JobConfig
from schemas.logs import REASON_DUPLICATE_ID, REASON_NULL_ID, ResolvedColumns, SchemaError, resolve_columns

ROW_ORDER = "_br_row_order"


def log_schema(path: str):
    """Schema of a Parquet file, directory or Hive-partitioned (dt=...) directory, without reading data."""
    p = Path(path)
    if not p.exists():
        raise SchemaError(f"logs path not found: {path}")
    try:
        return pads.dataset(path, format="parquet", partitioning="hive").schema
    except Exception as exc:  # not Parquet, empty dir, ...
        raise SchemaError(f"cannot read Parquet logs at {path}: {exc}") from None


def check_logs_schema(path: str, cfg: JobConfig) -> ResolvedColumns:
    """Raise SchemaError (exit 2 in the CLI) before any Spark work starts."""
    return resolve_columns(log_schema(path), cfg.logs.columns, cfg.logs.text_source)


@dataclass
class ValidatedLogs:
    source: object  # DataFrame: the input rows (after the --date filter)
    valid: object  # DataFrame: original columns + route_text, truncated, dt
    quarantine: object  # DataFrame: request_id, reason, detail, original_row, dt
    resolved: ResolvedColumns


def read_logs(spark, path: str):
    return spark.read.option("basePath", path if Path(path).is_dir() else str(Path(path).parent)).parquet(
        path
    )


def validate_logs(spark, path: str, cfg: JobConfig, date: str | None = None) -> ValidatedLogs:
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    from udfs.validate_udf import check_text_udf

    resolved = check_logs_schema(path, cfg)
    lc = cfg.logs
    df = read_logs(spark, path)
    opt = resolved.optional
    # The date partition: the dt partition column, else the date of ts, else --date / today (UTC).
    fallback = F.lit(date) if date else F.date_format(F.current_date(), "yyyy-MM-dd")
    dt_expr = fallback
    if "ts" in opt:
        dt_expr = F.coalesce(F.date_format(F.col(opt["ts"]).cast("timestamp"), "yyyy-MM-dd"), fallback)
    if "dt" in opt:
        dt_expr = F.coalesce(F.col(opt["dt"]).cast("string"), dt_expr)
    if date:
        df = df.withColumn("_br_dt", dt_expr).where(F.col("_br_dt") == date).drop("_br_dt")

    source = df
    original_cols = df.columns
    df = df.withColumn(ROW_ORDER, F.monotonically_increasing_id())
    check = check_text_udf(resolved.text_source, lc.max_chars, lc.on_too_long, lc.messages_policy)
    rid = F.col(resolved.request_id).cast("string")
    w = Window.partitionBy(rid).orderBy(ROW_ORDER)
    df = (
        df.withColumn("_br_check", check(F.col(resolved.text_column)))
        .withColumn("_br_rank", F.row_number().over(w))
        .withColumn(
            "_br_reason",
            F.when(rid.isNull(), F.lit(REASON_NULL_ID))
            .when(F.col("_br_rank") > 1, F.lit(REASON_DUPLICATE_ID))
            .otherwise(F.col("_br_check.reason")),
        )
        .withColumn(
            "_br_detail",
            F.when(rid.isNull(), F.lit("request_id is null"))
            .when(F.col("_br_rank") > 1, F.concat(F.lit("occurrence #"), F.col("_br_rank").cast("string")))
            .otherwise(F.col("_br_check.detail")),
        )
        .withColumn("dt", dt_expr)
    )
    valid = (
        df.where(F.col("_br_reason").isNull())
        .withColumn("route_text", F.col("_br_check.text"))
        .withColumn("truncated", F.col("_br_check.truncated"))
        .select(*[c for c in original_cols if c != "dt"], "route_text", "truncated", "dt", ROW_ORDER)
    )
    # Binary values become base64 inside to_json, so the original row survives as text.
    quarantine = df.where(F.col("_br_reason").isNotNull()).select(
        rid.alias("request_id"),
        F.col("_br_reason").alias("reason"),
        F.col("_br_detail").alias("detail"),
        F.to_json(F.struct(*[F.col(c) for c in original_cols]), {"ignoreNullFields": "false"}).alias(
            "original_row"
        ),
        F.col("dt"),
    )
    return ValidatedLogs(source, valid, quarantine, resolved)


def run_validate(logs: str, out: str, cfg: JobConfig, date: str | None = None) -> dict:
    from jobs.spark_session import get_spark

    resolved = check_logs_schema(logs, cfg)  # fail fast, before Spark starts
    t0 = time.time()
    spark = get_spark(cfg.spark)
    print(f"[validate] spark up ({cfg.spark.master}) in {time.time() - t0:.1f}s", flush=True)
    t1 = time.time()
    v = validate_logs(spark, logs, cfg, date)
    rows_in = v.source.count()
    v.valid.drop(ROW_ORDER).write.mode("overwrite").parquet(str(Path(out) / "valid"))
    v.quarantine.write.mode("overwrite").parquet(str(Path(out) / "quarantine"))
    valid_n = spark.read.parquet(str(Path(out) / "valid")).count()
    q = spark.read.parquet(str(Path(out) / "quarantine"))
    by_reason = {r["reason"]: r["count"] for r in q.groupBy("reason").count().collect()}
    q_n = sum(by_reason.values())
    dt = time.time() - t1
    summary = {
        "rows_in": rows_in,
        "valid": valid_n,
        "quarantined": q_n,
        "quarantined_by_reason": dict(sorted(by_reason.items())),
        "text_source": resolved.text_source,
        "seconds": round(dt, 2),
    }
    (Path(out) / "validate_summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"[validate] {summary['rows_in']} rows in -> {valid_n} valid + {q_n} quarantined "
        f"({summary['rows_in'] / max(dt, 1e-9):.0f} rows/s)",
        flush=True,
    )
    for reason, n in summary["quarantined_by_reason"].items():
        print(f"[validate]   {reason}: {n}", flush=True)
    return summary


if __name__ == "__main__":  # spark-submit jobs/validate_logs.py --logs F --out D
    from jobs.spark_session import with_submitted_master
    from jobs.validate_cmd import app_main

    sys.exit(app_main(with_submitted_master(sys.argv[1:])))
