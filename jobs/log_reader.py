"""Read prompt logs of any supported format into one Spark DataFrame shape for validation.

Before Spark starts, ``inspect_logs`` finds the format (router_core.log_formats), reads every Parquet
footer and the head of text files, and returns the columns the Spark frame will have, so schema errors
are one line before any work. ``read_log_frame`` then reads with Spark:

- Parquet: as is; INT64 nanosecond timestamps (pandas' default) are read as longs and converted.
- JSON Lines: one row per non-blank line; the contract's columns extracted from each JSON object.
- JSON arrays: one row per element of each file's array, as a JSON Lines line.
- OpenAI (and Azure OpenAI) Batch input: custom_id, method, url and body (JSON text) of each line.
- Anthropic Message Batches requests: custom_id and params (JSON text, the request body) of each line.
- CSV: every column a string (token counts cast to integers), each file by its own header; \\N null.

A messages column of JSON text holds each chat in OpenAI's format: chats of other shapes (LangChain's
serialized messages, a list of one chat, messages of parts) are rewritten (router_core.messages).

JSON rows keep their line (an array element: its JSON) as ``RAW_COL``; lines and elements that are not
JSON objects, Batch lines that are not Batch requests (Anthropic lines without params or messages)
and array files that are not JSON arrays carry a
quarantine (reason, detail) in ``ERROR_COL``. So do CSV rows whose fields do not line up with their
header, which keep their text as ``RAW_COL`` (null for the other CSV rows).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from jobs.text_columns import utf8_error_detail
from router_core.log_formats import (
    ANTHROPIC_BATCH,
    BATCH_FORMATS,
    BOM,
    CSV_NULL_TEXTS,
    OPENAI_BATCH,
    LogFormatError,
    csv_delimiter,
    csv_head_file,
    csv_header,
    csv_header_groups,
    csv_row_detail,
    detect_format,
    json_columns,
    partition_base,
    partition_keys,
    path_keys,
)
from router_core.log_rows import (
    BATCH_URL,
    BATCH_URLS,
    PARAMS_NOT_OBJECT,
    PARAMS_WITHOUT_MESSAGES,
    RESPONSES_URL,
    RESPONSES_URLS,
    URLS_EXPECTED,
    WRONG_BODY,
)
from router_core.messages import OTHER_CHAT_SHAPES
from schemas.logs import (
    REASON_BAD_REQUEST,
    REASON_INVALID_UTF8,
    REASON_MALFORMED_CSV,
    REASON_MALFORMED_JSON,
    REASON_UNSUPPORTED_CONTENT,
    LogColumns,
    SchemaError,
)

RAW_COL = "_br_raw"
ERROR_COL = "_br_error"
WRITTEN_MESSAGES = "_br_messages_written"  # a messages cell rewritten as OpenAI's, as the log wrote it
BATCH_COLUMNS = ("custom_id", "method", "url", "body")
ANTHROPIC_COLUMNS = ("custom_id", "params")
# The fixed fields of each Batch request format, and the body column its request bodies are read from
FIXED_COLUMNS = {OPENAI_BATCH: (BATCH_COLUMNS, "body"), ANTHROPIC_BATCH: (ANTHROPIC_COLUMNS, "params")}
INTEGER_COLUMNS = ("prompt_tokens", "completion_tokens")


@dataclass(frozen=True)
class LogInput:
    path: str
    fmt: str  # parquet, jsonl, json, openai_batch, anthropic_batch, csv
    files: list[Path]
    schema: pa.Schema  # the columns of the frame read_log_frame returns (before RAW_COL / ERROR_COL)
    columns: LogColumns  # the contract's names in this frame
    nanos: list[str] = field(default_factory=list)  # Parquet columns of nanosecond timestamps
    csv_delimiter: str = ","  # a CSV log's field separator (found in its first file's header)
    # A CSV log's files by header (columns added, dropped or reordered over time give several): Spark
    # reads every file by the first header it sees, so each group is read by its own
    csv_groups: list[tuple[tuple[str, ...], list[Path]]] = field(default_factory=list)
    # Columns the frame adds from a nested field (--column messages=inputs.messages): name -> path
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Parquet files of different columns (added over time, a struct gaining a field): read merged
    merge_schema: bool = False

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def inspect_logs(path: str, fmt: str, cols: LogColumns) -> LogInput:
    """Format, files and frame schema of the logs at ``path``; SchemaError when they cannot be read."""
    try:
        fmt, files = detect_format(path, fmt)
        parts = [pa.field(k, pa.string()) for k in partition_keys(path, files)]
        if fmt == "parquet":
            return _inspect_parquet(path, files, cols)
        if fmt in BATCH_FORMATS:
            fixed, body = FIXED_COLUMNS[fmt]
            _note_unused_columns(cols, fmt)
            names = [n for n in fixed if n not in {p.name for p in parts}]
            schema = pa.schema([pa.field(n, pa.string()) for n in names] + parts)
            return LogInput(path, fmt, files, schema, LogColumns(request_id="custom_id", body=body))
        delimiter = csv_delimiter(csv_head_file(files)) if fmt == "csv" else ","
        found: list[str] = []
        csv_groups: list[tuple[tuple[str, ...], list[Path]]] = []
        if fmt in ("jsonl", "json"):
            keys, found = json_columns(files, fmt, _dotted_names(cols), _contract_keys(cols))
        else:
            groups = csv_header_groups(files, delimiter)
            if not groups:  # every file empty: the error of a file without a header
                csv_header(files[0], delimiter)
            keys = list(dict.fromkeys(name for header in groups for name in header))
            csv_groups = list(groups.items())
    except LogFormatError as exc:
        raise SchemaError(str(exc)) from None
    except OSError as exc:
        raise SchemaError(f"cannot read logs at {path}: {exc}") from None
    ints = {getattr(cols, c) for c in INTEGER_COLUMNS}
    part_names = {p.name for p in parts}
    names = [k for k in keys + found if k not in part_names]
    fields = [pa.field(k, pa.int64() if k in ints else pa.string()) for k in names]
    paths = {p: path_keys(p) for p in found if p not in part_names}
    return LogInput(
        path, fmt, files, pa.schema(fields + parts), cols, csv_delimiter=delimiter, csv_groups=csv_groups,
        paths=paths,
    )  # fmt: skip


def _note_unused_columns(cols: LogColumns, fmt: str) -> None:
    """Batch API lines have fixed fields: a --column renaming is said to be unused, not silently dropped."""
    renamed = {k: v for k, v in cols.model_dump().items() if v != getattr(LogColumns(), k)}
    if renamed:
        given = ", ".join(f"{k}={v}" for k, v in renamed.items())
        what = "OpenAI Batch input" if fmt == OPENAI_BATCH else "Anthropic Message Batches request"
        print(
            f"[logs] --column {given} is not used: {what} lines have fixed fields "
            f"({', '.join(FIXED_COLUMNS[fmt][0])}; custom_id is the request_id)",
            file=sys.stderr,
            flush=True,
        )


def _dotted_names(cols: LogColumns) -> tuple[str, ...]:
    """The column names that may be paths into nested objects or structs ("inputs.messages")."""
    return tuple(dict.fromkeys(n for n in cols.model_dump().values() if "." in n))


def _contract_keys(cols: LogColumns) -> tuple[str, ...]:
    """The JSON keys of the contract's columns (and ``request``, the body column's other name)."""
    names = [n for n in cols.model_dump().values() if "." not in n]
    if "body" not in cols.model_fields_set:
        names.append("request")
    return tuple(dict.fromkeys(names))


def _struct_field(schema: pa.Schema, path: tuple[str, ...]) -> pa.Field | None:
    """The field at that path of nested structs, else None."""
    if path[0] not in schema.names:
        return None
    fld = schema.field(path[0])
    for key in path[1:]:
        if not pa.types.is_struct(fld.type) or fld.type.get_field_index(key) < 0:
            return None
        fld = fld.type.field(key)
    return fld


def _inspect_parquet(path: str, files: list[Path], cols: LogColumns) -> LogInput:
    """Every file's footer is read: a corrupt file or a column whose type differs between files is
    named here rather than failing a Spark task."""
    first: dict[str, tuple[pa.DataType, Path]] = {}
    merged: dict[str, pa.DataType] = {}  # each column's type in every file read as one
    int96: set[str] = set()  # Spark's, Hive's and Impala's legacy timestamps, which Spark reads as such
    columns_differ = False
    for f in files:
        try:
            with pq.ParquetFile(f) as pf:
                schema, meta = pf.schema_arrow, pf.metadata
        except Exception as exc:  # ArrowInvalid and friends: not Parquet, truncated, empty
            raise SchemaError(f"cannot read Parquet file {f}: {exc}") from None
        columns = (meta.schema.column(i) for i in range(meta.num_columns))
        int96.update(c.path for c in columns if c.physical_type == "INT96")
        columns_differ |= bool(first) and set(schema.names) != set(first)
        for fld in schema:
            seen = first.setdefault(fld.name, (fld.type, f))
            both = merge_types(merged.get(fld.name, seen[0]), fld.type)
            if both is None:
                raise SchemaError(
                    f"column '{fld.name}' is {fld.type} in {f} but {seen[0]} in {seen[1]}: "
                    "rewrite the files with one type" + _pandas_type_hint(fld.name, (fld.type, seen[0]))
                )
            columns_differ |= both != fld.type
            merged[fld.name] = both
    try:
        schema = parquet_dataset(path).schema
    except Exception as exc:
        raise SchemaError(f"cannot read Parquet logs at {path}: {exc}") from None
    parts = [f for f in schema if f.name not in merged]
    schema = pa.schema([pa.field(n, t) for n, t in merged.items()] + parts, schema.metadata)
    paths: dict[str, tuple[str, ...]] = {}
    for name in _dotted_names(cols):
        if name not in schema.names and (fld := _struct_field(schema, path_keys(name))) is not None:
            schema, paths[name] = schema.append(fld.with_name(name)), path_keys(name)
    # pyarrow reads INT96 as nanoseconds too; only INT64 nanoseconds are what Spark must read as longs
    nanos = [
        f.name
        for f in schema
        if pa.types.is_timestamp(f.type) and f.type.unit == "ns" and f.name not in int96
    ]
    return LogInput(path, "parquet", files, schema, cols, nanos, paths=paths, merge_schema=columns_differ)


_PLAIN = (
    (pa.types.is_large_string, pa.string()), (pa.types.is_string_view, pa.string()),
    (pa.types.is_large_binary, pa.binary()), (pa.types.is_binary_view, pa.binary()),
)  # fmt: skip


def _plain(t: pa.DataType) -> pa.DataType:
    """The type as Spark reads it from Parquet: a dictionary (pandas' Categorical, of any index width)
    as its values; large and view strings and binaries as strings and binaries."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return next((p for is_kind, p in _PLAIN if is_kind(t)), t)


def merge_types(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """One type for a column that is ``a`` in some Parquet files and ``b`` in others, as Spark's merged
    schema reads them: the same type as Spark reads it, or structs (in lists too: a chat's messages)
    one of which has fields the other lacks (null where absent); None when the types differ."""
    if a == b:
        return a
    a, b = _plain(a), _plain(b)
    if a == b:
        return a
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields = {f.name: f.type for f in a}
        for f in b:
            both = merge_types(fields[f.name], f.type) if f.name in fields else f.type
            if both is None:
                return None
            fields[f.name] = both
        return pa.struct(list(fields.items()))
    lists = (pa.types.is_list, pa.types.is_large_list)
    if any(is_list(a) and is_list(b) for is_list in lists):
        item = merge_types(a.value_type, b.value_type)
        return None if item is None else (pa.list_ if pa.types.is_list(a) else pa.large_list)(item)
    return None


def _pandas_type_hint(name: str, types: tuple[pa.DataType, pa.DataType]) -> str:
    """pandas writes a column that is all None in one day's frame as type null, and an integer column
    with a missing value in one day's frame as float64."""
    if any(pa.types.is_integer(t) for t in types) and any(pa.types.is_floating(t) for t in types):
        return (
            " (pandas writes an integer column with a missing value as float64: "
            f"df['{name}'].astype('Int64') before to_parquet)"
        )
    other = next((t for t in types if not pa.types.is_null(t)), None)
    if other is None or not any(pa.types.is_null(t) for t in types):
        return ""
    kinds = [
        (pa.types.is_string, "string"), (pa.types.is_large_string, "string"), (pa.types.is_integer, "Int64"),
        (pa.types.is_floating, "float64"), (pa.types.is_boolean, "boolean"),
    ]  # fmt: skip
    kind = next((k for is_kind, k in kinds if is_kind(other)), str(other))
    return f" (pandas writes an all-None column as null: df['{name}'].astype('{kind}') before to_parquet)"


def parquet_dataset(path: str, schema: pa.Schema | None = None) -> pads.Dataset:
    """The pyarrow dataset of a Parquet log, its Hive partitions read from partition_base (as Spark's)."""
    base = str(partition_base(path))
    return pads.dataset(path, format="parquet", partitioning="hive", partition_base_dir=base, schema=schema)


def _base_path(path: str) -> str:
    return str(partition_base(path))


def read_log_frame(spark, info: LogInput):
    """The Spark frame of ``info``'s logs (see the module docstring); SchemaError when Spark cannot."""
    # A key repeated in one JSON object (a line, a request body, a messages text: structured loggers
    # that add a field twice write it twice) is no malformed JSON: its last value counts, as Python's
    # json (savings, label sample) reads it.
    spark.conf.set("spark.sql.variant.allowDuplicateKeys", "true")
    # Column names are exact, as inspect_logs reads them: JSON keys or CSV headers that differ only in
    # case ("model" and "Model") are two columns, not an ambiguous reference nor renamed "model2".
    spark.conf.set("spark.sql.caseSensitive", "true")
    try:
        if info.fmt == "parquet":
            df = _read_parquet(spark, info)
        elif info.fmt == "csv":
            df = _read_csv(spark, info)
        else:
            df = _read_json(spark, info)
        return _with_openai_messages(df, info.columns.messages)
    except Exception as exc:  # AnalysisException and the JVM's errors: one line, not a trace
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaError(f"cannot read {info.fmt} logs at {info.path}: {first}") from None


def _with_openai_messages(df, name: str):
    """A messages column of JSON text with each chat in OpenAI's format (router_core.messages.
    load_messages: LangChain's serialized messages, a list of one chat, an object holding messages), so
    that validation and the dispatch lines read the same chat; only cells that may be of another shape
    (OTHER_CHAT_SHAPES) go through Python. A rewritten cell keeps its text as WRITTEN_MESSAGES."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    from udfs.chat_text_udf import openai_messages_udf

    if name not in df.columns or not isinstance(df.schema[name].dataType, StringType):
        return df
    text, openai = column(name), "_br_openai"
    df = df.withColumn(openai, openai_messages_udf()(F.when(text.rlike(OTHER_CHAT_SHAPES), text)))
    df = df.withColumn(WRITTEN_MESSAGES, F.when(F.col(openai).isNotNull(), text))  # for original_row
    return df.withColumn(name, F.coalesce(F.col(openai), text)).drop(openai)


def _read_parquet(spark, info: LogInput):
    from pyspark.sql import functions as F

    if info.nanos:  # Spark refuses TIMESTAMP(NANOS) unless read as longs
        spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    reader = spark.read.option("basePath", _base_path(info.path))
    df = reader.option("mergeSchema", info.merge_schema).parquet(info.path)
    for name, path in info.paths.items():
        df = df.withColumn(name, F.col(".".join("`" + k.replace("`", "``") + "`" for k in path)))
    for c in info.nanos:
        df = df.withColumn(c, F.timestamp_micros(F.expr(f"`{c}` div 1000")))
    for c in fractional_token_columns(info):  # pandas' integers with missing values: NaN -> null
        df = df.withColumn(c, _as_long(column(c)))
    for c in (f.name for f in info.schema if pa.types.is_null(f.type) and f.name in df.columns):
        df = df.withColumn(c, column(c).cast("string"))  # pandas' all-None columns: Spark reads int nulls
    return df


def fractional_token_columns(info: LogInput) -> list[str]:
    """The Parquet token-count columns of a floating or decimal type (pandas' integers with missing
    values, Snowflake's NUMBER), read as integers (truncated, NaN null)."""
    ints = {getattr(info.columns, c) for c in INTEGER_COLUMNS}
    fractional = (pa.types.is_floating, pa.types.is_decimal)
    return [f.name for f in info.schema if f.name in ints and any(is_kind(f.type) for is_kind in fractional)]


def _as_long(col):
    return col.try_cast("double").try_cast("long")


def _read_csv(spark, info: LogInput):
    """Every column text; a row whose fields do not line up with its header keeps its text as RAW_COL
    and its quarantine in ERROR_COL (both null for the other rows)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    # The csv module (and Excel) quote fields with newlines and double embedded quotes.
    reader = (
        spark.read.option("header", True)
        .option("multiLine", True)
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("sep", info.csv_delimiter)
        .option("basePath", _base_path(info.path))
        .option("columnNameOfCorruptRecord", RAW_COL)
    )
    frames = []
    for header, files in info.csv_groups:  # several: files of different headers, matched by name
        bad = F.when(
            F.col(RAW_COL).isNotNull(),
            _error(REASON_MALFORMED_CSV, F.lit(csv_row_detail(len(header), info.csv_delimiter))),
        )
        schema = StructType([StructField(name, StringType()) for name in (*header, RAW_COL)])
        paths = info.path if len(info.csv_groups) == 1 else [str(f) for f in files]
        frames.append(reader.schema(schema).csv(paths).withColumn(ERROR_COL, bad))
    df = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
    nulls = [t for t in CSV_NULL_TEXTS if t]  # Spark reads empty fields as null itself
    texts = [c for c, kind in df.dtypes if kind == "string" and c != RAW_COL]  # not partition columns
    df = df.select(*[F.when(~column(c).isin(*nulls), column(c)).alias(c) if c in texts else column(c)
                     for c in df.columns])  # fmt: skip
    for c in INTEGER_COLUMNS:
        name = getattr(info.columns, c)
        if name in df.columns:
            df = df.withColumn(name, _as_long(column(name)))
    return df


def _json_path(info: LogInput, name: str) -> str:
    """The JSON path of a column: its key, or the keys of a nested path."""
    keys = info.paths.get(name, (name,))
    return "$" + "".join(f".{k}" if k.isidentifier() else "['" + k.replace("'", "") + "']" for k in keys)


NOT_UTF8 = "_br_not_utf8"  # a JSON line's bytes that are not UTF-8: where (not_utf8_detail), else null
ARRAY_BAD = "_br_array_bad"  # a JSON array file's row: the file is no array
NOT_AN_ARRAY = "file is not a JSON array (not valid JSON, or cut short)"
# Spark's JSON parser (Jackson) reads no JSON string longer than this many characters: a line holding
# one (a base64 image or file inline) cannot be read by the route job
MAX_JSON_STRING = 20_000_000
STRING_TOO_LONG = (
    f"line of over {MAX_JSON_STRING:,} characters is no valid JSON, or holds a JSON string longer than "
    "Spark's JSON parser reads (an inline base64 image or file? send it by URL)"
)
# Spark's JSON parsers read a text's first value and ignore what follows it; Python's json refuses it
MORE_THAN_ONE = "line holds more than one JSON value (a missing line break?)"
# After a closing bracket JSON has only ',', '}', ']' or white space; anything else outside strings
# starts another value
_AFTER_CLOSE = r"[}\]]\s*[^\s,}\]]"
_JSON_STRING = r'"(?:[^"\\]++|\\.)*+"'
# No JSON text ends with a comma: an array's elements copied one per line keep theirs
_TRAILING_COMMA = r",\s*\z"


def more_than_one_value(text):
    """The JSON text goes on after its first value (two objects on one line, arrays appended to a file,
    a comma after the value, a stray closing bracket, an array's elements copied with their commas), as
    Python's json finds it ("Extra data"). One streaming pass of Spark's JSON tokenizer, which builds no
    value: ``[text,0]`` is an array of two values only where the text is one JSON value. A text with NaN
    values (which only from_json reads) is checked by regexes, which miss a stray closing bracket."""
    from pyspark.sql import functions as F

    n = F.json_array_length(F.concat(F.lit("["), text, F.lit(",0]")))
    another = text.rlike(_AFTER_CLOSE) & F.regexp_replace(text, _JSON_STRING, '""').rlike(_AFTER_CLOSE)
    by_regex = text.rlike(_TRAILING_COMMA) | another
    return F.when(n.isNotNull(), n != 2).otherwise(~text.rlike(NON_FINITE) | by_regex)


def _json_lines(spark, info: LogInput):
    """(frame of ``value``, a line's text, and the partition columns; the variant of each line)."""
    from pyspark.sql import functions as F

    df = spark.read.option("basePath", _base_path(info.path)).text(info.path)
    # a byte-order mark starting a line (Spark's reader drops a file's first): files concatenated
    marked = F.startswith("value", F.lit(BOM))
    df = df.withColumn("value", F.when(marked, F.substr("value", F.lit(2))).otherwise(F.col("value")))
    df = df.where(F.trim("value") != "")  # blank lines are no requests
    # The text reader keeps a line's bytes: one that is not UTF-8 is quarantined (its bytes would reach
    # the prompt as U+FFFD), and kept as valid UTF-8 text (U+FFFD) so that Parquet readers read it back.
    value = F.col("value")
    detail = F.concat(F.lit("line is not UTF-8: "), utf8_error_detail(value.cast("binary")))
    df = df.withColumn(NOT_UTF8, F.when(~F.is_valid_utf8(value), detail))
    return df.withColumn("value", F.make_valid_utf8(value)), _parse_json(F.col("value"))


# A bare NaN or (-)Infinity value, as Python's json.dumps writes a float NaN or infinity (a pandas row's
# missing token count): no JSON, but Python's json (savings, label sample) reads it
NON_FINITE = r"[:\[,]\s*-?(NaN|Infinity)\s*[,\]}]"


def _parse_json(text):
    """The variant of a JSON text; one with NaN or Infinity values (NON_FINITE) is read by from_json, as
    those doubles (a token count of one is null)."""
    from pyspark.sql import functions as F

    # from_json would also read single quotes (unless told not to) and the first of several values: only
    # texts that are no JSON but hold NaN go to it
    lenient = F.from_json(text, "variant", {"allowSingleQuotes": "false"})
    return F.coalesce(F.try_parse_json(text), F.when(text.rlike(NON_FINITE), lenient))


def _json_array_elements(spark, info: LogInput):
    """(frame of ``value``, each array element's JSON, ``ARRAY_BAD`` and the partition columns; the
    variant of each element): one row per element; a file that is no JSON array gives one row, bad."""
    from pyspark.sql import functions as F

    whole = spark.read.option("basePath", _base_path(info.path)).text(info.path, wholetext=True)
    parts = [c for c in whole.columns if c != "value"]
    text = F.regexp_replace("value", f"^{BOM}", "")  # a byte-order mark before the array
    array = F.when(~more_than_one_value(text), F.try_variant_get(_parse_json(text), "$", "array<variant>"))
    rows = whole.select(
        array.isNull().alias(ARRAY_BAD), F.explode_outer(array).alias("_br_el"), *[column(p) for p in parts]
    )
    rows = rows.where(F.col(ARRAY_BAD) | F.col("_br_el").isNotNull())  # an empty array is no row
    return rows.withColumn("value", F.to_json("_br_el")), F.col("_br_el")


def _read_json(spark, info: LogInput):
    from pyspark.sql import functions as F

    array = info.fmt == "json"
    df, v = _json_array_elements(spark, info) if array else _json_lines(spark, info)
    parts = [c for c in df.columns if c not in ("value", ARRAY_BAD, "_br_el", NOT_UTF8)]
    is_object = F.coalesce(F.schema_of_variant(v).startswith("OBJECT"), F.lit(False))
    cols = [c for c in info.schema.names if c not in parts]
    extracted = {c: F.try_variant_get(v, _json_path(info, c), "string") for c in cols}
    ints = {getattr(info.columns, c) for c in INTEGER_COLUMNS}
    for c in ints & extracted.keys():
        extracted[c] = _as_long(extracted[c])
    rid = info.columns.request_id
    if not array and rid in extracted:
        # a line too long for the variant parser still names its request: get_json_object reads it
        long_line = v.isNull() & (F.length("value") > MAX_JSON_STRING)
        named = F.when(long_line, F.get_json_object("value", _json_path(info, rid)))
        extracted[rid] = F.coalesce(extracted[rid], named)
    row = "element" if array else "line"
    kind = F.schema_of_variant(v)
    kind = F.when(kind == "VOID", F.lit("null")).otherwise(F.lower(kind))  # JSON's name, as json_kind's
    not_object = F.when(v.isNull(), F.lit(f"{row} is not valid JSON")).otherwise(
        F.concat(F.lit(f"{row} is JSON "), kind, F.lit(", not an object"))
    )
    if array:
        error = F.when(F.col(ARRAY_BAD), _error(REASON_MALFORMED_JSON, F.lit(NOT_AN_ARRAY)))
    else:
        error = F.when(F.col(NOT_UTF8).isNotNull(), _error(REASON_INVALID_UTF8, F.col(NOT_UTF8)))
        long_text = v.isNull() & (F.length("value") > MAX_JSON_STRING)  # Python's json reads it: say why
        error = error.when(long_text, _error(REASON_MALFORMED_JSON, F.lit(STRING_TOO_LONG)))
    error = error.when(~is_object, _error(REASON_MALFORMED_JSON, not_object))
    if not array:
        error = error.when(
            more_than_one_value(F.col("value")), _error(REASON_MALFORMED_JSON, F.lit(MORE_THAN_ONE))
        )
    if info.fmt == OPENAI_BATCH:
        error = error.otherwise(_batch_line_error(v))
    elif info.fmt == ANTHROPIC_BATCH:
        error = error.otherwise(_anthropic_line_error(v))
    elif info.columns.prompt in extracted:
        kind = F.schema_of_variant(F.try_variant_get(v, _json_path(info, info.columns.prompt), "variant"))
        error = error.when(
            kind.isNotNull() & ~kind.isin("STRING", "NULL", "VOID"),  # VOID: Spark's name of JSON null
            _error(REASON_UNSUPPORTED_CONTENT, F.concat(F.lit("prompt is JSON "), F.lower(kind))),
        )
    return df.select(
        *[extracted[c].alias(c) for c in cols],
        *[column(p) for p in parts],
        F.col("value").alias(RAW_COL),
        error.alias(ERROR_COL),
    )


def column(name: str):
    """The column of that exact name (a name with dots or spaces, as CSV headers and partition
    directories have, is no path)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _error(reason: str, detail):
    from pyspark.sql import functions as F

    return F.struct(F.lit(reason).alias("reason"), detail.alias("detail"))


def is_responses_body(body):
    """A Responses API body (its chat in ``input``): router_core.log_rows.is_responses_body in Spark."""
    from pyspark.sql import functions as F

    def has(key: str):
        return F.try_variant_get(body, f"$.{key}", "variant").isNotNull()

    return ~has("messages") & has("input")


def _batch_line_error(v):
    """A Batch line that the Batch API would refuse: method other than POST, url other than chat
    completions or responses (the endpoints whose bodies carry a chat to route on; with or without
    /v1, as OpenAI's and Azure OpenAI's files write them), body not an object or not a request of its
    url's kind (router_core.log_rows.batch_line_problem)."""
    from pyspark.sql import functions as F

    method = F.try_variant_get(v, "$.method", "string")
    url = F.try_variant_get(v, "$.url", "string")
    body = F.try_variant_get(v, "$.body", "variant")
    body_kind = F.schema_of_variant(body)
    to_responses = url.isin(*RESPONSES_URLS)
    wrong_body = _error(
        REASON_BAD_REQUEST,
        F.when(to_responses, F.lit(WRONG_BODY[RESPONSES_URL])).otherwise(F.lit(WRONG_BODY[BATCH_URL])),
    )
    return (
        F.when(
            ~F.coalesce(method == "POST", F.lit(False)),
            _error(REASON_BAD_REQUEST, F.concat(F.lit("method is "), F.coalesce(method, F.lit("missing")))),
        )
        .when(
            ~F.coalesce(url.isin(*BATCH_URLS), F.lit(False)),
            _error(
                REASON_BAD_REQUEST,
                F.concat(
                    F.lit("url is "), F.coalesce(url, F.lit("missing")), F.lit(f", not {URLS_EXPECTED}")
                ),
            ),
        )
        .when(
            ~F.coalesce(body_kind.startswith("OBJECT"), F.lit(False)),
            _error(REASON_BAD_REQUEST, F.lit("body is missing or not a JSON object")),
        )
        .when(to_responses != is_responses_body(body), wrong_body)
    )


def _anthropic_line_error(v):
    """An Anthropic Message Batches line that cannot be routed: params not an object, or without messages
    (router_core.log_rows.anthropic_line_problem)."""
    from pyspark.sql import functions as F

    params = F.try_variant_get(v, "$.params", "variant")
    is_object = F.coalesce(F.schema_of_variant(params).startswith("OBJECT"), F.lit(False))
    # a key present with a JSON null is a variant null, not SQL NULL: present, as Python's `in` says
    has_messages = F.try_variant_get(params, "$.messages", "variant").isNotNull()
    return F.when(~is_object, _error(REASON_BAD_REQUEST, F.lit(PARAMS_NOT_OBJECT))).when(
        ~has_messages, _error(REASON_BAD_REQUEST, F.lit(PARAMS_WITHOUT_MESSAGES))
    )
