"""Submit Batch files to an OpenAI-compatible Batch API and collect their outputs, journaled so that
re-running either step is safe.

A file is identified by its path under the submitted directory and the SHA-256 of its content: the same
content is never submitted twice (a changed file is a new submission), unless its batch failed as a
whole and so answered nothing. Each batch carries that identity in its metadata, so a batch created just
before a crash (not yet journaled), or the same content submitted from another directory, is found on
the server instead of being created again. Outputs land
next to each request file as ``part-N.output.jsonl`` and ``part-N.errors.jsonl``, and every
``custom_id`` of the request file is accounted for (answered, failed or missing).

A file's requests that its finished, collected batches left unanswered can be resent as a batch of
those lines only (``submit(..., resend_unanswered=True)``), journaled as belonging to the file's batch
and identified on the server by its own content's SHA-256; ``collect`` merges its outputs into the
file's, so readers find one line per custom_id.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from router_core.artifact import sha256_file
from router_core.labeling.batch_files import (
    BatchFileError,
    Result,
    check_no_anthropic_files,
    collected_results,
    encode_line,
    errors_path,
    find_request_files,
    merge_resent_results,
    output_path,
    read_requests,
    write_text_atomic,
)
from router_core.labeling.journal import Journal
from router_core.log_rows import BATCH_URL, ENDPOINT_OF_URL, RESPONSES_URL

JOURNAL_NAME = "_batch_journal.jsonl"
FINAL_STATUSES = ("completed", "failed", "expired", "cancelled")
# A batch that failed as a whole (validation, an enqueued-token limit) answered nothing: submitting its
# file again pays for nothing twice. Expired and cancelled ones keep answers, so they are not resent
# whole: --resend-unanswered sends only what they left unanswered.
FAILED = "failed"
ENDPOINTS = (BATCH_URL, "/v1/embeddings", "/v1/completions", RESPONSES_URL)
# Client errors that the same request would get again (an invalid body, say): never resent. 408, 409 and
# 429 are the server's state, not the request's.
RESENDABLE_4XX = (408, 409, 429)


def journal_for(root: Path) -> Journal:
    return Journal(root / JOURNAL_NAME if root.is_dir() else root.with_name(JOURNAL_NAME))


def file_key(root: Path, path: Path) -> tuple[str, str]:
    rel = path.relative_to(root).as_posix() if root.is_dir() else path.name
    return rel, sha256_file(path)


def _latest(events: list[dict[str, Any]], kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["file"], e["sha256"]): e for e in events if e.get("event") == kind}


def _submitted_from(root: Path, created: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    """The journaled batches of ``root``: for one file, those of its name only, since files of one
    directory submitted one at a time share the directory's journal."""
    return {k: v for k, v in created.items() if not root.is_file() or k[0] == root.name}


def _url(base_url: Any) -> str:
    return str(base_url).rstrip("/")


def submitted_base_urls(root: Path) -> list[str]:
    """The API base URLs that ``submit`` sent the batches of ``root`` to (journaled with each batch;
    none for a journal written before that was recorded)."""
    events = journal_for(root).read()
    kinds = ("created", "resend_created")
    return sorted({e["base_url"] for e in events if e.get("event") in kinds and e.get("base_url")})


def collect_base_url(given: str | None, recorded: list[str]) -> str | None:
    """The base URL to collect ``recorded``'s batches from: the one given (flag or config), else the one
    they were submitted to. A batch id exists only on the server that created it, so a given URL that is
    not where they were submitted is a BatchFileError naming the right one."""
    if given is None:
        return recorded[0] if len(recorded) == 1 else None
    if recorded and _url(given) not in recorded:
        raise BatchFileError(
            f"these batches were submitted to {', '.join(recorded)}, not {_url(given)}: collect them with "
            f"--base-url {recorded[0]}" + (" (or the others)" if len(recorded) > 1 else "")
        )
    return given


def check_request_file(path: Path) -> str:
    """The endpoint of a request file (all its lines must use one), or a BatchFileError."""
    lines = read_requests(path)
    urls = {str(ln["url"]) for ln in lines}
    if len(urls) != 1:
        raise BatchFileError(f"{path}: a Batch file needs one endpoint, found {sorted(urls)}")
    url = urls.pop()
    if url not in ENDPOINTS:
        azure = ENDPOINT_OF_URL.get(url, url) != url  # the Azure OpenAI spelling of another endpoint
        hint = "; it is Azure OpenAI's form: submit the file with Azure OpenAI's Batch API" if azure else ""
        raise BatchFileError(
            f"{path}: endpoint {url} is not a Batch API endpoint ({', '.join(ENDPOINTS)}){hint}"
        )
    return url


