"""Read prompt logs (Parquet, JSON Lines, OpenAI and Anthropic Batch input, CSV) and split them into valid
rows and quarantine rows (every input row ends in one).

Runnable with ``spark-submit jobs/validate_logs.py --logs F --out D`` and as ``batch-router validate``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from jobs.config import JobConfig
from jobs.log_reader import (
    ERROR_COL,
    NON_FINITE,
    RAW_COL,
    WRITTEN_MESSAGES,
    LogInput,
    column,
    inspect_logs,
    is_responses_body,
    more_than_one_value,
    read_log_frame,
)
from router_core.log_formats import BATCH_FORMATS
from router_core.log_rows import BODY_MORE_THAN_ONE, BODY_NOT_FINITE, BODY_NOT_JSON, no_rows_dated
from schemas.logs import (
    REASON_BAD_REQUEST,
    REASON_DUPLICATE_ID,
    REASON_MALFORMED_JSON,
    REASON_NULL_ID,
    ResolvedColumns,
    optional_column_hints,
    resolve_columns,
)

ROW_ORDER = "_br_row_order"
# A row's file: Spark packs the files' splits into tasks largest first, so ROW_ORDER is the order of the
# rows within a file but not of the files
FILE = "_br_file"
CHECK = "_br_check"
CHAT = "_br_chat"


def check_logs_schema(path: str, cfg: JobConfig) -> ResolvedColumns:
    """Raise SchemaError (exit 2 in the CLI) before any Spark work starts."""
    return resolve_input(path, cfg)[1]


def resolve_input(path: str, cfg: JobConfig) -> tuple[LogInput, ResolvedColumns]:
    info = inspect_logs(path, cfg.logs.format, cfg.logs.columns)
    text_source = cfg.logs.text_source if info.fmt not in BATCH_FORMATS else "auto"  # the body's chat
    return info, resolve_columns(info.schema, info.columns, text_source, json_messages=True)


@dataclass
class ValidatedLogs:
    source: object  # DataFrame: the input rows (after the --date filter)
    valid: object  # DataFrame: original columns + route_text, truncated, image/audio parts, dt
    quarantine: object  # DataFrame: request_id, reason, detail, original_row, dt
    resolved: ResolvedColumns
    fmt: str = "parquet"
    checked: object = None  # DataFrame both derive from (every row, its reason): persist it to check once


def _epoch_timestamp(num):
    """The timestamp of a ts number (a double column): router_core.log_rows.epoch_seconds in Spark."""
    from pyspark.sql import functions as F

    from router_core.log_rows import EPOCH_MIN, EPOCH_UNITS

    secs = None
    for limit, per_second in EPOCH_UNITS:
        cond, value = num < limit, num / per_second
        secs = F.when(cond, value) if secs is None else secs.when(cond, value)
    return F.timestamp_seconds(F.when(num >= EPOCH_MIN, secs))


def _ts_expr(df, name: str):
    """The timestamp of the ts column: a timestamp or date as is, a number as Unix epoch time, text as
    a number (epoch time) or ISO-8601; anything else null (router_core.log_rows.row_days in Spark)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType, StringType

    from router_core.log_rows import EPOCH_TEXT

    ts, kind = column(name), df.schema[name].dataType
    if isinstance(kind, NumericType):
        return _epoch_timestamp(ts.cast("double"))
    if isinstance(kind, StringType):
        # the whole text a number (Java's $ would also match before a final newline); "" matches the
        # pattern too and is no number, so the cast must not fail under ANSI mode
        number = F.when(F.regexp_extract(ts, f"^{EPOCH_TEXT}", 0) == ts, ts.try_cast("double"))
        iso = F.try_to_timestamp(ts)
        # ISO-8601 years have four digits; Spark would read "20261" as the year 20261
        return F.coalesce(_epoch_timestamp(number), F.when(F.year(iso) <= 9999, iso))
    return ts


def _date_expr(df, opt: dict[str, str], date: str | None):
    """The date partition: the dt partition column, else the date of ts, else --date / today (UTC)."""
    from pyspark.sql import functions as F

    fallback = F.lit(date) if date else F.date_format(F.current_date(), "yyyy-MM-dd")
    dt_expr = fallback
    if "ts" in opt:
        dt_expr = F.coalesce(F.date_format(_ts_expr(df, opt["ts"]), "yyyy-MM-dd"), fallback)
    if "dt" in opt:
        dt_expr = F.coalesce(column(opt["dt"]).cast("string"), dt_expr)
    return dt_expr


