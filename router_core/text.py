"""Prompt text normalisation and hashing: the identity under which prompts are deduplicated and cached."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WS = re.compile(r"\s+")


def normalize_prompt(text: str) -> str:
    """NFC, trimmed, internal whitespace runs collapsed: trivially different copies embed once."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def prompt_hash(normalized: str) -> str:
    """Stable 128-bit hex digest of the normalised text (cache key, dedupe key)."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:32]