def _existing_batches(client: Any, limit: int = 1000) -> dict[str, str]:
    """Content SHA-256 -> id of the batches this project created among the server's most recent
    ``limit``, failed ones left out. By content, not path: the same requests submitted from another
    directory (the parent of a sample, say) or by a run that crashed before journaling its batch are
    found instead of paid for twice."""
    found: dict[str, str] = {}
    for i, b in enumerate(client.batches.list(limit=100)):
        meta = b.metadata or {}
        if "batch_router_sha256" in meta and b.status != FAILED:
            found.setdefault(meta["batch_router_sha256"], b.id)
        if i + 1 >= limit:
            break
    return found


def submit(
    root: Path,
    client: Any,
    completion_window: str = "24h",
    log: Callable[[str], None] = print,
    resend_unanswered: bool = False,
) -> dict[str, Any]:
    """Upload and create a batch for every request file under ``root`` not submitted yet; with
    ``resend_unanswered``, also one of the requests that a submitted file's collected batches left
    unanswered (see ``_resend``)."""
    journal = journal_for(root)
    check_no_anthropic_files(root)
    files = find_request_files(root)
    if not files:
        raise BatchFileError(f"no Batch request files (lines of custom_id, method, url, body) in {root}")
    endpoints = {p: check_request_file(p) for p in files}  # every file checked before anything is sent
    events = journal.read()
    created, uploaded = _latest(events, "created"), _latest(events, "uploaded")
    failed = _failed_batches(events)
    remote = _Remote(client)
    summary: dict[str, Any] = {"submitted": [], "already_submitted": [], "recovered": [], "resent": []}
    for path in files:
        key = file_key(root, path)
        if key in created and created[key]["batch_id"] in failed:
            log(f"{key[0]}: its batch {created[key]['batch_id']} failed as a whole: submitting it again")
        elif key in created:
            summary["already_submitted"].append({"file": key[0], "batch_id": created[key]["batch_id"]})
            log(f"{key[0]}: already submitted as {created[key]['batch_id']}")
            if resend_unanswered and (todo := _resend(path, key, events, remote, log)):
                entry = _create_resend(client, path, key, todo, completion_window, journal, log)
                summary["resent"].append(entry)
            continue
        if (batch_id := remote.get(key[1])) is not None:
            journal.append({"event": "created", "file": key[0], "sha256": key[1], "batch_id": batch_id,
                            "base_url": _url(client.base_url)})  # fmt: skip
            summary["recovered"].append({"file": key[0], "batch_id": batch_id})
            log(f"{key[0]}: found on the server as {batch_id} (not created again)")
            continue
        _set_aside_stale_outputs(path, key[1], log)
        file_id = uploaded[key]["file_id"] if key in uploaded else None
        batch_id, file_id = _create_batch(
            client, path, key, endpoints[path], file_id, completion_window, journal
        )
        summary["submitted"].append({"file": key[0], "batch_id": batch_id})
        log(f"{key[0]}: submitted as {batch_id} ({endpoints[path]}, file {file_id})")
    return summary


class _Remote:
    """The server's batches by content (``_existing_batches``), listed once, when first needed."""

    def __init__(self, client: Any) -> None:
        self.client, self.found = client, None

    def get(self, sha: str) -> str | None:
        if self.found is None:
            self.found = _existing_batches(self.client)
        return self.found.get(sha)


def resendable(result: Result | None) -> bool:
    """A request worth sending again: unanswered, or failed for a reason that is not the request's own
    (a rate limit, a 5xx, the batch's expiry or cancellation)."""
    if result is None or result.ok:
        return result is None
    code = result.status_code
    return code is None or not 400 <= code < 500 or code in RESENDABLE_4XX


def _resends(events: list[dict[str, Any]], key: tuple[str, str], batch_id: str) -> list[dict[str, Any]]:
    """The journaled batches that resent requests of ``key``'s batch ``batch_id``, oldest first."""
    return [e for e in events if e.get("event") == "resend_created" and (e["file"], e["sha256"]) == key
            and e["resend_of"] == batch_id]  # fmt: skip


