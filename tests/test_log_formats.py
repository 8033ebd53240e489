"""Logs as teams have them: each format written with its ordinary tool, routed end to end by the Spark job;
the pure rules (chat parsing, format detection, Batch file checks) without Spark."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from log_formats_data import WRITERS, batch_line
from test_route_job import STRONG, WEAK, route, train_tiny_routers

from jobs.route_outputs import check_dispatch
from router_core.batch_files import BatchFileChecker, check_batch_file, chunk_numbers
from router_core.log_formats import LogFormatError, detect_format, json_columns, json_keys, path_keys
from router_core.messages import parse_chat
from router_core.text import normalize_prompt, prompt_hash
from schemas.validation import check_text

CLI = [sys.executable, "-m", "jobs.cli"]

# --- pure rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "text", "reason"),
    [
        ('[{"role": "user", "content": "hi"}]', "hi", None),
        (np.array([{"role": "user", "content": np.array([{"type": "text", "text": "a"}])}]), "a", None),
        (
            [{"role": "user", "content": [{"type": "input_text", "text": "r"}, {"type": "input_audio"}]}],
            "r",
            None,
        ),
        ("[{", None, "malformed_json"),
        ('{"role": "user"}', None, "malformed_messages"),
        ([1], None, "malformed_messages"),
        ([{"role": 3, "content": "x"}], None, "malformed_messages"),
        ([{"role": "user", "content": 1.5}], None, "unsupported_content"),
        ([{"role": "user", "content": [7]}], None, "unsupported_content"),
        ([{"role": "user", "content": [{"type": "image_url"}]}], None, "unsupported_content"),
        ([{"role": "assistant", "content": "a"}], None, "no_user_turn"),
        ("[" * 50_000, None, "malformed_json"),
    ],
)
def test_chat_cells_route_or_get_a_reason(messages, text, reason):
    c = check_text(messages, source="messages", max_chars=1000, on_too_long="truncate")
    assert (c.text, c.reason) == (text, reason)
    assert reason is None or c.detail


def test_media_parts_are_counted():
    chat = parse_chat(
        [{"role": "user", "content": [{"type": "image_url", "image_url": {}}, {"type": "input_audio"}, "t"]}]
    )
    assert (chat.image_parts, chat.audio_parts, chat.turns) == (1, 1, [("user", "t")])


def test_format_detection(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"PAR1....")
    (tmp_path / "noext").write_text('{"request_id": "x"}\n')
    (tmp_path / "b.jsonl").write_text(json.dumps(batch_line("1", [])) + "\n")
    (tmp_path / "c.txt").write_text("request_id,prompt\n")
    assert detect_format(tmp_path / "a.parquet")[0] == "parquet"
    assert detect_format(tmp_path / "noext")[0] == "jsonl"
    assert detect_format(tmp_path / "b.jsonl")[0] == "openai_batch"
    assert detect_format(tmp_path / "c.txt")[0] == "csv"
    assert detect_format(tmp_path / "b.jsonl", "jsonl")[0] == "jsonl"
    with gzip.open(tmp_path / "z.jsonl.gz", "wt") as fh:  # Spark's text readers decompress .gz
        fh.write(json.dumps(batch_line("1", [])) + "\n")
    assert detect_format(tmp_path / "z.jsonl.gz")[0] == "openai_batch"
    # a byte-order mark and indentation, as editors and tools' exports write them
    (tmp_path / "arr.json").write_text('\ufeff [\n  {"request_id": "x",\n   "prompt": "p"}\n]\n')
    (tmp_path / "arr_noext").write_text('[{"request_id": "x"}, 5, {"prompt": "q"}]')
    assert detect_format(tmp_path / "arr.json")[0] == "json"
    assert detect_format(tmp_path / "arr_noext")[0] == "json"
    assert json_keys([tmp_path / "arr.json"], "json") == ["request_id", "prompt"]
    assert json_keys([tmp_path / "arr_noext"], "json") == ["request_id", "prompt"]
    with pytest.raises(LogFormatError, match="mixes log formats"):
        detect_format(tmp_path)


def test_contract_keys_of_later_files_and_lines_are_columns(tmp_path, monkeypatch):
    """Daily JSON Lines files, a later one (gzipped) gaining model and a nested usage: the contract's keys
    and --column paths count wherever they first appear; keys nested in a request body, non-contract keys
    and bytes that only look like a key (inside a prompt) do not; a name seen nested in more than
    LATE_KEY_CHECKS lines is searched for no further."""
    import router_core.log_formats as lf

    day1 = [{"request_id": f"a{i}", "prompt": '"model": x', "body": {"model": "m"}} for i in range(3)]
    day2 = [{"request_id": "b", "prompt": "p", "model": "gpt-4o", "usage": {"prompt_tokens": 3}, "x": 1}]
    (tmp_path / "d1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in day1))
    with gzip.open(tmp_path / "d2.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in day2))
    files = detect_format(tmp_path)[1]
    sampled = json_columns(files, "jsonl", ("usage.prompt_tokens",), ("model", "ts"), limit=1)
    assert sampled == (["request_id", "prompt", "body", "model"], ["usage.prompt_tokens"])
    read = []
    monkeypatch.setattr(lf, "_line_blocks", lambda f, blocks=lf._line_blocks: read.append(f) or blocks(f))
    assert json_columns(files, "jsonl", ("usage.prompt_tokens",), ("model", "ts"), limit=1) == sampled
    assert not read  # the same files searched again (route inspects its logs twice): not read again
    monkeypatch.setattr(lf, "LATE_KEY_CHECKS", 2)  # day 1's nested models are past the limit
    assert lf.late_json_columns(files, "jsonl", ["model", "segment"]) == []


def test_a_json_array_too_large_to_read_whole_names_json_lines(tmp_path, monkeypatch):
    import router_core.log_formats as lf

    (tmp_path / "big.json").write_text('[{"request_id": "x", "prompt": "p"}]')
    with gzip.open(tmp_path / "big.json.gz", "wt") as fh:  # the size that counts is the decompressed one
        fh.write("[" + ", ".join(['{"request_id": "x", "prompt": "p"}'] * 100) + "]")
    monkeypatch.setattr(lf, "MAX_JSON_ARRAY_BYTES", 1000)
    assert detect_format(tmp_path / "big.json")[0] == "json"
    assert (tmp_path / "big.json.gz").stat().st_size < 1000
    with pytest.raises(LogFormatError, match=r"read whole, up to 0 MiB per file: write larger logs as JSON"):
        detect_format(tmp_path / "big.json.gz")


def test_batch_file_checker_and_split(tmp_path):
    ok = [json.dumps(batch_line(str(i), [], temperature=0)).encode() + b"\n" for i in range(5)]
    c = BatchFileChecker("gpt-4o")
    for line in ok + [ok[0], json.dumps({**batch_line("9", []), "url": "/v1/x"}).encode()]:
        c.add(line)
    problems = c.finish()
    assert any("'0' repeats" in p for p in problems) and any("differs" in p for p in problems)
    assert [k for k, _ in chunk_numbers(ok, max_requests=2)] == [0, 0, 1, 1, 2]
    assert [k for k, _ in chunk_numbers(ok, max_bytes=2 * len(ok[0]) + 1)] == [0, 0, 1, 1, 2]
    # A staged dispatch file over the size limit is split; every piece is a valid Batch file.
    d = tmp_path / "_model_dir=gpt-4o" / "dt=2026-11-01" / "_endpoint=completions"
    d.mkdir(parents=True)
    (d / "part-00000-x.txt").write_bytes(b"".join(ok))
    check_dispatch(tmp_path, {"gpt-4o": "gpt-4o"}, max_bytes=2 * len(ok[0]))
    pieces = sorted(d.iterdir())
    assert len(pieces) == 3 and b"".join(p.read_bytes() for p in pieces) == b"".join(ok)
    assert all(check_batch_file(p, "gpt-4o")[1] == [] for p in pieces)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.parquet", b"PAR1 not really", "cannot read Parquet file {path}"),
        ("empty.csv", b"", "{path} has no header line"),
        ("noise.jsonl", b"\x00\x01 no json here\n", "no JSON object in the first 1000 lines of {path}"),
        ("numbers.json", b"[1, 2]", "no JSON object in the first 1000 elements of the JSON array of {path}"),
        ("empty.jsonl", b"\n\n", "{path} is empty: a log with no rows has no columns to read"),
        ("none.json", b"[ ]\n", "{path} is empty (or an empty JSON array): a log with no rows"),
        # Excel's "CSV" (not "CSV UTF-8") is Windows-1252: read on, every "é" would be routed as U+FFFD
        (
            "excel.csv",
            'request_id;prompt\r\nr1;"caf\u00e9\r\nau lait"\r\n'.encode("cp1252"),
            "{path} is not UTF-8 (byte 26, line 2: invalid continuation byte;",
        ),
        ("array.json", '[{"request_id": "a", "prompt": "na\u00efve"}]'.encode("latin-1"), "{path} is not"),
        # a request saved with json.dump(request, f, indent=2), and pandas' to_json(path, indent=2)
        (
            "request.json",
            json.dumps({"request_id": "a", "prompt": "Say hi", "model": "gpt-4o"}, indent=2).encode(),
            "{path} is one JSON object written over several lines (indented), not one object per line: write "
            "each request on one line, `jq -c . *.json > logs.jsonl`",
        ),
        (
            "table.json",
            json.dumps({"request_id": {"0": "a"}, "prompt": {"0": "Say hi"}}, indent=2).encode(),
            "{path} is one JSON object holding a whole table",
        ),
    ],
)
def test_unreadable_file_is_one_line_naming_it(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    r = subprocess.run(
        [*CLI, "validate", "--logs", str(path), "--out", str(tmp_path / "o")], capture_output=True, text=True
    )
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("error: " + message.format(path=path))


def test_a_delta_lake_table_is_one_line_naming_a_snapshot(tmp_path):
    """A Delta table after an UPDATE: the rewritten file beside the one it replaced (kept until VACUUM).
    Read as plain Parquet the old version of the row would be routed, so the table (or a file in it) is
    an error naming the snapshot to route."""
    table = tmp_path / "requests"
    (table / "_delta_log").mkdir(parents=True)
    for version, prompt in enumerate(["Say hi", "Say hi, briefly"]):
        part = pa.table({"request_id": ["r1"], "prompt": [prompt]})
        pq.write_table(part, table / f"part-0000{version}.parquet")
        (table / "_delta_log" / f"{version:020d}.json").write_text("{}\n")
    for logs in (table, table / "part-00001.parquet"):
        args = [*CLI, "validate", "--logs", str(logs), "--out", str(tmp_path / "o")]
        r = subprocess.run(args, capture_output=True, text=True)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert lines[0] == (
            f"error: {table} is a Delta Lake table (_delta_log): its Parquet files hold old versions of rows "
            f"beside the current ones; route a snapshot of it: spark.read.format('delta').load('{table}')"
            ".write.parquet(OUT), then --logs OUT"
        )


# --- Spark: every format routed end to end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pair_router(tmp_path_factory, embedder):
    return train_tiny_routers(tmp_path_factory.mktemp("routers"), embedder)[0]


def _table(path) -> pa.Table:
    if not path.is_dir():
        return pa.table({"request_id": pa.array([], pa.string()), "reason": pa.array([], pa.string())})
    return pads.dataset(str(path), format="parquet", partitioning="hive").to_table()


def _dispatch_lines(out, shape: str = "openai") -> dict[str, tuple[str, dict]]:
    """custom_id -> (model, line) of every dispatch file, each checked against the Batch API rules
    (Anthropic's, for ``shape`` "anthropic")."""
    dirs = json.loads((out / "dispatch" / "models.json").read_text())
    lines = {}
    for f in sorted((out / "dispatch").glob("*/dt=*/part-*.jsonl")):
        model = dirs[f.parent.parent.name]
        n, problems = check_batch_file(f, model, shape)
        assert problems == [] and n > 0, (f, problems)
        for line in f.read_text().splitlines():
            req = json.loads(line)
            lines[req["custom_id"]] = (model, req)
    return lines


@pytest.mark.parametrize(
    "fmt",
    [
        "batch.jsonl",
        "azure_batch.jsonl",
        "anthropic_batch.jsonl",
        pytest.param("pandas.parquet", marks=pytest.mark.slow),
        pytest.param("pyarrow.parquet", marks=pytest.mark.slow),
        pytest.param("rows.jsonl", marks=pytest.mark.slow),
        pytest.param("records.json", marks=pytest.mark.slow),
        pytest.param("log.csv", marks=pytest.mark.slow),
    ],
)
def test_format_routes_end_to_end(spark, pair_router, tmp_path, fmt):
    writer, detected = WRITERS[fmt]
    case = writer(tmp_path / fmt)
    out = tmp_path / "out"
    assert route("--router", pair_router, "--logs", case.path, "--out", out, "--strong-share", "0.5") == 0
    labels, quar = _table(out / "labels"), _table(out / "quarantine")
    # Every row accounted for: labels + quarantine = rows in, each quarantined row with a reason.
    assert labels.num_rows + quar.num_rows == case.rows_in
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["rows_in"] == case.rows_in and counts["log_format"] == detected
    assert counts["undated_rows"] == (1 if fmt == "log.csv" else 0)  # its "not a date" row
    q = quar.to_pylist()
    assert all(r["reason"] and r["detail"] and r["original_row"] for r in q)
    assert {r["request_id"]: r["reason"] for r in q if r["request_id"]} == case.quarantined
    assert sum(r["request_id"] is None for r in q) == case.no_id_quarantined
    # Routed text is what the all_user policy says (text parts joined, media parts left out).
    got = dict(
        zip(labels.column("request_id").to_pylist(), labels.column("prompt_hash").to_pylist(), strict=True)
    )
    assert got == {rid: prompt_hash(normalize_prompt(t)) for rid, t in case.valid_text.items()}
    assert set(labels.column("routed_model").to_pylist()) <= {STRONG, WEAK}
    # Dispatch files: valid Batch input, one line per label, routed to the labelled model.
    anthropic = detected == "anthropic_batch"
    lines = _dispatch_lines(out, "anthropic" if anthropic else "openai")
    routed = dict(
        zip(labels.column("request_id").to_pylist(), labels.column("routed_model").to_pylist(), strict=True)
    )
    assert {cid: m for cid, (m, _) in lines.items()} == routed
    body = "params" if anthropic else "body"  # an Anthropic line stays one: {custom_id, params}
    for cid, line in case.batch_lines.items():  # a request body travels unchanged except its model
        model, sent = lines[cid]
        assert sent[body]["model"] == model  # an Azure line keeps its url, /chat/completions
        assert {**sent, body: {**sent[body], "model": None}} == {**line, body: {**line[body], "model": None}}
    if fmt in ("batch.jsonl", "azure_batch.jsonl", "anthropic_batch.jsonl"):
        assert len(case.batch_lines) == len(case.valid_text)
        keep = "system" if anthropic else "tools"  # a field that is no chat travels along
        assert any(keep in line[body] for line in case.batch_lines.values())
    if fmt == "azure_batch.jsonl":  # Azure lines in, Azure lines out
        assert {sent["url"] for _, sent in lines.values()} == {"/chat/completions"}


def test_column_renaming_for_batch_input_is_said_to_be_unused(tmp_path, capsys):
    from jobs.log_reader import inspect_logs
    from schemas.logs import LogColumns

    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps(batch_line("c1", [{"role": "user", "content": "hi"}])) + "\n")
    info = inspect_logs(str(path), "auto", LogColumns(prompt="question"))
    assert info.fmt == "openai_batch" and info.columns.request_id == "custom_id"
    assert "--column prompt=question is not used" in capsys.readouterr().err
    inspect_logs(str(path), "auto", LogColumns())
    assert capsys.readouterr().err == ""


