"""Row rules of prompt logs shared by the readers that run without Spark (``savings``, ``label sample``):
the day of a row, whether a Batch input line is a request the Batch API takes, a request body as an
object, the value a row routes on and the chat a request sends. They mirror the route job's Spark rules
(jobs/validate_logs.py, jobs/log_reader.py, jobs/dispatch_lines.py).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from router_core.messages import MALFORMED_JSON, MessagesError, load_messages, parse_chat
from router_core.text import MessagesPolicy, prompt_text, text_from_turns
from router_core.time_zones import java_zone

BATCH_URL = "/v1/chat/completions"
RESPONSES_URL = "/v1/responses"  # OpenAI's Responses API: the chat is the body's ``input``
# Azure OpenAI's Batch input files name the same endpoints without the /v1 prefix
AZURE_BATCH_URL = "/chat/completions"
AZURE_RESPONSES_URL = "/responses"
# The Batch endpoints whose requests are routed, in both forms: a url and the endpoint it names
ENDPOINT_OF_URL = {
    BATCH_URL: BATCH_URL,
    RESPONSES_URL: RESPONSES_URL,
    AZURE_BATCH_URL: BATCH_URL,
    AZURE_RESPONSES_URL: RESPONSES_URL,
}
BATCH_URLS = tuple(ENDPOINT_OF_URL)
RESPONSES_URLS = (RESPONSES_URL, AZURE_RESPONSES_URL)
# What a url that is none of BATCH_URLS is told it should be
URLS_EXPECTED = (
    f"{BATCH_URL} or {RESPONSES_URL} ({AZURE_BATCH_URL} or {AZURE_RESPONSES_URL} in Azure OpenAI's files)"
)
# A Batch line whose body is not a request of its url's kind (the Batch API would refuse it), by endpoint
WRONG_BODY = {
    BATCH_URL: "url is chat completions but the body has input and no messages: a Responses request "
    "goes to /v1/responses (/responses on Azure)",
    RESPONSES_URL: "url is responses but the body has messages or no input: a chat completion goes to "
    "/v1/chat/completions (/chat/completions on Azure)",
}
INVALID_REQUEST = "invalid_request"  # schemas.logs.REASON_BAD_REQUEST
# Anthropic Message Batches request lines ({custom_id, params}) that cannot be routed
PARAMS_NOT_OBJECT = "params is missing or not a JSON object"
PARAMS_WITHOUT_MESSAGES = "params has no messages (a Message Batches request's chat is params.messages)"
NO_DAY = "(unknown)"
# A body column's JSON text that does not parse, or goes on after its object (the route job's reader would
# read the object and drop the rest)
BODY_NOT_JSON = "body is not valid JSON"
BODY_MORE_THAN_ONE = "body holds more than one JSON value"
# json.dumps of a dict built from a pandas row writes a missing value as NaN: no JSON, refused by the Batch
# API as it is by Spark's parser
BODY_NOT_FINITE = "body holds a NaN or Infinity value, which is no JSON: write null"

Problem = tuple[str, str]  # (quarantine reason code, detail)

# A ts that is a number (a JSON or CSV number, a Parquet integer or float column) is Unix epoch time, its
# unit read from its size, as pandas' to_json (milliseconds) and time.time() (seconds) write it: seconds
# from 1e9 (2001-09-09), milliseconds from 1e11, microseconds from 1e14, nanoseconds from 1e17 to 1e19.
# Smaller, larger or negative numbers are no time (the row takes the fallback date).
EPOCH_UNITS: tuple[tuple[float, float], ...] = ((1e11, 1.0), (1e14, 1e3), (1e17, 1e6), (1e19, 1e9))
EPOCH_MIN = 1e9
# A number as text, nothing around it; Java's regexes read it alike (the route job's rule).
EPOCH_TEXT = r"[0-9]+(\.[0-9]+)?"


def json_kind(value: Any) -> str:
    """The JSON type name of a parsed value, as the quarantine details name it."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    return "string" if isinstance(value, str) else "null"


