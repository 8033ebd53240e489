"""Logs as Windows tools and tracing tools export them, read alike by the route job's validation (Spark)
and by the readers without Spark (savings, label sample): byte-order marks, other encodings, chats kept
in another shape than OpenAI's."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
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


# --- LangSmith / LangChain ---------------------------------------------------------------------------


def _lc(cls: str, content, package: tuple[str, ...] = ("langchain", "schema", "messages"), **kwargs) -> dict:
    """A message as LangChain's dumpd serializes it (how LangSmith keeps a chat model run's inputs)."""
    kind = {"HumanMessage": "human", "AIMessage": "ai", "SystemMessage": "system", "ToolMessage": "tool"}
    return {"lc": 1, "type": "constructor", "id": [*package, cls],
            "kwargs": {"content": content, "type": kind[cls], **kwargs}}  # fmt: skip


def _as_dict(kind: str, content) -> dict:
    """A message as LangChain's messages_to_dict writes it."""
    data = {"content": content, "additional_kwargs": {}, "response_metadata": {}, "type": kind, "name": None}
    return {"type": kind, "data": data | {"id": None}}


CALL = {"name": "lookup", "args": {"q": "primes"}, "id": "call_1", "type": "tool_call"}
LANGSMITH_CHATS = {
    # run id -> (inputs.messages, the routed text under the full policy or a quarantine reason)
    "run-dumpd": (
        [[_lc("SystemMessage", "Be brief"), _lc("HumanMessage", "Say hi")]],
        "system: Be brief\nuser: Say hi",
    ),
    "run-core": (
        [
            [
                _lc("HumanMessage", "Name a prime", ("langchain_core", "messages")),
                _lc("AIMessage", "", ("langchain_core", "messages"), tool_calls=[CALL]),
                _lc(
                    "ToolMessage",
                    "7",
                    ("langchain_core", "messages"),
                    tool_call_id="call_1",
                    status="success",
                ),
                _lc(
                    "HumanMessage",
                    [
                        {"type": "text", "text": "Another"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    ],
                ),
            ]
        ],  # fmt: skip
        "user: Name a prime\nassistant: \ntool: 7\nuser: Another",
    ),
    "run-dict": (
        [_as_dict("system", "Be brief"), _as_dict("human", "Say bye")],
        "system: Be brief\nuser: Say bye",
    ),
    "run-chunk": (
        [_as_dict("human", "Hi"), _as_dict("AIMessageChunk", "Hello")],
        "user: Hi\nassistant: Hello",
    ),
    "run-plain": ([{"type": "human", "content": "Plain dict"}], "user: Plain dict"),
    "run-openai": ([{"role": "user", "content": "Already OpenAI"}], "user: Already OpenAI"),
    "run-batch": ([[_lc("HumanMessage", "One")], [_lc("HumanMessage", "Two")]], "malformed_messages"),
    "run-noask": (
        [[_lc("HumanMessage", [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}])]],
        "empty_prompt",
    ),
}
SENT = {  # the chats dispatch lines and label sample send, in OpenAI's format
    "run-dumpd": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Say hi"}],
    "run-core": [
        {"role": "user", "content": "Name a prime"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "primes"}'},
                }
            ],
        },
        {"role": "tool", "content": "7", "tool_call_id": "call_1"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Another"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
    ],  # fmt: skip
    "run-dict": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Say bye"}],
    "run-chunk": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
    "run-plain": [{"role": "user", "content": "Plain dict"}],
    "run-openai": [{"role": "user", "content": "Already OpenAI"}],
}
LANGSMITH_COLUMNS = {"request_id": "id", "messages": "inputs.messages", "ts": "start_time"}
FULL = {"messages_policy": "full"}


def _langsmith_runs() -> list[dict]:
    """Chat model runs as LangSmith's SDK gives them (client.list_runs(), each run's dict as JSON)."""
    return [
        {"id": rid, "name": "ChatOpenAI", "run_type": "llm", "start_time": "2026-11-01T10:00:00.123456",
         "inputs": {"messages": chat}, "extra": {"invocation_params": {"model": "gpt-4o"}}}
        for rid, (chat, _) in LANGSMITH_CHATS.items()
    ]  # fmt: skip


