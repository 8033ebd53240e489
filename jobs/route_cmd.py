"""``batch-router route``: label prompt logs with the model to call, project costs, write dispatch files."""

from __future__ import annotations

import typer

from jobs.app import app
from jobs.cli_options import ColumnOpt, ConfigOpt, MasterOpt, build_config, date_error, fail, parse_pairs
from jobs.validate_cmd import FormatOpt


@app.command()
def route(
    router: str = typer.Option(..., "--router", help="Router directory written by `batch-router train`."),
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
    out: str = typer.Option(
        ...,
        "--out",
        help="Output dir: labels/, projections/, projections_daily/, dispatch/<model>/, quarantine/ "
        "(all partitioned by dt; quarantine/ only when a row is quarantined) and manifest.json; their "
        "columns: docs/outputs.md.",
    ),
    strong_share: float | None = typer.Option(
        None,
        "--strong-share",
        help="Pair routers: exact share of requests sent to the strong model "
        "(round(share x n) rows, highest scores first). Default 0.5 when no other policy is given.",
    ),
    budget_usd: float | None = typer.Option(
        None,
        "--budget-usd",
        help="Total USD for the whole batch: pair routers send the most valuable "
        "requests (score per extra dollar) to the strong model; N-model routers maximise total predicted "
        "quality. Never exceeded; error when even the cheapest routing does not fit (before any prompt is "
        "embedded where the logged token counts and assumed answer lengths already cost more).",
    ),
    threshold: float | None = typer.Option(
        None, "--threshold", help="Pair routers: strong when strong_win_prob >= T (in [0, 1])."
    ),
    cost_weight: float | None = typer.Option(
        None, "--cost-weight", help="N-model routers: pick argmax predicted_quality - L x cost_usd."
    ),
    quality_target: float | None = typer.Option(
        None,
        "--quality-target",
        help="N-model routers: the cheapest model whose predicted quality >= Q "
        "(the best model when none reaches Q).",
    ),
    date: str | None = typer.Option(
        None,
        "--date",
        help="Route only this day (YYYY-MM-DD); its output partitions are replaced, other days are kept.",
    ),
    cache: str | None = typer.Option(
        None,
        "--cache",
        help="Embedding cache directory (default <out>/_embedding_cache): Parquet, shared by runs "
        "and backfills so each prompt is embedded once per embedder (not train's npz --embed-cache).",
    ),
    prices: str | None = typer.Option(
        None,
        "--prices",
        help="JSON/YAML price overrides: model -> {input_price, output_price} in USD per "
        "1M tokens, optionally completion_tokens (the answer length assumed where the log has none; "
        "default 350). Default: the pinned genai-prices table.",
    ),
    batch_discount: bool = typer.Option(
        False, "--batch-discount", help="Project costs at OpenAI Batch API prices (50% off)."
    ),
    ignore_known_prompts: bool = typer.Option(
        False,
        "--ignore-known-prompts",
        help="Score prompts that are in the router's training data like any other, instead of leaning on "
        "the outcomes measured for them in training (see `train --no-known-prompts`).",
    ),
    messages_policy: str | None = typer.Option(
        None,
        "--messages-policy",
        help="Chat logs: route on all user turns joined (all_user), the last user turn (last_user) or the "
        "whole transcript (full). Default: the config file's logs.messages_policy, else the policy the "
        "router was trained with, else all_user.",
    ),
    dispatch_model: list[str] | None = typer.Option(
        None,
        "--dispatch-model",
        help="MODEL=NAME (repeatable): write NAME into body.model (params.model) of the dispatch lines "
        "routed to the router's MODEL, e.g. an Azure OpenAI deployment name (over the config's "
        "dispatch.models); default the model's name.",
    ),
    config: str | None = ConfigOpt,
    master: str | None = MasterOpt,
    column: list[str] | None = ColumnOpt,
) -> None:
    """Route prompt logs with a trained router: validate, embed each distinct prompt once, score, calibrate
    the policy on the whole batch, and write labels, cost projections and OpenAI Batch-API files."""
    from jobs.atomic_write import OutputBusyError
    from jobs.route_logs import run_route
    from jobs.route_setup import RouteError, RouteOptions
    from router_core.pricing import PriceFileError, UnknownModelPriceError
    from router_core.route_decision import RoutePolicy
    from schemas.logs import SchemaError

    given = {
        k: v
        for k, v in {
            "strong_share": strong_share,
            "budget_usd": budget_usd,
            "threshold": threshold,
            "cost_weight": cost_weight,
            "quality_target": quality_target,
        }.items()
        if v is not None
    }
    if len(given) > 1:
        fail(f"give at most one policy, got {', '.join('--' + k.replace('_', '-') for k in given)}")
    policy = RoutePolicy(*next(iter(given.items()))) if given else None
    if (problem := date_error(date)) is not None:
        fail(problem)
    overrides = {"spark.master": master, "logs.messages_policy": messages_policy, "logs.format": log_format}
    cfg = build_config(config, overrides, column)
    opts = RouteOptions(
        router, logs, out, policy, date, cache, prices, batch_discount, ignore_known_prompts,
        {**cfg.dispatch.models, **parse_pairs(dispatch_model, "--dispatch-model")},
    )  # fmt: skip
    try:
        run_route(opts, cfg)
    except (RouteError, SchemaError, UnknownModelPriceError, PriceFileError, OutputBusyError) as exc:
        fail(str(exc))


def app_main(argv: list[str]) -> int:
    """spark-submit entry: the options of `batch-router route`, no subcommand."""
    from jobs.cli_options import single_command_main

    return single_command_main(route, argv, "route_logs.py")