# ts text as Spark's string-to-timestamp cast reads it: a year, a year and month, or a date with one- or
# two-digit month and day ("+" year sign allowed), then "T" or " " and a time of one- or two-digit
# hours, minutes and seconds, a fraction, and after the seconds only a zone (router_core.time_zones).
# Spark reads no basic or week forms ("20261101", "2026-W44-7").
_SPARK_DATE = re.compile(r"\+?(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?")
_SPARK_DATE_TIME = re.compile(
    r"\+?(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.(\d*))?\s*(\S.*)?)?)?"
)


def iso_day(text: str | None) -> str | None:
    """The UTC date of ISO-8601 text (``Z``, offsets, zone ids such as `` UTC`` or ``Europe/Paris``) as the
    route job's Spark session reads it, None for text that is no timestamp."""
    if text is None:
        return None
    text = text.strip()
    if m := _SPARK_DATE.fullmatch(text):
        y, mo, d = (int(g) if g else 1 for g in m.groups())
        try:
            return datetime.date(y, mo, d).isoformat()
        except ValueError:
            return None
    if not (m := _SPARK_DATE_TIME.fullmatch(text)):
        return None
    zone = java_zone(m[8]) if m[8] else None
    if m[8] and zone is None:
        return None
    try:
        fields = (int(g) if g else 0 for g in m.groups()[:6])
        t = datetime.datetime(*fields, tzinfo=zone)
        return t.astimezone(datetime.UTC).date().isoformat() if zone is not None else t.date().isoformat()
    except (ValueError, OverflowError):  # OverflowError: a zone moving year 9999 or 1 out of range
        return None


def epoch_seconds(value: float) -> float | None:
    """Seconds since the Unix epoch of a ts number (EPOCH_UNITS), None for a number that is no time."""
    if not value >= EPOCH_MIN:  # NaN too
        return None
    return next((value / per_second for limit, per_second in EPOCH_UNITS if value < limit), None)


def epoch_day(value: float | None) -> str | None:
    """The UTC date of a ts number, None for a number that is no time."""
    secs = None if value is None else epoch_seconds(float(value))
    if secs is None:
        return None
    return datetime.datetime.fromtimestamp(secs, datetime.UTC).date().isoformat()


def text_day(text: str | None) -> str | None:
    """The UTC date of a ts text: a number as Unix epoch time, else ISO-8601."""
    if text is not None and re.fullmatch(EPOCH_TEXT, text) and (day := epoch_day(float(text))) is not None:
        return day
    return iso_day(text)


def is_number_type(t: pa.DataType) -> bool:
    """An integer, float or decimal column (Snowflake unloads its NUMBER columns to Parquet as decimals)."""
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def row_days(table: pa.Table, ts: str | None, dt: str | None) -> list[str]:
    """YYYY-MM-DD per row: the ``dt`` column, else the UTC date of ``ts`` (a timestamp, a date, ISO-8601
    text or a Unix epoch number, as text or not), else NO_DAY."""
    n = table.num_rows
    day: list[str | None] = [None] * n
    if ts is not None:
        col = table.column(ts)
        if pa.types.is_dictionary(col.type):
            col = pc.cast(col, col.type.value_type)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            days = {v: text_day(v) for v in pc.unique(col).to_pylist()}  # logs repeat timestamps
            day = [days[v] for v in col.to_pylist()]
        elif is_number_type(col.type):
            day = [epoch_day(v) for v in col.to_pylist()]
        else:
            if pa.types.is_date(col.type):
                col = pc.cast(col, pa.timestamp("s"))
            elif col.type.tz is not None:  # the UTC date, not the zone's local one
                col = pc.cast(col, pa.timestamp(col.type.unit))
            day = pc.strftime(col, format="%Y-%m-%d").to_pylist()
    if dt is not None:
        dts = pc.cast(table.column(dt), pa.string()).to_pylist()
        day = [d if d is not None else x for d, x in zip(dts, day, strict=True)]
    return [d or NO_DAY for d in day]