def _resend(
    path: Path,
    key: tuple[str, str],
    events: list[dict[str, Any]],
    remote: _Remote,
    log: Callable[[str], None],
) -> dict[str, Any] | None:
    """What to resend of a submitted file: its resendable requests once its batch and every batch that
    resent some of them are final and collected (else nothing: an answer may still be on its way, and
    paying for it twice is what this avoids), to the server of its batch (`collect` asks one server).
    A dict of the new batch's content, or of a batch found on the server with that content (one created
    just before a crash); None when nothing is to be sent."""
    created = _latest(events, "created")[key]
    batch_id, sent_to = created["batch_id"], created.get("base_url")
    if sent_to is not None and sent_to != _url(remote.client.base_url):
        log(
            f"{key[0]}: its batch {batch_id} went to {sent_to}: resend its requests with --base-url {sent_to}"
        )
        return None
    collected = {e["batch_id"] for e in events if e.get("event") in ("collected", "resend_collected")}
    waiting = [b for b in [batch_id, *(e["batch_id"] for e in _resends(events, key, batch_id))]
               if b not in collected]  # fmt: skip
    if waiting or not output_path(path).exists():
        log(f"{key[0]}: batch {(waiting or [batch_id])[0]} is not collected yet: run `batch collect`, then "
            "resend what it left unanswered")  # fmt: skip
        return None
    results = collected_results(path)
    lines = [ln for ln in read_requests(path) if resendable(results.get(str(ln["custom_id"])))]
    if not lines:
        log(f"{key[0]}: nothing to resend (every request answered or refused as invalid)")
        return None
    content = b"".join(encode_line(ln) for ln in lines)
    resent = {"file": key[0], "batch_id": None, "requests": len(lines), "resend_of": batch_id,
              "content": content, "resend_sha256": hashlib.sha256(content).hexdigest()}  # fmt: skip
    resent["batch_id"] = remote.get(resent["resend_sha256"])
    resent["uploaded"] = next((e["file_id"] for e in events if e.get("event") == "resend_uploaded"
                               and e["resend_sha256"] == resent["resend_sha256"]), None)  # fmt: skip
    return resent


