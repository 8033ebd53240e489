"""Which format a prompt log is in, and what its columns are, from the files themselves (no Spark).

Formats: Parquet; JSON Lines (generic rows; OpenAI or Azure OpenAI Batch input files: lines with
``custom_id`` and ``body``; Anthropic Message Batches request files: lines with ``custom_id`` and
``params``); JSON arrays of row objects (one array per file, as pandas' ``to_json(orient="records")`` and
tools' "export as JSON" write them); CSV with a header line. A path is a file, a directory or a
Hive-partitioned (k=v) directory.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from router_core.text_patterns import REASON_CUT_SHORT

OPENAI_BATCH = "openai_batch"  # OpenAI's and Azure OpenAI's Batch input files
ANTHROPIC_BATCH = "anthropic_batch"  # Anthropic's Message Batches request files
BATCH_FORMATS = (OPENAI_BATCH, ANTHROPIC_BATCH)  # JSON Lines of requests with fixed fields
LOG_FORMATS = ("auto", "parquet", "jsonl", "json", OPENAI_BATCH, ANTHROPIC_BATCH, "csv")
EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
}
# Field separators of CSV logs, found from the header line: Excel writes ";" where "," is the decimal
# separator, and ".tsv" exports use tabs.
CSV_DELIMITERS = (",", ";", "\t", "|")
COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open}  # the codecs Spark's text readers decompress
SAMPLE_LINES = 1000  # JSON lines (array elements) read to find the keys of a generic JSON log
# A JSON array is parsed whole, one file per task: larger logs are JSON Lines' job (measured: 140 MB).
MAX_JSON_ARRAY_BYTES = 256 * 2**20
_ARRAY_HEAD_CHARS = 16 * 2**20  # what is read of an array file to find its keys
# what is read of each CSV and JSON array file to check that it is UTF-8 (1.7 s a GiB, one core)
UTF8_CHECK_BYTES = 2**30
# The csv module refuses a field over 128 KiB by default; Spark's CSV reader takes any length, and a pasted
# document is a prompt like any other (the largest a C long holds on every platform).
CSV_FIELD_LIMIT = 2**31 - 1
# The CSV fields that stand for SQL NULL: empty (BigQuery, Postgres, pandas) and \N (Snowflake's default
# unload, MySQL's INTO OUTFILE, Hive), which no log means as a value.
CSV_NULL_TEXTS = ("", "\\N")
# The quarantine reason of a CSV row whose fields do not line up with its file's header (schemas.logs)
MALFORMED_CSV = "malformed_csv"
BATCH_KEYS = frozenset({"custom_id", "body"})
ANTHROPIC_BATCH_KEYS = frozenset({"custom_id", "params"})
JSON_LINES_FIX = "`df.to_json(path, orient='records', lines=True)`"  # pandas' one call for JSON Lines


class LogFormatError(ValueError):
    """The logs cannot be read at all (one line naming the file and the problem)."""


def data_files(path: str | Path) -> list[Path]:
    """The data files of a file or directory; names starting with '_' or '.' (markers, checksums) skipped."""
    p = Path(path)
    if not p.exists():
        raise LogFormatError(f"logs path not found: {path}")
    check_not_a_delta_table(p)
    if p.is_file():
        return [p]
    files = sorted(
        f
        for f in p.rglob("*")
        if f.is_file() and not any(part.startswith(("_", ".")) for part in f.relative_to(p).parts)
    )
    if not files:
        raise LogFormatError(f"no data files in {path}")
    return files


def check_not_a_delta_table(p: Path) -> None:
    """A Delta Lake table (a ``_delta_log`` beside its Parquet files, or above them) keeps the files of
    rows since deleted or rewritten until it is vacuumed: read as plain Parquet, old versions of rows
    would be routed, even kept over the current ones as the first of a duplicate request_id."""
    table = next((d for d in (p, *p.parents) if (d / "_delta_log").is_dir()), None)
    if table is not None:
        raise LogFormatError(
            f"{table} is a Delta Lake table (_delta_log): its Parquet files hold old versions of rows "
            "beside the current ones; route a snapshot of it: "
            f"spark.read.format('delta').load('{table}').write.parquet(OUT), then --logs OUT"
        )


def _suffix(f: Path) -> str:
    suffixes = [s.lower() for s in f.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def open_bytes(f: Path) -> IO[bytes]:
    opener = COMPRESSED.get(f.suffix.lower())
    return opener(f, "rb") if opener else open(f, "rb")


def open_text(f: Path, errors: str = "replace") -> IO[str]:
    return io.TextIOWrapper(open_bytes(f), encoding="utf-8", errors=errors, newline="")


def not_utf8_detail(data: bytes) -> str | None:
    """What a quarantined JSON line that is not UTF-8 says ("line is not UTF-8: byte N: reason"); None
    for UTF-8. The route job says the same (jobs.log_reader, with jobs.text_columns.utf8_error_detail)."""
    err = _decode_error(data)
    return None if err is None else f"line is not UTF-8: byte {err[0]}: {err[1]}"


def _decode_error(data: bytes) -> tuple[int, str] | None:
    """(offset, reason) of the first byte that is not UTF-8, by Python's decoder (router_core.text_patterns
    states the same rule as patterns, for Spark)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start, exc.reason
    return None


