"""Prompt logs written the way teams write them (pandas, pyarrow, json.dumps lines, the csv module), each
with good rows and malformed ones; every writer returns what the route job must make of every row."""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HUGE_PARTS = 3000  # a content list this long routes on its text parts joined, without a crash


@dataclass
class Case:
    path: Path
    rows_in: int
    valid_text: dict[str, str]  # request_id -> the routed text under the all_user policy
    quarantined: dict[str, str]  # request_id -> reason
    no_id_quarantined: int = 0  # rows quarantined without a request_id (lines that are not JSON objects)
    batch_lines: dict[str, dict] = field(default_factory=dict)  # custom_id -> input line (Batch input)


def _parts(*texts: str, image: bool = False) -> list[dict]:
    parts = [{"type": "text", "text": t} for t in texts]
    if image:
        parts.append({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}})
    return parts


def _chat_rows() -> tuple[list[tuple[str, object]], dict[str, str], dict[str, str]]:
    """(request_id, messages) rows as Python objects; the texts valid rows route on; bad rows' reasons."""
    rows = [
        (
            "c-str",
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Say hi to friend 1"}],
        ),
        ("c-parts", [{"role": "user", "content": _parts("Prove that 3 squared", "is odd", image=True)}]),
        (
            "c-turns",
            [
                {"role": "user", "content": "Say hi to friend 4"},
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": _parts("Now say bye")},
            ],
        ),
        ("c-huge", [{"role": "user", "content": _parts(*["p"] * HUGE_PARTS)}]),
        (
            "c-nested-null",
            [None, {"role": "user", "content": [None, {"type": "text", "text": "Say hi to 7"}]}],
        ),
        ("b-int", [{"role": "user", "content": 42}]),
        ("b-obj", [{"role": "user", "content": {"text": "not a list"}}]),
        (
            "b-notext",
            [{"role": "user", "content": [{"type": "text"}, {"type": "image_url", "image_url": {}}]}],
        ),
        ("b-nullrole", [{"role": None, "content": "who am I"}]),
        ("b-textint", [{"role": "user", "content": [{"type": "text", "text": 5}]}]),
    ]
    valid = {
        "c-str": "Say hi to friend 1",
        "c-parts": "Prove that 3 squared\nis odd",
        "c-turns": "Say hi to friend 4\nNow say bye",
        "c-huge": "\n".join(["p"] * HUGE_PARTS),
        "c-nested-null": "Say hi to 7",
    }
    bad = {
        "b-int": "unsupported_content",
        "b-obj": "unsupported_content",
        "b-notext": "unsupported_content",
        "b-nullrole": "no_user_turn",
        "b-textint": "unsupported_content",
    }
    return rows, valid, bad


def write_pandas_parquet(path: Path) -> Case:
    """pandas to_parquet defaults: datetime64[ns] ts, messages kept as JSON text (LiteLLM, warehouses)."""
    rows, valid, bad = _chat_rows()
    rows.append(("c-nobody", [{"role": "user", "content": "Say hi to friend 3"}]))
    valid["c-nobody"] = "Say hi to friend 3"
    ids = [r for r, _ in rows] + ["b-json", "b-null", "b-badbody"]
    msgs = [json.dumps(m) for _, m in rows] + ['[{"role": "user", "content": "unterminated', None]
    msgs.append(json.dumps([{"role": "user", "content": "Say hi"}]))
    # the request as sent: kept in a JSON column next to the messages
    bodies = {
        r: {"model": "gpt-4o-mini", "temperature": 0.5, "max_tokens": 100, "messages": m} for r, m in rows
    }
    bodies.pop("c-nobody")
    request = [json.dumps(bodies[r]) if r in bodies else None for r in ids]
    request[-1] = "[not an object]"
    ts = pd.date_range("2026-11-01 10:00", periods=len(ids), freq="7h")
    pd.DataFrame({"request_id": ids, "messages": msgs, "ts": ts, "request": request}).to_parquet(path)
    bad = {**bad, "b-json": "malformed_json", "b-null": "null_prompt", "b-badbody": "malformed_json"}
    sent = {
        r: {"custom_id": r, "method": "POST", "url": "/v1/chat/completions", "body": b}
        for r, b in bodies.items()
    }
    return Case(path, len(ids), valid, bad, batch_lines={r: line for r, line in sent.items() if r in valid})


