"""Row-level validation rules for prompt logs: each row is valid or gets one reason code.

Pure Python so the same rules run inside Spark UDFs and in plain tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from router_core.text import DEFAULT_MESSAGES_POLICY, MessagesPolicy, text_from_messages
from schemas.logs import (
    REASON_BAD_MESSAGES,
    REASON_EMPTY_PROMPT,
    REASON_INVALID_UTF8,
    REASON_NO_USER_TURN,
    REASON_NULL_PROMPT,
    REASON_TOO_LONG,
)

TooLongPolicy = Literal["truncate", "quarantine"]


@dataclass(frozen=True)
class TextCheck:
    text: str | None  # the text to route, None when the row is quarantined
    reason: str | None
    detail: str = ""
    truncated: bool = False


def _decode(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8"), None
        except UnicodeDecodeError as exc:
            return None, f"byte {exc.start}: {exc.reason}"
    if isinstance(value, str):
        # Lone surrogates survive in Python str but are not valid UTF-8.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return None, f"char {exc.start}: {exc.reason}"
        return value, None
    return str(value), None


def check_text(
    value: Any,
    *,
    source: Literal["prompt", "messages"],
    max_chars: int,
    on_too_long: TooLongPolicy,
    messages_policy: MessagesPolicy = DEFAULT_MESSAGES_POLICY,
) -> TextCheck:
    if value is None:
        return TextCheck(None, REASON_NULL_PROMPT, f"{source} is null")
    if source == "messages":
        if not isinstance(value, Sequence) or isinstance(value, str | bytes):
            return TextCheck(None, REASON_BAD_MESSAGES, f"messages is {type(value).__name__}, not a list")
        if any(m is not None and not isinstance(m, Mapping) for m in value):
            return TextCheck(None, REASON_BAD_MESSAGES, "a message is not a {role, content} object")
        raw = text_from_messages(value, messages_policy)
        if raw is None:
            roles = sorted({str(m.get("role")) for m in value if m is not None})
            return TextCheck(None, REASON_NO_USER_TURN, f"roles present: {roles}")
    else:
        raw = value
    text, err = _decode(raw)
    if text is None:
        return TextCheck(None, REASON_INVALID_UTF8, err or "")
    if not text.strip():
        return TextCheck(None, REASON_EMPTY_PROMPT, "empty or whitespace-only")
    if len(text) > max_chars:
        if on_too_long == "quarantine":
            return TextCheck(None, REASON_TOO_LONG, f"{len(text)} chars > limit {max_chars}")
        return TextCheck(text[:max_chars], None, f"truncated from {len(text)} chars", truncated=True)
    return TextCheck(text, None)