def no_rows_dated(
    date: str, path: str, n_rows: int, first: str | None, last: str | None, undated: str
) -> str:
    """Why a ``--date`` filter left no row: the span of days the log's rows do have. ``undated`` is the
    date a row without dt or ts takes in the command that filtered."""
    if not n_rows:
        return f"no rows dated {date} in {path}: it holds no rows"
    days = first if first == last else f"{first} to {last}"
    span = "have no date" if first is None else f"are dated {days}"
    return (
        f"no rows dated {date} in {path}: its {n_rows:,} rows {span} (a row's date is its dt "
        f"partition, else the UTC date of its ts, else {undated}): check --date and the ts / dt columns"
    )


def batch_line_problem(line: dict) -> Problem | None:
    """Why the Batch API would refuse this input line (method, url, body), None when it would not."""
    method, url = line.get("method"), line.get("url")
    if method != "POST":
        return INVALID_REQUEST, f"method is {method if method is not None else 'missing'}"
    if url not in BATCH_URLS:
        return INVALID_REQUEST, f"url is {url if url is not None else 'missing'}, not {URLS_EXPECTED}"
    if not isinstance(line.get("body"), dict):
        return INVALID_REQUEST, "body is missing or not a JSON object"
    if (url in RESPONSES_URLS) != is_responses_body(line["body"]):
        return INVALID_REQUEST, WRONG_BODY[ENDPOINT_OF_URL[url]]
    return None


def anthropic_line_problem(line: dict) -> Problem | None:
    """Why an Anthropic Message Batches request line cannot be routed (nor sent): its ``params`` missing
    or not an object, or without ``messages``; None when it can."""
    params = line.get("params")
    if not isinstance(params, dict):
        return INVALID_REQUEST, PARAMS_NOT_OBJECT
    if "messages" not in params:
        return INVALID_REQUEST, PARAMS_WITHOUT_MESSAGES
    return None


def finite_json(value: Any) -> Any:
    """A JSON row's parsed value with its NaN and infinite numbers (json.dumps writes a pandas row's missing
    values so) as the texts "NaN", "Infinity" and "-Infinity", as the route job's Spark reader writes a
    row's nested values: a body's ``"temperature": NaN`` is sent as ``"NaN"`` by both."""
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value)
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value


def drop_nulls(value: Any) -> Any:
    """A struct cell as JSON writes it: null fields left out (Spark's to_json does the same)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


class NonFinite(ValueError):
    """A NaN or Infinity value in JSON text, which Python's json reads and JSON (and Spark) does not."""


def _no_constant(name: str) -> Any:
    raise NonFinite(name)


