"""``batch-router label sample | judge | ingest``: turn a sample of the user's own logs into training
battles with an LLM judge (see README, "Labelling your own traffic")."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from jobs.app import CommandGroup, app
from jobs.cli_options import ApiKeyEnvOpt, ColumnOpt, ConfigOpt, build_config, fail, parse_pairs
from jobs.errors import BadInputError
from jobs.validate_cmd import FormatOpt

if TYPE_CHECKING:
    from router_core.labeling.direct_calls import RunStats

label_app = typer.Typer(
    cls=CommandGroup,
    help="Label your own traffic: sample prompts, judge both models' answers, ingest battles for `train`.",
    no_args_is_help=True,
)
app.add_typer(label_app, name="label")


@label_app.command("sample")
def sample(
    logs: str = typer.Option(
        ...,
        "--logs",
        help="Prompt logs as the route job reads them (Parquet, JSON Lines, OpenAI, Azure or Anthropic "
        "Batch input, a JSON array, CSV; .gz/.bz2 too): file, directory or Hive (dt=...) directory. A "
        "logged request body (OpenAI Batch input, body/request column) is sent unchanged but for its "
        "model; an Anthropic one as a chat completion of its system and messages.",
    ),
    router: str | None = typer.Option(
        None,
        "--router",
        help="Router directory (`batch-router train`); optional for random/stratified with --models.",
    ),
    n: int = typer.Option(..., "--n", help="How many prompts to label."),
    out: str = typer.Option(
        ...,
        "--out",
        help="New directory: batch/<model>/part-*.jsonl ('/' in a model name written '--', as in the route "
        "job's dispatch/), sample.parquet, manifest.json.",
    ),
    strategy: str = typer.Option(
        "random",
        "--strategy",
        help="random (default): uniform over requests (an unbiased sample, also for an audit); informative: "
        "where the router is least sure (score near the routing threshold), far from its training prompts, "
        "no near-duplicates, every traffic cluster covered (no better than random for training in the "
        "bench of docs/routers.md); stratified: proportional over day x segment.",
    ),
    models: str | None = typer.Option(
        None, "--models", help="Comma-separated models to answer (default: the router's)."
    ),
    labels: str | None = typer.Option(
        None,
        "--labels",
        help="informative: a route run's --out (or its labels/) with this router: its strong_win_prob "
        "(predicted_quality) instead of scoring again.",
    ),
    strong_share: float = typer.Option(
        0.5,
        "--strong-share",
        help="informative: the routing threshold is the score that sends this share strong.",
    ),
    threshold: float | None = typer.Option(
        None, "--threshold", help="informative: the routing threshold itself."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (sampling, clustering)."),
    embed_cache: str | None = typer.Option(
        None, "--embed-cache", help="informative: npz embedding cache directory (shared with train/evaluate)."
    ),
    response_column: str | None = typer.Option(
        None,
        "--response-column",
        help="Log column with the served model's answer: that model is not asked again.",
    ),
    reference_column: str | None = typer.Option(
        None, "--reference-column", help="Log column with a reference answer: the judge grades against it."
    ),
    log_format: str | None = FormatOpt,
    config: str | None = ConfigOpt,
    column: list[str] | None = ColumnOpt,
) -> None:
    """Choose N prompts worth labelling from the logs; write one OpenAI Batch request file per model."""
    from jobs.label_sample import SampleOptions, run_sample
    from schemas.logs import SchemaError

    cfg = build_config(config, {"logs.format": log_format}, column)
    model_list = [m.strip() for m in models.split(",") if m.strip()] if models else None
    opts = SampleOptions(logs, router, n, out, strategy, model_list, labels, strong_share, threshold, seed,
                         response_column, reference_column, embed_cache=embed_cache)  # fmt: skip
    try:
        run_sample(opts, cfg)
    except (BadInputError, SchemaError) as exc:  # LabelInputError among them
        fail(str(exc))
    from jobs.label_sample import log

    log(f"next: batch-router batch submit {out} && batch-router batch collect {out} --wait (the models "
        f"answer), then batch-router label judge --sample {out} --out JUDGE_DIR")  # fmt: skip


@contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM stops the judge as Ctrl-C does while the block runs. The previous handler is put back
    after it: a process that runs the command in-process (a test session, a Python caller) keeps its own
    SIGTERM behaviour instead of a KeyboardInterrupt raised wherever it is later."""

    def handler(signum, frame):  # noqa: ANN001
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@label_app.command("judge")
def judge(
    sample: str = typer.Option(..., "--sample", help="Directory written by `label sample`."),
    out: str = typer.Option(
        ..., "--out", help="Directory: batch/judge/part-*.jsonl, judge_index.parquet, manifest.json."
    ),
    responses: list[str] | None = typer.Option(
        None,
        "--responses",
        help="MODEL=PATH: that model's Batch output file (or directory of them). Default: the outputs "
        "`batch collect SAMPLE` downloaded next to the sample's request files.",
    ),
    judge_model: str | None = typer.Option(
        None, "--judge-model", "--model", help="Judge chat model (default: config label.judge_model, gpt-4o)."
    ),
    endpoint: str | None = typer.Option(
        None,
        "--endpoint",
        help="OpenAI-compatible base URL (e.g. http://host:8000/v1), the URL `batch submit --base-url` "
        "takes: judge now with direct calls. Without it, the judge requests are Batch files for "
        "`batch submit`.",
    ),
    api_key_env: str | None = ApiKeyEnvOpt,
    concurrency: int = typer.Option(8, "--concurrency", help="--endpoint: calls in flight at once."),
    max_retries: int = typer.Option(
        6, "--max-retries", help="--endpoint: retries per call on 429/5xx/timeouts."
    ),
    backoff_s: float = typer.Option(
        1.0, "--backoff-s", help="--endpoint: first retry delay (doubles each retry)."
    ),
    timeout_s: float = typer.Option(
        120.0, "--timeout-s", help="--endpoint: seconds before a call times out."
    ),
    max_tokens: int = typer.Option(1024, "--max-tokens", help="Judge answer length limit (tokens)."),
    prices: str | None = typer.Option(
        None, "--prices", help="Price overrides (JSON/YAML) for the judge's cost."
    ),
    config: str | None = ConfigOpt,
) -> None:
    """Write judge requests comparing the models' answers (each pair in both orders), as Batch files, or
    call the judge directly with --endpoint (journaled: Ctrl-C and re-run resume without repeating calls)."""
    from pathlib import Path

    from jobs.label_judge import JudgeOptions, prepare_judge, refuse_direct_after_batches
    from jobs.label_sample import LabelInputError, log

    overrides = {
        "label.base_url": endpoint,
        "label.api_key_env": api_key_env,
        "label.judge_model": judge_model,
    }
    cfg = build_config(config, overrides).label
    opts = JudgeOptions(sample, out, parse_pairs(responses, "--responses"), cfg.judge_model, max_tokens)
    try:
        if endpoint is not None:
            refuse_direct_after_batches(Path(out))
        prepare_judge(opts)
    except LabelInputError as exc:
        fail(str(exc))
    if endpoint is None:
        log(f"next: batch-router batch submit {out} && batch-router batch collect {out} --wait")
        return
    from jobs.label_judge import judge_directly

    runner_opts = {"concurrency": concurrency, "max_retries": max_retries, "backoff_s": backoff_s}
    with _interrupt_on_sigterm():
        stats = judge_directly(Path(out), cfg, prices, timeout_s=timeout_s, **runner_opts)
    _fail_unless_all_judged(stats, max_retries)
    log(f"next: batch-router label ingest --judgements {out} --out BATTLES.parquet")