def _sent_by_dispatch(v) -> dict[str, list]:
    """The messages of each valid row's dispatch line, as route writes it (jobs.dispatch_lines)."""
    return {cid: body["messages"] for cid, body in _dispatch_bodies(v).items()}


def _dispatch_bodies(v) -> dict[str, dict]:
    """The body of each valid row's dispatch line, as route writes it (jobs.dispatch_lines)."""
    from pyspark.sql import functions as F

    from jobs.dispatch_lines import DISPATCH_MODEL, dispatch_line
    from jobs.log_reader import column

    rows = v.valid.withColumn("request_id", column(v.resolved.request_id)).withColumn(
        DISPATCH_MODEL, F.lit("m")
    )
    lines = rows.select(dispatch_line(v.resolved, v.fmt).alias("line")).collect()
    return {(x := json.loads(r["line"]))["custom_id"]: x["body"] for r in lines}


def _check_langsmith(spark, logs: Path, columns: dict[str, str]) -> None:
    """Every run routed on its chat (or quarantined) alike by both readers; the chats sent in OpenAI's
    format, by the dispatch lines and by label sample."""
    cfg = JobConfig.model_validate({"logs": {"columns": columns, **FULL}})
    valid, quarantined = _agree(spark, logs, cfg)
    want = {rid: text for rid, (_, text) in LANGSMITH_CHATS.items()}
    assert {k: v[0] for k, v in valid.items()} | quarantined == want
    v = validate_logs(spark, str(logs), cfg)
    assert _sent_by_dispatch(v) == SENT
    cands, _ = read_candidates(str(logs), cfg)
    assert {r.request_id: json.loads(r.messages) for r in cands.itertuples()} == SENT
    quarantine = {r["request_id"]: r for r in v.quarantine.collect()}
    # the row as the log wrote it: its LangChain messages, not the OpenAI ones routed on
    assert json.loads(quarantine["run-noask"]["original_row"])["id"] == "run-noask"
    assert '"constructor"' in quarantine["run-noask"]["original_row"].replace('\\"', '"')
    assert quarantine["run-batch"]["detail"] == (
        "messages is a list of 2 chats (a batch of prompts, as LangChain's generate() logs them), not one "
        "chat: export one row per chat"
    )


def test_langsmith_runs_route_on_their_langchain_messages(spark, tmp_path):
    """LangSmith's chat model runs keep inputs.messages LangChain-serialized (dumpd's constructors,
    messages_to_dict's {type, data}, {type, content} dicts), a list of one chat per prompt of the call:
    read as OpenAI chats (human: user, ai: assistant, tool calls as OpenAI's), one chat per row."""
    logs = tmp_path / "runs.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in _langsmith_runs()))
    _check_langsmith(spark, logs, LANGSMITH_COLUMNS)


def test_a_csv_export_of_runs_names_the_inputs_column(spark, tmp_path):
    """A CSV export keeps each run's inputs as JSON text, {"messages": [[...]]}: --column
    messages=inputs reads the messages it holds."""
    runs = pd.DataFrame(_langsmith_runs())
    runs["inputs"] = runs["inputs"].map(json.dumps)
    runs["extra"] = runs["extra"].map(json.dumps)
    logs = tmp_path / "runs.csv"
    runs.to_csv(logs, index=False)
    _check_langsmith(spark, logs, {**LANGSMITH_COLUMNS, "messages": "inputs"})


# --- JSON text that goes on after its value ---------------------------------------------------------


