"""OpenAI Batch API files: request lines (``custom_id, method, url, body``), output and error lines
(``custom_id, response: {status_code, body}, error``), written in parts and joined back by ``custom_id``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from router_core.batch_files import ANTHROPIC_LINE_KEYS, LINE_KEYS, MAX_BYTES, MAX_REQUESTS, chunk_numbers
from router_core.log_rows import BATCH_URL

OUTPUT_SUFFIX = ".output.jsonl"
ERRORS_SUFFIX = ".errors.jsonl"


class BatchFileError(ValueError):
    """A Batch file that cannot be read as one (bad JSON, missing custom_id, duplicate ids)."""


def request_line(custom_id: str, body: Mapping[str, Any], url: str = BATCH_URL) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": dict(body)}


def write_parts(
    lines: Iterable[Mapping[str, Any]],
    directory: Path,
    per_file: int = MAX_REQUESTS,
    max_bytes: int = MAX_BYTES,
) -> list[Path]:
    """``part-00000.jsonl``, ... under ``directory``, each within the Batch API's limits of ``per_file``
    lines and ``max_bytes`` (atomic per file)."""
    directory.mkdir(parents=True, exist_ok=True)
    encoded = (encode_line(line) for line in lines)
    paths: list[Path] = []
    for k, part in groupby(chunk_numbers(encoded, per_file, max_bytes), key=itemgetter(0)):
        paths.append(directory / f"part-{k:05d}.jsonl")
        write_text_atomic(paths[-1], b"".join(line for _, line in part))
    return paths


def encode_line(line: Mapping[str, Any]) -> bytes:
    """One JSONL line as the project writes Batch files (compact, UTF-8)."""
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def write_text_atomic(path: Path, text: str | bytes) -> None:
    """``text`` (UTF-8 when a str) written to a temporary file, synced, then renamed to ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(text.encode("utf-8") if isinstance(text, str) else text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def iter_jsonl(path: Path, bad: list[int] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a line that is no JSON object is a one-line
    BatchFileError, or with ``bad`` given, its number appended there and the line left out."""
    with open(path, encoding="utf-8", errors="strict" if bad is None else "replace") as f:
        for no, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                if bad is None:
                    raise BatchFileError(f"{path}:{no}: not JSON ({exc.msg})") from None
                obj = None
            if isinstance(obj, dict):
                yield no, obj
            elif bad is None:
                raise BatchFileError(f"{path}:{no}: a line must be a JSON object")
            else:
                bad.append(no)


def read_requests(path: Path) -> list[dict[str, Any]]:
    """Request lines of a Batch input file, checked: custom_id, method, url, body; unique ids."""
    out, seen = [], set()
    for no, obj in iter_jsonl(path):
        missing = [k for k in ("custom_id", "method", "url", "body") if k not in obj]
        if missing:
            raise BatchFileError(f"{path}:{no}: not a Batch request line (missing {', '.join(missing)})")
        cid = str(obj["custom_id"])
        if cid in seen:
            raise BatchFileError(f"{path}:{no}: duplicate custom_id '{cid}'")
        seen.add(cid)
        out.append(obj)
    return out


def _first_line(path: Path) -> Any:
    """The first line's JSON of a ``.jsonl`` request file candidate (outputs, errors and journals are
    none), else None."""
    name = path.name
    if not name.endswith(".jsonl") or name.startswith((".", "_")):
        return None
    if name.endswith((OUTPUT_SUFFIX, ERRORS_SUFFIX)):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.readline() or "null")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def is_request_file(path: Path) -> bool:
    """A ``.jsonl`` file whose first line is a Batch request line (outputs, errors and journals are not)."""
    first = _first_line(path)
    return isinstance(first, dict) and LINE_KEYS <= set(first)


def is_anthropic_request_file(path: Path) -> bool:
    """A ``.jsonl`` file of Anthropic Message Batches requests ({custom_id, params}: route's dispatch
    files of an Anthropic request file), which no OpenAI-compatible Batch API takes."""
    first = _first_line(path)
    return isinstance(first, dict) and ANTHROPIC_LINE_KEYS <= set(first) and "body" not in first


def _candidates(root: Path) -> list[Path]:
    return [root] if root.is_file() else sorted(root.rglob("*.jsonl"))


def find_request_files(root: Path) -> list[Path]:
    return [p for p in _candidates(root) if is_request_file(p)]


def check_no_anthropic_files(root: Path) -> None:
    """A BatchFileError naming the first Anthropic request file under ``root``: sent to an
    OpenAI-compatible Batch API, its lines would be refused, or its other files submitted without it."""
    found = next((p for p in _candidates(root) if is_anthropic_request_file(p)), None)
    if found is not None:
        raise BatchFileError(
            f"{found} holds Anthropic Message Batches requests (custom_id, params): `batch submit` and "
            "`batch collect` talk to an OpenAI-compatible Batch API, which does not take them; create the "
            "batch with Anthropic's API (client.messages.batches.create(requests=[...the file's lines]), "
            "POST /v1/messages/batches) and fetch its results there"
        )


def output_path(request_file: Path) -> Path:
    return request_file.with_name(request_file.name[: -len(".jsonl")] + OUTPUT_SUFFIX)


def errors_path(request_file: Path) -> Path:
    return request_file.with_name(request_file.name[: -len(".jsonl")] + ERRORS_SUFFIX)


@dataclass(frozen=True)
class Result:
    """One answered (or failed) request, from a Batch output/error line or a direct call."""

    custom_id: str
    status_code: int | None
    body: dict[str, Any] | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code == 200 and self.body is not None and self.error is None

    @property
    def content(self) -> str | None:
        """The first choice's message content (None when absent)."""
        try:
            return self.body["choices"][0]["message"]["content"]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None

    def usage(self) -> tuple[int, int]:
        u = (self.body or {}).get("usage") or {}
        return int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0)