def check_utf8(f: Path, limit: int = UTF8_CHECK_BYTES, chunk: int = 2**22) -> None:
    """A CSV or JSON array file with bytes that are not UTF-8 in its first ``limit`` bytes (a spreadsheet's
    Windows-1252 export, say) is an error naming the fix: read on, every accented character would reach
    the prompts as U+FFFD. Read ``chunk`` bytes at a time."""
    offset = lines = 0
    carry = b""
    with open_bytes(f) as fh:
        while offset < limit:
            data = fh.read(min(chunk, limit - offset))
            block = carry + data
            if not block:
                return
            err = _decode_error(block)
            if err is not None and err[1] == REASON_CUT_SHORT and data:  # a character split by the chunk
                carry, block, err = block[err[0] :], block[: err[0]], None
            else:
                carry = b""
            if err is not None:
                _not_utf8(f, offset + err[0], lines + block.count(b"\n", 0, err[0]) + 1, err[1])
            offset, lines = offset + len(block), lines + block.count(b"\n")


def _not_utf8(f: Path, byte: int, line: int, reason: str) -> None:
    raise LogFormatError(
        f"{f} is not UTF-8 (byte {byte}, line {line}: {reason}; a Windows-1252, Latin-1 or UTF-16 export?): "
        "save it as UTF-8 (Excel: 'CSV UTF-8'; pandas: encoding='utf-8', its default)"
    )


# The byte-order mark Windows tools write before UTF-8 text (PowerShell, Excel's "CSV UTF-8", .NET)
BOM = "\ufeff"


def without_bom(line: str) -> str:
    """A line without the byte-order mark it starts with: a file's first line (Spark's line reader drops
    the mark there), or the first line of each file concatenated into one (``cat``, ``Get-Content``)."""
    return line[1:] if line.startswith(BOM) else line


def _skip_bom_and_space(text: str) -> str:
    return text.lstrip(BOM).lstrip()


def _text_start(f: Path) -> str:
    with open_text(f) as fh:
        return _skip_bom_and_space(fh.read(4096))