def test_json_text_with_more_after_its_value_is_malformed_in_both_readers(spark, tmp_path):
    """Spark's JSON parser reads a text's first value and drops the rest, Python's json refuses it: a
    request body column of two objects (two writers' output run together) and JSON Lines lines of an
    array's elements copied one per line with their commas are quarantined as malformed_json by both
    readers, with the same detail; a body's messages held as JSON text route as they are."""
    chat = [{"role": "user", "content": "Say hi"}]
    body = json.dumps({"model": "gpt-4o", "messages": chat})
    bodies = {
        "b-ok": body,
        "b-two": body + json.dumps({"model": "gpt-4o"}),
        "b-after": body + " trailing",
        "b-text": json.dumps({"model": "gpt-4o", "messages": json.dumps(chat)}),
    }
    logs = tmp_path / "bodies.csv"
    pd.DataFrame({"request_id": list(bodies), "body": list(bodies.values())}).to_csv(logs, index=False)
    valid, quarantined = _agree(spark, logs)
    assert {k: v[0] for k, v in valid.items()} == {"b-ok": "Say hi", "b-text": "Say hi"}
    assert quarantined == {"b-two": "malformed_json", "b-after": "malformed_json"}
    details = {
        r["request_id"]: r["detail"]
        for r in validate_logs(spark, str(logs), JobConfig()).quarantine.collect()
    }
    assert set(details.values()) == {"body holds more than one JSON value"}

    lines = tmp_path / "copied.jsonl"
    lines.write_text("".join(json.dumps(r) + ",\n" for r in ROWS[:2]) + json.dumps(ROWS[2]) + "\n")
    valid, quarantined = _agree(spark, lines)
    assert (list(valid), quarantined) == (["r3"], {"r1": "malformed_json", "r2": "malformed_json"})


# --- tracing and proxy exports without a text column -------------------------------------------------


def _otel_spans() -> list[dict]:
    """Spans of chat calls as an OpenTelemetry GenAI instrumentation (OpenLLMetry) records them."""
    chats = {"s1": [("system", "Be brief"), ("user", "Say hi")], "s2": [("user", "Name a prime")]}
    return [
        {"span_id": sid, "start_time": "2026-11-01T10:00:00Z",
         "attributes": {"gen_ai.request.model": "gpt-4o",
                        **{f"gen_ai.prompt.{i}.{k}": v for i, turn in enumerate(chat)
                           for k, v in zip(("role", "content"), turn, strict=True)}}}
        for sid, chat in chats.items()
    ]  # fmt: skip


def _docs_code(after: str) -> str:
    """The first Python block of docs/input-logs.md after the text ``after``."""
    text = (Path(__file__).parents[1] / "docs" / "input-logs.md").read_text()
    block = text[text.index(after) :].split("```python\n", 1)[1]
    return block.split("```", 1)[0]


def test_flattened_opentelemetry_spans_are_named_and_the_docs_code_joins_them(spark, tmp_path, monkeypatch):
    """Spans flattened with pd.json_normalize keep each message in gen_ai.prompt.N.role / .content
    columns (under attributes.): the missing-column error names them and the docs' fix; the docs' code
    run on the export gives a log both readers route alike."""
    from jobs.validate_logs import check_logs_schema
    from schemas.logs import SchemaError

    spans = pd.json_normalize(_otel_spans(), sep=".")
    spans.columns = [c.removeprefix("attributes.") for c in spans.columns]  # as OpenLLMetry's exports
    spans.to_csv(tmp_path / "spans.csv", index=False)
    ids = JobConfig.model_validate({"logs": {"columns": {"request_id": "span_id"}}})
    with pytest.raises(SchemaError, match=r"gen_ai\.prompt\.N\.content columns .* messages column"):
        check_logs_schema(str(tmp_path / "spans.csv"), ids)
    nested = pd.json_normalize(_otel_spans(), sep=".")
    nested.to_csv(tmp_path / "nested.csv", index=False)
    with pytest.raises(SchemaError, match=r"OpenTelemetry GenAI attributes"):
        check_logs_schema(str(tmp_path / "nested.csv"), ids)
    monkeypatch.chdir(tmp_path)
    exec(_docs_code("OpenTelemetry GenAI spans"), {})
    cfg = JobConfig.model_validate(
        {"logs": {"columns": {"request_id": "span_id", "ts": "start_time"}, **FULL}}
    )
    valid, quarantined = _agree(spark, tmp_path / "spans.parquet", cfg)
    assert {k: v[0] for k, v in valid.items()} == {
        "s1": "system: Be brief\nuser: Say hi",
        "s2": "user: Name a prime",
    }
    assert quarantined == {}


