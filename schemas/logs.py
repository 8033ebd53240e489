"""Contract of the input prompt-log table and the quarantine table.

One row per request. ``request_id`` is required and unique; the routed text comes from ``prompt``
(string), ``messages`` (OpenAI chat format, as a list or as JSON text) or, when neither is there, the
``messages`` of a JSON request ``body``. Column names are configurable through ``LogColumns``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from router_core.log_formats import MALFORMED_CSV
from router_core.log_rows import is_number_type
from router_core.messages import MALFORMED_JSON, UNSUPPORTED_CONTENT


class LogColumns(BaseModel):
    """Names of the log columns in the user's table (defaults follow the documented contract)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt logical name is an error, not ignored

    request_id: str = "request_id"
    prompt: str = "prompt"
    messages: str = "messages"
    ts: str = "ts"
    model: str = "model"
    prompt_tokens: str = "prompt_tokens"
    completion_tokens: str = "completion_tokens"
    segment: str = "segment"
    dt: str = Field("dt", description="Hive partition column holding the date (YYYY-MM-DD)")
    body: str = Field(
        "body", description="JSON request body sent unchanged but for its model (else a 'request' column)"
    )


class SchemaError(ValueError):
    """The input table cannot be processed at all (missing column / wrong type): exit code 2."""


# Reason codes written to quarantine/reason. Stable: downstream dashboards group by them.
REASON_NULL_PROMPT = "null_prompt"
REASON_EMPTY_PROMPT = "empty_prompt"
REASON_TOO_LONG = "prompt_too_long"
REASON_INVALID_UTF8 = "invalid_utf8"
REASON_NO_USER_TURN = "no_user_turn"
REASON_BAD_MESSAGES = "malformed_messages"
REASON_DUPLICATE_ID = "duplicate_request_id"
REASON_NULL_ID = "null_request_id"
REASON_MALFORMED_JSON = MALFORMED_JSON  # a JSON line, messages text or request body that does not parse
REASON_UNSUPPORTED_CONTENT = UNSUPPORTED_CONTENT  # content of a type, or with no text part, to route on
REASON_BAD_REQUEST = "invalid_request"  # a Batch line or body that is not a valid Batch API request
REASON_MALFORMED_CSV = MALFORMED_CSV  # a CSV row whose fields do not line up with its header

ALL_REASONS = (
    REASON_NULL_PROMPT,
    REASON_EMPTY_PROMPT,
    REASON_TOO_LONG,
    REASON_INVALID_UTF8,
    REASON_NO_USER_TURN,
    REASON_BAD_MESSAGES,
    REASON_DUPLICATE_ID,
    REASON_NULL_ID,
    REASON_MALFORMED_JSON,
    REASON_UNSUPPORTED_CONTENT,
    REASON_BAD_REQUEST,
    REASON_MALFORMED_CSV,
)


@dataclass(frozen=True)
class ResolvedColumns:
    """Which optional columns the actual input has, after checking its schema."""

    request_id: str
    text_source: str  # "prompt", "messages" or "body" (the body's messages)
    text_column: str
    text_is_binary: bool
    optional: dict[str, str]  # logical name -> physical column, only for columns present
    messages_is_json: bool = False  # the messages column holds JSON text
    messages_fallback: str | None = None  # auto with prompt and messages: rows without a prompt use this
    body: str | None = None  # the JSON request body column, when the input has one
    body_is_struct: bool = False
    # auto with prompt and body (no messages): rows without a prompt route on their body's chat
    body_fallback: bool = False

    @property
    def has_fallback(self) -> bool:
        """Rows with a null prompt route on a chat: their messages or their body's."""
        return self.messages_fallback is not None or self.body_fallback


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):  # pandas Categorical columns
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)


def _is_messages(t: pa.DataType) -> bool:
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return False
    item = t.value_type
    if not pa.types.is_struct(item):
        return False
    names = {item.field(i).name for i in range(item.num_fields)}
    return {"role", "content"} <= names


def _has_values(schema: pa.Schema, name: str) -> bool:
    """The column is there and not of type null (pandas writes an all-None column as type null)."""
    return name in schema.names and not pa.types.is_null(schema.field(name).type)


