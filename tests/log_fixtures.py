"""Generators of prompt-log Parquet files, good and bad, for tests and the demo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BAD_KINDS = {
    # request_id -> expected reason
    "r-null": "null_prompt",
    "r-empty": "empty_prompt",
    "r-space": "empty_prompt",
    "r-long": "prompt_too_long",
    "r-binary": "invalid_utf8",
    "r-dup": "duplicate_request_id",
}


def write_prompt_log_with_bad_rows(path: Path, n_good: int = 20, max_chars: int = 200) -> dict[str, str]:
    """Binary prompt column (so invalid UTF-8 is representable); returns {request_id: reason} of bad rows."""
    ids, prompts = [], []
    for i in range(n_good):
        ids.append(f"g-{i}")
        prompts.append(f"What is {i} plus {i}? Explain briefly.".encode())
    ids += ["r-null", "r-empty", "r-space", "r-long", "r-binary", "g-0"]
    prompts += [None, b"", b"   \n\t ", b"x" * (max_chars + 50), b"\xff\xfe bad \xc3\x28", b"dup of g-0"]
    base = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    ts = [base + dt.timedelta(hours=i) for i in range(len(ids))]
    table = pa.table(
        {
            "request_id": pa.array(ids, pa.string()),
            "prompt": pa.array(prompts, pa.binary()),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    expected = {k: v for k, v in BAD_KINDS.items() if k != "r-dup"}
    return expected  # the duplicate shows as a second "g-0" row with reason duplicate_request_id


def write_messages_log(path: Path) -> dict[str, str | None]:
    """Chat-format log; returns {request_id: expected reason or None}."""
    msg_t = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    rows = {
        "m-ok": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "Second question?"},
        ],
        "m-nouser": [{"role": "system", "content": "be brief"}, {"role": "assistant", "content": "hi"}],
        "m-null": None,
    }
    table = pa.table({"request_id": list(rows), "messages": pa.array(list(rows.values()), msg_t)})
    pq.write_table(table, path)
    return {"m-ok": None, "m-nouser": "no_user_turn", "m-null": "null_prompt"}