def test_a_whole_table_in_one_json_object_names_json_lines(tmp_path):
    """pandas' ``to_json`` without orient='records' writes one object holding the table: an error naming
    the fix before Spark, not one quarantined row."""
    import pandas as pd

    frame = pd.DataFrame({"request_id": [f"r{i}" for i in range(30)], "prompt": [f"q{i}" for i in range(30)]})
    frame.to_json(tmp_path / "columns.json")
    frame.set_index("request_id").to_json(tmp_path / "string_index.json")
    frame.head(1).to_json(tmp_path / "one_row.json")
    for orient in ("index", "split", "table"):
        frame.to_json(tmp_path / f"{orient}.json", orient=orient)
    for name in ("columns", "string_index", "one_row", "index", "split", "table"):
        with pytest.raises(LogFormatError, match=r"one JSON object holding a whole table .* lines=True"):
            detect_format(tmp_path / f"{name}.json")
    cmd = [*CLI, "validate", "--logs", str(tmp_path / "columns.json"), "--out", str(tmp_path / "o")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "whole table" in r.stderr + r.stdout
    # requests are not tables: objects with different keys, and a log of several such lines
    one = {"request_id": {"0": "a"}, "messages": {"0": "b", "1": "c"}}
    (tmp_path / "one.jsonl").write_text(json.dumps(one) + "\n")
    assert detect_format(tmp_path / "one.jsonl")[0] == "jsonl"
    row = {"meta": {"user": "u1", "team": "t"}, "request": {"user": "u2", "team": "t"}}
    (tmp_path / "rows.jsonl").write_text((json.dumps(row) + "\n") * 3)
    assert detect_format(tmp_path / "rows.jsonl")[0] == "jsonl"


def test_a_batch_output_file_is_named_as_one(tmp_path):
    body = {"object": "chat.completion", "choices": [{"message": {"role": "assistant", "content": "Hi"}}]}
    response = {"status_code": 200, "body": body}
    line = {"id": "batch_req_0", "custom_id": "task-0", "response": response, "error": None}
    (tmp_path / "out.jsonl").write_text(json.dumps(line) + "\n")
    with pytest.raises(LogFormatError, match=r"Batch API output file .* route the Batch input file"):
        detect_format(tmp_path / "out.jsonl")
    # a log of rows with a response column is a log, and a Batch input line may carry one too
    row = {"custom_id": "c1", "prompt": "Say hi", "response": "Hi"}
    (tmp_path / "rows.jsonl").write_text(json.dumps(row) + "\n")
    assert detect_format(tmp_path / "rows.jsonl")[0] == "jsonl"
    request = {
        "custom_id": "c1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {},
        "response": None,
    }
    (tmp_path / "input.jsonl").write_text(json.dumps(request) + "\n")
    assert detect_format(tmp_path / "input.jsonl")[0] == "openai_batch"


def test_utf8_check_reads_past_its_chunks_and_names_the_byte(tmp_path):
    """A character split between two chunks is UTF-8; a bad byte deep in the file is named by offset and
    line (the chunk size is tiny here to cross many chunk boundaries)."""
    from router_core.log_formats import LogFormatError, check_utf8

    good = ("r,caf\u00e9 \u00fcber \U0001f600\n" * 50).encode()
    path = tmp_path / "logs.csv"
    path.write_bytes(good)
    for chunk in (1, 2, 3, 5, 7):
        check_utf8(path, chunk=chunk)
    path.write_bytes(good + "r,caf\u00e9\n".encode("cp1252"))
    with pytest.raises(LogFormatError, match=rf"byte {len(good) + 5}, line 51: invalid continuation byte"):
        check_utf8(path, chunk=7)
    check_utf8(path, limit=len(good))  # the bad byte is past the limit


def test_anthropic_batch_files_are_detected_and_their_results_named(tmp_path):
    """A request file for Anthropic's Message Batches (custom_id, params) is its own format, forced with
    --format anthropic_batch too; its results file (custom_id, result) holds answers: an error naming the
    request file instead."""
    from log_formats_data import anthropic_line

    line = anthropic_line("req-1", [{"role": "user", "content": "Hello, world"}])
    (tmp_path / "requests.jsonl").write_text(json.dumps(line) + "\n")
    assert detect_format(tmp_path / "requests.jsonl")[0] == "anthropic_batch"
    (tmp_path / "requests.txt").write_text(json.dumps(line) + "\n")
    assert detect_format(tmp_path / "requests.txt", "anthropic_batch")[0] == "anthropic_batch"
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hi"}],
    }
    result = {"custom_id": "req-1", "result": {"type": "succeeded", "message": message}}
    (tmp_path / "results.jsonl").write_text(json.dumps(result) + "\n")
    with pytest.raises(LogFormatError, match=r"Anthropic Message Batches results file .* route the request"):
        detect_format(tmp_path / "results.jsonl")


