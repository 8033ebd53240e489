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
    """The list of messages of a cell, each as OpenAI's chat format has it (openai_message): JSON text is
    parsed; an object holding a ``messages`` list (a request body, a tracing tool's ``input``) is that
    list, and a list of one list (LangChain's batch of one prompt) the inner list. Raises MessagesError
    when it is no list, or a list of several chats."""
    if isinstance(value, str | bytes | bytearray):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, absurd nesting
            detail = f"messages is not valid JSON: {str(exc)[:120]}"
            if isinstance(value, str) and _PYTHON_REPR.match(value):
                detail += f"; {PYTHON_REPR_HINT}"
            raise MessagesError(MALFORMED_JSON, detail) from None
    if isinstance(value, Mapping) and as_list(value.get("messages")) is not None:
        value = value["messages"]
    items = as_list(value)
    if items is None:
        raise MessagesError(MALFORMED_MESSAGES, f"messages is {_json_name(value)}, not a list")
    chats = [c for c in map(as_list, items) if c is not None]
    if items and len(chats) == len(items):  # a list of chats
        if len(chats) > 1:
            raise MessagesError(MALFORMED_MESSAGES, SEVERAL_CHATS.format(n=len(chats)))
        items = chats[0]
    return [openai_message(m) for m in items]


# A messages cell of several chats: a row stands for one request (one routing decision, one Batch line)
SEVERAL_CHATS = (
    "messages is a list of {n} chats (a batch of prompts, as LangChain's generate() logs them), "
    "not one chat: export one row per chat"
)


# JSON text of a messages cell that load_messages may read otherwise than as it is written: an object,
# a list of lists, a LangChain message (each of _langchain_fields' forms), a message of parts. Java and
# Python read it alike: the route job sends only such cells through Python (openai_messages_json).
OTHER_CHAT_SHAPES = (
    r'^\s*(\{|\[\s*\[)|"lc"\s*:\s*1\b|"data"\s*:\s*\{|"type"\s*:\s*"(human|ai|system|tool|function|chat)"'
    r'|"parts"\s*:'
)


def openai_messages_json(text: str | None) -> str | None:
    """The JSON text of a messages cell's chat in OpenAI's format (load_messages), None when that is the
    text as written or the text is no chat: the route job's readers send what load_messages reads."""
    try:
        messages = load_messages(text) if text is not None else None
    except MessagesError:
        return None
    if messages is None or messages == json.loads(text):
        return None
    return json.dumps(messages, ensure_ascii=False)


def _json_name(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words (a dict is an object)."""
    return "a JSON object" if isinstance(value, Mapping) else type(value).__name__


# LangChain's message types (a serialized message's ``type``, or its class name without ``Message`` and
# ``Chunk``) as OpenAI's chat roles; a ``chat`` message names its own role
LANGCHAIN_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}


def openai_message(m: Any) -> Any:
    """A message as OpenAI's chat format has it ({role, content, ...}): a message with a role as it is;
    a LangChain one, as LangSmith and LangChain's ``dumpd`` / ``messages_to_dict`` serialize it, as
    {role, content} (and its ``name`` and ``tool_call_id``); anything else as it is."""
    if not isinstance(m, Mapping):
        return m
    if "role" in m:
        return _with_content_of_parts(m)
    fields, kind = _langchain_fields(m)
    if fields is None:
        return m
    role = fields.get("role") if kind == "chat" else LANGCHAIN_ROLES.get(kind)
    if not isinstance(role, str):
        return m
    message = {"role": role, "content": fields.get("content")}
    message |= {k: fields[k] for k in ("name", "tool_call_id") if isinstance(fields.get(k), str)}
    calls = fields.get("tool_calls")
    if role == "assistant" and isinstance(calls, list) and calls:  # a tool message answers them
        message["tool_calls"] = [_openai_tool_call(c) for c in calls]
    return message


def _with_content_of_parts(m: Mapping) -> Mapping:
    """A message whose text is in ``parts``, not ``content``: OpenTelemetry GenAI's gen_ai.input.messages
    ({role, parts: [{type: text, content}]}) and Gemini's contents ({role: user | model, parts:
    [{text}]}), as {role, content: OpenAI text parts} (Gemini's model: assistant); other parts kept."""
    parts = as_list(m.get("parts"))
    if "content" in m or parts is None:
        return m
    rest = {k: v for k, v in m.items() if k != "parts"}
    role = "assistant" if m["role"] == "model" else m["role"]
    return rest | {"role": role, "content": [_openai_text_part(p) for p in parts]}


def _openai_text_part(part: Any) -> Any:
    """A text part as OpenAI's ({type: text, text}): OpenTelemetry's {type: text, content}, Gemini's
    {text}; any other part as it is."""
    if not isinstance(part, Mapping):
        return part
    if part.get("type") == "text" and "text" not in part and "content" in part:
        return {"type": "text", "text": part["content"]}
    if "type" not in part and "text" in part:
        return {"type": "text", "text": part["text"]}
    return part


def _openai_tool_call(call: Any) -> Any:
    """A LangChain tool call ({name, args, id}) as OpenAI's ({id, type: function, function: {name,
    arguments: JSON text}})."""
    if not isinstance(call, Mapping) or "function" in call:
        return call
    function = {"name": call.get("name"), "arguments": json.dumps(call.get("args") or {}, ensure_ascii=False)}
    return {"id": call.get("id"), "type": "function", "function": function}


def _langchain_fields(m: Mapping) -> tuple[Mapping | None, str]:
    """(the fields, the type) of a LangChain message in its three serialized forms: ``dumpd``'s
    {lc, type: constructor, id: [..., "HumanMessage"], kwargs}, ``messages_to_dict``'s {type, data},
    and the {type, content} dicts LangChain reads as messages; (None, "") for other objects."""
    kwargs, data, kind = m.get("kwargs"), m.get("data"), m.get("type")
    if m.get("lc") == 1 and kind == "constructor" and isinstance(kwargs, Mapping):
        ids = m.get("id")
        name = ids[-1] if isinstance(ids, list) and ids and isinstance(ids[-1], str) else ""
        kind = kwargs.get("type") if isinstance(kwargs.get("type"), str) else name
        return kwargs, _langchain_type(kind)
    if not isinstance(kind, str):
        return None, ""
    if isinstance(data, Mapping):
        return data, _langchain_type(kind)
    return (m, kind) if kind in LANGCHAIN_ROLES or kind == "chat" else (None, "")


def _langchain_type(kind: str) -> str:
    """A LangChain message type or class name as its type: "HumanMessageChunk" and "human" are "human"."""
    name = kind.removesuffix("Chunk").removesuffix("Message")
    return "ai" if name == "AI" else name.lower()


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