def write_pyarrow_parquet(path: Path) -> Case:
    """list<struct<role, content: list<part>>> written by pyarrow, ms timestamps with a time zone."""
    part = pa.struct(
        [("type", pa.string()), ("text", pa.string()), ("image_url", pa.struct([("url", pa.string())]))]
    )
    msg_t = pa.list_(pa.struct([("role", pa.string()), ("content", pa.list_(part))]))
    rows = {
        "a-parts": [{"role": "user", "content": _parts("Say hi to friend 2", image=True)}],
        "a-nested-null": [None, {"role": "user", "content": [None, {"type": "text", "text": "Say hi to 9"}]}],
        "a-huge": [{"role": "user", "content": _parts(*["q"] * HUGE_PARTS)}],
        "b-notext": [{"role": "user", "content": [{"type": "text", "text": None}]}],
        "b-nullrole": [{"role": None, "content": _parts("x")}],
        "b-nullcontent": [{"role": "user", "content": None}],
        "b-null": None,
        "b-empty": [],
    }
    ts = [dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC) + dt.timedelta(hours=9 * i) for i in range(len(rows))]
    table = pa.table(
        {
            "request_id": list(rows),
            "messages": pa.array(list(rows.values()), msg_t),
            "ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    valid = {
        "a-parts": "Say hi to friend 2",
        "a-nested-null": "Say hi to 9",
        "a-huge": "\n".join(["q"] * HUGE_PARTS),
    }
    bad = {
        "b-notext": "unsupported_content",
        "b-nullrole": "no_user_turn",
        "b-nullcontent": "unsupported_content",
        "b-null": "null_prompt",
        "b-empty": "no_user_turn",
    }
    return Case(path, len(rows), valid, bad)


def write_jsonl(path: Path) -> Case:
    """Generic JSON Lines rows written with json.dumps: native message arrays, ISO-8601 ts strings."""
    rows, valid, bad = _chat_rows()
    lines = [
        json.dumps(
            {"request_id": r, "messages": m, "ts": f"2026-11-0{1 + i % 2}T10:00:00Z", "prompt_tokens": 9}
        )
        for i, (r, m) in enumerate(rows)
    ]
    lines += [
        '{"request_id": "b-trunc", "messages": [{"role": "user", "content": "cut',  # invalid JSON line
        "[1, 2, 3]",  # JSON, not an object
        json.dumps({"request_id": "b-jsonstr", "messages": "not json"}),
        json.dumps({"request_id": "b-null", "messages": None}),
        "",  # blank line: not a request
        # completion-style rows in the same log: routed on their prompt, the chat rows on their messages
        json.dumps({"request_id": "c-prompt", "prompt": "Say hi to friend 5", "ts": "2026-11-02"}),
        json.dumps({"request_id": "b-prompt-list", "prompt": ["a", "b"]}),
    ]
    path.write_text("\n".join(lines) + "\n")
    valid["c-prompt"] = "Say hi to friend 5"
    bad = {
        **bad,
        "b-jsonstr": "malformed_json",
        "b-null": "null_prompt",
        "b-prompt-list": "unsupported_content",
    }
    return Case(path, len(rows) + 6, valid, bad, no_id_quarantined=2)


def batch_line(cid: str, messages: object, **body: object) -> dict:
    """An OpenAI Batch input line of a chat completion."""
    return request_line(cid, "/v1/chat/completions", {"model": "gpt-4o", "messages": messages, **body})


def request_line(cid: str, url: str, body: dict) -> dict:
    return {"custom_id": cid, "method": "POST", "url": url, "body": body}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def write_openai_batch(path: Path, prefix: str = "/v1", model: str = "gpt-4o") -> Case:
    """An OpenAI Batch input file: bodies with temperature, max_tokens, tools, response_format, system.
    ``prefix`` "" and a deployment ``model``: Azure OpenAI's Batch input file (url /chat/completions)."""
    rows, valid, bad = _chat_rows()
    chat_url = f"{prefix}/chat/completions"
    good: dict[str, dict] = {}
    for i, (cid, msgs) in enumerate(rows):
        extra = {"temperature": 0.2 + i / 10, "max_tokens": 64 + i}
        if i % 2 == 0:
            extra |= {"tools": TOOLS, "tool_choice": "auto", "response_format": {"type": "text"}, "seed": 7}
        good[cid] = request_line(cid, chat_url, {"model": model, "messages": msgs, **extra})
    x = [{"role": "user", "content": "x"}]
    lines = [json.dumps(line, ensure_ascii=False) for line in good.values()]
    lines += [
        '{"custom_id": "b-trunc", "method": "POST"',  # invalid JSON
        json.dumps({**request_line("b-get", chat_url, {"model": model, "messages": x}), "method": "GET"}),
        json.dumps(request_line("b-emb", f"{prefix}/embeddings", {"model": model, "messages": x})),
        json.dumps({"custom_id": "b-nobody", "method": "POST", "url": chat_url}),
        json.dumps({"custom_id": "b-nomsgs", "method": "POST", "url": chat_url, "body": {"model": "m"}}),
        json.dumps(
            request_line(None, chat_url, {"model": model, "messages": [{"role": "user", "content": "no id"}]})
        ),
    ]
    path.write_text("\n".join(lines) + "\n")
    bad = {
        **bad,
        "b-get": "invalid_request",
        "b-emb": "invalid_request",
        "b-nobody": "invalid_request",
        "b-nomsgs": "null_prompt",
    }
    good_valid = {k: v for k, v in good.items() if k in valid}
    return Case(path, len(lines), valid, bad, no_id_quarantined=2, batch_lines=good_valid)


def write_csv(path: Path) -> Case:
    """The csv module: a header, messages as JSON text, prompts with newlines and quotes, ISO ts."""
    rows, valid, bad = _chat_rows()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["request_id", "messages", "ts", "prompt_tokens"])
        for i, (r, m) in enumerate(rows):
            w.writerow([r, json.dumps(m), f"2026-11-0{1 + i % 2} 10:00:00", "12" if i % 2 else "n/a"])
        w.writerow(["b-json", '[{"role": "user", "content": "say "hi""}]', "not a date", ""])
        w.writerow(["b-null", "", "", ""])
        w.writerow(["", json.dumps([{"role": "user", "content": "no id"}]), "", ""])
    bad = {**bad, "b-json": "malformed_json", "b-null": "null_prompt"}
    return Case(path, len(rows) + 3, valid, bad, no_id_quarantined=1)