def _undated_expr(df, opt: dict[str, str]):
    """Rows whose ts is given but is no timestamp and that no dt column dates: they take the fallback
    date. None without a ts column."""
    if "ts" not in opt:
        return None
    undated = column(opt["ts"]).isNotNull() & _ts_expr(df, opt["ts"]).isNull()
    return undated & column(opt["dt"]).isNull() if "dt" in opt else undated


def undated_line(n: int, date: str | None) -> str | None:
    """The log line for ``n`` rows whose ts is no timestamp (None when there are none)."""
    if not n:
        return None
    rows = "1 row has" if n == 1 else f"{n} rows have"
    return (
        f"{rows} a ts that is no timestamp (ISO-8601 text, a Unix epoch number, a timestamp or a date): "
        f"dated {date or 'today (UTC)'} instead"
    )


def no_rows_of_date(spark, path: str, cfg: JobConfig, date: str) -> str:
    """Why ``--date`` found nothing: the dates the log's rows do have (read again without the filter;
    only run when the filter left no row)."""
    from pyspark.sql import functions as F

    info, resolved = resolve_input(path, cfg)
    df = read_log_frame(spark, info)
    dates = df.select(_date_expr(df, resolved.optional, None).alias("d"))
    found = dates.agg(F.count("*").alias("n"), F.min("d").alias("first"), F.max("d").alias("last")).first()
    return no_rows_dated(date, path, found["n"], found["first"], found["last"], undated="today")


def _messages_input(resolved: ResolvedColumns):
    """The chat cell the text check reads: the messages column, or the chat of the request body."""
    if resolved.text_source == "body" or resolved.body_fallback:
        return body_chat(body_variant(resolved))
    return column(resolved.messages_fallback or resolved.text_column)


def body_chat(body):
    """The JSON text of a body's chat: its messages after a top-level system (Anthropic's Messages API)
    as a system message, or a Responses body's input, a text as one user turn, after its instructions as
    a system message (router_core.log_rows.body_messages)."""
    from pyspark.sql import functions as F

    given = F.try_variant_get(body, "$.input", "variant")
    kind = F.schema_of_variant(given)
    as_text = F.try_variant_get(given, "$", "string")
    user_turn = F.to_json(F.struct(F.lit("user").alias("role"), as_text.alias("content")))
    chat = F.when(kind == "STRING", F.concat(F.lit("["), user_turn, F.lit("]")))
    chat = chat.when(kind != "VOID", F.to_json(given))  # VOID: a JSON null, no chat
    instructions = F.try_variant_get(body, "$.instructions", "variant")
    has_instructions = (F.schema_of_variant(instructions) == "STRING") & chat.startswith("[")
    responses_chat = _system_first(chat, instructions, has_instructions)
    messages = F.try_variant_get(body, "$.messages", "variant")
    system, has_system = _anthropic_system(body)
    # as text: a list's JSON, a string itself (JSON text of the messages, parsed by the chat check)
    messages_chat = _system_first(F.try_variant_get(messages, "$", "string"), system, has_system)
    return F.when(is_responses_body(body), responses_chat).otherwise(messages_chat)


def _anthropic_system(body):
    """(system, has_system): the top-level system of a body (a variant), and whether it is an Anthropic
    Messages body's (a text or a list of text blocks, beside a list of messages)."""
    from pyspark.sql import functions as F

    system = F.try_variant_get(body, "$.system", "variant")
    system_kind = F.schema_of_variant(system)
    has_messages = F.schema_of_variant(F.try_variant_get(body, "$.messages", "variant")).startswith("ARRAY")
    return system, ((system_kind == "STRING") | system_kind.startswith("ARRAY")) & has_messages


def chat_completion_body(body):
    """A body (a variant) as a chat completion sends it: an Anthropic Messages body's system, a field
    OpenAI's API refuses, as its messages' first (router_core.log_rows.chat_completion_body)."""
    from pyspark.sql import functions as F

    system, has_system = _anthropic_system(body)
    messages = F.to_json(F.try_variant_get(body, "$.messages", "variant"))
    chat = F.try_parse_json(_system_first(messages, system, has_system))
    converted = F.try_variant_set(F.variant_delete(body, "$.system"), "$.messages", chat)
    return F.when(has_system, converted).otherwise(body)


def _system_first(chat, system, has_system):
    """The JSON text of a chat list with {"role": "system", "content": system} first where
    ``has_system``, else ``chat`` (``system``: a variant, written as its JSON)."""
    from pyspark.sql import functions as F

    rest = F.regexp_replace(chat, "^\\[", "")  # "]" or the items and "]"
    with_system = F.concat(
        F.lit('[{"role":"system","content":'),
        F.to_json(system),
        F.lit("}"),
        F.when(rest == "]", rest).otherwise(F.concat(F.lit(","), rest)),
    )
    return F.when(has_system, with_system).otherwise(chat)


