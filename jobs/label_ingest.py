"""``batch-router label ingest``: judge verdicts -> training battles (``prompt, model_a, model_b, winner``
plus judge model, both-order agreement, raw verdicts, sample_strategy) and a quarantine of the
judgements without a usable verdict, with their raw text."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.label_judge import INDEX_FILE, JUDGE_DIR
from jobs.label_sample import LabelInputError, log
from router_core.labeling.batch_files import (
    BatchFileError,
    Result,
    collected_results,
    find_request_files,
    is_request_file,
    merge_results,
    read_results,
    result_files,
)
from router_core.labeling.judging import battles_from_verdicts

BATTLE_COLUMNS = [
    "prompt", "model_a", "model_b", "winner", "judge_model", "judge_prompt", "both_order_agreement",
    "verdict_ab", "verdict_ba", "raw_verdict_ab", "raw_verdict_ba", "request_id", "custom_id",
    "sample_strategy",
]  # fmt: skip
QUARANTINE_COLUMNS = ["request_id", "custom_id", "judge_custom_id", "model_a", "model_b", "sample_strategy"]
QUARANTINE_COLUMNS += ["order", "reason", "raw_verdict"]


def quarantine_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".parquet") + ".quarantine.parquet")


def _read_judgements(judge_dir: Path) -> tuple[list[dict], dict[str, Result]]:
    if not (judge_dir / INDEX_FILE).exists():
        raise LabelInputError(f"{judge_dir} is not a judge directory (no {INDEX_FILE}): see `label judge`")
    index = pd.read_parquet(judge_dir / INDEX_FILE).to_dict("records")
    results: dict[str, Result] = {}
    for path in find_request_files(judge_dir / JUDGE_DIR):
        results.update(collected_results(path))
    return index, results


def _given_results(paths: list[str], judge_ids: set[str]) -> dict[str, Result]:
    """The judge's answers in Batch output / error files given by hand (e.g. downloaded from the OpenAI
    dashboard), checked to answer requests of the judge directories."""
    results: dict[str, Result] = {}
    for given in paths:
        p = Path(given)
        if not p.exists():
            raise LabelInputError(f"--results {p}: not found")
        if p.is_file() and is_request_file(p):
            raise LabelInputError(f"--results {p}: a Batch request file, not its batch's output")
        found = read_results(result_files(p))
        if not found:
            raise LabelInputError(f"--results {p}: no Batch output lines (custom_id, response) in it")
        if not judge_ids & set(found):
            raise LabelInputError(
                f"--results {p}: none of its {len(found):,} custom_ids is a judge request of --judgements "
                "(the output of another batch, e.g. the models' answers?)"
            )
        merge_results(results, found)
    return results


def _each_once(directories: list[str]) -> list[str]:
    """The directories in order, one given twice (perhaps spelled another way) kept once."""
    first: dict[Path, str] = {}
    for d in directories:
        first.setdefault(Path(d).resolve(), d)
    return list(first.values())


def _judge_ids(index: list[dict]) -> set[str]:
    return {str(row["judge_custom_id"]) for row in index}


def _shared_ids(indexes: dict[str, list[dict]]) -> set[str]:
    """Judge custom_ids found in more than one judge directory (rounds whose request ids repeat)."""
    seen: Counter[str] = Counter()
    for rows in indexes.values():
        seen.update(_judge_ids(rows))
    return {cid for cid, n in seen.items() if n > 1}


def _read_inputs(judgements: list[str], given: list[str]) -> list[tuple[list[dict], dict[str, Result]]]:
    """(judge index, results) per judge directory. Each directory keeps its own results: two rounds of
    labelling may number their requests alike, and one's verdicts must not answer the other's."""
    indexes: dict[str, list[dict]] = {}
    results: dict[str, dict[str, Result]] = {}
    try:
        for d in _each_once(judgements):
            indexes[d], results[d] = _read_judgements(Path(d))
        found = _given_results(given, set().union(*map(_judge_ids, indexes.values())))
    except BatchFileError as exc:
        raise LabelInputError(str(exc)) from None
    if found and (shared := _shared_ids(indexes) & set(found)):
        raise LabelInputError(
            f"--results answers {len(shared):,} judge requests (e.g. {min(shared)}) that several "
            "--judgements directories hold: ingest those directories one at a time, each with its own "
            "--results"
        )
    for d, rows in indexes.items():
        ids = _judge_ids(rows)
        merge_results(results[d], {cid: r for cid, r in found.items() if cid in ids})
        if not ids & set(results[d]):
            raise LabelInputError(
                f"no judgements for {d}: run `batch-router batch submit {d}` and `batch collect {d}`, "
                "pass the judge's Batch output files you downloaded with --results, or run `label judge "
                "--endpoint URL`"
            )
    return [(indexes[d], results[d]) for d in indexes]


def run_ingest(judgements: list[str], out: str, given_results: list[str] | None = None) -> dict[str, Any]:
    if Path(out).suffix != ".parquet":  # train reads a file by its extension: battles.csv would not load
        raise LabelInputError(f"--out {out}: the battles are written as Parquet; name the file *.parquet")
    battles, quarantine, pairs = [], [], 0
    results: list[Result] = []
    for index, found in _read_inputs(judgements, list(given_results or [])):
        b, q = battles_from_verdicts(index, found)
        battles, quarantine = battles + b, quarantine + q
        pairs += len({(row["custom_id"], row["model_a"], row["model_b"]) for row in index})
        results += found.values()
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    bdf = pd.DataFrame(battles, columns=BATTLE_COLUMNS)
    bdf["both_order_agreement"] = bdf["both_order_agreement"].astype(bool)
    bdf.to_parquet(out_path, index=False)
    qdf = pd.DataFrame(quarantine, columns=QUARANTINE_COLUMNS)
    qdf.to_parquet(quarantine_path(out_path), index=False)
    disagree = int((~bdf["both_order_agreement"]).sum())
    summary = {
        "battles": len(bdf),
        "pairs_without_battle": pairs - len(bdf),
        "winners": {k: int(v) for k, v in bdf["winner"].value_counts().items()},
        "order_disagreements_as_ties": disagree,
        "quarantined_judgements": len(qdf),
        "quarantine_by_reason": dict(Counter(qdf["reason"])),
        "judge_prompt_tokens": sum(r.usage()[0] for r in results),
        "judge_completion_tokens": sum(r.usage()[1] for r in results),
        "out": str(out_path),
        "quarantine": str(quarantine_path(out_path)),
    }
    log(
        f"{len(bdf):,} battles -> {out_path} ({summary['winners']}); {disagree} pairs whose two orders "
        f"disagreed became ties; {len(qdf)} judgements quarantined {summary['quarantine_by_reason']} -> "
        f"{quarantine_path(out_path)}; the judge used {summary['judge_prompt_tokens']:,} prompt + "
        f"{summary['judge_completion_tokens']:,} completion tokens"
    )
    if summary["pairs_without_battle"]:
        log(f"{summary['pairs_without_battle']:,} of {pairs:,} pairs have no battle: a battle needs a "
            "verdict in both orders, and one of theirs is quarantined or missing")  # fmt: skip
    if len(bdf):
        log(f"next: batch-router train --data PUBLIC --target-data {out_path} ... (README: Labelling your "
            "own traffic)")  # fmt: skip
    if bdf.empty:
        raise LabelInputError(f"no battle: every judgement is quarantined ({quarantine_path(out_path)})")
    return summary