def result_from_line(obj: Mapping[str, Any]) -> Result:
    """A Batch output or error line as a Result (error text kept; never raises on odd shapes)."""
    cid = str(obj.get("custom_id"))
    resp = obj.get("response") or {}
    err = obj.get("error")
    status = resp.get("status_code") if isinstance(resp, dict) else None
    body = resp.get("body") if isinstance(resp, dict) else None
    if not isinstance(body, dict):
        body = None
    if err is None and status not in (None, 200):
        err = (body or {}).get("error") or f"HTTP {status}"
    if err is None and body is None:
        err = "no response body"
    error = (
        None
        if err is None
        else (err.get("message") if isinstance(err, dict) and "message" in err else str(err))
    )
    return Result(cid, status, body, error)


def result_line(r: Result) -> dict[str, Any]:
    """A Result as a Batch output line (the same shape the Batch API writes)."""
    return {
        "custom_id": r.custom_id,
        "response": None if r.status_code is None else {"status_code": r.status_code, "body": r.body},
        "error": None if r.error is None else {"message": r.error},
    }


def read_results(paths: Iterable[Path]) -> dict[str, Result]:
    """Results by custom_id over output and error files; a success wins over an error for the same id.
    A line that is not a JSON object (a download cut short) is left out, with a warning: its request
    counts as unanswered, so the others are kept and a new collect can fetch it."""
    out: dict[str, Result] = {}
    for path in paths:
        for obj in _result_objects(path):
            _add_result(out, result_from_line(obj))
    return out


def _add_result(into: dict[str, Result], r: Result) -> None:
    """``r`` kept unless ``into`` holds its id already, as a success or as an error that ``r`` is too."""
    if r.custom_id not in into or (r.ok and not into[r.custom_id].ok):
        into[r.custom_id] = r


def _result_objects(path: Path) -> Iterator[dict[str, Any]]:
    bad: list[int] = []
    for no, obj in iter_jsonl(path, bad):
        if "custom_id" in obj:
            yield obj
        else:
            bad.append(no)
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        warnings.warn(
            f"{path}: {len(bad)} line(s) are no Batch output line (line {shown}; a download cut short?): "
            "their requests count as unanswered; `batch collect` again fetches them",
            stacklevel=3,
        )


def result_files(path: Path) -> list[Path]:
    """Batch output / error files at ``path``: the file itself, or every ``.jsonl`` under a directory
    that is not a request file (a dashboard download folder may hold the request files too)."""
    if path.is_file():
        return [path]
    found = (p for p in path.rglob("*.jsonl") if not p.name.startswith((".", "_")))
    return sorted(p for p in found if not is_request_file(p))


def merge_results(into: dict[str, Result], new: Mapping[str, Result]) -> None:
    """``new`` added to ``into``; for an id in both, a success wins over an error (as in read_results)."""
    for r in new.values():
        _add_result(into, r)


def collected_results(request_file: Path) -> dict[str, Result]:
    """The outputs `batch collect` downloaded next to a request file (empty when none yet)."""
    return read_results(p for p in (output_path(request_file), errors_path(request_file)) if p.exists())


def merge_resent_results(request_file: Path, resent: Iterable[Path]) -> None:
    """The output and error files of a batch that resent some of ``request_file``'s requests merged into
    its own, so that readers find one line per custom_id: an answer over an error, a later error over an
    earlier one; lines in the request file's order, answers in the output file, the rest in the errors
    file."""
    own = [p for p in (output_path(request_file), errors_path(request_file)) if p.exists()]
    lines: dict[str, tuple[dict[str, Any], bool]] = {}  # custom_id -> (line, answered)
    for path in [*own, *resent]:
        for obj in _result_objects(path):
            cid = str(obj["custom_id"])
            if cid not in lines or not lines[cid][1]:
                lines[cid] = (obj, result_from_line(obj).ok)
    order = {str(ln["custom_id"]): i for i, ln in enumerate(read_requests(request_file))}
    ranked = [line for _, line in sorted(lines.items(), key=lambda kv: order.get(kv[0], len(order)))]
    answers = [obj for obj, ok in ranked if ok]
    errors = [obj for obj, ok in ranked if not ok]
    write_text_atomic(output_path(request_file), b"".join(encode_line(x) for x in answers))
    if errors or errors_path(request_file).exists():
        write_text_atomic(errors_path(request_file), b"".join(encode_line(x) for x in errors))
