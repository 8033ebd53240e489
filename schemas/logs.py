"""Contract of the input prompt-log table and the quarantine table.

One row per request. ``request_id`` is required and unique; the routed text comes from ``prompt``
(string) or ``messages`` (OpenAI chat format). Column names are configurable through ``LogColumns``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from pydantic import BaseModel, Field


class LogColumns(BaseModel):
    """Names of the log columns in the user's table (defaults follow the documented contract)."""

    request_id: str = "request_id"
    prompt: str = "prompt"
    messages: str = "messages"
    ts: str = "ts"
    model: str = "model"
    prompt_tokens: str = "prompt_tokens"
    completion_tokens: str = "completion_tokens"
    segment: str = "segment"
    dt: str = Field("dt", description="Hive partition column holding the date (YYYY-MM-DD)")


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

ALL_REASONS = (
    REASON_NULL_PROMPT,
    REASON_EMPTY_PROMPT,
    REASON_TOO_LONG,
    REASON_INVALID_UTF8,
    REASON_NO_USER_TURN,
    REASON_BAD_MESSAGES,
    REASON_DUPLICATE_ID,
    REASON_NULL_ID,
)


@dataclass(frozen=True)
class ResolvedColumns:
    """Which optional columns the actual input has, after checking its schema."""

    request_id: str
    text_source: str  # "prompt" or "messages"
    text_column: str
    text_is_binary: bool
    optional: dict[str, str]  # logical name -> physical column, only for columns present


def _is_text(t: pa.DataType) -> bool:
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


_OPTIONAL_TYPES: dict[str, tuple[str, callable]] = {
    "ts": ("timestamp or date", lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t) or _is_text(t)),
    "model": ("string", _is_text),
    "prompt_tokens": ("integer", pa.types.is_integer),
    "completion_tokens": ("integer", pa.types.is_integer),
    "segment": ("string", _is_text),
    "dt": ("string or date", lambda t: _is_text(t) or pa.types.is_date(t)),
}


def resolve_columns(schema: pa.Schema, cols: LogColumns, text_source: str = "auto") -> ResolvedColumns:
    """Check the input schema against the contract; raise SchemaError with a one-line message.

    ``text_source`` is "prompt", "messages" or "auto" (prompt when present, else messages).
    """
    names = set(schema.names)
    if cols.request_id not in names:
        raise SchemaError(f"missing required column '{cols.request_id}' (expected type: string)")
    rid_t = schema.field(cols.request_id).type
    if not (_is_text(rid_t) or pa.types.is_integer(rid_t)):
        raise SchemaError(f"column '{cols.request_id}' has type {rid_t}, expected type: string")

    if text_source == "auto":
        text_source = "messages" if cols.messages in names and cols.prompt not in names else "prompt"
    if text_source == "prompt":
        if cols.prompt not in names:
            raise SchemaError(
                f"missing required column '{cols.prompt}' (expected type: string), "
                f"or '{cols.messages}' (expected type: list<struct<role: string, content: string>>)"
            )
        t = schema.field(cols.prompt).type
        if not (_is_text(t) or _is_binary(t)):
            raise SchemaError(f"column '{cols.prompt}' has type {t}, expected type: string")
        text_col, is_bin = cols.prompt, _is_binary(t)
    elif text_source == "messages":
        if cols.messages not in names:
            raise SchemaError(
                f"missing required column '{cols.messages}' "
                "(expected type: list<struct<role: string, content: string>>)"
            )
        t = schema.field(cols.messages).type
        if not _is_messages(t):
            raise SchemaError(
                f"column '{cols.messages}' has type {t}, "
                "expected type: list<struct<role: string, content: string>>"
            )
        text_col, is_bin = cols.messages, False
    else:
        raise SchemaError(f"unknown text source '{text_source}' (expected prompt, messages or auto)")

    optional: dict[str, str] = {}
    for logical, (expected, check) in _OPTIONAL_TYPES.items():
        physical = getattr(cols, logical)
        if physical in names:
            t = schema.field(physical).type
            if not check(t):
                raise SchemaError(f"column '{physical}' has type {t}, expected type: {expected}")
            optional[logical] = physical
    return ResolvedColumns(cols.request_id, text_source, text_col, is_bin, optional)


QUARANTINE_COLUMNS = ("request_id", "reason", "detail", "original_row")
"""quarantine/: request_id (string, may be null), reason (one of ALL_REASONS), detail (string),
original_row (the whole input row as JSON, binary values base64-encoded)."""