def test_a_proxy_log_of_request_bodies_is_named_and_routed(spark, tmp_path):
    """A proxy's export of whole requests (Helicone's request_body as JSON text): the missing-column error
    names --column body=request_body, with which both readers route on the body's messages."""
    from jobs.validate_logs import check_logs_schema
    from schemas.logs import SchemaError

    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hi"}], "temperature": 0}
    logs = tmp_path / "helicone.csv"
    pd.DataFrame({"request_id": ["h1"], "request_body": [json.dumps(body)]}).to_csv(logs, index=False)
    with pytest.raises(SchemaError, match="--column body=request_body"):
        check_logs_schema(str(logs), JobConfig())
    cfg = JobConfig.model_validate({"logs": {"columns": {"body": "request_body"}}})
    valid, _ = _agree(spark, logs, cfg)
    assert {k: v[0] for k, v in valid.items()} == {"h1": "Say hi"}


# --- the day of a row -------------------------------------------------------------------------------


def test_a_partition_directory_given_itself_dates_its_rows_as_its_parent_does(spark, tmp_path):
    """pandas' to_parquet(partition_cols=['dt']) of a day's requests, the day by local time: routing
    LOGS/dt=D (the nightly DAG's savings step reads that) or a file in it dates every row D, valid or
    quarantined, as routing LOGS does, in both readers; not by ts (the next UTC day for an evening
    request in California) nor, without a ts, today."""
    day = "2026-11-01"
    rows = pd.DataFrame({
        "request_id": ["late", "no-ts", "empty"],
        "prompt": ["Say hi", "Name a prime", ""],
        "ts": ["2026-11-02T03:30:00Z", None, None],
        "dt": [day] * 3,
    })  # fmt: skip
    rows.to_parquet(tmp_path / "logs", partition_cols=["dt"])
    partition = tmp_path / "logs" / f"dt={day}"
    [part] = partition.iterdir()
    for logs in (tmp_path / "logs", partition, part):
        v = validate_logs(spark, str(logs), JobConfig(), date=day)
        assert {r["request_id"]: r["dt"] for r in v.valid.collect()} == {"late": day, "no-ts": day}
        assert [(r["request_id"], r["reason"], r["dt"]) for r in v.quarantine.collect()] == [
            ("empty", "empty_prompt", day)
        ]
        valid, _ = _agree(spark, logs)
        assert {k: d for k, (_, d, _) in valid.items()} == {"late": day, "no-ts": day}


def test_messages_of_parts_route_on_their_text_parts(spark, tmp_path):
    """OpenTelemetry GenAI's gen_ai.input.messages (JSON text: {role, parts: [{type: text, content}]},
    spans flattened with pd.json_normalize, the attribute's name a column with dots) and Gemini's
    contents ({role: user | model, parts: [{text}]}): routed on their text parts alike by both readers,
    and sent as OpenAI messages (model: assistant; other parts as they are)."""
    otel = [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    ]
    gemini = [{"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Hello"}]},
              {"role": "user", "parts": [{"text": "More"}]}]  # fmt: skip
    spans = [
        {"span_id": sid, "attributes": {"gen_ai.input.messages": json.dumps(chat)}}
        for sid, chat in (("otel", otel), ("gemini", gemini))
    ]
    logs = tmp_path / "spans.csv"
    pd.json_normalize(spans, max_level=1).to_csv(logs, index=False)
    columns = {"request_id": "span_id", "messages": "attributes.gen_ai.input.messages"}
    cfg = JobConfig.model_validate({"logs": {"columns": columns, **FULL}})
    valid, _ = _agree(spark, logs, cfg)
    assert {k: v[0] for k, v in valid.items()} == {
        "otel": "system: Be brief\nuser: Weather in Paris?",
        "gemini": "user: Hi\nassistant: Hello\nuser: More",
    }
    sent = {
        "otel": [{"role": "system", "content": [{"type": "text", "text": "Be brief"}]},
                 {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}],
        "gemini": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                   {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
                   {"role": "user", "content": [{"type": "text", "text": "More"}]}],
    }  # fmt: skip
    assert _sent_by_dispatch(validate_logs(spark, str(logs), cfg)) == sent
    cands, _ = read_candidates(str(logs), cfg)
    assert {r.request_id: json.loads(r.messages) for r in cands.itertuples()} == sent


