"""Prompt text normalisation and hashing: the identity under which prompts are deduplicated and cached."""

from __future__ import annotations

import hashlib
import numbers
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from router_core.messages import content_text, openai_message

MessagesPolicy = Literal["last_user", "all_user", "full"]
MESSAGES_POLICIES: tuple[str, ...] = get_args(MessagesPolicy)
# All user turns, not the last: a follow-up turn ("Now make it shorter") says little about the task
# without the turn it follows (RouteLLM routes MT-bench on the first turn). The embedder keeps the start
# of a long text, so the first turns dominate.
DEFAULT_MESSAGES_POLICY: MessagesPolicy = "all_user"

_WS = re.compile(r"\s+")


def normalize_prompt(text: str) -> str:
    """NFC, trimmed, internal whitespace runs collapsed: trivially different copies embed once."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def prompt_hash(normalized: str) -> str:
    """Stable 128-bit hex digest of the normalised text (cache key, dedupe key)."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:32]


def text_from_turns(turns: Sequence[tuple[Any, str | None]], policy: MessagesPolicy) -> str | None:
    """The routed text of a chat given as (role, text) turns: all user turns joined, the last user turn,
    or the whole transcript."""
    if policy == "full":
        return "\n".join(f"{r}: {c}" for r, c in turns if c is not None) if turns else None
    users = [c for r, c in turns if r == "user" and c is not None]
    if not users:
        return None
    return users[-1] if policy == "last_user" else "\n".join(users)


def text_from_messages(messages: Sequence[Mapping[str, Any]], policy: MessagesPolicy) -> str | None:
    """The routed text of a chat of {role, content} messages; a content list of parts routes on its text
    parts (raises router_core.messages.MessagesError, a ValueError, for content it cannot read)."""
    chat = (openai_message(m) for m in messages if m is not None)  # LangChain's serialized messages too
    turns = [(m.get("role"), content_text(m.get("content"))) for m in chat]
    return text_from_turns(turns, policy)


def prompt_text(value: Any, policy: MessagesPolicy = DEFAULT_MESSAGES_POLICY) -> str | None:
    """Text of one training/evaluation prompt cell; None for a missing one.

    A string is itself; a list of strings is a conversation's user turns (MT-bench's ``turns``) and a list
    of {role, content} objects a chat (OpenAI format): both reduce by ``policy`` the way the route job
    reduces a ``messages`` column, so a router sees the same text in training as when routing.
    Numbers become their text. Raises ValueError for any other type (a mapping, a nested list), naming it.
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, numbers.Number):  # a CSV column of numeric-looking prompts is read as numbers
        return str(value)
    if isinstance(value, Sequence) or hasattr(value, "tolist"):  # list, tuple, numpy array from Parquet
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        if all(isinstance(t, str) for t in items):
            return text_from_messages([{"role": "user", "content": t} for t in items], policy)
        if all(isinstance(t, Mapping) for t in items):
            return text_from_messages(items, policy)
        kinds = sorted({type(t).__name__ for t in items})
        raise ValueError(f"a list prompt must hold strings or {{role, content}} messages, not {kinds}")
    raise ValueError(f"a prompt must be text, a list of turns or chat messages, not {type(value).__name__}")