_OPTIONAL_TYPES: dict[str, tuple[str, callable]] = {
    "ts": (
        "timestamp, date, text or Unix epoch number",
        lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t) or _is_text(t) or is_number_type(t),
    ),
    "model": ("string", _is_text),
    # a float column too: pandas writes an integer column with missing values as float64 (NaN); a decimal
    # one: Snowflake unloads NUMBER as one
    "prompt_tokens": ("integer", is_number_type),
    "completion_tokens": ("integer", is_number_type),
    "segment": ("string", _is_text),
    "dt": ("string or date", lambda t: _is_text(t) or pa.types.is_date(t)),
}


MESSAGES_TYPE = "list<struct<role: string, content: string>>"


def _body_column(schema: pa.Schema, cols: LogColumns) -> tuple[str | None, bool]:
    names = set(schema.names)
    physical = cols.body if cols.body in names else None
    if physical is None and "body" not in cols.model_fields_set and "request" in names:
        physical = "request"
    if physical is None:
        return None, False
    t = schema.field(physical).type
    if not (_is_text(t) or pa.types.is_struct(t)):
        raise SchemaError(f"column '{physical}' has type {t}, expected type: string (a JSON request body)")
    return physical, pa.types.is_struct(t)


def _text_column(schema: pa.Schema, cols: LogColumns, source: str, json_messages: bool) -> tuple[str, bool]:
    """(column, is binary) of the routed text; raises SchemaError naming the column and the type."""
    names = set(schema.names)
    if source == "prompt":
        if cols.prompt not in names:
            raise _missing_column(
                schema, cols, "prompt", f"'{cols.prompt}' (expected type: string), or '{cols.messages}' "
                f"(expected type: {MESSAGES_TYPE}), or a request body '{cols.body}'", PROMPT_LIKE,
            )  # fmt: skip
        t = schema.field(cols.prompt).type
        if not (_is_text(t) or _is_binary(t) or pa.types.is_null(t)):  # null: every row null_prompt
            raise SchemaError(f"column '{cols.prompt}' has type {t}, expected type: string")
        return cols.prompt, _is_binary(t)
    if cols.messages not in names:
        raise _missing_column(
            schema, cols, "messages", f"'{cols.messages}' (expected type: {MESSAGES_TYPE})", ()
        )
    t = schema.field(cols.messages).type
    if not (_is_messages(t) or (json_messages and _is_text(t)) or pa.types.is_null(t)):
        also = " or JSON text" if json_messages else ""
        raise SchemaError(f"column '{cols.messages}' has type {t}, expected type: {MESSAGES_TYPE}{also}")
    return cols.messages, False


# Names logs often give the required columns: the first one a log has is suggested for --column.
ID_LIKE = ("id", "requestId", "request-id", "req_id", "custom_id", "uuid", "trace_id", "run_id")
PROMPT_LIKE = ("question", "input", "query", "text", "user_prompt", "instruction", "content")


# Names proxies' logs give the whole request body (Helicone's request_body, LiteLLM's
# proxy_server_request): a log without a text column but with one of these is told --column body=NAME.
BODY_LIKE = ("request_body", "proxy_server_request", "request_payload", "payload", "raw_request")
# OpenTelemetry GenAI span attributes flattened one column per message field (OpenLLMetry's
# gen_ai.prompt.0.role, gen_ai.prompt.0.content, ...; under an ``attributes.`` prefix too)
OTEL_MESSAGE_COLUMN = re.compile(r"(?:^|\.)gen_ai\.prompt\.\d+\.content$")
OTEL_HINT = (
    "its gen_ai.prompt.N.role / gen_ai.prompt.N.content columns (OpenTelemetry GenAI attributes, one "
    "column per message field) hold a chat: join them into one messages column of JSON text first "
    "(docs/input-logs.md, 'Other tracing and proxy exports')"
)


