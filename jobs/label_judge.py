"""``batch-router label judge``: judge requests from the sampled prompts' answers, as Batch files (the
default) or sent to an OpenAI-compatible endpoint directly (journaled, resumable)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.label_sample import MANIFEST, SAMPLE_FILE, LabelInputError, log
from router_core.labeling.batch_files import (
    BatchFileError,
    Result,
    collected_results,
    find_request_files,
    is_request_file,
    merge_results,
    output_path,
    read_results,
    result_files,
    result_line,
    write_parts,
    write_text_atomic,
)
from router_core.labeling.judging import build_judge_requests

JUDGE_DIR = "batch/judge"
INDEX_FILE = "judge_index.parquet"
JOURNAL_FILE = "journal.jsonl"


@dataclass
class JudgeOptions:
    sample: str
    out: str
    responses: dict[str, str]  # model -> Batch output file or directory (overrides what collect fetched)
    judge_model: str
    max_tokens: int = 1024


def _read_sample(sample_dir: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    man_path, data = sample_dir / MANIFEST, sample_dir / SAMPLE_FILE
    if not man_path.exists() or not data.exists():
        raise LabelInputError(f"{sample_dir} is not a label sample (no {MANIFEST} / {SAMPLE_FILE})")
    return pd.read_parquet(data), json.loads(man_path.read_text())


def _answers(sample_dir: Path, manifest: dict, sample: pd.DataFrame, given: dict[str, str]) -> dict:
    """model -> custom_id -> Result: collected Batch outputs, explicit --responses, logged responses."""
    unknown = sorted(set(given) - set(manifest["models"]))
    if unknown:
        raise LabelInputError(f"--responses for {unknown}: the sample's models are {manifest['models']}")
    answers: dict[str, dict[str, Result]] = {}
    for m in manifest["models"]:
        if m in given:
            p = Path(given[m])
            if not p.exists():
                raise LabelInputError(f"--responses {m}={p}: not found")
            if p.is_file() and is_request_file(p):
                raise LabelInputError(f"--responses {m}={p}: a Batch request file, not its batch's output")
            answers[m] = _one_models_results(f"--responses {m}={p}", result_files(p))
        else:
            answers[m] = {}
            for rel in manifest["files"].get(m, []):
                answers[m].update(collected_results(sample_dir / rel))
        for row in sample.itertuples():
            if row.logged_model == m and isinstance(row.logged_response, str):
                body = {"choices": [{"message": {"role": "assistant", "content": row.logged_response}}]}
                answers[m][row.custom_id] = Result(row.custom_id, 200, body, None)
    return answers


def _one_models_results(given: str, files: list[Path]) -> dict[str, Result]:
    """The results of one model's output files. The sampled prompts share their custom_ids across models,
    so a folder that also holds another model's outputs would answer for both: a request answered in two
    files by differently named models is a LabelInputError."""
    results: dict[str, Result] = {}
    answered_by: dict[str, tuple[str, Path]] = {}
    for path in files:
        found = read_results([path])
        for cid, r in found.items():
            model = (r.body or {}).get("model") if r.ok else None
            first = answered_by.setdefault(cid, (model, path)) if model else None
            if first is not None and first[0] != model:
                raise LabelInputError(
                    f"{given}: {first[1].name} and {path.name} both answer {cid}, by {first[0]} and {model}: "
                    "outputs of several models; give each model's output files on their own"
                )
        merge_results(results, found)
    return results


def refuse_direct_after_batches(out: Path) -> None:
    """Judge requests sent with `batch submit` are answered by their batches: calling the judge directly
    on them too would pay for every judgement twice."""
    from router_core.labeling.batch_api import JOURNAL_NAME

    if (out / JOURNAL_NAME).exists():
        raise LabelInputError(
            f"{out}: its judge requests were submitted as batches: collect their verdicts with `batch-router "
            f"batch collect {out} --wait`, or judge directly into another --out (calling the judge here too "
            "would pay for each judgement twice)"
        )


def _refuse_resubmission(out: Path, lines: list[dict]) -> None:
    """Judge files already sent with `batch submit` are not rewritten with other requests: a changed file
    would be submitted again whole, paying twice for the judgements it shares with the first one."""
    from router_core.labeling.batch_api import JOURNAL_NAME
    from router_core.labeling.batch_files import read_requests

    if not (out / JOURNAL_NAME).exists():
        return
    existing = [ln for p in find_request_files(out / JUDGE_DIR) for ln in read_requests(p)]
    if existing != lines:
        raise LabelInputError(
            f"{out}: its judge requests were submitted as batches and the answers changed since; judge the "
            "new answers into another --out (or use --endpoint, which sends only what has no verdict yet)"
        )


def prepare_judge(opts: JudgeOptions) -> dict[str, Any]:
    """Write the judge Batch files, the judge index and the manifest; returns the manifest."""
    sample_dir, out = Path(opts.sample), Path(opts.out)
    sample, manifest = _read_sample(sample_dir)
    try:
        answers = _answers(sample_dir, manifest, sample, opts.responses)
    except BatchFileError as exc:
        raise LabelInputError(str(exc)) from None
    prompts = sample.to_dict("records")
    for p in prompts:
        p["reference"] = p["reference"] if isinstance(p.get("reference"), str) and p["reference"] else None
    lines, index, unanswered = build_judge_requests(
        prompts, answers, manifest["models"], opts.judge_model, opts.max_tokens
    )
    for m in manifest["models"]:
        n_ok = sum(1 for r in answers[m].values() if r.ok)
        log(f"answers of {m}: {n_ok:,} of {len(sample):,} sampled prompts")
    if not lines:
        raise LabelInputError(
            f"no prompt of {sample_dir} has answers from every model: submit and collect the sample's Batch "
            f"files (`batch-router batch submit {sample_dir}`, then `batch collect`) or pass --responses"
        )
    _refuse_resubmission(out, lines)
    out.mkdir(parents=True, exist_ok=True)
    for old in find_request_files(out / JUDGE_DIR) if (out / JUDGE_DIR).exists() else []:
        old.unlink()  # the parts of an earlier preparation (outputs next to them are kept)
    write_parts(lines, out / JUDGE_DIR)
    pd.DataFrame(index).to_parquet(out / INDEX_FILE, index=False)
    judge_manifest = {
        "sample": str(sample_dir.resolve()), "judge_model": opts.judge_model, "models": manifest["models"],
        "sample_strategy": manifest["strategy"], "prompts": len(sample), "judge_requests": len(lines),
        "unanswered": unanswered,
    }  # fmt: skip
    write_text_atomic(out / MANIFEST, json.dumps(judge_manifest, indent=1, ensure_ascii=False))
    log(f"{len(lines):,} judge requests (each pair in both orders) in {out / JUDGE_DIR}; "
        f"{len(unanswered)} answers missing (listed in {out / MANIFEST})")  # fmt: skip
    return judge_manifest


def write_direct_outputs(out: Path, results: dict[str, Result]) -> None:
    """Journaled results as Batch output files next to each judge request file, as `collect` writes."""
    from router_core.labeling.batch_files import read_requests

    for path in find_request_files(out / JUDGE_DIR):
        ids = [str(ln["custom_id"]) for ln in read_requests(path)]
        text = "".join(json.dumps(result_line(results[c])) + "\n" for c in ids if c in results)
        write_text_atomic(output_path(path), text)


def judge_cost(calls: int, tokens: tuple[int, int], judge_model: str, prices: str | None) -> dict[str, Any]:
    """``calls`` judge calls of ``tokens`` (prompt, completion) and their USD price when the model is
    priced."""
    from router_core.pricing import PriceFileError, PriceTable, UnknownModelPriceError

    pt, ct = tokens
    cost: dict[str, Any] = {"judge_calls": calls, "prompt_tokens": pt, "completion_tokens": ct}
    try:
        price = PriceTable.load(prices).price(judge_model)
        cost["cost_usd"] = round(price.cost(pt, ct), 6)
        cost["price_source"] = price.source
    except (UnknownModelPriceError, PriceFileError):
        cost["cost_usd"] = None
        cost["price_source"] = f"no price known for {judge_model} (--prices FILE adds one)"
    return cost


def cost_text(cost: dict[str, Any]) -> str:
    usd = "unknown" if cost["cost_usd"] is None else f"${cost['cost_usd']:.4f}"
    return (f"{cost['judge_calls']} calls, {cost['prompt_tokens']:,} prompt + {cost['completion_tokens']:,} "
            f"completion tokens, {usd}")  # fmt: skip


def run_direct(out: Path, runner: Any) -> tuple[Any, dict[str, Result]]:
    """Send the prepared judge requests through ``runner`` (a DirectRunner journaling in ``out``)."""
    from router_core.labeling.batch_files import read_requests
    from router_core.labeling.direct_calls import journaled_results

    lines = [ln for p in find_request_files(out / JUDGE_DIR) for ln in read_requests(p)]
    stats = runner.run(lines)
    results = journaled_results(runner.journal, lines)
    write_direct_outputs(out, results)
    return stats, results


def judge_directly(out: Path, cfg: Any, prices: str | None, **runner_opts: Any) -> Any:
    """Call the judge at ``cfg.base_url`` for every prepared request (journaled); write the outputs, the
    run's stats and its cost (``judge_run.json``); returns the stats."""
    import dataclasses

    from jobs.openai_api import make_client
    from router_core.labeling.direct_calls import DirectRunner
    from router_core.labeling.journal import Journal

    client = make_client(cfg, runner_opts.get("timeout_s", 120.0))
    runner = DirectRunner(client, Journal(out / JOURNAL_FILE), log=log, **runner_opts)
    stats, results = run_direct(out, runner)
    # The journal holds the answers of earlier runs too: this run's calls are priced apart from them.
    calls = stats.answered + stats.failed
    cost = judge_cost(calls, (stats.prompt_tokens, stats.completion_tokens), cfg.judge_model, prices)
    usage = [r.usage() for r in results.values()]
    tokens = (sum(u[0] for u in usage), sum(u[1] for u in usage))
    all_runs = judge_cost(len(results), tokens, cfg.judge_model, prices)
    run = {"stats": dataclasses.asdict(stats), "cost": cost, "cost_all_runs": all_runs}
    write_text_atomic(out / "judge_run.json", json.dumps(run, indent=1))
    errors = ", ".join(f"{kind} {n}" for kind, n in sorted(stats.errors.items()))
    log(f"judge: {stats.already_done} already answered, {stats.answered} answered now, {stats.failed} "
        f"failed, {stats.gave_up} given up, {stats.retries} retries"
        + (f" (errors by kind: {errors})" if errors else ""))  # fmt: skip
    earlier = f"; with earlier runs' calls: {cost_text(all_runs)}" if stats.already_done else ""
    log(f"judge cost of this run: {cost_text(cost)} ({cost['price_source']}){earlier}")
    return stats
