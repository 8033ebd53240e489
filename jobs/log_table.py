"""Prompt logs of any supported format as one pyarrow table, without Spark: what ``batch-router savings``
and ``batch-router label sample`` read.

The format, the columns and the one-line errors are the route job's (jobs.log_reader.inspect_logs,
schemas.logs.resolve_columns); the table has the columns the route job's frame has:

- Parquet: as is (any timestamp unit);
- JSON Lines and JSON arrays: the contract's columns of each JSON object, as text (nested values as
  their JSON);
- OpenAI (and Azure OpenAI) Batch input: custom_id, method, url and body (JSON text) of each line;
- Anthropic Message Batches requests: custom_id and params (JSON text) of each line;
- CSV: every column text, empty fields null; token counts as integers in both text formats.

``LogTable.problems`` holds, per row, the quarantine (reason, detail) of a line that is not a JSON
object or not a Batch request, or of a CSV row whose fields do not line up with its header (None for
good rows and for Parquet).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from jobs.config import JobConfig, LogsConfig
from jobs.log_reader import (
    INTEGER_COLUMNS,
    MAX_JSON_STRING,
    MORE_THAN_ONE,
    NOT_AN_ARRAY,
    STRING_TOO_LONG,
    LogInput,
    fractional_token_columns,
    parquet_dataset,
)
from jobs.validate_logs import resolve_input
from router_core.log_formats import (
    ANTHROPIC_BATCH,
    BATCH_FORMATS,
    CSV_NULL_TEXTS,
    MALFORMED_CSV,
    MISSING,
    OPENAI_BATCH,
    csv_header,
    csv_reader,
    csv_row_detail,
    holds_nothing,
    not_utf8_detail,
    open_text,
    partition_base,
    partition_values,
    path_value,
    without_bom,
)
from router_core.log_rows import Problem, anthropic_line_problem, batch_line_problem, finite_json, json_kind
from router_core.messages import INVALID_UTF8, MALFORMED_JSON, UNSUPPORTED_CONTENT
from schemas.logs import ResolvedColumns, SchemaError


@dataclass
class LogTable:
    info: LogInput
    resolved: ResolvedColumns
    _parsed: tuple[pa.Table, list[Problem | None]] | None = field(default=None, repr=False)

    @property
    def names(self) -> list[str]:
        return self.info.schema.names

    @property
    def routed_columns(self) -> list[str]:
        """The columns a row routes on: its text column, the messages fallback, the request body."""
        r = self.resolved
        return [c for c in dict.fromkeys((r.text_column, r.messages_fallback, r.body)) if c is not None]

    def read(self, columns: list[str]) -> pa.Table:
        """Those columns of every row, in file order (each scan of a Parquet log reads only them)."""
        columns = list(dict.fromkeys(columns))
        if self.info.fmt == "parquet":
            try:
                paths = self.info.paths
                # the files' columns merged (inspect_logs): a column one file lacks is null in its rows
                schema = pa.schema([f for f in self.info.schema if f.name not in paths])
                ds = parquet_dataset(self.info.path, schema)
                table = ds.to_table(columns={c: pc.field(*paths.get(c, (c,))) for c in columns})
                # token counts as the route job reads them
                for c in set(fractional_token_columns(self.info)) & set(columns):
                    table = table.set_column(table.schema.get_field_index(c), c, _floats_as_longs(table[c]))
                return _without_views(table)
            except Exception as exc:  # ArrowInvalid and friends: a file that changed or broke mid-read
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise SchemaError(f"cannot read Parquet logs at {self.info.path}: {msg}") from None
        return self._text_table().select(columns)

    @property
    def problems(self) -> list[Problem | None] | None:
        """Per row of ``read``: the line's quarantine (reason, detail) or None; None for Parquet logs."""
        if self.info.fmt == "parquet":
            return None
        self._text_table()
        return self._parsed[1]

    @property
    def requests(self) -> list[bool] | None:
        """Per row: whether it is a request at all (not a line that is no JSON object, nor a Batch line the
        Batch API refuses); a row quarantined for its content is one. None for Parquet (every row is)."""
        problems = self.problems
        if problems is None:
            return None
        return [p is None or p[0] in (UNSUPPORTED_CONTENT, INVALID_UTF8) for p in problems]

    def _text_table(self) -> pa.Table:
        if self._parsed is None:
            try:
                self._parsed = _parse_text_logs(self.info)
            except OSError as exc:
                raise SchemaError(f"cannot read logs at {self.info.path}: {exc}") from None
        return self._parsed[0]


def open_logs(path: str, logs: LogsConfig) -> LogTable:
    """Format, columns and text source of the logs at ``path``; SchemaError (one line) when unreadable."""
    info, resolved = resolve_input(path, JobConfig(logs=logs))
    return LogTable(info, resolved)