def with_text_check(df, resolved: ResolvedColumns, lc):
    """``df`` with CHECK, the struct of jobs.text_columns.checked_text: the prompt's checks, a chat's
    (reduced to text once, in CHAT), or, with a messages or body fallback, the chat's for rows without a
    prompt."""
    from pyspark.sql import functions as F

    from jobs.text_columns import chat_column, chat_stage, checked_text, prompt_stage

    if resolved.text_source == "prompt" and not resolved.has_fallback:
        stage = prompt_stage(column(resolved.text_column))
        return df.withColumn(CHECK, checked_text(stage, lc.max_chars, lc.on_too_long))
    messages = _messages_input(resolved)
    if resolved.text_source != "prompt":
        df = df.withColumn(CHAT, chat_column(messages, lc.messages_policy))
        stage = chat_stage(messages, F.col(CHAT))
    else:  # rows with a prompt route on it, rows without one on their messages (or body's chat)
        prompt = column(resolved.text_column)
        use_chat = prompt.isNull() & messages.isNotNull()
        df = df.withColumn(CHAT, chat_column(F.when(use_chat, messages), lc.messages_policy))
        both = zip(chat_stage(messages, F.col(CHAT)), prompt_stage(prompt), strict=True)
        stage = tuple(F.when(use_chat, c).otherwise(p) for c, p in both)
    return df.withColumn(CHECK, checked_text(stage, lc.max_chars, lc.on_too_long)).drop(CHAT)


def body_variant(resolved: ResolvedColumns):
    from pyspark.sql import functions as F

    body = column(resolved.body)
    return F.try_parse_json(F.to_json(body) if resolved.body_is_struct else body)


def _body_error(resolved: ResolvedColumns):
    """(reason, detail) for a request body that is not JSON or not an object; null when fine or absent."""
    from pyspark.sql import functions as F

    if resolved.body is None:
        return F.lit(None)
    v, raw = body_variant(resolved), column(resolved.body)
    kind = F.schema_of_variant(v)
    not_object = F.concat(F.lit("body is JSON "), F.lower(kind), F.lit(", not an object"))
    # Spark's parser reads a text's first value, Python's json (savings, label sample) refuses the rest
    more = more_than_one_value(raw) if not resolved.body_is_struct else F.lit(False)
    not_json = F.when(raw.rlike(NON_FINITE), F.lit(BODY_NOT_FINITE)).otherwise(F.lit(BODY_NOT_JSON))
    return (
        F.when(raw.isNotNull() & v.isNull(), _reason(REASON_MALFORMED_JSON, not_json))
        .when(raw.isNotNull() & more, _reason(REASON_MALFORMED_JSON, F.lit(BODY_MORE_THAN_ONE)))
        .when(raw.isNotNull() & ~kind.startswith("OBJECT"), _reason(REASON_BAD_REQUEST, not_object))
    )


def _reason(reason: str, detail):
    from pyspark.sql import functions as F

    return F.struct(F.lit(reason).alias("reason"), detail.alias("detail"))