def write_json_array(path: Path) -> Case:
    """pandas' ``to_json(orient="records")``: one JSON array, chats nested, ts as epoch milliseconds
    (pandas' default); then elements that are no row objects and a prompt that is no text."""
    rows, valid, bad = _chat_rows()
    frame = pd.DataFrame(
        {
            "request_id": [r for r, _ in rows],
            "messages": [m for _, m in rows],
            "ts": pd.to_datetime([f"2026-11-0{1 + i % 2} 10:00" for i in range(len(rows))]),
        }
    )
    text = frame.to_json(orient="records")
    path.write_text(text[:-1] + ', 5, null, {"request_id": "b-prompt-list", "prompt": ["a", "b"]}]')
    bad = {**bad, "b-prompt-list": "unsupported_content"}
    return Case(path, len(rows) + 3, valid, bad, no_id_quarantined=2)


def write_azure_batch(path: Path) -> Case:
    """An Azure OpenAI Batch input file, as Azure's docs show it: url /chat/completions, body.model the
    name of a deployment."""
    return write_openai_batch(path, prefix="", model="my-gpt-4o-deployment")


ANTHROPIC_MODEL = "claude-sonnet-4-5"
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def anthropic_line(cid: str | None, messages: object, **params: object) -> dict:
    """An Anthropic Message Batches request line: {custom_id, params}."""
    return {
        "custom_id": cid,
        "params": {"model": ANTHROPIC_MODEL, "max_tokens": 1024, "messages": messages, **params},
    }