def _as_long(value: Any) -> int | None:
    """Token counts as Spark casts them (text -> double -> long): "12" and 12.0 are 12, "n/a" null, and
    so is a number outside the long range ("1e30"), which try_cast leaves null too."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) and -(2.0**63) <= f < 2.0**63 else None


def _without_views(table: pa.Table) -> pa.Table:
    """String and binary view columns (Polars' to_arrow writes them) as large strings and binaries: many
    pyarrow kernels (take, filter of chunked views) have none for views."""
    views = {pa.types.is_string_view: pa.large_string(), pa.types.is_binary_view: pa.large_binary()}
    for i, fld in enumerate(table.schema):
        plain = next((t for is_view, t in views.items() if is_view(fld.type)), None)
        if plain is not None:
            table = table.set_column(i, fld.name, pc.cast(table.column(i), plain))
    return table


def _floats_as_longs(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Float (or decimal) token counts as _as_long reads each: truncated; NaN, inf and values outside the
    long range null."""
    values = pc.cast(values, pa.float64())  # decimals too, as the route job's try_cast('double')
    in_range = pc.and_(pc.greater_equal(values, -(2.0**63)), pc.less(values, 2.0**63))
    return pc.cast(pc.trunc(pc.if_else(pc.and_(pc.is_finite(values), in_range), values, None)), pa.int64())


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _parse_text_logs(info: LogInput) -> tuple[pa.Table, list[Problem | None]]:
    names = info.schema.names
    ints = {getattr(info.columns, c) for c in INTEGER_COLUMNS}
    cols: dict[str, list[Any]] = {n: [] for n in names}
    problems: list[Problem | None] = []
    base = partition_base(info.path)
    for f in info.files:
        parts = partition_values(base, f)
        rows = _csv_rows(f, info.csv_delimiter) if info.fmt == "csv" else _json_rows(f, info)
        for row, problem in rows:
            row.update(parts)
            for n in names:
                v = _value(row, n, info)
                cols[n].append(_as_long(v) if n in ints else _as_text(v))
            problems.append(problem)
    return pa.table(cols, schema=info.schema), problems


def _value(row: dict, name: str, info: LogInput) -> Any:
    """The row's value of a column; a column of a nested path (info.paths) is looked up along it."""
    if name not in info.paths:
        return row.get(name)
    v = path_value(row, name)
    return None if v is MISSING else v


def _json_values(f: Path, fmt: str):
    """(value, problem) per non-blank line, or per element of a ``json`` file's array."""
    if fmt != "json":
        yield from _json_lines(f)
        return
    with open_text(f) as fh:
        try:
            text = without_bom(fh.read())
            values = _as_spark_reads(json.loads(text), text)
        except (ValueError, RecursionError):
            values = None
    if not isinstance(values, list):
        yield None, (MALFORMED_JSON, NOT_AN_ARRAY)
        return
    yield from ((v, None) for v in values)


def _as_spark_reads(value: Any, text: str) -> Any:
    """A JSON text's value with NaN and infinite numbers as the route job reads them (finite_json); only
    texts that could hold one are walked."""
    return finite_json(value) if "NaN" in text or "Infinity" in text else value


def _json_lines(f: Path):
    """(value, problem) per non-blank line; a line that is not UTF-8 is read with U+FFFD for its bad bytes
    and has that problem (the route job quarantines it as invalid_utf8)."""
    with open_text(f, errors="surrogateescape") as fh:  # bad bytes kept, to be found
        for line in map(without_bom, fh):
            if not line.strip():
                continue
            bad = None if line.isascii() else not_utf8_detail(line.encode("utf-8", "surrogateescape"))
            if bad:
                line = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            long = len(line) > MAX_JSON_STRING  # the route job's parser may not read it
            invalid = STRING_TOO_LONG if long else "line is not valid JSON"
            try:
                obj, problem = _as_spark_reads(json.loads(line), line), None
                if long and _has_long_string(obj):
                    problem = (MALFORMED_JSON, STRING_TOO_LONG)  # its request_id is read, as the job reads it
            except json.JSONDecodeError as exc:
                obj, problem = None, (MALFORMED_JSON, MORE_THAN_ONE if exc.msg == "Extra data" else invalid)
            except (ValueError, RecursionError):
                obj, problem = None, (MALFORMED_JSON, invalid)
            yield obj, (INVALID_UTF8, bad) if bad else problem


def _has_long_string(value: Any) -> bool:
    """A key or text of the JSON value is longer than the route job's parser reads (MAX_JSON_STRING)."""
    if isinstance(value, str):
        return len(value) > MAX_JSON_STRING
    if isinstance(value, dict):
        return any(len(k) > MAX_JSON_STRING or _has_long_string(v) for k, v in value.items())
    return isinstance(value, list) and any(_has_long_string(v) for v in value)


def _json_rows(f: Path, info: LogInput):
    """(row, problem) per JSON row, the problems the route job quarantines it for."""
    prompt = None if info.fmt in BATCH_FORMATS else info.columns.prompt
    line_problem = {OPENAI_BATCH: batch_line_problem, ANTHROPIC_BATCH: anthropic_line_problem}.get(info.fmt)
    row = "element" if info.fmt == "json" else "line"
    for obj, problem in _json_values(f, info.fmt):
        if problem is not None:
            yield obj if isinstance(obj, dict) else {}, problem
            continue
        if not isinstance(obj, dict):
            yield {}, (MALFORMED_JSON, f"{row} is JSON {json_kind(obj)}, not an object")
            continue
        if line_problem is not None:
            problem = line_problem(obj)
        elif not isinstance(text := _value(obj, prompt, info), str | None):
            problem = (UNSUPPORTED_CONTENT, f"prompt is JSON {json_kind(text)}")
        yield obj, problem


def _csv_rows(f: Path, delimiter: str):
    """(row, problem) per row of a CSV file by its own header; empty and \\N fields (CSV_NULL_TEXTS) are null,
    as the route job reads them, and a row with more or fewer fields than the header has a problem. An
    empty file (an empty part of an export) has no rows, as Spark reads it."""
    if holds_nothing(f, "csv"):
        return
    header = csv_header(f, delimiter)
    with open_text(f) as fh:
        reader = csv_reader(fh, delimiter)
        next(reader, None)
        for values in reader:
            if not values:
                continue
            row = {h: v for h, v in zip(header, values, strict=False) if v not in CSV_NULL_TEXTS}
            ragged = len(values) != len(header)
            yield row, (MALFORMED_CSV, csv_row_detail(len(header), delimiter)) if ragged else None
