"""Batch request lines sent straight to an OpenAI-compatible server: bounded concurrency, retries with
backoff on 429 / 5xx / timeouts / broken responses, and a journal keyed by ``custom_id``.

Resume rule: a request whose answer (or permanent error) is journaled is never sent again. Ctrl-C stops
starting new calls and waits for the ones in flight, so an interrupted run loses none and a re-run
repeats none. After a hard kill, the calls that were in flight (at most ``concurrency``; journaled as
``sent`` without an answer) are sent again on resume and reported as such.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from router_core.labeling.batch_files import Result, result_from_line, result_line
from router_core.labeling.journal import Journal


@dataclass
class RunStats:
    requests: int = 0
    already_done: int = 0
    resent_after_crash: int = 0
    answered: int = 0
    failed: int = 0  # permanent errors (4xx other than 429), journaled and not retried
    gave_up: int = 0  # transient errors past --max-retries: retried by the next run
    retries: int = 0
    interrupted: bool = False
    fatal: str | None = None  # wrong key, endpoint or model: the run stopped, nothing journaled as done
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def left(self) -> int:
        return self.requests - self.already_done - self.answered - self.failed


# A wrong key, permission or model: not a property of one request, so nothing is journaled as answered
# (a re-run with the mistake fixed sends everything) and the run stops at once.
FATAL_STATUS = (401, 403, 404)


def classify_error(exc: BaseException) -> tuple[str, bool, float | None]:
    """(error kind, retryable, server's Retry-After in seconds) for an exception of one call."""
    import openai

    retry_after = None
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            retry_after = float(response.headers.get("retry-after"))
        except (TypeError, ValueError):
            retry_after = None
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", True, None
    if isinstance(exc, openai.APIConnectionError):
        return "connection", True, None
    if isinstance(exc, openai.RateLimitError):
        return "429", True, retry_after
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        return str(code), code >= 500 or code in (408, 409), retry_after
    if isinstance(exc, ValueError):  # truncated / non-JSON body (JSONDecodeError, validation)
        return "bad_response", True, None
    return type(exc).__name__, False, None


def backoff_delay(attempt: int, backoff_s: float, max_backoff_s: float, retry_after: float | None) -> float:
    """Seconds before retry ``attempt`` (1 = the first retry): jitter around backoff_s x 2^(attempt-1),
    at least the server's Retry-After, at most max_backoff_s."""
    wanted = backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
    return min(max_backoff_s, max(wanted, retry_after or 0.0))


def body_sha(line: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(line["body"], sort_keys=True).encode()).hexdigest()[:32]


def journal_state(events: Sequence[dict[str, Any]]) -> tuple[dict[tuple[str, str], Result], set[tuple]]:
    """(final results, requests sent without an answer), both keyed by (custom_id, body sha): a request
    whose body changed since it was journaled is a new request."""
    done: dict[tuple[str, str], Result] = {}
    sent: set[tuple[str, str]] = set()
    for ev in events:
        key = (str(ev.get("custom_id")), str(ev.get("body_sha")))
        if ev.get("event") == "sent":
            sent.add(key)
        elif ev.get("event") == "done":
            done[key] = result_from_line(ev["result"])
        elif ev.get("event") == "gave_up":
            sent.discard(key)  # it failed cleanly: nothing was left in flight
    return done, sent - set(done)


class DirectRunner:
    def __init__(
        self,
        client: Any,
        journal: Journal,
        concurrency: int = 8,
        max_retries: int = 6,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 120.0,
        log: Callable[[str], None] = print,
    ) -> None:
        self.client = client
        self.journal = journal
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.log = log
        self.stop = threading.Event()
        self.stats = RunStats()
        self._lock = threading.Lock()

    def _count(self, **delta: int) -> None:
        with self._lock:
            for k, v in delta.items():
                setattr(self.stats, k, getattr(self.stats, k) + v)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        return backoff_delay(attempt, self.backoff_s, self.max_backoff_s, retry_after)

    def _finish(self, cid: str, sha: str, attempts: int, result: Result) -> None:
        event = {"event": "done", "custom_id": cid, "body_sha": sha, "attempts": attempts}
        self.journal.append({**event, "result": result_line(result)})

    def _call(self, line: dict[str, Any]) -> None:
        cid, sha = str(line["custom_id"]), body_sha(line)
        self.journal.append({"event": "sent", "custom_id": cid, "body_sha": sha})
        for attempt in range(1, self.max_retries + 2):
            try:
                resp = self.client.chat.completions.create(**line["body"], timeout=self.timeout_s)
                result = Result(cid, 200, resp.model_dump(mode="json", exclude_unset=True), None)
                self._finish(cid, sha, attempt, result)
                pt, ct = result.usage()
                self._count(answered=1, prompt_tokens=pt, completion_tokens=ct)
                return
            except Exception as exc:  # noqa: BLE001 - every failure is classified and journaled
                kind, retryable, retry_after = classify_error(exc)
                with self._lock:
                    self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1
                message = f"{kind}: " + " ".join(str(exc).split())[:300]
                if getattr(exc, "status_code", None) in FATAL_STATUS:  # every call would fail alike
                    with self._lock:
                        self.stats.fatal = self.stats.fatal or message
                    self.stop.set()
                    break
                if not retryable:
                    status = getattr(exc, "status_code", None)
                    self._finish(cid, sha, attempt, Result(cid, status, None, message))
                    self._count(failed=1)
                    return
                if attempt > self.max_retries or self.stop.wait(self._delay(attempt, retry_after)):
                    break
                self._count(retries=1)
        self.journal.append({"event": "gave_up", "custom_id": cid, "body_sha": sha, "error": message})
        self._count(gave_up=1)

    def run(self, lines: Sequence[dict[str, Any]]) -> RunStats:
        """Send every line not answered in the journal yet; returns what happened (Ctrl-C: interrupted)."""
        done, in_flight = journal_state(self.journal.read())
        keys = [(str(ln["custom_id"]), body_sha(ln)) for ln in lines]
        todo = [ln for ln, k in zip(lines, keys, strict=True) if k not in done]
        self.stats = RunStats(requests=len(lines), already_done=len(lines) - len(todo))
        self.stats.resent_after_crash = sum(1 for k in keys if k in in_flight and k not in done)
        if self.stats.already_done:
            self.log(f"journal: {self.stats.already_done} of {len(lines)} requests already answered, skipped")
        if self.stats.resent_after_crash:
            self.log(f"journal: {self.stats.resent_after_crash} requests were in flight when the last run "
                     "stopped without finishing them: sent again")  # fmt: skip
        t0, last = time.time(), 0.0
        pending: set = set()
        queue = list(reversed(todo))
        with ThreadPoolExecutor(self.concurrency) as pool:
            try:
                while queue or pending:
                    while queue and len(pending) < self.concurrency and not self.stop.is_set():
                        pending.add(pool.submit(self._call, queue.pop()))
                    if not pending:
                        break
                    finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for f in finished:
                        f.result()
                    if time.time() - last > 5 or not (queue or pending):
                        last = time.time()
                        self._progress(t0)
            except KeyboardInterrupt:
                self.stop.set()
                self.stats.interrupted = True
                self.log(f"interrupted: waiting for the {len(pending)} calls in flight, starting no new ones")
                wait(pending)
        return self.stats

    def _progress(self, t0: float) -> None:
        s = self.stats
        n = s.answered + s.failed + s.gave_up
        rate = n / max(time.time() - t0, 1e-9)
        self.log(f"calls: {s.already_done + n}/{s.requests} done ({rate:.1f}/s, {s.retries} retries, "
                 f"{s.failed} failed, {s.gave_up} given up)")  # fmt: skip


def journaled_results(journal: Journal, lines: Sequence[dict[str, Any]]) -> dict[str, Result]:
    """The journaled final result of each of ``lines`` (by custom_id), for the current bodies only."""
    done, _ = journal_state(journal.read())
    out = {}
    for ln in lines:
        r = done.get((str(ln["custom_id"]), body_sha(ln)))
        if r is not None:
            out[r.custom_id] = r
    return out
