"""`savings` and `label sample` read every format the route job reads (jobs/log_table.py): JSON Lines,
OpenAI Batch input and CSV logs written with json.dumps / the csv module give the Parquet log's figures,
rows the route job quarantines are skipped for the same reasons (never a crash), and a logged request
body is sent unchanged but for its model."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from log_formats_data import WRITERS
from test_savings import ROWS, _total, write_fixture
from typer.testing import CliRunner

from jobs.app import EXIT_BAD_INPUT, app
from jobs.label_cmd import sample  # noqa: F401  (registers the command on the app)
from jobs.savings import run_savings
from jobs.savings_cmd import app_main  # noqa: F401  (registers the command on the app)
from router_core.log_rows import no_rows_dated, row_days
from router_core.tokens import count_tokens

COLUMNS = ["request_id", "prompt", "ts", "model", "segment", "prompt_tokens", "completion_tokens"]


def _rows() -> list[dict]:
    """ROWS of test_savings as log records: the prompts of write_fixture, ISO-8601 timestamps."""
    return [
        {
            "request_id": rid,
            "prompt": f"prompt number {i} about topic {rid}",
            "ts": f"{day}T10:00:00Z",
            "model": model,
            "segment": seg,
            "prompt_tokens": pt,
            "completion_tokens": ct,
        }
        for i, (rid, (day, seg, model, pt, ct, _, _)) in enumerate(ROWS.items())
    ]


@pytest.fixture
def fx(tmp_path: Path) -> dict[str, Path]:
    return write_fixture(tmp_path / "in")


def test_savings_on_json_lines_matches_the_parquet_figures(fx, tmp_path):
    logs = tmp_path / "logs.jsonl"
    lines = [json.dumps(r) for r in _rows()] + ['{"request_id": "cut', "[1, 2]", ""]
    # a prompt that is a list: quarantined by the route job, but served: unlabeled, (100*10 + 0)e-6
    lines.append(json.dumps({**_rows()[0], "request_id": "r7", "prompt": ["a", "b"], "prompt_tokens": 100,
                             "completion_tokens": 0}))  # fmt: skip
    logs.write_text("\n".join(lines) + "\n")
    summary = run_savings(str(logs), str(fx["labels"]), str(tmp_path / "rep"), prices=str(fx["prices"]),
                          bootstrap=0)  # fmt: skip
    tot = _total(tmp_path / "rep")
    assert tot["requests"] == 4 and tot["unlabeled"] == 2
    assert tot["cost_served"] == pytest.approx(0.120, abs=1e-15)  # the hand-computed test_savings figures
    assert tot["cost_routed"] == pytest.approx(0.0315, abs=1e-15)
    assert tot["cost_unlabeled_served"] == pytest.approx(0.004 + 0.001, abs=1e-15)
    counts = summary["counts"]
    assert counts["format"] == "jsonl" and counts["rows"] == 6 and counts["unreadable_rows"] == 2
    assert counts["prompt_tokens_counted"] == 0


def test_savings_on_csv_counts_quarantined_rows_as_unlabeled(fx, tmp_path):
    logs = tmp_path / "logs.csv"
    rows = _rows()
    rows[1]["prompt"] = 'a prompt with "quotes",\na comma and a newline'
    with open(logs, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        w.writerows(rows)
        # an empty prompt: the route job quarantines it, savings counts it unlabeled (10*10 + 10*30)e-6
        w.writerow({"request_id": "r6", "prompt": "", "ts": "2024-05-02T11:00:00Z", "model": "big",
                    "segment": "A", "prompt_tokens": "10", "completion_tokens": "10"})  # fmt: skip
    summary = run_savings(str(logs), str(fx["labels"]), str(tmp_path / "rep"), prices=str(fx["prices"]),
                          bootstrap=0)  # fmt: skip
    tot = _total(tmp_path / "rep")
    assert tot["requests"] == 4 and tot["unlabeled"] == 2
    assert tot["cost_served"] == pytest.approx(0.120, abs=1e-15)
    assert tot["cost_routed"] == pytest.approx(0.0315, abs=1e-15)
    assert tot["cost_unlabeled_served"] == pytest.approx(0.0044, abs=1e-15)
    assert summary["counts"]["format"] == "csv" and summary["counts"]["rows"] == 6


def _batch_lines(shape: str) -> list[dict]:
    """_rows as the lines of a Batch request file of that shape: OpenAI's, Azure OpenAI's (url without
    /v1) or Anthropic's Message Batches ({custom_id, params}); then a line the Batch API refuses."""
    lines = []
    for r in _rows():
        body = {"model": r["model"], "temperature": 0, "messages": [{"role": "user", "content": r["prompt"]}]}
        if shape == "anthropic":
            lines.append({"custom_id": r["request_id"], "params": {**body, "max_tokens": 1024}})
            continue
        url = "/chat/completions" if shape == "azure" else "/v1/chat/completions"
        lines.append({"custom_id": r["request_id"], "method": "POST", "url": url, "body": body})
    if shape == "anthropic":
        return [*lines, {"custom_id": "r-get", "params": {"model": "big", "max_tokens": 1024}}]  # no chat
    return [*lines, {**lines[0], "custom_id": "r-get", "method": "GET"}]


