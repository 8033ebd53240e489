"""Prompt logs as label candidates (pyarrow, no Spark): one row per valid request with its routed text,
the chat messages a Batch request sends, day, segment, the served model and optional response/reference
columns. Invalid rows are counted by reason (the rules of ``batch-router validate``), never sampled."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from jobs.config import JobConfig
from schemas.logs import REASON_DUPLICATE_ID, REASON_NULL_ID, SchemaError, resolve_columns
from schemas.validation import check_text

NO_SEGMENT = "(none)"
NO_DAY = "(unknown)"


def _dataset(path: str) -> pads.Dataset:
    if not Path(path).exists():
        raise SchemaError(f"logs path not found: {path}")
    try:
        return pads.dataset(path, format="parquet", partitioning="hive")
    except Exception as exc:  # not Parquet, empty directory
        raise SchemaError(f"cannot read Parquet logs at {path}: {str(exc).splitlines()[0]}") from None


def _days(table: pa.Table, opt: dict[str, str]) -> list[str]:
    n = table.num_rows
    day: list[Any] = [None] * n
    if "ts" in opt:
        ts = table.column(opt["ts"])
        if pa.types.is_string(ts.type) or pa.types.is_large_string(ts.type):
            day = pc.utf8_slice_codeunits(ts, 0, 10).to_pylist()
        else:
            day = pc.strftime(ts, format="%Y-%m-%d").to_pylist()
    if "dt" in opt:
        dt = pc.cast(table.column(opt["dt"]), pa.string()).to_pylist()
        day = [d if d is not None else x for d, x in zip(dt, day, strict=True)]
    return [d or NO_DAY for d in day]


def _messages(value: Any, source: str) -> list[dict[str, Any]]:
    """The chat a Batch request sends, as dispatch builds it: the log's messages, else one user turn."""
    if source == "messages":
        return [{"role": m.get("role"), "content": m.get("content")} for m in value if m is not None]
    text = value.decode("utf-8") if isinstance(value, bytes) else value
    return [{"role": "user", "content": text}]


def read_candidates(
    path: str, cfg: JobConfig, response_column: str | None = None, reference_column: str | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """(candidates, skipped rows by reason). Columns: request_id, text (routed text), question (what a
    judge reads: the whole chat for chat logs), messages (JSON), day, segment, model, response, reference."""
    ds = _dataset(path)
    lc = cfg.logs
    resolved = resolve_columns(ds.schema, lc.columns, lc.text_source)
    opt = resolved.optional
    extra = {}
    for name, col in (("response", response_column), ("reference", reference_column)):
        if col is not None:
            if col not in ds.schema.names:
                raise SchemaError(f"--{name}-column '{col}' is not a column of the logs")
            extra[name] = col
    cols = [resolved.request_id, resolved.text_column, *opt.values(), *extra.values()]
    table = ds.to_table(columns=list(dict.fromkeys(cols)))
    ids = pc.cast(table.column(resolved.request_id), pa.string()).to_pylist()
    values = table.column(resolved.text_column).to_pylist()
    days = _days(table, opt)
    seg = pc.cast(table.column(opt["segment"]), pa.string()).to_pylist() if "segment" in opt else None
    model = table.column(opt["model"]).to_pylist() if "model" in opt else None
    got = {k: table.column(c).to_pylist() for k, c in extra.items()}
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    rows = []
    for i, rid in enumerate(ids):
        if rid is None:
            skipped[REASON_NULL_ID] += 1
            continue
        if rid in seen:
            skipped[REASON_DUPLICATE_ID] += 1
            continue
        check = check_text(values[i], source=resolved.text_source, max_chars=lc.max_chars,
                           on_too_long=lc.on_too_long, messages_policy=lc.messages_policy)  # fmt: skip
        if check.text is None:
            skipped[check.reason or "invalid"] += 1
            continue
        seen.add(rid)
        msgs = _messages(values[i], resolved.text_source)
        question = check.text if resolved.text_source == "prompt" else _transcript(msgs)
        rows.append({
            "request_id": rid, "text": check.text, "question": question,
            "messages": json.dumps(msgs, ensure_ascii=False), "day": days[i],
            "segment": (seg[i] if seg and seg[i] is not None else NO_SEGMENT),
            "model": model[i] if model else None,
            "response": got["response"][i] if "response" in got else None,
            "reference": got["reference"][i] if "reference" in got else None,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=CANDIDATE_COLUMNS), dict(skipped)


CANDIDATE_COLUMNS = ["request_id", "text", "question", "messages", "day", "segment", "model", "response"]
CANDIDATE_COLUMNS.append("reference")


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
