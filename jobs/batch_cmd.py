"""``batch-router batch submit | collect``: send any Batch files this project wrote (route's dispatch/,
`label sample`, `label judge`) to an OpenAI-compatible Batch API and fetch their outputs, journaled in
``<DIR>/_batch_journal.jsonl`` so that re-running either command is safe."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from jobs.app import CommandGroup, app
from jobs.cli_options import ApiKeyEnvOpt, ConfigOpt, build_config, fail

batch_app = typer.Typer(
    cls=CommandGroup,
    help="Submit Batch API request files and collect their outputs (OpenAI-compatible files + batches API).",
    no_args_is_help=True,
)
app.add_typer(batch_app, name="batch")

BaseUrlOpt = typer.Option(
    None,
    "--base-url",
    help="API base URL (default: config label.base_url, else OpenAI); `label judge --endpoint` takes the "
    "same URL to call the judge directly instead of through batches.",
)
CollectBaseUrlOpt = typer.Option(
    None,
    "--base-url",
    help="API base URL (default: config label.base_url, else the one `batch submit` sent DIR's batches to).",
)


def _log(msg: str) -> None:
    typer.echo(f"[batch] {msg}", err=True)


def _client(config: str | None, base_url: str | None, api_key_env: str | None, root: Path | None = None):
    """The API client; with ``root`` (collect), its base URL defaults to where `batch submit` sent
    root's batches, and another one is an error."""
    from jobs.openai_api import make_client

    cfg = build_config(config, {"label.base_url": base_url, "label.api_key_env": api_key_env}).label
    if root is not None:
        from router_core.labeling.batch_api import collect_base_url, submitted_base_urls
        from router_core.labeling.batch_files import BatchFileError

        recorded = submitted_base_urls(root)
        try:
            url = collect_base_url(cfg.base_url, recorded)
        except BatchFileError as exc:
            fail(str(exc))
        if cfg.base_url is None and url is not None:
            _log(f"collecting from {url}, where `batch submit` sent these batches")
        cfg = cfg.model_copy(update={"base_url": url})
    return make_client(cfg)


def _root(directory: str) -> Path:
    root = Path(directory)
    if not root.exists():
        fail(f"not found: {directory}")
    return root


@batch_app.command("submit")
def submit(
    directory: str = typer.Argument(..., help="Directory (or one file) of Batch request .jsonl files."),
    completion_window: str = typer.Option("24h", "--completion-window", help="Batch completion window."),
    resend_unanswered: bool = typer.Option(
        False,
        "--resend-unanswered",
        help="Also send, as a new batch, the requests that a submitted file's collected batches left "
        "unanswered (expired, cancelled, rate-limited, 5xx; not those refused as invalid, HTTP 4xx); "
        "`batch collect` merges their answers into the file's outputs.",
    ),
    base_url: str | None = BaseUrlOpt,
    api_key_env: str | None = ApiKeyEnvOpt,
    config: str | None = ConfigOpt,
) -> None:
    """Upload each request file under DIR and create its batch; files already submitted (same path and
    content) are skipped, so re-running is safe."""
    import openai

    from jobs.openai_api import api_error_message
    from router_core.labeling.batch_api import submit as do_submit
    from router_core.labeling.batch_files import BatchFileError

    root = _root(directory)
    client = _client(config, base_url, api_key_env)
    try:
        s = do_submit(root, client, completion_window, _log, resend_unanswered)
    except BatchFileError as exc:
        fail(str(exc))
    except openai.OpenAIError as exc:
        fail(api_error_message(exc) + " (re-run: what was submitted is journaled)", 1)
    resent = f", {sum(r['requests'] for r in s['resent'])} unanswered requests resent" if s["resent"] else ""
    _log(f"{len(s['submitted'])} submitted, {len(s['already_submitted'])} already submitted, "
         f"{len(s['recovered'])} found on the server{resent}")  # fmt: skip


@batch_app.command("collect")
def collect(
    directory: str = typer.Argument(..., help="The directory given to `batch submit`."),
    wait: bool = typer.Option(False, "--wait", help="Poll until every batch has finished."),
    poll_s: float = typer.Option(30.0, "--poll-s", help="Seconds between polls with --wait."),
    timeout_s: float | None = typer.Option(
        None,
        "--timeout-s",
        help="With --wait: stop polling after this many seconds (exit 3 while batches still run; "
        "default: no limit).",
    ),
    base_url: str | None = CollectBaseUrlOpt,
    api_key_env: str | None = ApiKeyEnvOpt,
    config: str | None = ConfigOpt,
) -> None:
    """Download the outputs and error files of finished batches next to their request files
    (part-N.output.jsonl, part-N.errors.jsonl) and account for every custom_id; writes
    DIR/_batch_summary.json. Exit 3 while some batches are still running."""
    import openai

    from jobs.openai_api import api_error_message
    from router_core.labeling.batch_api import collect as do_collect
    from router_core.labeling.batch_files import BatchFileError, write_text_atomic

    root = _root(directory)
    client = _client(config, base_url, api_key_env, root)
    try:
        s = do_collect(root, client, wait, poll_s, timeout_s, _log)
    except BatchFileError as exc:
        fail(str(exc))
    except openai.OpenAIError as exc:
        fail(api_error_message(exc) + " (re-run: what was collected is kept)", 1)
    summary_dir = root if root.is_dir() else root.parent
    write_text_atomic(summary_dir / "_batch_summary.json", json.dumps(s, indent=1))
    done = [f for f in s["files"] if "answered" in f]
    answered = sum(f["answered"] for f in done)
    failed = sum(f["failed"] for f in done)
    missing = sum(f["missing"] for f in done)
    _log(f"{len(done)} of {len(s['files'])} batches finished: {answered} answered, {failed} failed, "
         f"{missing} missing; summary {summary_dir / '_batch_summary.json'}")  # fmt: skip
    if s["pending"]:
        _log(f"{s['pending']} batches still running: run `batch collect {directory}` again later")
        raise typer.Exit(3)
