"""Chat-completion calls of the ``llm`` scorer: bounded concurrency, retries with backoff on 429 / 5xx /
timeouts / broken responses, and the token usage the endpoint reports.

It lives in router_core, not jobs/, because the scorer runs wherever the router scores (the Spark
executors of ``route``, ``evaluate``, training): it builds its own ``openai`` client from the endpoint
and the name of the environment variable holding the key. The key is read from the environment on every
batch of calls and kept nowhere else: not on the scorer, not in the artefact, not in a message. The
error classification and the backoff are the labelling loop's (``router_core.labeling.direct_calls``);
there is no journal, because a score is recomputed rather than resumed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from router_core.labeling.direct_calls import FATAL_STATUS, backoff_delay, classify_error
from router_core.scoring_cost import CallUsage

T = TypeVar("T")
R = TypeVar("R")


class LLMScorerError(ValueError):
    """A chat call that cannot succeed (no key, wrong endpoint or model, retries exhausted)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ChatCaller:
    def __init__(
        self,
        endpoint: str | None,
        api_key_env: str,
        concurrency: int,
        timeout_s: float,
        max_retries: int,
        backoff_s: float,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.api_key_env = api_key_env
        self.concurrency = max(1, int(concurrency))
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._lock = threading.Lock()

    def client(self) -> Any:
        import openai

        key = os.environ.get(self.api_key_env)
        if not key:
            raise LLMScorerError(
                f"llm scorer: no API key: set the environment variable {self.api_key_env} "
                "(or train with --scorer-param llm.api_key_env=NAME)"
            )
        return openai.OpenAI(base_url=self.endpoint, api_key=key, max_retries=0, timeout=self.timeout_s)

    def count(self, usage: CallUsage, **delta: int) -> None:
        with self._lock:
            for k, v in delta.items():
                setattr(usage, k, getattr(usage, k) + v)

    def create(self, client: Any, body: dict[str, Any], usage: CallUsage) -> Any:
        """One chat completion, retried on transient failures; its reported tokens added to ``usage``."""
        for attempt in range(1, self.max_retries + 2):
            try:
                resp = client.chat.completions.create(**body, timeout=self.timeout_s)
            except Exception as exc:  # noqa: BLE001 - classified: retried, or one clear error
                kind, retryable, retry_after = classify_error(exc)
                status = getattr(exc, "status_code", None)
                if status in FATAL_STATUS or not retryable or attempt > self.max_retries:
                    text = " ".join(str(exc).split())[:300]
                    where = f"{self.endpoint or 'the OpenAI API'} (model {body.get('model')})"
                    raise LLMScorerError(
                        f"llm scorer: chat call to {where} failed after {attempt} attempt(s): {kind}: {text}",
                        status,
                    ) from None
                self.count(usage, retries=1)
                time.sleep(backoff_delay(attempt, self.backoff_s, self.max_backoff_s, retry_after))
                continue
            u = getattr(resp, "usage", None)
            self.count(
                usage,
                requests=1,
                prompt_tokens=int(getattr(u, "prompt_tokens", 0) or 0),
                completion_tokens=int(getattr(u, "completion_tokens", 0) or 0),
            )
            return resp
        raise AssertionError("unreachable")

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``fn`` over ``items`` with at most ``concurrency`` calls in flight, results in order."""
        if self.concurrency == 1 or len(items) <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))
