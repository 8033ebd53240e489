"""Chat messages as logs hold them: a list of {role, content} objects, or that list as JSON text; each
``content`` a string or a list of parts (OpenAI's multimodal format: text, image and audio parts).

Pure Python: the route job's validation UDF and training-data loading read chats through the same rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Reason codes (schemas.logs re-exports them): stable strings downstream dashboards group by.
MALFORMED_JSON = "malformed_json"
MALFORMED_MESSAGES = "malformed_messages"
UNSUPPORTED_CONTENT = "unsupported_content"
INVALID_UTF8 = "invalid_utf8"

TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})  # output_text: Responses API answers
IMAGE_PART_TYPES = frozenset({"image_url", "input_image", "image"})
AUDIO_PART_TYPES = frozenset({"input_audio", "audio"})


# pandas' to_csv writes a column of lists of dicts as their Python repr: [{'role': 'user', ...}]
_PYTHON_REPR = re.compile(r"\s*\[\s*\{\s*'")
PYTHON_REPR_HINT = (
    "it is a Python list written as text (pandas' to_csv of a list column): write the column as JSON, "
    "df['messages'] = df['messages'].map(json.dumps)"
)


class MessagesError(ValueError):
    """A chat the router cannot read: ``reason`` is a quarantine reason code, ``detail`` says where."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Chat:
    turns: list[tuple[Any, str | None]]  # (role, text of the message; None when it has no text)
    image_parts: int = 0
    audio_parts: int = 0


def as_list(value: Any) -> list | None:
    """A list for list-like values (Arrow hands list cells to pandas as numpy arrays), else None."""
    if isinstance(value, str | bytes | bytearray | Mapping):
        return None
    if hasattr(value, "tolist") and not isinstance(value, Sequence):
        value = value.tolist()
    return list(value) if isinstance(value, Sequence) else None


def _text_of_part(part: Any, where: str, media: dict[str, int]) -> str | None:
    if part is None:
        return None
    if isinstance(part, str):  # some SDKs send bare strings in the list
        return part
    if not isinstance(part, Mapping):
        raise MessagesError(UNSUPPORTED_CONTENT, f"{where} is {type(part).__name__}, not a content part")
    kind = part.get("type")
    if kind in IMAGE_PART_TYPES:
        media["image"] += 1
        return None
    if kind in AUDIO_PART_TYPES:
        media["audio"] += 1
        return None
    if kind not in TEXT_PART_TYPES and not (kind is None and "text" in part):
        return None  # file, refusal, tool parts: nothing to route on
    text = part.get("text")
    if isinstance(text, Mapping):  # Assistants-style {"value": ..., "annotations": [...]}
        text = text.get("value")
    if text is None or isinstance(text, str):
        return text
    raise MessagesError(UNSUPPORTED_CONTENT, f"{where} text is {type(text).__name__}, not a string")


def content_text(content: Any, where: str = "content", media: dict[str, int] | None = None) -> str | None:
    """The text of one message's content: itself when a string, its text parts joined by newlines when a
    list of parts (image and audio parts are counted in ``media``), None when it has no text."""
    media = media if media is not None else {"image": 0, "audio": 0}
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, bytes | bytearray):
        try:
            return bytes(content).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MessagesError(INVALID_UTF8, f"{where}: byte {exc.start}: {exc.reason}") from None
    parts = as_list(content)
    if parts is None:
        raise MessagesError(
            UNSUPPORTED_CONTENT, f"{where} is {type(content).__name__}, not a string or a list of parts"
        )
    texts = [_text_of_part(p, f"{where} part {j}", media) for j, p in enumerate(parts)]
    texts = [t for t in texts if t is not None]
    return "\n".join(texts) if texts else None


def load_messages(value: Any) -> list:
    """The list of messages of a cell: JSON text is parsed; raises MessagesError when it is not a list."""
    if isinstance(value, str | bytes | bytearray):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, absurd nesting
            detail = f"messages is not valid JSON: {str(exc)[:120]}"
            if isinstance(value, str) and _PYTHON_REPR.match(value):
                detail += f"; {PYTHON_REPR_HINT}"
            raise MessagesError(MALFORMED_JSON, detail) from None
    items = as_list(value)
    if items is None:
        raise MessagesError(MALFORMED_MESSAGES, f"messages is {type(value).__name__}, not a list")
    return items


def parse_chat(value: Any) -> Chat:
    """Roles and texts of a chat cell (list, numpy array or JSON text). Null messages are skipped."""
    media = {"image": 0, "audio": 0}
    turns: list[tuple[Any, str | None]] = []
    for i, m in enumerate(load_messages(value)):
        if m is None:
            continue
        if not isinstance(m, Mapping):
            raise MessagesError(
                MALFORMED_MESSAGES, f"message {i} is {type(m).__name__}, not a {{role, content}} object"
            )
        role = m.get("role")
        if role is not None and not isinstance(role, str):
            kind = type(role).__name__
            raise MessagesError(MALFORMED_MESSAGES, f"message {i} role is {kind}, not a string")
        turns.append((role, content_text(m.get("content"), f"message {i} content", media)))
    return Chat(turns, media["image"], media["audio"])
