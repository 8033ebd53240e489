"""Logs as Windows tools and tracing tools export them, read alike by the route job's validation (Spark)
and by the readers without Spark (savings, label sample): byte-order marks, other encodings, chats kept
in another shape than OpenAI's."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from jobs.config import JobConfig
from jobs.label_logs import read_candidates
from jobs.validate_logs import validate_logs
from router_core.log_formats import LogFormatError, detect_format
from router_core.log_rows import NO_DAY

ROWS = [
    {"request_id": "r1", "prompt": "Say hi", "ts": "2026-11-01T10:00:00Z", "model": "gpt-4o"},
    {"request_id": "r2", "prompt": "Name a prime", "ts": "2026-11-02T10:00:00Z"},
    {"request_id": "r3", "prompt": "Summarise this", "ts": "2026-11-03T10:00:00Z"},
]


def _spark_rows(spark, logs: Path, cfg: JobConfig | None = None) -> tuple[dict, dict]:
    """({request_id: (routed text, dt, model)} of the valid rows, {request_id: reason} of the rest)."""
    v = validate_logs(spark, str(logs), cfg or JobConfig())
    rid = v.resolved.request_id
    model = v.resolved.optional.get("model")
    valid = {r[rid]: (r["route_text"], r["dt"], r[model] if model else None) for r in v.valid.collect()}
    return valid, {r["request_id"]: r["reason"] for r in v.quarantine.collect()}


def _agree(spark, logs: Path, cfg: JobConfig | None = None) -> tuple[dict, dict]:
    """The Spark job's valid rows and reasons, checked to be what label sample's reader (no Spark) reads
    (a row without a date: today in the job, none without Spark)."""
    valid, quarantined = _spark_rows(spark, logs, cfg)
    cands, skipped = read_candidates(str(logs), cfg or JobConfig())
    got = {r.request_id: (r.text, r.day, r.model) for r in cands.itertuples()}
    today = {k: (t, valid[k][1] if day == NO_DAY else day, m) for k, (t, day, m) in got.items() if k in valid}
    assert today == valid and got.keys() == valid.keys()
    assert skipped == dict(Counter(quarantined.values()))
    return valid, quarantined


def _expected(rows: list[dict]) -> dict:
    return {r["request_id"]: (r["prompt"], r["ts"][:10], r.get("model")) for r in rows}


# --- byte-order marks -------------------------------------------------------------------------------


def _write_utf8_sig_lines(path: Path, rows: list[dict]) -> None:
    """JSON Lines as .NET's and Windows PowerShell's `Out-File -Encoding utf8` write them: a byte-order
    mark first, CRLF line ends."""
    with open(path, "w", encoding="utf-8-sig", newline="\r\n") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
def test_a_csv_with_a_byte_order_mark_names_its_first_column(spark, tmp_path, quoting):
    """pandas' to_csv(encoding='utf-8-sig') (what Excel opens as UTF-8; Excel's own "CSV UTF-8" writes
    the same mark): the first column is request_id, quoted or not, in both readers."""
    logs = tmp_path / "excel.csv"
    pd.DataFrame(ROWS).to_csv(logs, index=False, encoding="utf-8-sig", quoting=quoting)
    assert _agree(spark, logs) == (_expected(ROWS), {})


def test_json_lines_with_a_byte_order_mark_read_their_first_line(spark, tmp_path):
    """The first line (the only one with a model) is a row with its model in both readers; two such
    files concatenated (`Get-Content a.jsonl, b.jsonl`, `cat`) keep the mark before the second file's
    first line, read as if it were not there; a line of only the mark is a blank line."""
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _write_utf8_sig_lines(first, ROWS[:2])
    _write_utf8_sig_lines(second, ROWS[2:])
    assert _agree(spark, first) == (_expected(ROWS[:2]), {})
    both = tmp_path / "both" / "all.jsonl"
    both.parent.mkdir()
    both.write_bytes(first.read_bytes() + second.read_bytes() + "\ufeff\r\n".encode())
    assert _agree(spark, both) == (_expected(ROWS), {})


def test_a_json_array_and_a_batch_file_with_a_byte_order_mark(spark, tmp_path):
    """A JSON array saved with the mark, and an OpenAI Batch input file of one line after it (its
    format known from that line)."""
    array = tmp_path / "export.json"
    with open(array, "w", encoding="utf-8-sig") as fh:
        json.dump(ROWS, fh, indent=2)
    assert _agree(spark, array) == (_expected(ROWS), {})
    batch = tmp_path / "batch.jsonl"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hi"}]}
    line = {"custom_id": "c1", "method": "POST", "url": "/v1/chat/completions", "body": body}
    _write_utf8_sig_lines(batch, [line])
    assert detect_format(batch)[0] == "openai_batch"
    valid, _ = _agree(spark, batch)
    assert {k: v[0] for k, v in valid.items()} == {"c1": "Say hi"}


@pytest.mark.parametrize("name", ["logs.jsonl", "logs.csv", "logs.json"])
def test_a_utf16_log_is_an_error_naming_the_encoding(tmp_path, name):
    """Windows PowerShell 5's `>` and Out-File write UTF-16: one line naming the fix, not rows of
    malformed JSON or a missing request_id."""
    logs = tmp_path / name
    text = {"logs.csv": "request_id,prompt\nr1,Say hi\n", "logs.json": json.dumps(ROWS)}
    logs.write_text(text.get(name, json.dumps(ROWS[0]) + "\n"), encoding="utf-16")
    with pytest.raises(LogFormatError, match=r"is UTF-16 text .*save it as UTF-8 \(PowerShell: Out-File"):
        detect_format(logs)