ANTHROPIC_LINES = [  # (line, its routed text under all_user, or the reason it is quarantined for)
    (anthropic_line("a-hello", [{"role": "user", "content": "Hello, world"}]), "Hello, world"),
    (
        anthropic_line(
            "a-system", [{"role": "user", "content": "Grade: the essay"}], system="You grade essays"
        ),
        "Grade: the essay",
    ),
    (
        anthropic_line(
            "a-blocks",
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": PNG},
                        {"type": "text", "text": "What is in this picture?"},
                    ],
                }
            ],
            system=[{"type": "text", "text": "Be brief", "cache_control": {"type": "ephemeral"}}],
            temperature=0.3,
        ),
        "What is in this picture?",
    ),
    (
        anthropic_line(
            "a-turns",
            [
                {"role": "user", "content": "Name a prime"},
                {"role": "assistant", "content": [{"type": "text", "text": "7"}]},
                {"role": "user", "content": [{"type": "text", "text": "Another one"}]},
            ],
            system="Be brief",
        ),
        "Name a prime\nAnother one",
    ),
    ({"custom_id": "a-noparams"}, "invalid_request"),
    ({"custom_id": "a-params-text", "params": "hello"}, "invalid_request"),
    ({"custom_id": "a-nomsgs", "params": {"model": ANTHROPIC_MODEL, "max_tokens": 10}}, "invalid_request"),
    (anthropic_line("a-null-msgs", None), "null_prompt"),
    (anthropic_line("a-msgs-object", {"role": "user", "content": "x"}), "malformed_messages"),
    (
        anthropic_line("a-only-image", [{"role": "user", "content": [{"type": "image", "source": PNG}]}]),
        "unsupported_content",
    ),
    (
        anthropic_line("a-assistant", [{"role": "assistant", "content": "Hi"}], system="Be brief"),
        "no_user_turn",
    ),
]


def write_anthropic_batch(path: Path) -> Case:
    """An Anthropic Message Batches request file (json.dumps per line, as Anthropic's docs build the
    requests), then a line cut short and one without a custom_id."""
    lines = [json.dumps(line) for line, _ in ANTHROPIC_LINES]
    lines += [
        '{"custom_id": "a-trunc", "params": {',
        json.dumps(anthropic_line(None, [{"role": "user", "content": "x"}])),
    ]
    path.write_text("\n".join(lines) + "\n")
    reasons = {"invalid_request", "null_prompt", "malformed_messages", "unsupported_content", "no_user_turn"}
    valid = {line["custom_id"]: want for line, want in ANTHROPIC_LINES if want not in reasons}
    bad = {line["custom_id"]: want for line, want in ANTHROPIC_LINES if want in reasons}
    sent = {line["custom_id"]: line for line, _ in ANTHROPIC_LINES if line["custom_id"] in valid}
    return Case(path, len(lines), valid, bad, no_id_quarantined=2, batch_lines=sent)


WRITERS = {  # file name -> (writer, the format the job detects)
    "pandas.parquet": (write_pandas_parquet, "parquet"),
    "pyarrow.parquet": (write_pyarrow_parquet, "parquet"),
    "rows.jsonl": (write_jsonl, "jsonl"),
    "records.json": (write_json_array, "json"),
    "batch.jsonl": (write_openai_batch, "openai_batch"),
    "azure_batch.jsonl": (write_azure_batch, "openai_batch"),
    "anthropic_batch.jsonl": (write_anthropic_batch, "anthropic_batch"),
    "log.csv": (write_csv, "csv"),
}


def responses_line(cid: str, given: object, **body: object) -> dict:
    """An OpenAI Batch input line of the Responses API: the chat is the body's ``input``."""
    return request_line(cid, "/v1/responses", {"model": "gpt-4o", "input": given, **body})


_ITEMS = [
    {"type": "message", "role": "user", "content": "What is 2+2?"},
    {"type": "function_call_output", "call_id": "c1", "output": "4"},
]
_PARTS = [{"role": "user", "content": [{"type": "input_text", "text": "Prove it"}]}]
_TURNS = [  # a conversation: the assistant's earlier answer as Responses output parts
    {"role": "user", "content": "Name a prime"},
    {"role": "assistant", "content": [{"type": "output_text", "text": "7"}]},
    {"role": "user", "content": "Another one"},
]
_CHAT = batch_line("p-chat", [{"role": "user", "content": "x"}])
RESPONSES_LINES = [  # (line, its routed text, or the reason it is quarantined for)
    (responses_line("p-text", "Explain it", instructions="Be brief", max_output_tokens=200), "Explain it"),
    (responses_line("p-parts", _PARTS), "Prove it"),
    (responses_line("p-items", _ITEMS), "What is 2+2?"),
    (responses_line("p-turns", _TURNS, instructions="Be brief"), "Name a prime\nAnother one"),
    (responses_line("p-empty", [], instructions="Be brief"), "no_user_turn"),
    (responses_line("p-object", {"role": "user"}), "malformed_messages"),
    (responses_line("p-null", None), "null_prompt"),
    ({**_CHAT, "url": "/v1/responses"}, "invalid_request"),  # a chat completion sent to /v1/responses
    ({**responses_line("p-chaturl", "x"), "url": "/v1/chat/completions"}, "invalid_request"),
]
