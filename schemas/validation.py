"""Row-level validation rules for prompt logs: each row is valid or gets one reason code.

Pure Python so the same rules run inside Spark UDFs and in plain tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from router_core.messages import MessagesError, parse_chat
from router_core.text import DEFAULT_MESSAGES_POLICY, MessagesPolicy, text_from_turns
from schemas.logs import (
    REASON_EMPTY_PROMPT,
    REASON_INVALID_UTF8,
    REASON_NO_USER_TURN,
    REASON_NULL_PROMPT,
    REASON_TOO_LONG,
    REASON_UNSUPPORTED_CONTENT,
)

TooLongPolicy = Literal["truncate", "quarantine"]


@dataclass(frozen=True)
class TextCheck:
    text: str | None  # the text to route, None when the row is quarantined
    reason: str | None
    detail: str = ""
    truncated: bool = False
    image_parts: int = 0  # image / audio parts of the chat: not routed on, counted
    audio_parts: int = 0


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
    """The reference of the row rules; the Spark job applies the same rules as column expressions
    (jobs/text_columns.py) around one Python pass, ``chat_text``, for chats."""
    if value is None:
        return TextCheck(None, REASON_NULL_PROMPT, f"{source} is null")
    images = audio = 0
    if source == "messages":
        chat = chat_text(value, messages_policy)
        if chat.text is None:
            return chat
        raw, images, audio = chat.text, chat.image_parts, chat.audio_parts
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
        return TextCheck(text[:max_chars], None, f"truncated from {len(text)} chars", True, images, audio)
    return TextCheck(text, None, "", False, images, audio)


def chat_text(value: Any, messages_policy: MessagesPolicy = DEFAULT_MESSAGES_POLICY) -> TextCheck:
    """A chat cell (list or JSON text, not None) reduced to its routed text, valid UTF-8 but not yet
    checked for emptiness or length; or the reason it has none."""
    try:
        chat = parse_chat(value)
    except MessagesError as exc:
        return TextCheck(None, exc.reason, exc.detail)
    raw = text_from_turns(chat.turns, messages_policy)
    if raw is None:
        return _no_text(chat.turns, chat.image_parts, chat.audio_parts)
    text, err = _decode(raw)
    if text is None:
        return TextCheck(None, REASON_INVALID_UTF8, err or "")
    return TextCheck(text, None, "", False, chat.image_parts, chat.audio_parts)


def _no_text(turns: list, images: int, audio: int) -> TextCheck:
    """A chat without routable text: no user turn at all, or user turns with no text part."""
    if any(r == "user" for r, _ in turns):
        return TextCheck(
            None,
            REASON_UNSUPPORTED_CONTENT,
            f"user turns have no text part ({images} image, {audio} audio parts)",
            image_parts=images,
            audio_parts=audio,
        )
    roles = sorted({str(r) for r, _ in turns})
    return TextCheck(None, REASON_NO_USER_TURN, f"roles present: {roles}")