def test_a_request_body_with_a_nan_value_is_read_alike_by_both_readers(spark, tmp_path):
    """Bodies built from pandas rows with json.dumps carry a missing temperature as NaN, which is no JSON:
    a body column's JSON text holding one is quarantined as malformed_json with a detail naming it, by
    the route job and the readers without Spark alike; in a JSON line, which Spark reads with its NaN
    values as the text "NaN", the body is routed and sent with "NaN" by both."""
    frame = pd.DataFrame({"request_id": ["ok", "nan"], "temperature": [0.2, float("nan")]})
    frame["body"] = [
        json.dumps({"model": "gpt-4o", "temperature": t, "messages": [{"role": "user", "content": "Say hi"}]})
        for t in frame["temperature"]
    ]
    frame.to_csv(tmp_path / "bodies.csv", index=False)
    with open(tmp_path / "bodies.jsonl", "w") as fh:
        fh.writelines(json.dumps({"request_id": r.request_id, "body": json.loads(r.body)}) + "\n"
                      for r in frame.itertuples())  # fmt: skip
    valid, quarantined = _agree(spark, tmp_path / "bodies.csv")
    assert (list(valid), quarantined) == (["ok"], {"nan": "malformed_json"})
    [bad] = validate_logs(spark, str(tmp_path / "bodies.csv"), JobConfig()).quarantine.collect()
    assert bad["detail"] == "body holds a NaN or Infinity value, which is no JSON: write null"
    valid, quarantined = _agree(spark, tmp_path / "bodies.jsonl")
    assert (sorted(valid), quarantined) == (["nan", "ok"], {})
    cands, _ = read_candidates(str(tmp_path / "bodies.jsonl"), JobConfig())
    assert json.loads(cands.set_index("request_id").loc["nan", "body"])["temperature"] == "NaN"


def test_a_proxy_log_of_prompts_and_request_bodies_routes_null_prompts_on_their_body(spark, tmp_path):
    """A proxy's log of completion and chat calls: a prompt column, and the request body of each call.
    Rows without a prompt route on their body's chat (an Anthropic body's system first) and are sent as
    their body, in both readers, as rows without a prompt route on a messages column."""
    chat = {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be brief"},
                                             {"role": "user", "content": "Say hi"}]}  # fmt: skip
    ask = [{"role": "user", "content": [{"type": "text", "text": "Name a prime"}]}]
    claude = {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "Be brief", "messages": ask}
    rows = [
        {"request_id": "comp", "prompt": "Summarise this", "body": None},
        {"request_id": "chat", "prompt": None, "body": json.dumps(chat)},
        {"request_id": "claude", "prompt": None, "body": json.dumps(claude)},
        {"request_id": "none", "prompt": None, "body": None},
        {"request_id": "nochat", "prompt": None, "body": json.dumps({"model": "gpt-4o"})},
    ]
    logs = tmp_path / "proxy.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pd.DataFrame(rows).to_csv(tmp_path / "proxy.csv", index=False)
    for path in (logs, tmp_path / "proxy.csv"):
        valid, quarantined = _agree(spark, path)
        texts = {"comp": "Summarise this", "chat": "Say hi", "claude": "Name a prime"}
        assert {k: v[0] for k, v in valid.items()} == texts
        assert quarantined == {"none": "null_prompt", "nochat": "null_prompt"}
        v = validate_logs(spark, str(path), JobConfig())
        sent = {"comp": [{"role": "user", "content": "Summarise this"}], "chat": chat["messages"],
                "claude": [{"role": "system", "content": "Be brief"}, *ask]}  # fmt: skip
        assert _sent_by_dispatch(v) == sent
        cands, _ = read_candidates(str(path), JobConfig())
        assert json.loads(cands.set_index("request_id").loc["chat", "body"]) == chat