@pytest.mark.parametrize("shape", ["openai", "azure", "anthropic"])
def test_savings_on_a_batch_input_file_prices_the_body_model(fx, tmp_path, shape):
    logs = tmp_path / "batch.jsonl"
    logs.write_text("\n".join(json.dumps(x) for x in _batch_lines(shape)) + "\nnot json\n")
    summary = run_savings(str(logs), str(fx["labels"]), str(tmp_path / "rep"), prices=str(fx["prices"]),
                          bootstrap=0)  # fmt: skip
    counts = summary["counts"]
    fmt = "anthropic_batch" if shape == "anthropic" else "openai_batch"
    assert counts["format"] == fmt and counts["rows"] == 5 and counts["unreadable_rows"] == 2
    assert counts["prompt_tokens_counted"] == 5 and counts["completion_tokens_estimated"] == 5
    # prompt tokens: the whole chat as billed ("user: <prompt>"); completions: the default 350 tokens
    pt = dict(zip(ROWS, count_tokens([f"user: {r['prompt']}" for r in _rows()]), strict=True))
    prices = {"big": (10, 30), "mid": (4, 8), "small": (1, 2)}

    def cost(model: str, rid: str) -> float:
        i, o = prices[model]
        return (pt[rid] * i + 350 * o) / 1e6

    labeled = ["r1", "r2", "r3", "r4"]
    tot = _total(tmp_path / "rep")
    assert tot["requests"] == 4 and tot["unlabeled"] == 1
    assert tot["cost_served"] == pytest.approx(sum(cost(ROWS[r][2], r) for r in labeled), rel=1e-12)
    assert tot["cost_routed"] == pytest.approx(sum(cost(ROWS[r][5], r) for r in labeled), rel=1e-12)


