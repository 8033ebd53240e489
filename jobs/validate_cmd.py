"""``batch-router validate``: split logs into valid rows and quarantine rows with reason codes."""

from __future__ import annotations

import typer

from jobs.app import app
from jobs.cli_options import ColumnOpt, ConfigOpt, MasterOpt, build_config, date_error, fail
from schemas.logs import SchemaError

FormatOpt = typer.Option(
    None,
    "--format",
    help="Log format: parquet, jsonl, json (one JSON array of row objects per file), openai_batch (OpenAI "
    "or Azure OpenAI Batch input), anthropic_batch (Anthropic Message Batches requests) or csv. "
    "Default: by file extension (.parquet/.pq, .jsonl/.ndjson/.json, .csv/.tsv; text ones also .gz or "
    ".bz2), else by content; a JSON file that starts with [ is a JSON array; JSON Lines whose objects "
    "carry custom_id and body are read as OpenAI Batch input, custom_id and params as Anthropic's.",
)


@app.command()
def validate(
    logs: str = typer.Option(
        ...,
        "--logs",
        help="Prompt log: a file, a directory or a Hive (dt=...) directory of Parquet, JSON Lines "
        "(rows, OpenAI or Azure Batch input lines with custom_id/body, Anthropic batch lines with "
        "custom_id/params), a JSON array of rows or CSV with a header. "
        "Each row needs request_id and the text: prompt, or messages (a chat), or a Batch request body; "
        "other names via --column (docs/input-logs.md).",
    ),
    log_format: str | None = FormatOpt,
    out: str = typer.Option(..., "--out", help="Output dir: valid/, quarantine/, validate_summary.json."),
    config: str | None = ConfigOpt,
    master: str | None = MasterOpt,
    column: list[str] | None = ColumnOpt,
    text_source: str | None = typer.Option(
        None, "--text-source", help="Where the routed text comes from: prompt, messages or auto (default)."
    ),
    messages_policy: str | None = typer.Option(
        None, "--messages-policy", help="For chat logs: all_user (default), last_user or full transcript."
    ),
    max_chars: int | None = typer.Option(None, "--max-chars", help="Prompt length limit (default 32000)."),
    on_too_long: str | None = typer.Option(
        None, "--on-too-long", help="truncate (default; row flagged truncated=true) or quarantine."
    ),
    date: str | None = typer.Option(None, "--date", help="Only rows of this day (YYYY-MM-DD)."),
) -> None:
    """Check prompt logs against the log contract; every input row ends in valid/ or quarantine/."""
    from jobs.validate_logs import check_logs_schema, run_validate

    if (problem := date_error(date)) is not None:
        fail(problem)
    cfg = build_config(
        config,
        {
            "spark.master": master,
            "logs.format": log_format,
            "logs.text_source": text_source,
            "logs.messages_policy": messages_policy,
            "logs.max_chars": max_chars,
            "logs.on_too_long": on_too_long,
        },
        column,
    )
    try:
        check_logs_schema(logs, cfg)
    except SchemaError as exc:
        fail(str(exc))
    run_validate(logs, out, cfg, date)


def app_main(argv: list[str]) -> int:
    """spark-submit entry: the options of `batch-router validate`, no subcommand."""
    from jobs.cli_options import single_command_main

    return single_command_main(validate, argv, "validate_logs.py")