# Names logs give token counts; a log without the contract's names but with one of these is told so.
# Optional columns a log often holds under another name; the jobs point them out (the columns stay
# unused until --column names them: a guess could be wrong, e.g. a "date" of something else).
OPTIONAL_LIKE = {
    "ts": ("timestamp", "created_at", "created", "datetime", "date", "start_time", "request_time",
           "event_time", "logged_at", "time_stamp"),
    "model": ("model_name", "served_model", "model_id", "llm_model", "engine"),
    "prompt_tokens": ("input_tokens", "prompt_token_count", "tokens_in", "n_prompt_tokens"),
    "completion_tokens": ("output_tokens", "completion_token_count", "tokens_out", "n_completion_tokens"),
}  # fmt: skip
_WITHOUT = {
    "ts": "every row is dated --date, else today (UTC)",
    "model": "savings then needs --served-model",
    "prompt_tokens": "counted from the text instead",
    "completion_tokens": "each model's typical answer length assumed instead",
}
_USES = {"ts": "dates the rows by it", "model": "uses it", "prompt_tokens": "uses its counts",
         "completion_tokens": "uses its counts"}  # fmt: skip


def loose_name(name: str) -> str:
    """A column name without case, spaces, '_' or '-': how a UI export's "Request ID" or "Prompt Tokens"
    is told to be request_id or prompt_tokens."""
    return "".join(ch for ch in name.lower() if ch not in " _-")


def optional_column_hints(names: list[str], optional: dict[str, str]) -> list[str]:
    """One line per optional column (OPTIONAL_LIKE) the logs lack under its contract name but seem to
    hold under another (any case and spacing: loose_name). No ts hint when a dt partition dates the rows."""
    loose = {loose_name(n): n for n in names}
    taken = set(optional.values())
    lines = []
    for logical, like in OPTIONAL_LIKE.items():
        if logical in optional or (logical == "ts" and "dt" in optional):
            continue
        found = next((loose[k] for c in (logical, *like) if (k := loose_name(c)) in loose), None)
        if found and found not in taken:
            lines.append(
                f"no {logical} column ({_WITHOUT[logical]}), but a '{found}' column: "
                f"--column {shlex.quote(f'{logical}={found}')} {_USES[logical]}"
            )
    return lines


def _shown_columns(schema: pa.Schema) -> str:
    return ", ".join(schema.names[:30]) + (", ..." if len(schema.names) > 30 else "")


def _missing_column(
    schema: pa.Schema, cols: LogColumns, logical: str, wanted: str, like: tuple[str, ...]
) -> SchemaError:
    """The error for a required column the logs lack: what they have, and the --column that would name
    it (the logical name or one of the ``like`` names, in any case and spacing (loose_name), that no
    other logical name takes; a list column is a chat, so for the text it is named as messages)."""
    taken = set(cols.model_dump().values())
    free = {loose_name(n): n for n in schema.names if n not in taken}
    guess = next((free[k] for c in (logical, *like) if (k := loose_name(c)) in free), None)
    target = logical
    if guess and logical == "prompt" and pa.types.is_list(schema.field(guess).type):
        target = "messages"
    if guess is None and logical == "prompt":  # a proxy's log of whole requests (Helicone, LiteLLM)
        guess = next((free[k] for c in BODY_LIKE if (k := loose_name(c)) in free), None)
        target = "body" if guess else target
    hint = ""
    if logical == "request_id" and guess is None:
        # logs without ids: the id keys each output row and is the dispatch line's custom_id
        hint = "; else add a column of unique ids per row (they key the labels and the Batch API's custom_id)"
    if logical == "prompt" and any(OTEL_MESSAGE_COLUMN.search(n) for n in schema.names):
        hint = f"; {OTEL_HINT}"
    named = shlex.quote(f"{target}={guess}") if guess else f"{target}=NAME"
    return SchemaError(
        f"missing required column {wanted}; the logs' columns: {_shown_columns(schema)}; if one of them "
        f"holds it, name it with --column {named}{hint}"
    )


