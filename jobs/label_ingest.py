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
from router_core.labeling.batch_files import BatchFileError, Result, collected_results, find_request_files
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
    if not results:
        raise LabelInputError(
            f"no judgements in {judge_dir}: run `batch-router batch submit {judge_dir}` and `batch collect "
            f"{judge_dir}`, or `label judge --endpoint URL`"
        )
    return index, results


def run_ingest(judgements: list[str], out: str) -> dict[str, Any]:
    index: list[dict] = []
    results: dict[str, Result] = {}
    for d in judgements:
        try:
            i, r = _read_judgements(Path(d))
        except BatchFileError as exc:
            raise LabelInputError(str(exc)) from None
        index += i
        results.update(r)
    battles, quarantine = battles_from_verdicts(index, results)
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
        "winners": {k: int(v) for k, v in bdf["winner"].value_counts().items()},
        "order_disagreements_as_ties": disagree,
        "quarantined_judgements": len(qdf),
        "quarantine_by_reason": dict(Counter(qdf["reason"])),
        "judge_prompt_tokens": sum(r.usage()[0] for r in results.values()),
        "judge_completion_tokens": sum(r.usage()[1] for r in results.values()),
        "out": str(out_path),
        "quarantine": str(quarantine_path(out_path)),
    }
    log(
        f"{len(bdf):,} battles -> {out_path} ({summary['winners']}); {disagree} pairs whose two orders "
        f"disagreed became ties; {len(qdf)} judgements quarantined {summary['quarantine_by_reason']} -> "
        f"{quarantine_path(out_path)}; the judge used {summary['judge_prompt_tokens']:,} prompt + "
        f"{summary['judge_completion_tokens']:,} completion tokens"
    )
    if bdf.empty:
        raise LabelInputError(f"no battle: every judgement is quarantined ({quarantine_path(out_path)})")
    return summary
