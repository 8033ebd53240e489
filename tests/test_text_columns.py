"""The Spark column expressions of the row rules and of prompt hashing (jobs/text_columns.py) give what
the Python reference gives: schemas.validation.check_text and router_core.text, value by value."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from jobs.text_columns import (
    chat_column,
    chat_stage,
    checked_text,
    normalized_prompt,
    prompt_hash_of,
    prompt_stage,
)
from router_core.text import normalize_prompt, prompt_hash
from schemas.validation import check_text

MAX = 20
PROMPTS = [
    None, b"", b"   \n\t ", "\x1c\x1f\x85\u3000\u2028 ".encode(), b"fine", "  padded\u00a0".encode(),
    b"\xff\xfe bad \xc3\x28", b"abc\xe0\xa0", b"abc\xe0\x80z", b"\xed\xa0\x80 surrogate", b"\xc0\xaf",
    b"ok\xc3", b"\xf4\x90\x80\x80", b"x" * MAX, b"x" * (MAX + 1), ("\U0001f600" * (MAX + 3)).encode(),
    ("e\u0301" * 15).encode(), b"line one\nline two\n", "\u00a0x\u00a0".encode(),
]  # fmt: skip
CHATS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "s"}, {"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    [{"role": "user", "content": " \u3000 "}],
    [{"role": "user", "content": "y" * (MAX + 5)}],
    [{"role": "assistant", "content": "a"}],
    [{"role": "user", "content": None}],
    [],
]


def _rows(df) -> list[tuple]:
    got = df.select("c.reason", "c.detail", "c.text", "c.truncated", "c.image_parts").collect()
    return [tuple(r) for r in got]


def _expected(values, source: str, on_too_long: str) -> list[tuple]:
    out = []
    for v in values:
        c = check_text(v, source=source, max_chars=MAX, on_too_long=on_too_long)
        detail = c.detail if c.reason else None  # valid rows carry no detail in the job
        out.append((c.reason, detail, c.text, c.truncated, c.image_parts if c.reason is None else 0))
    return out


def _valid_detail_to_none(rows: list[tuple]) -> list[tuple]:
    return [(r, d if r else None, t, tr, img if r is None else 0) for r, d, t, tr, img in rows]


@pytest.mark.parametrize("on_too_long", ["truncate", "quarantine"])
@pytest.mark.parametrize("kind", ["binary", "string"])
def test_prompt_rules_match_check_text(spark, kind, on_too_long):
    values = PROMPTS if kind == "binary" else [_text(p) for p in PROMPTS if _text(p) != "-"]
    col_type = pa.binary() if kind == "binary" else pa.string()
    df = spark.createDataFrame(pa.table({"p": pa.array(values, col_type)}))
    df = df.withColumn("c", checked_text(prompt_stage(df["p"]), MAX, on_too_long))
    assert _valid_detail_to_none(_rows(df)) == _expected(values, "prompt", on_too_long)


def _text(value: bytes | None) -> str | None:
    """The prompt as text; "-" when it is not UTF-8 (a string column cannot hold it)."""
    try:
        return None if value is None else value.decode("utf-8")
    except UnicodeDecodeError:
        return "-"


@pytest.mark.parametrize("as_json", [False, True])
def test_chat_rules_match_check_text(spark, as_json):
    msg_t = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    if as_json:
        extra = ['[{"role": "user", "content": "\\ud800"}]', "[{", '{"role": "user"}', "[1]"]
        values = [json.dumps(c) for c in CHATS] + extra + [None]
        column = pa.array(values, pa.string())
    else:
        values = [*CHATS, None]
        column = pa.array(values, msg_t)
    df = spark.createDataFrame(pa.table({"m": column}))
    df = df.withColumn("chat", chat_column(df["m"], "all_user"))
    df = df.withColumn("c", checked_text(chat_stage(df["m"], df["chat"]), MAX, "truncate"))
    assert _valid_detail_to_none(_rows(df)) == _expected(values, "messages", "truncate")


def test_normalisation_and_hash_match_router_core(spark):
    texts = [
        "plain ascii", "  Héllo\u00a0 wörld\u3000 ", "e\u0301t\u0301e\u0301", "\u212b ngstrom",
        "\u2000a\u2001b", "\x1c x \x1f", "\u1100\u1161\u11a8 jamo", "\ufb01 ligature", "\U0001f600 emoji\t\n",
        "漢字 かな", "tab\tand\r\nnewlines\x0b\x0c", "\u0915\u093c devanagari nukta",
    ]  # fmt: skip
    df = spark.createDataFrame(pa.table({"t": pa.array(texts, pa.string())}))
    df = df.withColumn("n", normalized_prompt(df["t"]))
    df = df.withColumn("h", prompt_hash_of(df["n"]))
    got = [(r["n"], r["h"]) for r in df.collect()]
    assert got == [(normalize_prompt(t), prompt_hash(normalize_prompt(t))) for t in texts]