def _repeat_ranks(df, rid):
    """(ROW_ORDER, _br_rank) of the second and later rows of each request_id that occurs more than once.

    Only ids and row numbers are shuffled and the result is broadcast: ranking every row with a window
    over request_id would shuffle and sort whole rows, prompts included, for the few that repeat."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    ids = df.select(rid.alias("_br_rid"), ROW_ORDER, FILE).where(F.col("_br_rid").isNotNull())
    repeated = ids.groupBy("_br_rid").count().where(F.col("count") > 1).select("_br_rid")
    w = Window.partitionBy("_br_rid").orderBy(FILE, ROW_ORDER)  # the first in file order is kept
    ranked = ids.join(F.broadcast(repeated), "_br_rid").withColumn("_br_rank", F.row_number().over(w))
    return ranked.where(F.col("_br_rank") > 1).select(ROW_ORDER, "_br_rank")


def _reason_columns(df, resolved: ResolvedColumns, line_error: bool):
    """_br_reason / _br_detail: line error > null id > duplicate id > body error > text check."""
    from pyspark.sql import functions as F

    rid = column(resolved.request_id).cast("string")
    df = df.join(F.broadcast(_repeat_ranks(df, rid)), ROW_ORDER, "left")
    df = df.withColumn("_br_body_error", _body_error(resolved))
    steps = [
        (F.col(ERROR_COL).isNotNull(), F.col(f"{ERROR_COL}.reason"), F.col(f"{ERROR_COL}.detail"))
        if line_error
        else None,
        (rid.isNull(), F.lit(REASON_NULL_ID), F.lit("request_id is null")),
        (
            F.col("_br_rank").isNotNull(),
            F.lit(REASON_DUPLICATE_ID),
            F.concat(F.lit("occurrence #"), F.col("_br_rank").cast("string")),
        ),
        (F.col("_br_body_error").isNotNull(), F.col("_br_body_error.reason"), F.col("_br_body_error.detail")),
    ]
    reason = detail = None
    for cond, r, d in (s for s in steps if s is not None):
        reason = F.when(cond, r) if reason is None else reason.when(cond, r)
        detail = F.when(cond, d) if detail is None else detail.when(cond, d)
    return df.withColumn("_br_reason", reason.otherwise(F.col(f"{CHECK}.reason"))).withColumn(
        "_br_detail", detail.otherwise(F.col(f"{CHECK}.detail"))
    )


def validate_logs(
    spark,
    path: str,
    cfg: JobConfig,
    date: str | None = None,
    prompt_key: bool = False,
    observation=None,
) -> ValidatedLogs:
    """``prompt_key``: valid rows also carry norm_text and prompt_hash (the dedupe and cache key).
    ``observation`` (a pyspark Observation): the first action on ``valid`` also counts every row
    checked (``rows``), those quarantined (``quarantined``) and, with a ts column, those whose ts is no
    timestamp (``undated``), so a caller learns whether the quarantine is empty without checking the
    rows again."""
    from pyspark.sql import functions as F

    from jobs.text_columns import normalized_prompt, prompt_hash_of

    info, resolved = resolve_input(path, cfg)
    df = read_log_frame(spark, info)
    dt_expr = _date_expr(df, resolved.optional, date)
    if date:
        df = df.withColumn("_br_dt", dt_expr).where(F.col("_br_dt") == date).drop("_br_dt")

    source = df
    has_raw = RAW_COL in df.columns
    original_cols = [c for c in df.columns if c not in (RAW_COL, ERROR_COL, WRITTEN_MESSAGES)]
    df = df.withColumn(ROW_ORDER, F.monotonically_increasing_id()).withColumn(FILE, F.input_file_name())
    df = _reason_columns(with_text_check(df, resolved, cfg.logs), resolved, ERROR_COL in df.columns)
    df = df.withColumn("dt", dt_expr)
    key_cols: dict[str, str] = {}  # name in the valid rows -> column of df
    if prompt_key:
        ok = F.col("_br_reason").isNull()
        df = df.withColumn("_br_norm_text", F.when(ok, normalized_prompt(F.col(f"{CHECK}.text"))))
        df = df.withColumn("_br_prompt_hash", F.when(ok, prompt_hash_of(F.col("_br_norm_text"))))
        key_cols = {"norm_text": "_br_norm_text", "prompt_hash": "_br_prompt_hash"}
    counted = _observed(df, resolved, observation) if observation is not None else df
    valid = _valid_rows(counted, original_cols, key_cols)
    written = {info.columns.messages: WRITTEN_MESSAGES} if WRITTEN_MESSAGES in df.columns else {}
    quarantine = _quarantine_rows(df, resolved, original_cols, info.paths, has_raw, written)
    return ValidatedLogs(source, valid, quarantine, resolved, info.fmt, df)


def _observed(df, resolved: ResolvedColumns, observation):
    """``df`` whose first action also counts the rows checked, quarantined and undated."""
    from pyspark.sql import functions as F

    metrics = [F.count(F.lit(1)).alias("rows"), F.count("_br_reason").alias("quarantined")]
    if (undated := _undated_expr(df, resolved.optional)) is not None:
        metrics.append(F.count(F.when(undated, 1)).alias("undated"))
    return df.observe(observation, *metrics)


def _valid_rows(checked, original_cols: list[str], key_cols: dict[str, str]):
    """The rows without a reason: their own columns, the routed text and what the check found. A log
    column named like one of those added here (validate's own valid/ output read again, or a log of its
    own ``truncated`` flag) keeps its values as ``log_<name>``."""
    from pyspark.sql import functions as F

    found = {
        "route_text": "text",
        "truncated": "truncated",
        "image_parts": "image_parts",
        "audio_parts": "audio_parts",
    }
    added = {*found, *key_cols}
    return checked.where(F.col("_br_reason").isNull()).select(
        *[column(c).alias(f"log_{c}") if c in added else column(c) for c in original_cols if c != "dt"],
        *[F.col(f"{CHECK}.{field}").alias(name) for name, field in found.items()],
        "dt",
        ROW_ORDER,
        *[F.col(inner).alias(name) for name, inner in key_cols.items()],
    )


def _quarantine_rows(
    checked,
    resolved: ResolvedColumns,
    original_cols: list[str],
    paths: dict[str, tuple[str, ...]],
    has_raw: bool,
    written: dict[str, str],
):
    """The rows with a reason: request id, reason, detail, the row as written and its date. A JSON row's
    original is its line; other rows become JSON here (binary values base64-encoded), without the
    columns taken from their nested fields (``paths``), a column the reader rewrote as the log wrote it
    (``written``: its name -> the column of its text)."""
    from pyspark.sql import functions as F

    def cell(c: str):
        return F.coalesce(F.col(written[c]), column(c)).alias(c) if c in written else column(c)

    as_written = [cell(c) for c in original_cols if c not in paths]
    original = F.to_json(F.struct(*as_written), {"ignoreNullFields": "false"})
    original = F.coalesce(F.col(RAW_COL), original) if has_raw else original  # a line, a CSV row's text
    return checked.where(F.col("_br_reason").isNotNull()).select(
        column(resolved.request_id).cast("string").alias("request_id"),
        F.col("_br_reason").alias("reason"),
        F.col("_br_detail").alias("detail"),
        original.alias("original_row"),
        F.col("dt"),
    )


def written_counts(out: Path) -> tuple[int, dict[str, int]]:
    """(rows in valid/, {reason: rows} in quarantine/) of a validate output directory."""
    import pyarrow.dataset as pads

    def dataset(name: str):
        files = [str(p) for p in sorted((out / name).glob("*.parquet"))]
        return pads.dataset(files, format="parquet") if files else None

    valid, quarantine = dataset("valid"), dataset("quarantine")
    valid_n = valid.count_rows() if valid is not None else 0
    if quarantine is None:
        return valid_n, {}
    g = quarantine.to_table(columns=["reason"]).group_by("reason").aggregate([("reason", "count")])
    return valid_n, {r["reason"]: r["reason_count"] for r in g.to_pylist()}


def run_validate(logs: str, out: str, cfg: JobConfig, date: str | None = None) -> dict:
    """Validate ``logs`` into ``out``/valid and ``out``/quarantine; a reused SparkSession (a notebook's)
    gets back the settings the log reader changes."""
    from jobs.spark_session import session_conf_restored

    with session_conf_restored():
        return _validate_and_write(logs, out, cfg, date)


def _validate_and_write(logs: str, out: str, cfg: JobConfig, date: str | None) -> dict:
    from pyspark.sql import Observation

    from jobs.spark_session import get_spark

    info, resolved = resolve_input(logs, cfg)  # fail fast, before Spark starts
    for line in optional_column_hints(info.schema.names, resolved.optional):
        print(f"[validate] {line}", flush=True)
    t0 = time.time()
    spark = get_spark(cfg.spark, input_bytes=info.size_bytes)
    print(f"[validate] spark up ({cfg.spark.master}) in {time.time() - t0:.1f}s", flush=True)
    t1 = time.time()
    checked = Observation("checked")
    v = validate_logs(spark, logs, cfg, date, observation=checked)
    v.valid.drop(ROW_ORDER).write.mode("overwrite").parquet(str(Path(out) / "valid"))
    # A clean log skips a second pass over every row: its quarantine is written empty, schema kept.
    observed = checked.get
    quarantine = v.quarantine if observed["quarantined"] else v.quarantine.limit(0)
    quarantine.write.mode("overwrite").parquet(str(Path(out) / "quarantine"))
    # Counted from the files' metadata and one column, not by more Spark jobs: every row is in one of them.
    valid_n, by_reason = written_counts(Path(out))
    q_n = sum(by_reason.values())
    rows_in = valid_n + q_n
    dt = time.time() - t1
    summary = {
        "rows_in": rows_in,
        "valid": valid_n,
        "quarantined": q_n,
        "quarantined_by_reason": dict(sorted(by_reason.items())),
        "format": info.fmt,
        "text_source": resolved.text_source,
        "undated_rows": observed.get("undated", 0),
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
    if line := undated_line(summary["undated_rows"], date):
        print(f"[validate] {line}", flush=True)
    if date and not rows_in:
        print(f"[validate] {no_rows_of_date(spark, logs, cfg, date)}", flush=True)
    return summary


if __name__ == "__main__":  # spark-submit jobs/validate_logs.py --logs F --out D
    from jobs.spark_session import with_submitted_master
    from jobs.validate_cmd import app_main

    sys.exit(app_main(with_submitted_master(sys.argv[1:])))