def test_row_days_are_utc_dates_from_dt_ts_text_or_none():
    import datetime as dt

    import pyarrow as pa

    text = ["2026-11-01T10:00:00Z", "not a date", None, "2026-11-03 09:00", "2026-11-01T23:30:00-05:00"]
    t = pa.table({"ts": text, "dt": [None, None, None, "2026-12-01", None]})
    assert row_days(t, "ts", None) == ["2026-11-01", "(unknown)", "(unknown)", "2026-11-03", "2026-11-02"]
    assert row_days(t, "ts", "dt") == ["2026-11-01", "(unknown)", "(unknown)", "2026-12-01", "2026-11-02"]
    assert row_days(t, None, None) == ["(unknown)"] * 5
    late = dt.datetime(2026, 11, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    zoned = pa.table({"ts": pa.array([late, None], pa.timestamp("ms", tz="America/New_York"))})
    assert row_days(zoned, "ts", None) == ["2026-11-02", "(unknown)"]  # UTC, as the route job dates it
    edges = pa.table({"ts": ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"]})  # beyond year 1-9999
    assert row_days(edges, "ts", None) == ["(unknown)"] * 2


def test_row_days_read_epoch_numbers_by_their_size():
    import pyarrow as pa

    # 2026-11-01 23:30 UTC in seconds, as a float, in ms (pandas' to_json), us and ns; then numbers that
    # are no time (too small, too large) and an ISO date (basic form) that is no epoch number.
    secs = 1793575800
    text = [str(secs), f"{secs}.25", str(secs * 10**3), str(secs * 10**6), str(secs * 10**9), "123", "9" * 20]
    want = ["2026-11-01"] * 5 + ["(unknown)", "(unknown)"]
    assert row_days(pa.table({"ts": text}), "ts", None) == want
    numbers = pa.array([secs, secs, secs * 10**3, secs * 10**6, secs * 10**9, 123, None], pa.int64())
    assert row_days(pa.table({"ts": numbers}), "ts", None) == [*want[:6], "(unknown)"]
    floats = pa.array([secs + 0.25, float(secs * 10**3), float("nan")], pa.float64())
    assert row_days(pa.table({"ts": floats}), "ts", None) == ["2026-11-01", "2026-11-01", "(unknown)"]


def _label_sample(logs: Path, out: Path):
    args = ["label", "sample", "--logs", str(logs), "--n", "50", "--out", str(out), "--strategy", "random",
            "--models", "gpt-4o,gpt-4o-mini"]  # fmt: skip
    return CliRunner().invoke(app, args)


def _requests(out: Path, model: str) -> dict[str, dict]:
    files = sorted((out / "batch").glob("*/*.jsonl"))
    lines = [json.loads(x) for f in files for x in f.read_text().splitlines()]
    return {x["custom_id"]: x for x in lines if x["body"]["model"] == model}


@pytest.mark.parametrize(
    "name",
    [
        "rows.jsonl",
        "records.json",
        "batch.jsonl",
        "azure_batch.jsonl",
        "anthropic_batch.jsonl",
        "log.csv",
        "pandas.parquet",
    ],
)
def test_label_sample_reads_every_format_and_keeps_logged_bodies(name, tmp_path):
    writer, fmt = WRITERS[name]
    case = writer(tmp_path / name)
    out = tmp_path / "sample"
    res = _label_sample(case.path, out)
    assert res.exit_code == 0, res.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["n"] == len(case.valid_text)  # every valid request, none of the quarantined ones
    # the route job's reasons; lines without a request_id (not JSON objects, null ids) on top
    extra = Counter(man["skipped_requests"])
    extra.subtract(Counter(case.quarantined.values()))
    assert min(extra.values()) >= 0 and sum(extra.values()) == case.no_id_quarantined, extra
    import pandas as pd

    got = pd.read_parquet(out / "sample.parquet").set_index("custom_id")
    assert got["prompt"].to_dict() == case.valid_text  # the route job's routed texts
    for model in ("gpt-4o", "gpt-4o-mini"):
        sent = _requests(out, model)
        assert set(sent) == set(case.valid_text)
        for cid, line in sent.items():
            assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
            if fmt == "anthropic_batch":  # a chat completion of the system and messages' text
                assert set(line["body"]) == {"model", "messages"}
                assert json.loads(got.loc[cid, "messages"]) == line["body"]["messages"]
                assert line["body"]["messages"][-1]["content"].endswith(case.valid_text[cid].split("\n")[-1])
                if cid == "a-system":  # params.system, first
                    assert line["body"]["messages"][0] == {"role": "system", "content": "You grade essays"}
            elif cid in case.batch_lines:  # a logged body: unchanged but for model, every field kept
                assert line["body"] == {**case.batch_lines[cid]["body"], "model": model}
            else:
                assert set(line["body"]) == {"model", "messages"}
                assert json.loads(got.loc[cid, "messages"]) == line["body"]["messages"]


def test_label_sample_batch_request_keeps_tools_and_settings(tmp_path):
    case = WRITERS["batch.jsonl"][0](tmp_path / "batch.jsonl")
    out = tmp_path / "sample"
    assert _label_sample(case.path, out).exit_code == 0
    line = _requests(out, "gpt-4o-mini")["c-str"]
    original = case.batch_lines["c-str"]["body"]
    assert original["model"] == "gpt-4o" and "tools" in original and "temperature" in original
    assert line["body"] == {**original, "model": "gpt-4o-mini"}
    assert list(line["body"]) == list(original)  # the model replaced in place, key order kept


@pytest.mark.parametrize("command", ["savings", "label"])
def test_unreadable_logs_are_one_line_errors(command, fx, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("garbage\nmore garbage\n")
    if command == "savings":
        args = ["savings", "--logs", str(bad), "--labels", str(fx["labels"]), "--out", str(tmp_path / "r")]
        res = CliRunner().invoke(app, args)
    else:
        res = _label_sample(bad, tmp_path / "s")
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert "no JSON object in the first 1000 lines" in res.output and "Traceback" not in res.output


def test_format_flag_of_savings_and_label_sample(fx, tmp_path):
    logs = tmp_path / "export.txt"  # no known extension: --format says what it is
    with open(logs, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        w.writerows(_rows())
    base = [
        "--logs",
        str(logs),
        "--labels",
        str(fx["labels"]),
        "--prices",
        str(fx["prices"]),
        "--bootstrap",
        "0",
    ]
    res = CliRunner().invoke(app, ["savings", *base, "--out", str(tmp_path / "r"), "--format", "csv"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["counts"]["format"] == "csv" and summary["total"]["cost_served"] == pytest.approx(0.120)
    res = CliRunner().invoke(app, ["savings", *base, "--out", str(tmp_path / "r2"), "--format", "xml"])
    assert res.exit_code == EXIT_BAD_INPUT and "unknown log format 'xml'" in res.output
    args = ["label", "sample", "--logs", str(logs), "--n", "3", "--out", str(tmp_path / "s")]
    args += ["--format", "csv", "--strategy", "random", "--models", "big,small"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["n"] == 3


def test_savings_takes_the_route_jobs_column_flags_nested_paths_too(fx, tmp_path):
    """A tracing export (the prompt under inputs, the usage under usage) with the same
    --column flags as the route job: the Parquet log's figures."""
    logs = tmp_path / "runs.jsonl"
    runs = [
        {
            "id": r["request_id"],
            "inputs": {"prompt": r["prompt"], "model": r["model"]},
            "usage": {"prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"]},
            "start_time": r["ts"],
            "segment": r["segment"],
        }
        for r in _rows()
    ]
    logs.write_text("".join(json.dumps(r) + "\n" for r in runs))
    columns = ["request_id=id", "prompt=inputs.prompt", "model=inputs.model", "ts=start_time"]
    columns += ["prompt_tokens=usage.prompt_tokens", "completion_tokens=usage.completion_tokens"]
    args = ["savings", "--logs", str(logs), "--labels", str(fx["labels"]), "--prices", str(fx["prices"])]
    args += ["--bootstrap", "0", "--out", str(tmp_path / "r")]
    res = CliRunner().invoke(app, [*args, *[a for c in columns for a in ("--column", c)]])
    assert res.exit_code == 0, res.output
    tot = _total(tmp_path / "r")
    assert tot["requests"] == 4 and tot["cost_served"] == pytest.approx(0.120, abs=1e-15)
    assert tot["cost_routed"] == pytest.approx(0.0315, abs=1e-15)
    res = CliRunner().invoke(app, [*args, "--column", "promt=inputs.prompt"])
    assert res.exit_code == EXIT_BAD_INPUT and "unknown column 'promt'" in res.output


def test_label_sample_sends_a_responses_request_as_a_chat_completion(tmp_path):
    """The labelling pipeline reads chat completion answers: a Responses body is sent as the chat of its
    instructions and input turns."""
    from log_formats_data import RESPONSES_LINES

    logs = tmp_path / "responses.jsonl"
    logs.write_text("".join(json.dumps(line) + "\n" for line, _ in RESPONSES_LINES))
    out = tmp_path / "sample"
    res = _label_sample(logs, out)
    assert res.exit_code == 0, res.output
    sent = _requests(out, "gpt-4o")
    assert sorted(sent) == ["p-items", "p-parts", "p-text", "p-turns"]
    assert all(line["url"] == "/v1/chat/completions" for line in sent.values())
    assert sent["p-text"]["body"] == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Explain it"}],
    }
    assert sent["p-items"]["body"]["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert [m["role"] for m in sent["p-turns"]["body"]["messages"]] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize("name", ["header.csv", "empty.parquet"])
def test_savings_on_a_log_without_rows_is_a_one_line_error(name, fx, tmp_path):
    """A CSV of only its header, or a pandas frame with no rows (every column of type null), is read as
    no rows: savings says so, without a traceback."""
    import pandas as pd

    logs = tmp_path / name
    if name.endswith(".csv"):
        logs.write_text(",".join(COLUMNS) + "\n")
    else:
        pd.DataFrame({"request_id": ["a"], "prompt": ["x"]}).iloc[:0].to_parquet(logs)
    args = ["savings", "--logs", str(logs), "--labels", str(fx["labels"]), "--out", str(tmp_path / "r")]
    res = CliRunner().invoke(app, [*args, "--prices", str(fx["prices"])])
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert f"error: no log rows in {logs}" in " ".join(res.output.split()) and "Traceback" not in res.output


def test_savings_on_a_csv_with_a_prompt_over_128_kib(fx, tmp_path):
    """A pasted document is a prompt like any other: the csv module's default 128 KiB field limit does not
    stop savings (Spark's CSV reader, the route job's, has none)."""
    import pandas as pd

    rows = _rows()
    rows[0]["prompt"] = "clause 1: the supplier provides the goods as is. " * 4000  # 200 kB
    logs = tmp_path / "logs.csv"
    pd.DataFrame(rows).to_csv(logs, index=False)
    summary = run_savings(str(logs), str(fx["labels"]), str(tmp_path / "rep"), prices=str(fx["prices"]),
                          bootstrap=0)  # fmt: skip
    tot = _total(tmp_path / "rep")
    assert summary["counts"]["rows"] == 5 and tot["requests"] == 4
    assert tot["cost_served"] == pytest.approx(0.120, abs=1e-15)


def test_savings_on_a_directory_of_csv_exports_with_an_empty_one(fx, tmp_path):
    """Hourly exports where an hour without traffic left an empty file (sorted first): it holds no rows,
    as the route job's Spark reader reads it, and the other files' header names the columns."""
    import pandas as pd

    logs = tmp_path / "exports"
    logs.mkdir()
    (logs / "hour=00.csv").write_text("")
    rows = pd.DataFrame(_rows())
    rows.iloc[:3].to_csv(logs / "hour=01.csv", index=False)
    rows.iloc[3:].to_csv(logs / "hour=02.csv", index=False)
    summary = run_savings(str(logs), str(fx["labels"]), str(tmp_path / "rep"), prices=str(fx["prices"]),
                          bootstrap=0)  # fmt: skip
    tot = _total(tmp_path / "rep")
    assert summary["counts"]["format"] == "csv" and summary["counts"]["rows"] == 5
    assert tot["requests"] == 4 and tot["cost_served"] == pytest.approx(0.120, abs=1e-15)


def test_savings_on_a_snowflake_parquet_unload_with_decimal_counts(fx, tmp_path):
    """Snowflake unloads NUMBER columns to Parquet as decimal(38, 0): token counts of that type are read
    as integers, the Parquet log's figures."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows()
    table = pa.table({c: [r[c] for r in rows] for c in COLUMNS if not c.endswith("_tokens")})
    for c in ("prompt_tokens", "completion_tokens"):
        counts = [decimal.Decimal(r[c]) for r in rows]
        table = table.append_column(c, pa.array(counts, pa.decimal128(38, 0)))
    pq.write_table(table, tmp_path / "unload.parquet")
    run_savings(str(tmp_path / "unload.parquet"), str(fx["labels"]), str(tmp_path / "rep"),
                prices=str(fx["prices"]), bootstrap=0)  # fmt: skip
    tot = _total(tmp_path / "rep")
    assert tot["requests"] == 4 and tot["cost_served"] == pytest.approx(0.120, abs=1e-15)
    assert tot["cost_routed"] == pytest.approx(0.0315, abs=1e-15)


def test_savings_on_parquet_of_string_views(fx, tmp_path):
    """Polars' to_arrow gives string_view columns, which pq.write_table keeps: savings counts the prompt
    tokens of such a log (pyarrow has no take kernel for views) and prices it as the plain strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows()
    table = pa.table({
        "request_id": pa.array([r["request_id"] for r in rows], pa.string_view()),
        "prompt": pa.array([r["prompt"] for r in rows], pa.string_view()),
        "ts": [r["ts"] for r in rows],
        "model": pa.array([r["model"] for r in rows], pa.string_view()),
        "segment": [r["segment"] for r in rows],
        "completion_tokens": [r["completion_tokens"] for r in rows],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "views.parquet")
    summary = run_savings(str(tmp_path / "views.parquet"), str(fx["labels"]), str(tmp_path / "rep"),
                          prices=str(fx["prices"]), bootstrap=0)  # fmt: skip
    assert summary["counts"]["prompt_tokens_counted"] == 5
    assert _total(tmp_path / "rep")["requests"] == 4


def test_no_rows_dated_names_the_days_the_log_has():
    one_day = no_rows_dated("2024-05-03", "logs/", 5, "2024-05-01", "2024-05-01", undated="today")
    assert "its 5 rows are dated 2024-05-01 (a row's date" in one_day and "else today)" in one_day
    two_days = no_rows_dated("2024-05-03", "l", 2, "2024-05-01", "2024-05-02", "today")
    assert "its 2 rows are dated 2024-05-01 to 2024-05-02 (" in two_days
    assert "its 2 rows have no date (" in no_rows_dated("2024-05-03", "l", 2, None, None, undated="no date")
    assert no_rows_dated("2024-05-03", "l", 0, None, None, "today").endswith("it holds no rows")
