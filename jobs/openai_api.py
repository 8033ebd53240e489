"""The ``openai`` client for ``label judge --endpoint`` and ``batch submit/collect``: base URL from the
flag or config, API key from the environment variable the config names (never from a file, never
printed)."""

from __future__ import annotations

import os
from typing import Any

from jobs.cli_options import fail
from jobs.config import LabelConfig


def make_client(cfg: LabelConfig, timeout_s: float = 120.0) -> Any:
    import openai

    key = os.environ.get(cfg.api_key_env)
    if not key:
        fail(f"no API key: set the environment variable {cfg.api_key_env} (--api-key-env names another)")
    # Retries are ours (journaled, with backoff), so the client makes exactly one attempt per call.
    return openai.OpenAI(base_url=cfg.base_url, api_key=key, max_retries=0, timeout=timeout_s)


def api_error_message(exc: BaseException) -> str:
    """One line for an API failure, without the request headers (they hold the key)."""
    status = getattr(exc, "status_code", None)
    text = " ".join(str(exc).split())[:300]
    return f"API call failed ({type(exc).__name__}{f', HTTP {status}' if status else ''}): {text}"
