"""Rules of OpenAI Batch API input files, checked on every dispatch file the route job writes.

A file holds at most 50,000 requests and 200 MB; each line is a JSON object with a string ``custom_id``
unique in the file, ``method`` POST, one ``url`` for the whole file and a ``body`` object whose
``model`` is the file's model. The dispatch files of an Anthropic Message Batches request file hold its
lines: exactly ``custom_id`` and a ``params`` object whose ``model`` is the file's model (Anthropic's
limits, 100,000 requests and 256 MB a batch, are wider than these).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from router_core.log_formats import ANTHROPIC_BATCH, ANTHROPIC_BATCH_KEYS

MAX_REQUESTS = 50_000
# The Batch API's "200 MB" read in decimal, the stricter of its two readings.
MAX_BYTES = 200_000_000
LINE_KEYS = frozenset({"custom_id", "method", "url", "body"})
ANTHROPIC_LINE_KEYS = ANTHROPIC_BATCH_KEYS
OPENAI_LINES, ANTHROPIC_LINES = "openai", "anthropic"  # the two shapes of request lines


def line_shape(log_format: str) -> str:
    """The shape of the dispatch lines of logs of that format: an Anthropic file's stay Anthropic's."""
    return ANTHROPIC_LINES if log_format == ANTHROPIC_BATCH else OPENAI_LINES


class BatchFileChecker:
    """Feed the lines of one file in order; ``problems`` lists what breaks the Batch API's rules."""

    def __init__(self, model: str | None = None, max_problems: int = 5, shape: str = OPENAI_LINES) -> None:
        self.model, self.max_problems, self.shape = model, max_problems, shape
        self.ids: set[str] = set()
        self.url: str | None = None
        self.lines = self.bytes = 0
        self.problems: list[str] = []

    def _problem(self, msg: str) -> None:
        if len(self.problems) < self.max_problems:
            self.problems.append(f"line {self.lines}: {msg}")

    def add(self, line: bytes) -> None:
        self.lines += 1
        self.bytes += len(line)
        try:
            req = json.loads(line)
        except ValueError as exc:
            return self._problem(f"not JSON ({str(exc)[:80]})")
        expected = ANTHROPIC_LINE_KEYS if self.shape == ANTHROPIC_LINES else LINE_KEYS
        if not isinstance(req, dict) or set(req) != expected:
            keys = sorted(req) if isinstance(req, dict) else type(req).__name__
            return self._problem(f"expected keys {sorted(expected)}, got {keys}")
        self._check_id(req["custom_id"])
        if self.shape == ANTHROPIC_LINES:
            return self._check_body(req["params"], "params")
        if req["method"] != "POST":
            self._problem(f"method is {req['method']!r}, not 'POST'")
        self.url = self.url or req["url"]
        if req["url"] != self.url:
            self._problem(f"url {req['url']!r} differs from the file's {self.url!r}")
        self._check_body(req["body"], "body")

    def _check_id(self, cid: object) -> None:
        if not isinstance(cid, str) or not cid:
            self._problem("custom_id is not a non-empty string")
        elif cid in self.ids:
            self._problem(f"custom_id {cid!r} repeats")
        self.ids.add(cid if isinstance(cid, str) else repr(cid))

    def _check_body(self, body: object, name: str) -> None:
        if not isinstance(body, dict):
            self._problem(f"{name} is not an object")
        elif self.model is not None and body.get("model") != self.model:
            self._problem(f"{name}.model is {body.get('model')!r}, not {self.model!r}")

    def finish(self) -> list[str]:
        if self.lines > MAX_REQUESTS:
            self.problems.append(f"{self.lines} requests > {MAX_REQUESTS} per file")
        if self.bytes > MAX_BYTES:
            self.problems.append(f"{self.bytes} bytes > {MAX_BYTES} per file")
        if self.lines == 0:
            self.problems.append("no requests")
        return self.problems


def check_batch_file(
    path: str | Path, model: str | None = None, shape: str = OPENAI_LINES
) -> tuple[int, list[str]]:
    """(requests, problems) of one Batch input file (lines of ``shape``), every line read."""
    checker = BatchFileChecker(model, shape=shape)
    with open(path, "rb") as fh:
        for line in fh:
            checker.add(line)
    return checker.lines, checker.finish()


def chunk_numbers(
    lines: Iterable[bytes], max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES
) -> Iterator[tuple[int, bytes]]:
    """(chunk number, line) for consecutive chunks each within both limits (a line over max_bytes
    stands alone); streams, so a file of any size splits in constant memory."""
    chunk = count = size = 0
    for line in lines:
        if count and (count >= max_requests or size + len(line) > max_bytes):
            chunk, count, size = chunk + 1, 0, 0
        count += 1
        size += len(line)
        yield chunk, line