def _create_resend(
    client: Any,
    path: Path,
    key: tuple[str, str],
    resent: dict[str, Any],
    window: str,
    journal: Journal,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The batch of ``resent``'s requests (unless the server holds it already), journaled as resending
    requests of the file's batch; each step journaled as soon as it is done. Returns the summary entry."""
    ident = {"file": key[0], "sha256": key[1], "resend_of": resent["resend_of"],
             "resend_sha256": resent["resend_sha256"]}  # fmt: skip
    batch_id, file_id = resent["batch_id"], resent["uploaded"]
    if batch_id is not None:
        log(f"{key[0]}: its unanswered requests were found resent on the server as {batch_id} "
            "(not created again)")  # fmt: skip
    else:
        if file_id is None:
            name = f"{path.stem}.resend.jsonl"
            file_id = client.files.create(file=(name, resent["content"]), purpose="batch").id
            journal.append({"event": "resend_uploaded", **ident, "file_id": file_id})
        batch_id = client.batches.create(
            input_file_id=file_id,
            endpoint=check_request_file(path),
            completion_window=window,
            metadata={
                "batch_router_file": key[0],
                "batch_router_sha256": resent["resend_sha256"],
                "batch_router_resend_of": resent["resend_of"],
            },  # fmt: skip
        ).id
        log(f"{key[0]}: {resent['requests']} unanswered requests resent as {batch_id}")
    journal.append({"event": "resend_created", **ident, "batch_id": batch_id,
                    "base_url": _url(client.base_url)})  # fmt: skip
    return {"file": key[0], "batch_id": batch_id, "requests": resent["requests"],
            "resend_of": resent["resend_of"]}  # fmt: skip


def _create_batch(
    client: Any,
    path: Path,
    key: tuple[str, str],
    endpoint: str,
    file_id: str | None,
    completion_window: str,
    journal: Journal,
) -> tuple[str, str]:
    """(batch id, input file id): ``path`` uploaded unless ``file_id`` holds it already, then its batch
    created with the file's identity in its metadata; each step journaled as soon as it is done."""
    if file_id is None:
        file_id = client.files.create(file=(path.name, path.read_bytes()), purpose="batch").id
        journal.append({"event": "uploaded", "file": key[0], "sha256": key[1], "file_id": file_id})
    batch = client.batches.create(
        input_file_id=file_id,
        endpoint=endpoint,
        completion_window=completion_window,
        metadata={"batch_router_file": key[0], "batch_router_sha256": key[1]},
    )
    journal.append({"event": "created", "file": key[0], "sha256": key[1], "batch_id": batch.id,
                    "base_url": _url(client.base_url)})  # fmt: skip
    return batch.id, file_id


def _failed_batches(events: list[dict[str, Any]]) -> set[str]:
    """Ids of the batches `collect` found failed as a whole."""
    return {e["batch_id"] for e in events if e.get("event") == "collected" and e.get("status") == FAILED}


def _set_aside_stale_outputs(path: Path, sha: str, log: Callable[[str], None]) -> None:
    """Outputs of an earlier content of this file answer requests it no longer holds: renamed aside
    (``*.superseded-<sha>``), so that nothing joins them to the new requests."""
    for old in (output_path(path), errors_path(path)):
        if old.exists():
            dest = old.with_name(f"{old.name}.superseded-{sha[:12]}")
            old.replace(dest)
            log(f"{old.name}: outputs of the file's earlier content moved to {dest.name}")


def _download(client: Any, file_id: str | None, dest: Path) -> None:
    if file_id:
        write_text_atomic(dest, client.files.content(file_id).text)


def _account(path: Path) -> dict[str, Any]:
    """How each custom_id of a request file ended: answered, failed (error text), or missing; and how
    many of them `batch submit --resend-unanswered` would send again."""
    ids = [str(ln["custom_id"]) for ln in read_requests(path)]
    results = collected_results(path)
    missing = [c for c in ids if c not in results]
    failed = [c for c in ids if c in results and not results[c].ok]
    return {
        "requests": len(ids),
        "answered": len(ids) - len(missing) - len(failed),
        "failed": len(failed),
        "missing": len(missing),
        "resendable": sum(1 for c in ids if resendable(results.get(c))),
        "missing_ids": missing[:20],
        "failed_ids": failed[:20],
    }


def _collect_one(client: Any, root: Path, key: tuple[str, str], batch_id: str, journal: Journal) -> dict:
    path = root / key[0] if root.is_dir() else root
    b = client.batches.retrieve(batch_id)
    entry = _batch_entry(b)
    entry["file"] = key[0]
    if b.status not in FINAL_STATUSES:
        return entry
    # An expired or cancelled batch still has the outputs of the requests it finished: keep them. The
    # output file is written even when it answered nothing, so that it marks the batch collected.
    if b.status == FAILED or b.output_file_id:
        _download(client, b.output_file_id, output_path(path))
    else:
        write_text_atomic(output_path(path), "")
    _download(client, b.error_file_id, errors_path(path))
    journal.append({"event": "collected", "file": key[0], "sha256": key[1], "batch_id": batch_id,
                    "status": b.status})  # fmt: skip
    return entry


def _batch_entry(b: Any) -> dict[str, Any]:
    """A batch's id, status and counts, and the errors of one the server refused as a whole."""
    counts = b.request_counts.model_dump() if b.request_counts is not None else None
    entry: dict[str, Any] = {"batch_id": b.id, "status": b.status, "request_counts": counts}
    if b.status in FINAL_STATUSES and b.errors is not None and b.errors.data:  # e.g. a bad file
        entry["batch_errors"] = [f"{e.code}: {e.message}" for e in b.errors.data][:20]
    return entry


def _collect_resend(client: Any, path: Path, ev: dict[str, Any], journal: Journal) -> dict[str, Any]:
    """A batch that resent some of ``path``'s requests: once final, its output and error files (kept
    as hidden ``.<part>.resend-<batch>.*`` downloads) merged into the file's own."""
    b = client.batches.retrieve(ev["batch_id"])
    entry = _batch_entry(b)
    if b.status not in FINAL_STATUSES:
        return entry
    stem = f".{path.stem}.resend-{b.id}"
    downloads = [(b.output_file_id, path.with_name(stem + ".output.jsonl")),
                 (b.error_file_id, path.with_name(stem + ".errors.jsonl"))]  # fmt: skip
    for file_id, dest in downloads:
        _download(client, file_id, dest)
    merge_resent_results(path, [dest for file_id, dest in downloads if file_id])
    journal.append({"event": "resend_collected", "file": ev["file"], "sha256": ev["sha256"],
                    "batch_id": b.id, "status": b.status})  # fmt: skip
    return entry


def _finished(f: dict[str, Any]) -> bool:
    """A file's batch and every batch that resent some of its requests are final."""
    return all(b["status"] in FINAL_STATUSES for b in [f, *f.get("resends", [])])


def _poll(
    client: Any, root: Path, created: dict[tuple[str, str], dict[str, Any]], journal: Journal
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(one entry per submitted file still as submitted, the submitted files changed or gone since).
    Batches already collected are accounted from their downloaded outputs, not fetched again; when a
    file's own batch is fetched again (its outputs were deleted), so are the batches that resent some
    of its requests, to merge their answers again."""
    events = journal.read()
    collected = _latest(events, "collected")
    resends_collected = {e["batch_id"]: e for e in events if e.get("event") == "resend_collected"}
    files, superseded = [], []
    for key, ev in sorted(created.items()):
        path = root / key[0] if root.is_dir() else root
        if not path.exists() or file_key(root, path) != key:
            superseded.append({"file": key[0], "batch_id": ev["batch_id"]})
            continue
        was_collected = key in collected and collected[key]["batch_id"] == ev["batch_id"]
        if was_collected and output_path(path).exists():
            entry = {"file": key[0], "batch_id": ev["batch_id"], "status": collected[key]["status"]}
            fresh = dict(resends_collected)
        else:
            entry, fresh = _collect_one(client, root, key, ev["batch_id"], journal), {}
        if entry["status"] in FINAL_STATUSES and (resends := _resends(events, key, ev["batch_id"])):
            entry["resends"] = [
                {"batch_id": r["batch_id"], "status": fresh[r["batch_id"]]["status"]}
                if r["batch_id"] in fresh
                else _collect_resend(client, path, r, journal)
                for r in resends
            ]
        if _finished(entry):
            entry.update(_account(path))
        files.append(entry)
    return files, superseded


def _log_status(f: dict[str, Any], log: Callable[[str], None]) -> None:
    """One file's batch: its counts when finished (and what to do about a failed one), else its status."""
    running = [b for b in [f, *f.get("resends", [])] if b["status"] not in FINAL_STATUSES]
    if running:
        b = running[0]
        what = "" if b is f else "resent requests' batch "
        log(f"{f['file']}: {what}{b['status']} ({b['batch_id']}), counts {b['request_counts']}")
        return
    resent = f" then resent in {', '.join(r['batch_id'] for r in f['resends'])}" if f.get("resends") else ""
    log(f"{f['file']}: {f['status']} ({f['batch_id']}){resent}: {f['answered']} answered, {f['failed']} "
        f"failed, {f['missing']} missing of {f['requests']}")  # fmt: skip
    for err in [e for b in [f, *f.get("resends", [])] for e in b.get("batch_errors", [])]:
        log(f"{f['file']}: the server refused the batch: {err}")
    if f["status"] == FAILED:
        log(f"{f['file']}: the batch answered nothing: re-run `batch submit` to create it again")
    elif f["resendable"]:
        log(f"{f['file']}: `batch submit --resend-unanswered` sends its {f['resendable']} unanswered "
            "requests again")  # fmt: skip


def collect(
    root: Path,
    client: Any,
    wait: bool = False,
    poll_s: float = 30.0,
    timeout_s: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Poll every submitted batch of ``root``; download the outputs and error files of finished ones.
    With ``wait``, poll until all are finished (or ``timeout_s``)."""
    journal = journal_for(root)
    created = _submitted_from(root, _latest(journal.read(), "created"))
    if not created:
        check_no_anthropic_files(root)
        raise BatchFileError(f"nothing submitted from {root} yet (no {JOURNAL_NAME}): run `batch submit`")
    t0, reported = time.time(), set()
    while True:
        files, superseded = _poll(client, root, created, journal)
        for f in files:
            if f["file"] not in reported:
                _log_status(f, log)
            if _finished(f):  # a finished batch is reported once
                reported.add(f["file"])
        pending = [f for f in files if not _finished(f)]
        done = not pending or not wait or (timeout_s is not None and time.time() - t0 >= timeout_s)
        if done:
            return {"files": files, "pending": len(pending), "superseded": superseded}
        log(f"{len(pending)} batches not finished; polling again in {poll_s:g}s")
        time.sleep(poll_s)