def load_body(value: Any) -> tuple[dict | None, Problem | None]:
    """(body, problem) of a request body cell: JSON text or a struct's dict; a null body is (None, None)."""
    if value is None:
        return None, None
    if isinstance(value, str | bytes | bytearray):
        try:
            value = json.loads(value, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            return None, (MALFORMED_JSON, BODY_MORE_THAN_ONE if exc.msg == "Extra data" else BODY_NOT_JSON)
        except NonFinite:
            return None, (MALFORMED_JSON, BODY_NOT_FINITE)
        except (ValueError, RecursionError):
            return None, (MALFORMED_JSON, BODY_NOT_JSON)
    else:
        value = drop_nulls(value)
    if not isinstance(value, dict):
        return None, (INVALID_REQUEST, f"body is JSON {json_kind(value)}, not an object")
    return value, None


def is_responses_body(body: dict) -> bool:
    """A Responses API request (its chat in ``input``), not a chat completion (``messages``)."""
    return "messages" not in body and "input" in body


def body_endpoint(body: dict | None) -> str:
    """The Batch url a request body is sent to."""
    return RESPONSES_URL if body is not None and is_responses_body(body) else BATCH_URL


def body_messages(body: dict | None) -> Any:
    """The chat of a request body: its ``messages`` after a top-level ``system`` (Anthropic's Messages
    API: a text or a list of text blocks) as a system message, or a Responses body's ``input`` (a text
    is one user turn; a list of items is read as messages: items without a role, such as tool outputs,
    have no text to route on) after its ``instructions`` as a system message."""
    if body is None:
        return None
    if not is_responses_body(body):
        return _after_system(body.get("messages"), anthropic_system(body))
    given = body["input"]
    chat = [{"role": "user", "content": given}] if isinstance(given, str) else given
    system = body.get("instructions")
    return _after_system(chat, system if isinstance(system, str) else None)


def anthropic_system(body: dict) -> str | list | None:
    """The top-level ``system`` of an Anthropic Messages body (a text or a list of text blocks), None
    for other bodies."""
    system = body.get("system")
    return system if isinstance(system, str | list) else None


def chat_completion_body(body: dict | None) -> dict | None:
    """A request body as a chat completion sends it: an Anthropic Messages body's ``system``, a field
    OpenAI's API refuses, as its chat's first message (role system, body_messages); other bodies as
    they are."""
    if body is None or is_responses_body(body):
        return body
    if anthropic_system(body) is None or not isinstance(body.get("messages"), list):
        return body
    rest = {k: v for k, v in body.items() if k != "system"}
    return {**rest, "messages": body_messages(body)}


def _after_system(chat: Any, system: str | list | None) -> Any:
    """A chat list with a system message of ``system`` first; other chats (no list: the text check
    quarantines them) and chats without a system as they are."""
    if system is None or not isinstance(chat, list):
        return chat
    return [{"role": "system", "content": system}, *chat]


def routed_value(
    source: str, value: Any, fallback: Any, body: dict | None, body_fallback: bool = False
) -> tuple[Any, str]:
    """(cell, "prompt" or "messages") a row routes on: the body's chat for text source "body", the
    messages column, or the prompt (when it is null: its row's messages where there is a fallback, or
    its body's chat under ``body_fallback``)."""
    if source == "body":
        return body_messages(body), "messages"
    if source == "messages":
        return value, "messages"
    if value is None and body_fallback:
        fallback = body_messages(body)
    if value is None and fallback is not None:
        return fallback, "messages"
    return value, "prompt"


def text_of(value: Any, kind: str, policy: MessagesPolicy) -> str | None:
    """The text of a routed cell under ``policy`` ("full": every turn, the text billed as input); None
    for a cell the route job quarantines."""
    try:
        if kind == "messages":
            return None if value is None else text_from_turns(parse_chat(value).turns, policy)
        return prompt_text(value, policy)
    except (ValueError, UnicodeDecodeError):  # MessagesError is a ValueError
        return None


def chat_of_body(body: dict) -> list[dict[str, Any]]:
    """A Responses or Anthropic Messages body as chat completion messages, for requests that are sent as
    chat completions: the role and text of each turn of its chat (body_messages, the system first;
    images, files and tool items left out)."""
    try:
        turns = parse_chat(body_messages(body)).turns
    except MessagesError:
        return []
    return [{"role": role, "content": text} for role, text in turns if role is not None and text is not None]


def messages_sent(value: Any, kind: str) -> list[dict[str, Any]]:
    """The chat a request without a body sends, as dispatch builds it: the log's messages (null
    messages and null fields left out), else one user turn with the original prompt."""
    if kind == "messages":
        try:
            return [drop_nulls(m) for m in load_messages(value) if m is not None]
        except MessagesError:
            return []
    text = value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else value
    return [{"role": "user", "content": None if text is None else str(text)}]


def request_body(body: dict | None, messages: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """The body of a chat completion request to ``model``: the logged body with only ``model``
    replaced, else (no body, or a Responses body, whose answers a chat completion gives alike) one of
    ``messages``."""
    if body is not None and not is_responses_body(body):
        return {**body, "model": model}
    return {"model": model, "messages": messages}
