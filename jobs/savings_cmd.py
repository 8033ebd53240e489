"""``batch-router savings``: cost as served vs as routed, with CIs, as an HTML report + CSV/Parquet."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError

from jobs.app import EXIT_BAD_INPUT, app
from jobs.cli_options import ColumnOpt, build_config, date_error
from jobs.validate_cmd import FormatOpt
from router_core.pricing import PriceFileError, UnknownModelPriceError


def _check(date: str | None, prices: str | None, audit: list[str]) -> None:
    from jobs.savings import SavingsInputError

    if (problem := date_error(date)) is not None:
        raise SavingsInputError(problem)
    if prices is not None and not Path(prices).is_file():
        raise SavingsInputError(f"price file not found: {prices}")
    for path in audit:
        if not Path(path).exists():
            raise SavingsInputError(f"audit file not found: {path}")


def savings(
    logs: str = typer.Option(
        ...,
        "--logs",
        help="Prompt logs, as the route job reads them: Parquet, JSON Lines, OpenAI, Azure or Anthropic "
        "Batch input, a JSON "
        "array of rows or CSV (.gz/.bz2 too) "
        "(a file, a directory or a Hive dt=YYYY-MM-DD partitioned dir; format by extension, then content).",
    ),
    labels: str = typer.Option(
        ..., "--labels", help="The route job's --out directory (or its labels/ subdirectory)."
    ),
    out: str = typer.Option(
        ..., "--out", help="Report directory: report.html, savings.csv, savings.parquet, summary.json."
    ),
    prices: str | None = typer.Option(
        None,
        "--prices",
        help="Price override file (JSON/YAML: model -> {input_price, output_price} in USD per 1M tokens, "
        "optionally completion_tokens: the answer length assumed where the log has none, default 350); "
        "used before the bundled genai-prices table.",
    ),
    batch_discount: bool = typer.Option(
        False, "--batch-discount", help="Price the routed side at OpenAI Batch API rates (50% off)."
    ),
    date: str | None = typer.Option(None, "--date", help="Only this day (YYYY-MM-DD); default: all days."),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", help="Bootstrap resamples for the 95% CIs (0 = no CIs)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed of the bootstrap (same seed, same CIs)."),
    served_model: str | None = typer.Option(
        None,
        "--served-model",
        help="Model that served rows whose log has no 'model' value (default: none; such rows are an error).",
    ),
    log_format: str | None = FormatOpt,
    config: str | None = typer.Option(
        None,
        "--config",
        help="Job config (YAML/TOML); only logs.format, logs.columns, logs.text_source and "
        "logs.messages_policy are used.",
    ),
    column: list[str] | None = ColumnOpt,
    audit: list[str] = typer.Option(
        [],
        "--audit",
        metavar="FILE",
        help="Audit labels (repeatable): labelled prompts in any training format (per-model correctness or "
        "scores, battles, ingested judge battles), joined to the logs by request_id or prompt text. The "
        "report then shows quality retained MEASURED on them, with CIs, and calibrates strong_win_prob.",
    ),
    audit_sampling: str = typer.Option(
        "unknown",
        "--audit-sampling",
        metavar="STRATEGY",
        help="How the audit requests were chosen, for files without a sample_strategy column: random, "
        "stratified, informative or unknown. Only random is unbiased; the others are shown with a bias "
        "caveat.",
    ),
) -> None:
    """Retroactive savings: what the logged requests cost as served vs under the routing labels."""
    from jobs.savings import SavingsInputError, run_savings

    cfg = build_config(config, {}, column)  # the route job's --column flags, same names
    try:
        _check(date, prices, audit)
        policy = cfg.logs.messages_policy if "messages_policy" in cfg.logs.model_fields_set else None
        run_savings(
            logs,
            labels,
            out,
            prices=prices,
            batch_discount=batch_discount,
            date=date,
            bootstrap=bootstrap,
            seed=seed,
            served_model=served_model,
            columns=cfg.logs.columns,
            text_source=cfg.logs.text_source,
            audit=audit,
            audit_sampling=audit_sampling,
            messages_policy=policy,
            log_format=log_format or cfg.logs.format,
        )
    except (
        SavingsInputError,
        UnknownModelPriceError,
        PriceFileError,
        FileNotFoundError,
        ValidationError,
    ) as exc:
        typer.echo(f"error: {exc}".splitlines()[0], err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


app.command("savings")(savings)


def app_main(argv: list[str]) -> int:
    """``python -m jobs.savings`` / ``spark-submit jobs/savings.py``: the same options, no subcommand."""
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command()(savings)
    try:
        single(args=argv, prog_name="jobs.savings")
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