def sniff(f: Path) -> str:
    """Format of a file without a known extension, from its first bytes."""
    with open(f, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    start = _text_start(f)
    return "jsonl" if start.startswith("{") else "json" if start.startswith("[") else "csv"


def file_format(f: Path) -> str:
    """By extension, else by content; a .json/.jsonl file that starts with ``[`` is a JSON array."""
    fmt = EXTENSIONS.get(_suffix(f))
    if fmt is None:
        return sniff(f)
    return "json" if fmt == "jsonl" and _text_start(f).startswith("[") else fmt


def json_array_objects(files: list[Path], limit: int = SAMPLE_LINES) -> Iterator[dict]:
    """The first ``limit`` elements that are JSON objects, from the head of each JSON array file."""
    decoder, seen = json.JSONDecoder(), 0
    for f in files:
        with open_text(f) as fh:
            text = fh.read(_ARRAY_HEAD_CHARS)
        pos = len(text) - len(_skip_bom_and_space(text)) + 1  # past "["
        while seen < limit:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            try:
                obj, pos = decoder.raw_decode(text, pos)
            except ValueError:  # "]", or an element cut off at the head's end
                break
            seen += 1
            if isinstance(obj, dict):
                yield obj


def json_objects(files: list[Path], limit: int = SAMPLE_LINES) -> Iterator[dict]:
    """The first ``limit`` lines that are JSON objects (other lines are the job's to quarantine)."""
    seen = 0
    for f in files:
        with open_text(f) as fh:
            for line in fh:
                if seen >= limit:
                    return
                if not line.strip():
                    continue
                seen += 1
                try:
                    obj = json.loads(without_bom(line))
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    yield obj


def json_keys(files: list[Path], fmt: str = "jsonl") -> list[str]:
    """Keys of the sampled JSON objects (lines, or elements of a ``json`` array), in order of first
    appearance."""
    return json_columns(files, fmt)[0]


def json_columns(
    files: list[Path],
    fmt: str = "jsonl",
    paths: tuple[str, ...] = (),
    wanted: tuple[str, ...] = (),
    limit: int = SAMPLE_LINES,
) -> tuple[list[str], list[str]]:
    """(json_keys, those of ``paths`` (dotted, "inputs.messages") that are no key but lead to a value in
    a sampled object). Those of ``wanted`` (the contract's keys) and ``paths`` that no sampled object
    has are searched for in the rest of the files (late_json_columns) and added where some row has them:
    a log whose chats moved from ``prompt`` to ``messages``, or a day's file that gained ``model``."""
    keys: dict[str, None] = {}
    found: dict[str, None] = {}
    for obj in json_array_objects(files, limit) if fmt == "json" else json_objects(files, limit):
        keys.update(dict.fromkeys(obj))
        found.update(dict.fromkeys(p for p in paths if path_value(obj, p) is not MISSING))
    if not keys:
        raise LogFormatError(_no_object_message(files, fmt))
    unseen = [n for n in dict.fromkeys((*wanted, *paths)) if n not in keys and n not in found]
    for name in late_json_columns(files, fmt, unseen):
        (found if name in paths else keys)[name] = None
    return list(keys), [p for p in found if p not in keys]


# Lines parsed, per name, where its key occurs but not as the name (a nested "model" of a request body):
# past them the name is taken to be nested only, so a log of such lines is not parsed whole.
LATE_KEY_CHECKS = 1000
_SCAN_BLOCK = 2**23


# late_json_columns' answers by files (with their sizes and modification times), format and names: a
# command inspects its logs more than once (route: before Spark starts, then in the validation)
_LATE_FOUND: dict[tuple, list[str]] = {}


def late_json_columns(files: list[Path], fmt: str, names: list[str]) -> list[str]:
    """Those of ``names`` (top-level keys or dotted paths) that lead to a value in some JSON row of
    ``files``. One regular expression finds the names' (last) keys followed by ':' in the bytes and only
    the lines holding one (a ``json`` file: its array) are parsed: a log without them costs a read."""
    stamps = tuple((str(f), (st := f.stat()).st_size, st.st_mtime_ns) for f in files)
    key = (stamps, fmt, tuple(names))
    if key not in _LATE_FOUND:
        _LATE_FOUND[key] = _late_columns(files, fmt, names)
    return list(_LATE_FOUND[key])


def _late_columns(files: list[Path], fmt: str, names: list[str]) -> list[str]:
    checks = dict.fromkeys(names, 0)
    found: list[str] = []

    def pending() -> list[str]:
        return [n for n in names if n not in found and checks[n] < LATE_KEY_CHECKS]

    for f in files:
        if not pending():
            break
        if fmt == "json":
            found += _array_has(f, pending())
            continue
        for block in _line_blocks(f):
            pos, todo = 0, pending()
            pattern = _keys_pattern(todo)
            while todo and (m := pattern.search(block, pos)):
                start, end = block.rfind(b"\n", 0, m.start()) + 1, block.find(b"\n", m.end())
                end = len(block) if end < 0 else end
                obj = _parsed(block[start:end])
                found += [n for n in todo if path_value(obj, n) is not MISSING]
                for n in todo:
                    if n not in found and _last_key(n) == m.group(1).decode("utf-8", "replace"):
                        checks[n] += 1  # the key nested elsewhere in the row
                if pending() != todo:
                    todo = pending()
                    pattern = _keys_pattern(todo)
                pos = end + 1
            if not todo:
                break
    return [n for n in names if n in found]


def _last_key(name: str) -> str:
    return path_keys(name)[-1]


def _keys_pattern(names: list[str]) -> re.Pattern[bytes]:
    """The JSON text of any of the names' last keys, as an object key (':' after it)."""
    keys = dict.fromkeys(json.dumps(_last_key(n), ensure_ascii=False)[1:-1].encode() for n in names)
    return re.compile(b'"(' + b"|".join(map(re.escape, keys)) + b')"\\s*:')


def _parsed(line: bytes) -> object:
    try:
        return json.loads(without_bom(line.decode("utf-8", "replace")))
    except (ValueError, RecursionError):
        return None


def _line_blocks(f: Path) -> Iterator[bytes]:
    """The file's bytes in blocks of whole lines."""
    carry = b""
    with open_bytes(f) as fh:
        while data := fh.read(_SCAN_BLOCK):
            block = carry + data
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                carry = block
                continue
            carry = block[cut:]
            yield block[:cut]
    if carry:
        yield carry


def _array_has(f: Path, names: list[str]) -> list[str]:
    """Those of ``names`` that lead to a value in an element of the JSON array file ``f`` (at most
    MAX_JSON_ARRAY_BYTES: parsed whole, as its rows are, when it holds one of their keys)."""
    with open_bytes(f) as fh:
        data = fh.read()
    if not _keys_pattern(names).search(data):
        return []
    values = _json_value(data.decode("utf-8", "replace"))
    rows = [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []
    return [n for n in names if any(path_value(row, n) is not MISSING for row in rows)]


def _no_object_message(files: list[Path], fmt: str) -> str:
    """Why no JSON object was found: the files hold no rows at all, or their first lines are no objects."""
    if all(holds_nothing(f, fmt) for f in files):
        what = "is empty" if len(files) == 1 else f"and the other {len(files) - 1} file(s) are empty"
        if fmt == "json":
            what += " (or an empty JSON array)"
        return f"{files[0]} {what}: a log with no rows has no columns to read"
    first = next(f for f in files if not holds_nothing(f, fmt))
    if fmt == "jsonl" and isinstance(obj := _whole_json(first), dict):
        if _is_table_object(obj):
            return _table_object_message(first)
        return (
            f"{first} is one JSON object written over several lines (indented), not one object per line: "
            "write each request on one line, `jq -c . *.json > logs.jsonl` (or json.dumps without indent)"
        )
    where = "elements of the JSON array" if fmt == "json" else "lines"
    return f"no JSON object in the first {SAMPLE_LINES} {where} of {first}"


def _whole_json(f: Path) -> object:
    """The JSON value of a whole file of up to _ARRAY_HEAD_CHARS characters, else None."""
    with open_text(f) as fh:
        return _json_value(fh.read(_ARRAY_HEAD_CHARS))


def _json_value(text: str) -> object:
    """The JSON value of a file's text (past a byte-order mark), else None."""
    try:
        return json.loads(_skip_bom_and_space(text))
    except (ValueError, RecursionError):
        return None


def holds_nothing(f: Path, fmt: str, head: int = 2**16) -> bool:
    """The file holds no rows: nothing but white space (and a byte-order mark), or a ``json`` file's []."""
    with open_text(f) as fh:
        text = _skip_bom_and_space(fh.read(head))
    return not text or (fmt == "json" and "".join(text.split()) == "[]")


MISSING = object()  # path_value of a path that leads nowhere (unlike a JSON null)


# A key of a dotted path: one quoted with backticks, as Spark SQL quotes names (a doubled backtick in it is
# one), holds dots (OpenTelemetry's attributes.`gen_ai.input.messages`); else no dot and no backtick.
_PATH_KEY = re.compile(r"`((?:[^`]|``)+)`|([^.`]+)")


def path_keys(path: str) -> tuple[str, ...]:
    """The keys of a dotted path ("inputs.messages", "attributes.`gen_ai.input.messages`"); a name
    that is no such path splits at every dot."""
    keys, pos = [], 0
    while (m := _PATH_KEY.match(path, pos)) is not None:
        keys.append(m[2] if m[1] is None else m[1].replace("``", "`"))
        pos = m.end()
        if pos == len(path):
            return tuple(keys)
        if path[pos] != ".":
            break
        pos += 1
    return tuple(path.split("."))


def path_value(obj: object, path: str) -> object:
    """The value at a dotted path of nested JSON objects ("inputs.messages"; path_keys), else MISSING."""
    for key in path_keys(path):
        if not isinstance(obj, dict) or key not in obj:
            return MISSING
        obj = obj[key]
    return obj


def _size_over(f: Path, limit: int) -> int | None:
    """The file's size (a compressed file's once decompressed, read up to the limit) if over ``limit``."""
    opener = COMPRESSED.get(f.suffix.lower())
    if opener is None:
        size = f.stat().st_size
        return size if size > limit else None
    size = 0
    with opener(f, "rb") as fh:
        while size <= limit and (chunk := fh.read(2**22)):
            size += len(chunk)
    return size if size > limit else None


def check_json_array_sizes(files: list[Path]) -> None:
    """A JSON array is read whole: one larger than MAX_JSON_ARRAY_BYTES is an error naming the fix."""
    for f in files:
        if (size := _size_over(f, MAX_JSON_ARRAY_BYTES)) is not None:
            raise LogFormatError(
                f"{f} is a JSON array of more than {size / 2**20:.0f} MiB; a JSON array is read whole, "
                f"up to {MAX_JSON_ARRAY_BYTES // 2**20} MiB per file: write larger logs as JSON Lines, one "
                f"object per line (`jq -c '.[]' {f.name} > logs.jsonl`, or pandas {JSON_LINES_FIX})"
            )


def csv_reader(lines: Iterable[str], delimiter: str = ",") -> Iterator[list[str]]:
    """The csv module's reader of a log's lines, taking fields of any length (CSV_FIELD_LIMIT); a
    byte-order mark before the first line is none of its first field (the csv module would keep it, and
    the quotes of a quoted name after it: the header would name no request_id)."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    return csv.reader(_without_first_bom(lines), delimiter=delimiter)


def csv_delimiter(f: Path) -> str:
    """The separator (CSV_DELIMITERS) that splits the header line into the most fields; "," on a tie."""
    with open_text(f) as fh:
        line = fh.readline()
    fields = {d: len(next(csv_reader([line], d), [])) for d in CSV_DELIMITERS}
    return max(CSV_DELIMITERS, key=lambda d: (fields[d], -CSV_DELIMITERS.index(d)))


def csv_row_detail(columns: int, delimiter: str) -> str:
    """The quarantine detail of a CSV row with more or fewer fields than its header's ``columns``: read on,
    a prompt with an unquoted separator would be cut there and the fields after it shifted."""
    sep = "a tab" if delimiter == "\t" else f"'{delimiter}'"
    return (
        f"the row's fields do not line up with the header's {columns} columns: a field holding {sep}, "
        "a quote or a line break must be quoted"
    )


def _without_first_bom(lines: Iterable[str]) -> Iterator[str]:
    it = iter(lines)
    first = next(it, None)
    if first is not None:
        yield without_bom(first)
        yield from it


def csv_head_file(files: list[Path]) -> Path:
    """The file whose header names a CSV log's columns: the first that holds anything (a directory of
    exported parts may hold empty ones, which hold no rows either), else the first."""
    return next((f for f in files if not holds_nothing(f, "csv")), files[0])


def csv_header_groups(files: list[Path], delimiter: str = ",") -> dict[tuple[str, ...], list[Path]]:
    """The files of a CSV log by their header, in file order (exports whose columns changed over time
    have several); empty files, which hold no rows, left out."""
    groups: dict[tuple[str, ...], list[Path]] = {}
    for f in files:
        if not holds_nothing(f, "csv"):
            groups.setdefault(tuple(csv_header(f, delimiter)), []).append(f)
    return groups


def csv_header(f: Path, delimiter: str = ",") -> list[str]:
    with open_text(f) as fh:
        header = next(csv_reader(fh, delimiter), None)
    if not header or not any(h.strip() for h in header):
        raise LogFormatError(f"{f} has no header line: a CSV log starts with its column names")
    repeated = sorted({n for n in header if header.count(n) > 1})
    if repeated:
        raise LogFormatError(f"{f}: the header repeats column names {repeated}: give each column its own")
    return header


def partition_base(root: str | Path) -> Path:
    """The directory Hive partitions are read from: the logs' directory (a file's own), or above it the
    first that is no k=v directory, so that ``--logs LOGS/dt=D`` (or a file in it) has the dt column
    ``--logs LOGS`` gives its rows."""
    p = Path(root)
    base = p if p.is_dir() else p.parent
    while "=" in base.name:
        base = base.parent
    return base


def partition_values(base: Path, f: Path) -> dict[str, str]:
    """The Hive partition columns of a file (k=v directories between ``base`` and it) and their values."""
    parts = (part.split("=", 1) for part in f.relative_to(base).parent.parts if "=" in part)
    return {k: v for k, v in parts}


def partition_keys(root: str | Path, files: list[Path]) -> list[str]:
    """Hive partition column names (k of k=v directories) between partition_base(root) and the files."""
    base = partition_base(root)
    return list(dict.fromkeys(k for f in files for k in partition_values(base, f)))


def detect_format(path: str | Path, forced: str = "auto") -> tuple[str, list[Path]]:
    """(format, data files): by extension, else by content; a JSON Lines log whose objects carry
    ``custom_id`` and ``body`` is an OpenAI Batch input file, one whose objects carry ``custom_id`` and
    ``params`` an Anthropic Message Batches request file. ``forced`` overrides the detection."""
    if forced not in LOG_FORMATS:
        raise LogFormatError(f"unknown log format '{forced}' (expected one of {', '.join(LOG_FORMATS)})")
    files = data_files(path)
    if forced != "auto":
        _check_utf8(forced, files)
        return forced, files
    kinds: dict[str, Path] = {}
    for f in files:
        kinds.setdefault(file_format(f), f)
    if len(kinds) > 1:
        found = ", ".join(f"{k} ({f})" for k, f in kinds.items())
        raise LogFormatError(f"{path} mixes log formats: {found}; route each format separately")
    fmt = next(iter(kinds))
    if fmt == "json":
        check_json_array_sizes(files)
    _check_utf8(fmt, files)
    if fmt == "jsonl":
        first = next(json_objects(files), None)
        if first is not None:
            check_not_a_table_object(first, files)
        if first is not None:
            fmt = batch_format(first) or fmt
    return fmt, files


def batch_format(first: dict) -> str | None:
    """The Batch request format of a JSON Lines log by its first object, None for a log of rows."""
    if BATCH_KEYS <= first.keys():
        return OPENAI_BATCH
    if ANTHROPIC_BATCH_KEYS <= first.keys():
        return ANTHROPIC_BATCH
    return None


def _check_utf8(fmt: str, files: list[Path]) -> None:
    """CSV and JSON array files are decoded by Spark's readers, which replace bytes that are not UTF-8:
    their heads are checked here (a JSON Lines line is checked by itself, and quarantined). A text file
    of any format that starts with a UTF-16 or UTF-32 byte-order mark is named as such."""
    if fmt == "parquet":
        return
    for f in files:
        check_not_utf16(f)
        if fmt in ("csv", "json"):
            check_utf8(f)


# Byte-order marks of the encodings Windows tools write other than UTF-8 (Windows PowerShell 5's `>` and
# Out-File write UTF-16 LE); UTF-32's first, as its LE mark starts with UTF-16 LE's
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"),
)  # fmt: skip


def check_not_utf16(f: Path) -> None:
    """A file that starts with a UTF-16 or UTF-32 byte-order mark is an error naming the fix: read as
    UTF-8, its every line would be no JSON, its header no column names."""
    with open_bytes(f) as fh:
        head = fh.read(4)
    encoding = next((name for bom, name in _OTHER_BOMS if head.startswith(bom)), None)
    if encoding is not None:
        raise LogFormatError(
            f"{f} is {encoding} text (its byte-order mark), not UTF-8: save it as UTF-8 (PowerShell: "
            "Out-File -Encoding utf8; Excel: 'CSV UTF-8'; iconv -f UTF-16 -t UTF-8)"
        )


def check_not_a_table_object(first: dict, files: list[Path]) -> None:
    """A JSON object that is a whole table, or a Batch API output line, read as a request would be one
    quarantined row (or a missing-column error) saying nothing of the cause: an error that names the fix.
    ``first``: the first object of ``files``."""
    f = files[0]
    if _is_batch_output(first):
        raise LogFormatError(
            f"{f} is an OpenAI Batch API output file (custom_id, response with a status_code): it holds the "
            "answers, not the requests; route the Batch input file the requests came from (custom_id, "
            "method, url, body), or give --format jsonl if it is a log of rows after all"
        )
    if _is_anthropic_results(first):
        raise LogFormatError(
            f"{f} is an Anthropic Message Batches results file (custom_id, result): it holds the answers, "
            "not the requests; route the request file the batch was created from (custom_id, params), or "
            "give --format jsonl if it is a log of rows after all"
        )
    if _is_table_object(first) and sum(1 for _ in json_objects(files, limit=2)) == 1:
        raise LogFormatError(_table_object_message(f))


def _table_object_message(f: Path) -> str:
    return (
        f"{f} is one JSON object holding a whole table (pandas' `to_json` without orient='records'), "
        f"not one object per request: write the log as JSON Lines, {JSON_LINES_FIX}"
    )


def _is_batch_output(obj: dict) -> bool:
    response = obj.get("response")
    return (
        "custom_id" in obj
        and "body" not in obj
        and (isinstance(response, dict) and "status_code" in response or response is None and "error" in obj)
    )


def _is_anthropic_results(obj: dict) -> bool:
    """A line of Anthropic's batch results: {custom_id, result: {type: succeeded | errored | ...}}."""
    result = obj.get("result")
    return "custom_id" in obj and "params" not in obj and isinstance(result, dict) and "type" in result


def _is_table_object(obj: dict) -> bool:
    """pandas' orients of one object: columns {column: {index: value}} (the default), index {index:
    {column: value}}, split {columns, index, data}, table {schema, data}."""
    if {"columns", "data"} <= obj.keys() or {"schema", "data"} <= obj.keys():
        return isinstance(obj["data"], list)
    inner = list(obj.values())
    if not inner or not all(isinstance(v, dict) and v for v in inner):
        return False
    same_keys = len({tuple(v) for v in inner}) == 1
    # one column of text by index labels ({"prompt": {"r1": ...}}): a request's prompt is no object
    one_text_column = obj.keys() <= {"prompt", "request_id"}
    return same_keys and (len(inner) >= 2 or one_text_column or all(k.isdigit() for k in inner[0]))
