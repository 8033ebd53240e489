"""Prompt logs as label candidates (pyarrow, no Spark): one row per valid request with its routed text,
the chat messages a Batch request sends, day, segment, the served model and optional response/reference
columns. Invalid rows are counted by reason (the rules of ``batch-router validate``), never sampled."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.config import JobConfig
from jobs.log_table import LogTable, open_logs
from router_core.log_formats import ANTHROPIC_BATCH
from router_core.log_rows import (
    Problem,
    chat_completion_body,
    chat_of_body,
    is_responses_body,
    load_body,
    messages_sent,
    routed_value,
    row_days,
)
from schemas.logs import REASON_DUPLICATE_ID, REASON_NULL_ID, SchemaError
from schemas.validation import check_text

NO_SEGMENT = "(none)"


def _column(t: pa.Table, name: str | None) -> list[Any]:
    return t.column(name).to_pylist() if name is not None else [None] * t.num_rows


def _extra_columns(logs: LogTable, response: str | None, reference: str | None) -> dict[str, str]:
    extra = {}
    for name, col in (("response", response), ("reference", reference)):
        if col is not None:
            if col not in logs.names:
                raise SchemaError(f"--{name}-column '{col}' is not a column of the logs")
            extra[name] = col
    return extra


def read_candidates(
    path: str, cfg: JobConfig, response_column: str | None = None, reference_column: str | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """(candidates, skipped rows by reason). Columns: request_id, text (routed text), question (what a
    judge reads: the whole chat for chat logs), messages (JSON: the chat the request sends), body (JSON:
    the logged request body, sent unchanged but for its model; null without one), day, segment, model,
    response, reference. Rows are skipped for the reasons, and in the order, the route job quarantines."""
    logs = open_logs(path, cfg.logs)
    r, lc = logs.resolved, cfg.logs
    opt = r.optional
    extra = _extra_columns(logs, response_column, reference_column)
    table = logs.read([r.request_id, *logs.routed_columns, *opt.values(), *extra.values()])
    ids = pc.cast(table.column(r.request_id), pa.string()).to_pylist()
    values, fallback, raw_bodies = (_column(table, c) for c in (r.text_column, r.messages_fallback, r.body))
    problems = logs.problems or [None] * len(ids)
    anthropic = logs.info.fmt == ANTHROPIC_BATCH
    days = row_days(table, opt.get("ts"), opt.get("dt"))
    seg = pc.cast(table.column(opt["segment"]), pa.string()).to_pylist() if "segment" in opt else None
    model = table.column(opt["model"]).to_pylist() if "model" in opt else None
    got = {k: table.column(c).to_pylist() for k, c in extra.items()}
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    rows = []
    for i, rid in enumerate(ids):
        repeated = rid in seen  # any earlier row with this id, valid or not, as the route job ranks them
        seen.add(rid)
        body, body_problem = load_body(raw_bodies[i]) if r.body else (None, None)
        body = body if anthropic else chat_completion_body(body)  # as dispatch sends it
        reason = _skip_reason(problems[i], rid, repeated, body_problem)
        if reason is not None:
            skipped[reason] += 1
            continue
        value, kind = routed_value(r.text_source, values[i], fallback[i], body, r.body_fallback)
        check = check_text(value, source=kind, max_chars=lc.max_chars, on_too_long=lc.on_too_long,
                           messages_policy=lc.messages_policy)  # fmt: skip
        if check.text is None:
            skipped[check.reason or "invalid"] += 1
            continue
        # the chat the judge reads: the body's (sent as logged), else the one dispatch builds
        sent, sent_kind = (body.get("messages"), "messages") if body is not None else (value, kind)
        # a body that is no chat completion (Responses; Anthropic's, for other endpoints) sends its chat
        as_chat = body is not None and (anthropic or is_responses_body(body))
        msgs = chat_of_body(body) if as_chat else messages_sent(sent, sent_kind)
        body = None if anthropic else body  # sent as a chat completion of msgs, not to Anthropic's API
        question = check.text if kind == "prompt" else _transcript(msgs)
        rows.append({
            "request_id": rid, "text": check.text, "question": question,
            "messages": json.dumps(msgs, ensure_ascii=False),
            "body": None if body is None else json.dumps(body, ensure_ascii=False), "day": days[i],
            "segment": (seg[i] if seg and seg[i] is not None else NO_SEGMENT),
            "model": model[i] if model else None,
            "response": got["response"][i] if "response" in got else None,
            "reference": got["reference"][i] if "reference" in got else None,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=CANDIDATE_COLUMNS), dict(skipped)


def _skip_reason(problem: Problem | None, rid: str | None, repeated: bool, body_problem: Problem | None):
    """The route job's order: line problem > null id > duplicate id > body problem (> text check)."""
    if problem is not None:
        return problem[0]
    if rid is None:
        return REASON_NULL_ID
    if repeated:
        return REASON_DUPLICATE_ID
    return body_problem[0] if body_problem is not None else None


CANDIDATE_COLUMNS = ["request_id", "text", "question", "messages", "body", "day", "segment", "model"]
CANDIDATE_COLUMNS += ["response", "reference"]


def _transcript(msgs: list[dict[str, Any]]) -> str:
    from router_core.text import text_from_messages

    return text_from_messages(msgs, "full") or ""


def distinct_first(texts: list[str]) -> np.ndarray:
    """Index of the first row of each distinct normalised text, in row order."""
    from router_core.text import normalize_prompt

    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(normalize_prompt(t), i)
    return np.asarray(sorted(first.values()), dtype=np.int64)