def test_an_anthropic_messages_body_is_sent_with_its_system_as_the_first_message(spark, tmp_path):
    """A proxy logs Anthropic Messages calls (top-level system, max_tokens, content blocks) in a body
    column: their dispatch lines and label sample's requests are chat completions with the system (a
    text or a list of text blocks) as the first message and no top-level system, which OpenAI's API
    refuses; every other field is sent as logged, and an OpenAI body is sent as it is."""
    ask = [{"role": "user", "content": [{"type": "text", "text": "Name a prime"}]}]
    blocks = [{"type": "text", "text": "Be brief"}]
    bodies = {
        "text": {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "Be brief", "messages": ask},
        "blocks": {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": blocks, "messages": ask},
        "openai": {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be brief"}, *ask]},
    }
    logs = tmp_path / "anthropic.csv"
    pd.DataFrame({"request_id": list(bodies), "body": map(json.dumps, bodies.values())}).to_csv(
        logs, index=False
    )
    first = {
        "text": {"role": "system", "content": "Be brief"},
        "blocks": {"role": "system", "content": blocks},
    }
    sent = {k: {"model": "m", "max_tokens": 100, "messages": [m, *ask]} for k, m in first.items()}
    sent["openai"] = {**bodies["openai"], "model": "m"}
    valid, _ = _agree(spark, logs)
    assert {k: v[0] for k, v in valid.items()} == dict.fromkeys(bodies, "Name a prime")
    assert _dispatch_bodies(validate_logs(spark, str(logs), JobConfig())) == sent
    cands, _ = read_candidates(str(logs), JobConfig())
    got = {r.request_id: {**json.loads(r.body), "model": "m"} for r in cands.itertuples()}
    assert got == sent


def test_a_line_with_a_stray_bracket_or_a_second_object_after_a_comma_is_malformed(spark, tmp_path):
    """Lines pasted from a JSON array keep its closing bracket, a stray brace, or two elements with the
    comma between them: Spark's parser reads the first object, Python's json refuses the line; both
    readers quarantine them as malformed_json (more than one value), and route the lines whose strings
    hold brackets and commas, and nested lists of objects, as they are. A body column alike."""
    chat = {
        "request_id": "chat",
        "messages": [{"role": "user", "content": "a}, {b"}, {"role": "user", "content": "c"}],
    }
    rows = [json.dumps(r) for r in ROWS] + [json.dumps(chat)]
    lines = {"bracket": rows[0] + "]", "brace": rows[1] + "}", "comma": rows[2] + ", " + rows[0]}
    logs = tmp_path / "pasted.jsonl"
    logs.write_text("\n".join([*rows, *lines.values()]) + "\n")
    valid, quarantined = _agree(spark, logs)
    assert sorted(valid) == ["chat", "r1", "r2", "r3"]
    assert sorted(quarantined.values()) == ["malformed_json"] * 3
    details = {r["detail"] for r in validate_logs(spark, str(logs), JobConfig()).quarantine.collect()}
    assert details == {"line holds more than one JSON value (a missing line break?)"}

    body = json.dumps({"model": "gpt-4o", "messages": chat["messages"]})
    bodies = {"ok": body, "bracket": body + "]", "brace": body + "}", "comma": body + ", {}"}
    frame = pd.DataFrame({"request_id": list(bodies), "body": list(bodies.values())})
    frame.to_csv(tmp_path / "bodies.csv", index=False)
    valid, quarantined = _agree(spark, tmp_path / "bodies.csv")
    assert (list(valid), quarantined) == (
        ["ok"],
        dict.fromkeys(["bracket", "brace", "comma"], "malformed_json"),
    )


def test_a_key_with_dots_is_named_in_backticks(spark, tmp_path):
    """OpenTelemetry GenAI spans keep the chat in attributes["gen_ai.input.messages"] (JSON text): --column
    messages=attributes.`gen_ai.input.messages` names that key, in JSON Lines and in a Parquet struct,
    and both readers route on it."""
    chats = {"s1": "Say hi", "s2": "Name a prime"}
    chat = {sid: json.dumps([{"role": "user", "content": text}]) for sid, text in chats.items()}
    spans = [
        {"span_id": sid, "attributes": {"gen_ai.request.model": "gpt-4o", "gen_ai.input.messages": c}}
        for sid, c in chat.items()
    ]
    lines = tmp_path / "spans.jsonl"
    lines.write_text("".join(json.dumps(s) + "\n" for s in spans))
    parquet = tmp_path / "spans.parquet"
    pa.Table.from_pylist(spans).to_pandas().to_parquet(parquet)
    columns = {"request_id": "span_id", "messages": "attributes.`gen_ai.input.messages`"}
    cfg = JobConfig.model_validate({"logs": {"columns": columns}})
    for logs in (lines, parquet):
        valid, quarantined = _agree(spark, logs, cfg)
        assert ({k: v[0] for k, v in valid.items()}, quarantined) == (chats, {})