def test_anthropic_dispatch_lines_are_checked_as_anthropic_lines(tmp_path):
    from log_formats_data import anthropic_line

    ok = anthropic_line("a", [{"role": "user", "content": "x"}])
    c = BatchFileChecker(ok["params"]["model"], shape="anthropic")
    for line in (
        ok,
        ok,
        {**ok, "custom_id": "b", "method": "POST"},
        {"custom_id": "c", "params": {"model": "m"}},
    ):
        c.add(json.dumps(line).encode())
    assert c.finish() == [
        "line 2: custom_id 'a' repeats",
        "line 3: expected keys ['custom_id', 'params'], got ['custom_id', 'method', 'params']",
        f"line 4: params.model is 'm', not '{ok['params']['model']}'",
    ]


def test_azure_dispatch_lines_carry_the_deployment_names(spark, pair_router, tmp_path, capsys):
    """An Azure OpenAI Batch file routed with --dispatch-model MODEL=DEPLOYMENT: Azure lines out, their
    body.model the deployment each request is routed to; a model the router lacks is a one-line error."""
    from log_formats_data import write_azure_batch

    case = write_azure_batch(tmp_path / "azure.jsonl")
    out = tmp_path / "out"
    names = {STRONG: "prod-gpt4o", WEAK: "prod-gpt4o-mini"}
    conf = tmp_path / "route.yaml"  # the config names both models; the flag wins for the strong one
    conf.write_text(f"dispatch:\n  models: {{{STRONG}: staging-gpt4o, {WEAK}: prod-gpt4o-mini}}\n")
    given = ["--config", conf, "--dispatch-model", f"{STRONG}=prod-gpt4o"]
    args = ["--router", pair_router, "--logs", case.path, "--out", out, "--strong-share", "0.5"]
    assert route(*args, *given) == 0
    dirs = json.loads((out / "dispatch" / "models.json").read_text())
    for f in sorted((out / "dispatch").glob("*/dt=*/part-*.jsonl")):
        sent_as = names[dirs[f.parent.parent.name]]
        assert check_batch_file(f, sent_as)[1] == []
        assert {json.loads(x)["url"] for x in f.read_text().splitlines()} == {"/chat/completions"}
    routed = dict(
        zip(*_table(out / "labels").select(["request_id", "routed_model"]).to_pydict().values(), strict=True)
    )
    sent = {cid: line["body"]["model"] for cid, (_, line) in _dispatch_lines_as_sent(out).items()}
    assert sent == {cid: names[m] for cid, m in routed.items()}
    assert json.loads((out / "manifest.json").read_text())["inputs"]["dispatch_models"] == names
    capsys.readouterr()
    assert route(*args, "--dispatch-model", "gpt-5=prod-gpt5") == 2
    err = capsys.readouterr().err
    assert f"--dispatch-model gpt-5=prod-gpt5: 'gpt-5' is not a model of the router ({STRONG}, {WEAK})" in err


def _dispatch_lines_as_sent(out) -> dict[str, tuple[str, dict]]:
    """custom_id -> (file, line) of every dispatch file, unchecked."""
    return {
        json.loads(x)["custom_id"]: (str(f), json.loads(x))
        for f in sorted((out / "dispatch").glob("*/dt=*/part-*.jsonl"))
        for x in f.read_text().splitlines()
    }


def test_a_path_key_with_dots_is_quoted_in_backticks():
    """Spark SQL's quoting: a backticked key keeps its dots, a doubled backtick in it is one; a name that
    is no such path splits at every dot."""
    assert path_keys("inputs.messages") == ("inputs", "messages")
    assert path_keys("attributes.`gen_ai.input.messages`") == ("attributes", "gen_ai.input.messages")
    assert path_keys("`a.b`.`c``d`") == ("a.b", "c`d")
    assert path_keys("a..b") == ("a", "", "b")