def _fail_unless_all_judged(stats: RunStats, max_retries: int) -> None:
    """Exit with how to resume when the direct judge run left calls unanswered: a refused endpoint (2),
    an interrupt (130) or calls still failing after their retries (1)."""
    if stats.fatal:
        fail(f"the judge endpoint refused the calls ({stats.fatal}); fix it and re-run to resume")
    if stats.interrupted:
        fail(f"interrupted with {stats.left} judge calls left: re-run the same command to resume", code=130)
    if stats.gave_up:
        fail(
            f"{stats.gave_up} judge calls still failing after {max_retries} retries: re-run to retry them", 1
        )


@label_app.command("ingest")
def ingest(
    judgements: list[str] = typer.Option(
        ..., "--judgements", help="Directory written by `label judge` (repeatable)."
    ),
    out: str = typer.Option(
        ..., "--out", help="Battles Parquet file (*.parquet); quarantine beside it (*.quarantine.parquet)."
    ),
    results: list[str] | None = typer.Option(
        None,
        "--results",
        help="The judge's Batch output (or error) file, or a directory of them, that you submitted and "
        "downloaded yourself, e.g. from the OpenAI dashboard (repeatable). Default: the outputs `batch "
        "collect` or `label judge --endpoint` wrote in the judge directories.",
    ),
) -> None:
    """Parse the judge's verdicts into battles for `batch-router train --target-data` (or --data)."""
    from jobs.label_ingest import run_ingest
    from jobs.label_sample import LabelInputError

    try:
        run_ingest(judgements, out, results)
    except LabelInputError as exc:
        fail(str(exc))