def _check_renamed_columns(schema: pa.Schema, cols: LogColumns) -> None:
    """A column renamed to a name the logs lack is a typo to report, not an optional column to skip."""
    defaults = LogColumns()
    for logical in sorted(cols.model_fields_set):
        physical = getattr(cols, logical)
        if physical != getattr(defaults, logical) and physical not in schema.names:
            raise SchemaError(
                f"--column {logical}={physical}: the logs have no column '{physical}'; their columns: "
                f"{_shown_columns(schema)} (a nested field is named by its path, e.g. inputs.messages; "
                "a key with dots in backticks, attributes.`gen_ai.input.messages`)"
            )


def resolve_columns(
    schema: pa.Schema, cols: LogColumns, text_source: str = "auto", json_messages: bool = False
) -> ResolvedColumns:
    """Check the input schema against the contract; raise SchemaError with a one-line message.

    ``text_source`` is "prompt", "messages" or "auto" (prompt when present, else messages, else the
    messages of a request body column). ``json_messages``: a string messages column holds JSON text, a
    request body column is read, and under "auto" rows with a null prompt route on their messages (else
    on their body's chat).
    """
    names = set(schema.names)
    _check_renamed_columns(schema, cols)
    if cols.request_id not in names:
        raise _missing_column(
            schema, cols, "request_id", f"'{cols.request_id}' (expected type: string)", ID_LIKE
        )
    rid_t = schema.field(cols.request_id).type
    # type null: pandas' all-None column, or any column of a frame with no rows (every row null_request_id)
    # integers; whole decimals: Snowflake unloads its NUMBER ids as decimal(38, 0)
    whole = pa.types.is_integer(rid_t) or pa.types.is_decimal(rid_t) and rid_t.scale == 0
    if not (_is_text(rid_t) or whole or pa.types.is_null(rid_t)):
        hint = ""
        if pa.types.is_floating(rid_t):  # pandas keeps integers with a missing value as float64
            hint = f" (for integer ids that pandas made floats: df['{cols.request_id}'].astype('Int64'))"
        raise SchemaError(f"column '{cols.request_id}' has type {rid_t}, expected type: string{hint}")
    body, body_is_struct = _body_column(schema, cols) if json_messages else (None, False)

    auto = text_source == "auto"
    if auto:
        no_prompt = not _has_values(schema, cols.prompt)  # absent, or all None in a pandas frame
        text_source = "messages" if cols.messages in names and no_prompt else "prompt"
        if body and cols.messages not in names and cols.prompt not in names:
            text_source = "body"
    if text_source not in ("prompt", "messages", "body"):
        raise SchemaError(f"unknown text source '{text_source}' (expected prompt, messages or auto)")
    if text_source == "body":
        text_col, is_bin = body, False
    else:
        text_col, is_bin = _text_column(schema, cols, text_source, json_messages)
    fallback = None
    if text_source == "prompt" and json_messages and auto and cols.messages in names:
        t = schema.field(cols.messages).type
        fallback = cols.messages if _is_messages(t) or _is_text(t) else None
    body_fallback = text_source == "prompt" and auto and body is not None and fallback is None
    messages_col = text_col if text_source == "messages" else fallback
    is_json = messages_col is not None and _is_text(schema.field(messages_col).type)

    optional: dict[str, str] = {}
    for logical, (expected, check) in _OPTIONAL_TYPES.items():
        physical = getattr(cols, logical)
        if physical in names:
            t = schema.field(physical).type
            if pa.types.is_null(t):  # pandas writes an all-None column as type null: nothing to read
                continue
            if not check(t):
                raise SchemaError(f"column '{physical}' has type {t}, expected type: {expected}")
            optional[logical] = physical
    return ResolvedColumns(
        cols.request_id,
        text_source,
        text_col,
        is_bin,
        optional,
        messages_is_json=is_json,
        messages_fallback=fallback,
        body=body,
        body_is_struct=body_is_struct,
        body_fallback=body_fallback,
    )


QUARANTINE_COLUMNS = ("request_id", "reason", "detail", "original_row")
"""quarantine/: request_id (string, may be null), reason (one of ALL_REASONS), detail (string),
original_row (the whole input row as JSON, binary values base64-encoded; a JSON Lines row: its line)."""
