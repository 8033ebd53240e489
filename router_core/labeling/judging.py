"""Judge requests from two models' answers, and battles from the judge's verdicts.

Every pair of models on every sampled prompt is judged in both orders (``ab`` and ``ba``); a judge
custom_id is ``<prompt custom_id>:<i>-<j>:<order>`` with i < j indices into the model list, and the judge
index (one row per judge request) maps it back. Nothing is dropped silently: a prompt without both
answers is reported as unanswered, a judgement without a usable verdict goes to quarantine with its raw
text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from router_core.labeling.batch_files import Result, request_line
from router_core.labeling.judge_prompts import (
    PROMPT_VERSION,
    REFERENCE_PROMPT_VERSION,
    combine_orders,
    judge_body,
    judge_messages,
    parse_verdict,
)

ORDERS = ("ab", "ba")


def judge_custom_id(prompt_id: str, i: int, j: int, order: str) -> str:
    return f"{prompt_id}:{i}-{j}:{order}"


def _answer(results: Mapping[str, Result], cid: str) -> tuple[str | None, str | None]:
    """(answer text, why there is none)."""
    r = results.get(cid)
    if r is None:
        return None, "no output for this request"
    if not r.ok:
        return None, r.error or f"HTTP {r.status_code}"
    if not r.content:
        return None, "empty answer"
    return r.content, None


def build_judge_requests(
    prompts: Sequence[Mapping[str, Any]],
    answers: Mapping[str, Mapping[str, Result]],
    models: Sequence[str],
    judge_model: str,
    max_tokens: int = 1024,
) -> tuple[list[dict], list[dict], list[dict]]:
    """(judge request lines, judge index rows, unanswered rows) for the sampled ``prompts``.

    ``prompts``: custom_id, request_id, question, reference (None without one), sample_strategy, prompt.
    ``answers``: model -> custom_id -> Result."""
    lines, index, unanswered = [], [], []
    for p in prompts:
        cid = str(p["custom_id"])
        texts: dict[str, str] = {}
        for m in models:
            text, why = _answer(answers.get(m, {}), cid)
            if text is None:
                unanswered.append({"custom_id": cid, "model": m, "reason": why})
            else:
                texts[m] = text
        for i, j in combinations(range(len(models)), 2):
            a, b = models[i], models[j]
            if a not in texts or b not in texts:
                continue
            for order in ORDERS:
                first, second = (texts[a], texts[b]) if order == "ab" else (texts[b], texts[a])
                msgs = judge_messages(p["question"], first, second, p.get("reference"))
                jid = judge_custom_id(cid, i, j, order)
                lines.append(request_line(jid, judge_body(judge_model, msgs, max_tokens)))
                index.append(
                    {
                        "judge_custom_id": jid,
                        "custom_id": cid,
                        "request_id": p["request_id"],
                        "model_a": a,
                        "model_b": b,
                        "order": order,
                        "judge_model": judge_model,
                        "judge_prompt": REFERENCE_PROMPT_VERSION if p.get("reference") else PROMPT_VERSION,
                        "prompt": p["prompt"],
                        "sample_strategy": p["sample_strategy"],
                    }
                )
    return lines, index, unanswered


def _verdict(r: Result | None) -> tuple[str | None, str | None, str | None]:
    """(verdict, raw text, quarantine reason)."""
    if r is None:
        return None, None, "no_judgement"
    if not r.ok:
        return None, None, "judge_error"
    raw = r.content
    verdict = parse_verdict(raw)
    return verdict, raw, None if verdict else "unparseable_verdict"


def battles_from_verdicts(
    index: Sequence[Mapping[str, Any]], results: Mapping[str, Result]
) -> tuple[list[dict], list[dict]]:
    """(battle rows, quarantine rows). A pair with a usable verdict in both orders is one battle: the
    common winner when they agree, a tie (``both_order_agreement`` False) when they do not."""
    pairs: dict[tuple[str, str, str], dict[str, Mapping[str, Any]]] = {}
    for row in index:
        pairs.setdefault((row["custom_id"], row["model_a"], row["model_b"]), {})[row["order"]] = row
    battles, quarantine = [], []
    for rows in pairs.values():
        parsed, bad = {}, []
        for order in ORDERS:
            row = rows.get(order)
            if row is None:
                continue
            r = results.get(row["judge_custom_id"])
            verdict, raw, reason = _verdict(r)
            if reason:
                detail = (r.error if r is not None and r.error else None) or ("" if raw is None else raw)
                bad.append({**_ids(row), "order": order, "reason": reason, "raw_verdict": detail})
            else:
                parsed[order] = (verdict, raw)
        if bad or len(parsed) < 2:
            quarantine += bad
            continue
        first = rows["ab"]
        c = combine_orders({o: v for o, (v, _) in parsed.items()})
        battles.append(
            {
                "prompt": first["prompt"],
                "model_a": first["model_a"],
                "model_b": first["model_b"],
                "winner": c.winner,
                "judge_model": first["judge_model"],
                "judge_prompt": first["judge_prompt"],
                "both_order_agreement": c.agreement,
                "verdict_ab": parsed["ab"][0],
                "verdict_ba": parsed["ba"][0],
                "raw_verdict_ab": parsed["ab"][1],
                "raw_verdict_ba": parsed["ba"][1],
                "request_id": first["request_id"],
                "custom_id": first["custom_id"],
                "sample_strategy": first["sample_strategy"],
            }
        )
    return battles, quarantine


def _ids(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("request_id", "custom_id", "judge_custom_id", "model_a", "model_b", "sample_strategy")
    return {k: row[k] for k in keys}
