"""Validation and quarantine: every input row ends valid or quarantined, with a reason."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from log_fixtures import write_messages_log, write_prompt_log_with_bad_rows

from jobs.config import JobConfig, load_config
from jobs.validate_logs import check_logs_schema, validate_logs
from router_core.text import text_from_messages
from schemas.logs import SchemaError
from schemas.validation import check_text

T = TypeVar("T")

CLI = [sys.executable, "-m", "jobs.cli"]


# --- pure rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "null_prompt"),
        ("", "empty_prompt"),
        ("  \n\t", "empty_prompt"),
        (b"\xff\xfe", "invalid_utf8"),
        ("bad \ud800 surrogate", "invalid_utf8"),
        ("fine", None),
        (b"fine bytes", None),
    ],
)
def test_check_text_reasons(value, reason):
    c = check_text(value, source="prompt", max_chars=100, on_too_long="truncate")
    assert c.reason == reason
    assert (c.text is None) == (reason is not None)


def test_too_long_truncates_or_quarantines_by_config():
    t = check_text("x" * 150, source="prompt", max_chars=100, on_too_long="truncate")
    assert t.reason is None and t.truncated and len(t.text) == 100
    q = check_text("x" * 150, source="prompt", max_chars=100, on_too_long="quarantine")
    assert q.reason == "prompt_too_long" and q.text is None


def test_messages_policies():
    msgs = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "u2"},
    ]
    assert text_from_messages(msgs, "last_user") == "u2"
    assert text_from_messages(msgs, "all_user") == "u1\nu2"
    assert text_from_messages(msgs, "full").startswith("system: s")
    c = check_text(
        [{"role": "system", "content": "s"}], source="messages", max_chars=10, on_too_long="truncate"
    )
    assert c.reason == "no_user_turn"


# --- schema check: exit 2 before any work ---------------------------------------------------------------


def test_missing_column_is_schema_error(tmp_path):
    p = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({"request_id": ["a"], "text": ["hello"]}), p)
    with pytest.raises(SchemaError, match="missing required column 'prompt'.* --column prompt=text"):
        check_logs_schema(str(p), JobConfig())


def test_missing_request_id_suggests_the_id_column_the_logs_have(tmp_path):
    p = tmp_path / "ids.jsonl"
    p.write_text('{"id": "a1", "prompt": "Explain recursion"}\n')
    with pytest.raises(SchemaError, match=r"columns: id, prompt; .* --column request_id=id$"):
        check_logs_schema(str(p), JobConfig())
    chat = [{"role": "user", "content": "Explain recursion"}]
    pq.write_table(pa.table({"ID": ["a1"], "input": [chat]}), tmp_path / "chat.parquet")
    with pytest.raises(SchemaError, match=r"--column request_id=ID$"):
        check_logs_schema(str(tmp_path / "chat.parquet"), JobConfig())
    renamed = JobConfig.model_validate({"logs": {"columns": {"request_id": "ID"}}})
    with pytest.raises(SchemaError, match=r"or a request body 'body'.* --column messages=input$"):
        check_logs_schema(str(tmp_path / "chat.parquet"), renamed)


def test_wrong_type_is_schema_error(tmp_path):
    p = tmp_path / "badtype.parquet"
    pq.write_table(pa.table({"request_id": ["a"], "prompt": [1.5]}), p)
    with pytest.raises(SchemaError, match="column 'prompt' has type double, expected type: string"):
        check_logs_schema(str(p), JobConfig())
    p2 = tmp_path / "badtok.parquet"
    pq.write_table(pa.table({"request_id": ["a"], "prompt": ["x"], "prompt_tokens": ["12"]}), p2)
    with pytest.raises(SchemaError, match="prompt_tokens.*expected type: integer"):
        check_logs_schema(str(p2), JobConfig())
    import pandas as pd

    p3 = tmp_path / "float_ids.parquet"  # pandas: integer ids with a missing one are float64
    pd.DataFrame({"request_id": [1, None], "prompt": ["x", "y"]}).to_parquet(p3)
    with pytest.raises(SchemaError, match=r"type double.*df\['request_id'\]\.astype\('Int64'\)"):
        check_logs_schema(str(p3), JobConfig())


def test_cli_missing_column_exits_2_with_one_line(tmp_path):
    p = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({"prompt": ["hello"]}), p)
    r = subprocess.run(
        [*CLI, "validate", "--logs", str(p), "--out", str(tmp_path / "o")], capture_output=True, text=True
    )
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert lines == [
        "error: missing required column 'request_id' (expected type: string); the logs' columns: prompt; "
        "if one of them holds it, name it with --column request_id=NAME; else add a column of unique ids per "
        "row (they key the labels and the Batch API's custom_id)"
    ]
    assert not (tmp_path / "o").exists()  # no work started


def test_renamed_columns_via_config(tmp_path):
    p = tmp_path / "renamed.parquet"
    pq.write_table(pa.table({"id": ["a"], "question": ["hello"]}), p)
    cfg = load_config(overrides={"logs.columns.request_id": "id", "logs.columns.prompt": "question"})
    r = check_logs_schema(str(p), cfg)
    assert r.text_column == "question" and r.request_id == "id"


def test_config_file_toml_and_yaml(tmp_path):
    (tmp_path / "c.toml").write_text('[logs]\nmax_chars = 77\n[spark]\nmaster = "local[1]"\n')
    (tmp_path / "c.yaml").write_text("logs:\n  max_chars: 88\n")
    assert load_config(tmp_path / "c.toml").logs.max_chars == 77
    assert load_config(tmp_path / "c.toml", {"logs.max_chars": 5}).logs.max_chars == 5
    assert load_config(tmp_path / "c.yaml").logs.max_chars == 88
    with pytest.raises(Exception, match="max_charz"):
        load_config(overrides={"logs.max_charz": 1})


# --- Spark: rows in = valid + quarantined -------------------------------------------------------------


def _reasons(df) -> dict[str, str]:
    return {(r["request_id"], r["reason"]) for r in df.select("request_id", "reason").collect()}


def test_spark_validation_every_bad_kind(spark, tmp_path):
    p = tmp_path / "bad.parquet"
    expected = write_prompt_log_with_bad_rows(p, n_good=20, max_chars=200)
    cfg = load_config(overrides={"logs.max_chars": 200, "logs.on_too_long": "quarantine"})
    v = validate_logs(spark, str(p), cfg)
    n_in = v.source.count()
    valid, quar = v.valid.collect(), v.quarantine.collect()
    assert n_in == len(valid) + len(quar) == 26
    got = _reasons(v.quarantine)
    assert got == {*expected.items(), ("g-0", "duplicate_request_id")}
    # the first g-0 is kept, the later duplicate quarantined with its original row
    kept = [r for r in valid if r["request_id"] == "g-0"]
    assert len(kept) == 1 and kept[0]["route_text"].startswith("What is 0 plus 0")
    dup = [r for r in quar if r["reason"] == "duplicate_request_id"][0]
    assert json.loads(dup["original_row"])["request_id"] == "g-0"
    null_row = [r for r in quar if r["reason"] == "null_prompt"][0]
    assert json.loads(null_row["original_row"])["prompt"] is None
    assert all(r["detail"] for r in quar)


def test_spark_validation_messages(spark, tmp_path):
    p = tmp_path / "msgs.parquet"
    expected = write_messages_log(p)
    v = validate_logs(spark, str(p), JobConfig())
    reasons = dict(_reasons(v.quarantine))
    assert reasons == {k: r for k, r in expected.items() if r}
    ok = v.valid.collect()
    assert [r["route_text"] for r in ok] == ["first\nSecond question?"]  # default all_user: user turns joined
    last = validate_logs(spark, str(p), JobConfig(logs={"messages_policy": "last_user"})).valid.collect()
    assert [r["route_text"] for r in last] == ["Second question?"]


def test_hive_partitioned_dir_and_date_filter(spark, tmp_path):
    root = tmp_path / "logs"
    for day, n in [("2026-11-01", 3), ("2026-11-02", 5)]:
        d = root / f"dt={day}"
        d.mkdir(parents=True)
        pq.write_table(
            pa.table({"request_id": [f"{day}-{i}" for i in range(n)], "prompt": ["hi"] * n}),
            d / "part-0.parquet",
        )
    v = validate_logs(spark, str(root), JobConfig())
    assert v.valid.count() == 8
    assert {r["dt"] for r in v.valid.select("dt").collect()} == {"2026-11-01", "2026-11-02"}
    v2 = validate_logs(spark, str(root), JobConfig(), date="2026-11-02")
    assert v2.valid.count() == 5 and v2.source.count() == 5


@pytest.mark.slow
def test_cli_validate_end_to_end(tmp_path):
    p = tmp_path / "bad.parquet"
    write_prompt_log_with_bad_rows(p, n_good=10, max_chars=200)
    out = tmp_path / "out"
    r = subprocess.run(
        [
            *CLI,
            "validate",
            "--logs",
            str(p),
            "--out",
            str(out),
            "--max-chars",
            "200",
            "--on-too-long",
            "quarantine",
            "--master",
            "local[2]",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    # the JVM logs through jobs/log4j2.properties: no start-up notices, no native-Hadoop warning
    noise = ("log4j profile", "setLogLevel", "NativeCodeLoader")
    assert not [line for line in r.stderr.splitlines() if any(n in line for n in noise)], r.stderr
    s = json.loads((out / "validate_summary.json").read_text())
    assert s["rows_in"] == 16 == s["valid"] + s["quarantined"]
    assert s["quarantined_by_reason"] == {
        "duplicate_request_id": 1,
        "empty_prompt": 2,
        "invalid_utf8": 1,
        "null_prompt": 1,
        "prompt_too_long": 1,
    }
    q = pq.read_table(out / "quarantine").to_pylist()
    assert all(row["reason"] and row["original_row"] for row in q)
    assert Path(out / "valid").exists()


def _on_one_utc_day(run: Callable[[], T]) -> tuple[T, str]:
    """``run()`` and the UTC date it ran on, the date Spark gives a row without a time: run again when it
    crossed midnight (UTC), so the test never compares two different todays."""
    while True:
        day = dt.datetime.now(dt.UTC).date().isoformat()
        out = run()
        if dt.datetime.now(dt.UTC).date().isoformat() == day:
            return out, day


def _dates(spark, path, cfg=None) -> dict[str, str]:
    v = validate_logs(spark, str(path), cfg or JobConfig())
    assert v.quarantine.count() == 0
    return {r["request_id"]: r["dt"] for r in v.valid.select("request_id", "dt").collect()}


def test_timestamps_of_every_unit_and_iso_text(spark, tmp_path):
    import pandas as pd

    late = dt.datetime(2026, 11, 1, 23, 30)  # 23:30 UTC is 2026-11-02 in UTC+1: the date must be UTC's
    want = {"a": "2026-11-01", "b": "2026-11-03"}
    files = {}
    stamps = [late, dt.datetime(2026, 11, 3, 0, 0, 1)]
    for unit in ("s", "ms", "us", "ns"):
        for tz in (None, "UTC"):
            ts = pa.array(stamps, pa.timestamp(unit, tz=tz))
            files[f"{unit}-{tz}.parquet"] = pa.table(
                {"request_id": ["a", "b"], "prompt": ["p", "q"], "ts": ts}
            )
    for name, table in files.items():
        pq.write_table(table, tmp_path / name)
    pd.DataFrame({"request_id": ["a", "b"], "prompt": ["x", "y"], "ts": pd.to_datetime(stamps)}).to_parquet(
        tmp_path / "pandas.parquet"
    )
    (tmp_path / "iso.jsonl").write_text(
        '{"request_id": "a", "prompt": "x", "ts": "2026-11-02T00:30:00+01:00"}\n'
        '{"request_id": "b", "prompt": "y", "ts": "2026-11-03T00:00:01Z"}\n'
    )
    frame = pd.DataFrame({"request_id": ["a", "b"], "prompt": ["x", "y"], "ts": pd.to_datetime(stamps)})
    frame.to_json(tmp_path / "pandas.jsonl", orient="records", lines=True)  # ts as epoch milliseconds
    frame.assign(ts=frame["ts"].astype("int64") / 1e9).to_csv(tmp_path / "seconds.csv", index=False)
    epoch_ms = pa.array(frame["ts"].astype("int64") // 10**6)
    ms_table = pa.table({"request_id": ["a", "b"], "prompt": ["x", "y"], "ts": epoch_ms})
    pq.write_table(ms_table, tmp_path / "ms.parquet")
    for name in [*files, "pandas.parquet", "iso.jsonl", "pandas.jsonl", "seconds.csv", "ms.parquet"]:
        assert _dates(spark, tmp_path / name) == want, name


def test_hive_directories_of_text_formats(spark, tmp_path):
    import csv

    for day in ("2026-11-01", "2026-11-02"):
        d = tmp_path / "jsonl" / f"dt={day}"
        d.mkdir(parents=True)
        (d / "part-0.jsonl").write_text(json.dumps({"request_id": f"j{day}", "prompt": "hi"}) + "\n")
        d = tmp_path / "csv" / f"dt={day}"
        d.mkdir(parents=True)
        with open(d / "part-0.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([["request_id", "prompt"], [f"c{day}", "hi"]])
    assert _dates(spark, tmp_path / "jsonl") == {"j2026-11-01": "2026-11-01", "j2026-11-02": "2026-11-02"}
    assert _dates(spark, tmp_path / "csv") == {"c2026-11-01": "2026-11-01", "c2026-11-02": "2026-11-02"}


def test_pandas_all_none_and_categorical_columns_pass_the_schema_check(tmp_path):
    import pandas as pd

    p = tmp_path / "pandas.parquet"
    frame = {"request_id": ["a"], "prompt": ["x"], "model": [None], "segment": pd.Categorical(["web"])}
    pd.DataFrame(frame).to_parquet(p)
    r = check_logs_schema(str(p), JobConfig())
    assert r.optional == {"segment": "segment"}  # the all-None model column is as good as absent


def test_a_day_of_all_none_prompts_beside_other_days_names_the_pandas_fix(tmp_path):
    """One day's frame with every prompt None is written by pandas as type null: Spark cannot read it
    with the other days' strings, so the error says how to write it."""
    import pandas as pd

    from schemas.logs import SchemaError

    logs = tmp_path / "logs"
    logs.mkdir()
    pd.DataFrame({"request_id": ["a"], "prompt": ["x"]}).to_parquet(logs / "day1.parquet")
    pd.DataFrame({"request_id": ["b"], "prompt": [None]}).to_parquet(logs / "day2.parquet")
    with pytest.raises(SchemaError, match=r"df\['prompt'\]\.astype\('string'\) before to_parquet"):
        check_logs_schema(str(logs), JobConfig())


def test_a_directory_of_json_arrays_one_row_per_element(spark, tmp_path):
    from jobs.log_reader import NOT_AN_ARRAY
    from jobs.log_table import open_logs

    logs = tmp_path / "logs"
    logs.mkdir()
    good = '[{"request_id": "a1", "prompt": "x"},\n {"request_id": "a2", "prompt": "y"}]'
    (logs / "a.json").write_text(good)
    (logs / "b.json").write_text("[]")  # an empty export: no rows
    (logs / "c.json").write_text('[{"request_id": "c1", "prompt": "z"}, {"request_id": "c2", "p')  # cut short
    v = validate_logs(spark, str(logs), JobConfig())
    assert v.fmt == "json"
    assert sorted(r["request_id"] for r in v.valid.select("request_id").collect()) == ["a1", "a2"]
    quarantined = [(r["request_id"], r["reason"], r["detail"]) for r in v.quarantine.collect()]
    assert quarantined == [(None, "malformed_json", NOT_AN_ARRAY)]
    # the readers without Spark (savings, label sample) see the same rows and the same problem
    table = open_logs(str(logs), JobConfig().logs)
    assert table.read(["request_id"]).column("request_id").to_pylist() == ["a1", "a2", None]
    assert table.problems == [None, None, ("malformed_json", NOT_AN_ARRAY)]


def test_rows_whose_ts_is_no_timestamp_are_counted_and_named(tmp_path, capsys):
    from jobs.validate_logs import run_validate

    logs = tmp_path / "us.csv"  # a US-style date is no ISO-8601 timestamp; an empty ts is no ts at all
    logs.write_text("request_id,prompt,ts\na,x,11/01/2026 10:00\nb,y,2026-11-01 10:00\nc,z,\n")
    summary = run_validate(str(logs), str(tmp_path / "out"), JobConfig())
    assert summary["undated_rows"] == 1 and summary["valid"] == 3
    assert "1 row has a ts that is no timestamp" in capsys.readouterr().out


def test_a_validate_run_leaves_the_callers_session_settings_as_they_were(spark, tmp_path):
    from jobs.validate_logs import run_validate

    logs = tmp_path / "logs.csv"
    pd.DataFrame({"request_id": ["a", "b"], "prompt": ["x", "y"]}).to_csv(logs, index=False)
    spark.conf.set("spark.sql.caseSensitive", "false")
    try:
        assert run_validate(str(logs), str(tmp_path / "out"), JobConfig())["valid"] == 2
        assert spark.conf.get("spark.sql.caseSensitive") == "false"  # the log reader sets it for the run
    finally:
        spark.conf.unset("spark.sql.caseSensitive")


def test_a_date_without_rows_names_the_dates_the_log_holds(tmp_path, capsys):
    from jobs.validate_logs import run_validate

    logs = tmp_path / "logs.parquet"
    ts = pd.to_datetime(["2026-11-01 23:30", "2026-11-02 08:00", "2026-11-03 12:00"], utc=True)
    pd.DataFrame({"request_id": ["a", "b", "c"], "prompt": ["x", "y", "z"], "ts": ts}).to_parquet(logs)
    summary = run_validate(str(logs), str(tmp_path / "out"), JobConfig(), date="2026-11-04")
    assert summary["rows_in"] == 0
    out = capsys.readouterr().out
    assert "no rows dated 2026-11-04" in out and "its 3 rows are dated 2026-11-01 to 2026-11-03" in out


def test_an_empty_ts_string_is_no_timestamp(tmp_path, capsys):
    """JSON exports (and pandas' fillna("") before to_json / to_parquet) write a missing ts as "": the
    row is valid and undated, by the route job and the readers without Spark alike."""
    from jobs.log_table import open_logs
    from jobs.validate_logs import run_validate
    from router_core.log_rows import NO_DAY, row_days

    logs = tmp_path / "logs.jsonl"
    rows = [("a1", "Explain recursion", "2026-11-01T10:00:00Z"), ("a2", "Say hi", "")]
    logs.write_text("".join(json.dumps({"request_id": r, "prompt": p, "ts": t}) + "\n" for r, p, t in rows))
    summary = run_validate(str(logs), str(tmp_path / "out"), JobConfig())
    assert summary["undated_rows"] == 1 and summary["valid"] == 2
    assert "1 row has a ts that is no timestamp" in capsys.readouterr().out
    table = open_logs(str(logs), JobConfig().logs).read(["ts"])
    assert row_days(table, "ts", None) == ["2026-11-01", NO_DAY]


def test_float_token_counts_from_pandas_read_as_integers(spark, tmp_path):
    """pandas writes an integer column with missing values as float64: read as integers (truncated, as
    Spark casts), NaN, inf and numbers outside the long range missing, by the route job and the readers
    without Spark alike."""
    import numpy as np
    import pandas as pd

    from jobs.log_reader import read_log_frame
    from jobs.log_table import open_logs
    from jobs.validate_logs import resolve_input

    p = tmp_path / "pandas.parquet"
    pd.DataFrame(
        {
            "request_id": ["a", "b", "c"],
            "prompt": ["x", "y", "z"],
            "prompt_tokens": [12, np.nan, 7.9],
            "completion_tokens": [3.0, 1e30, np.inf],  # 1e30: outside the long range
        }
    ).to_parquet(p)
    info, _ = resolve_input(str(p), JobConfig())
    rows = read_log_frame(spark, info).orderBy("request_id").collect()
    want = ([12, None, 7], [3, None, None])
    assert ([r["prompt_tokens"] for r in rows], [r["completion_tokens"] for r in rows]) == want
    table = open_logs(str(p), JobConfig().logs).read(["prompt_tokens", "completion_tokens"])
    assert (table.column(0).to_pylist(), table.column(1).to_pylist()) == want


def test_csv_separated_by_semicolons_or_tabs(spark, tmp_path):
    """Excel in locales whose decimal separator is "," writes ";"; pandas' to_csv(sep="\\t") and .tsv
    exports use tabs: the separator is found from the header line."""
    import csv

    import pandas as pd

    from jobs.log_table import open_logs

    frame = pd.DataFrame({"request_id": ["a", "b"], "prompt": ["Say hi, friend", "Two; parts\tand a tab"]})
    frame.to_csv(tmp_path / "tabs.tsv", sep="\t", index=False)
    with open(tmp_path / "excel.csv", "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh, delimiter=";", dialect="excel")
        w.writerows([frame.columns, *frame.itertuples(index=False)])
    want = dict(zip(frame["request_id"], frame["prompt"], strict=True))
    for name in ("tabs.tsv", "excel.csv"):
        v = validate_logs(spark, str(tmp_path / name), JobConfig())
        assert {r["request_id"]: r["prompt"] for r in v.valid.collect()} == want, name
        table = open_logs(str(tmp_path / name), JobConfig().logs).read(["request_id", "prompt"])
        assert dict(zip(*table.to_pydict().values(), strict=True)) == want, name


def test_ts_text_dates_alike_in_the_route_job_and_the_readers_without_spark(spark, tmp_path):
    """savings / label sample (router_core.log_rows.row_days) date ISO-8601 text as Spark does: the forms
    Spark reads and fromisoformat does not, and the reverse, included."""
    from router_core.log_rows import NO_DAY, row_days

    texts = ["2026", "2026-11", "2026-1-1", "+2026-11-01", "2026-11-01 10:00:00 UTC", "20261101",
             "2026-W44-7", "2026-11-01T23:30:00-05:00", "2026-11-01T10", " 2026-11-01 ", "2026-13-01",
             "2026/11/01", "1793575800", "1793575800000",
             # zone ids and offsets as Java reads them (IST: Asia/Kolkata), none after a time without seconds
             "2026-11-01 23:30:00 America/New_York", "2026-11-01T00:30:00Europe/Paris",
             "2026-11-01 00:30:00 GMT+1",
             "2026-11-01T20:30:00 UTC-05", "2026-11-01T00:30:00 IST", "2026-11-01T23:30:00 -1:00",
             "2026-11-01 00:30 +01:00", "2026-11-01T00:30Z", "2026-11-01T00:30:00 europe/paris",
             "2026-11-01T00:30:00 localtime", "2026-11-01T00:30:00+01:00[Europe/Paris]", "2026-11-01 1:02:03",
             "2026-11-01T10:00:00.Z", "2026-11-01T24:00:00", "20261", "202611", "", " "]  # fmt: skip
    lines = [json.dumps({"request_id": f"r{i}", "prompt": "p", "ts": t}) for i, t in enumerate(texts)]
    (tmp_path / "ts.jsonl").write_text("\n".join(lines) + "\n")
    # today: the route job's date for text that is no time
    spark_days, today = _on_one_utc_day(lambda: _dates(spark, tmp_path / "ts.jsonl"))
    python_days = [today if d == NO_DAY else d for d in row_days(pa.table({"ts": texts}), "ts", None)]
    assert python_days == [spark_days[f"r{i}"] for i in range(len(texts))]
    assert python_days[:6] == ["2026-01-01", "2026-11-01", "2026-01-01", "2026-11-01", "2026-11-01", today]
    zoned = ["2026-11-02", "2026-10-31", "2026-10-31", "2026-11-02", "2026-10-31", "2026-11-02", today, today]
    assert python_days[14:22] == zoned


def test_chats_pandas_wrote_as_python_lists_are_quarantined_with_the_fix(spark, tmp_path):
    import pandas as pd

    from router_core.messages import PYTHON_REPR_HINT

    chats = [[{"role": "user", "content": "Say hi"}], [{"role": "user", "content": "Say bye"}]]
    pd.DataFrame({"request_id": ["a", "b"], "messages": chats}).to_csv(tmp_path / "chats.csv", index=False)
    v = validate_logs(spark, str(tmp_path / "chats.csv"), JobConfig())
    rows = v.quarantine.collect()
    assert [r["reason"] for r in rows] == ["malformed_json"] * 2
    assert all(r["detail"].endswith(PYTHON_REPR_HINT) for r in rows)


def _nested_runs() -> list[dict]:
    """Runs as a tracing tool exports them: the chat under inputs, the token counts under usage."""
    return [
        {
            "id": f"run{i}",
            "inputs": {"messages": [{"role": "user", "content": f"Say hi {i}"}], "model": "gpt-4o"},
            "usage": {"prompt_tokens": 10 + i} if i else {},
            "start_time": "2026-11-01T10:00:00Z",
        }
        for i in range(3)
    ]


NESTED_COLUMNS = {
    "request_id": "id",
    "messages": "inputs.messages",
    "model": "inputs.model",
    "prompt_tokens": "usage.prompt_tokens",
    "ts": "start_time",
}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_columns_named_by_a_path_into_nested_fields(spark, tmp_path, fmt):
    """--column messages=inputs.messages reads a nested JSON key or Parquet struct field, in the route job
    and the readers without Spark alike; the quarantine's original row is the row as written."""
    from jobs.log_table import open_logs

    runs = _nested_runs()
    runs[2]["inputs"]["messages"] = []  # no user turn: quarantined
    logs = tmp_path / f"runs.{fmt}"
    if fmt == "jsonl":
        logs.write_text("".join(json.dumps(r) + "\n" for r in runs))
    else:
        pq.write_table(pa.Table.from_pylist(runs), logs)
    cfg = JobConfig.model_validate({"logs": {"columns": NESTED_COLUMNS}})
    v = validate_logs(spark, str(logs), cfg)
    valid = {r["id"]: r for r in v.valid.collect()}
    assert {k: (r["route_text"], r["inputs.model"], r["dt"]) for k, r in valid.items()} == {
        "run0": ("Say hi 0", "gpt-4o", "2026-11-01"),
        "run1": ("Say hi 1", "gpt-4o", "2026-11-01"),
    }
    [bad] = v.quarantine.collect()
    assert (bad["request_id"], bad["reason"]) == ("run2", "no_user_turn")
    assert set(json.loads(bad["original_row"])) == {"id", "inputs", "usage", "start_time"}
    table = open_logs(str(logs), cfg.logs).read(["id", "usage.prompt_tokens", "inputs.model"])
    assert table.to_pydict() == {
        "id": ["run0", "run1", "run2"],
        "usage.prompt_tokens": [None, 11, 12],
        "inputs.model": ["gpt-4o"] * 3,
    }
    assert [valid[k]["usage.prompt_tokens"] for k in ("run0", "run1")] == [None, 11]


def test_a_renamed_column_the_logs_lack_is_an_error_naming_their_columns(tmp_path):
    logs = tmp_path / "runs.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in _nested_runs()))
    for typo in ({"messages": "inputs.mesages"}, {"ts": "start_tme"}):
        cfg = JobConfig.model_validate({"logs": {"columns": {**NESTED_COLUMNS, **typo}}})
        with pytest.raises(SchemaError, match="their columns: id, inputs, usage, start_time") as err:
            check_logs_schema(str(logs), cfg)
        assert f"--column {next(iter(typo))}=" in str(err.value)
    # a column given its own name may be absent, as any optional column
    cfg = JobConfig.model_validate({"logs": {"columns": {**NESTED_COLUMNS, "segment": "segment"}}})
    assert check_logs_schema(str(logs), cfg).optional["model"] == "inputs.model"


def test_a_csv_header_with_dots_is_a_column_not_a_path(spark, tmp_path):
    from jobs.log_table import open_logs

    logs = tmp_path / "usage.csv"
    logs.write_text("request_id,prompt,usage.prompt_tokens\na,Say hi,12\nb,Say bye,n/a\n")
    cfg = JobConfig.model_validate({"logs": {"columns": {"prompt_tokens": "usage.prompt_tokens"}}})
    v = validate_logs(spark, str(logs), cfg)
    assert sorted((r["request_id"], r["usage.prompt_tokens"]) for r in v.valid.collect()) == [
        ("a", 12),
        ("b", None),
    ]
    assert open_logs(str(logs), cfg.logs).read(["usage.prompt_tokens"]).column(0).to_pylist() == [12, None]


def test_responses_api_batch_lines_route_on_their_input(spark, tmp_path):
    """Batch input lines for /v1/responses are requests: routed on the body's input (a text is one user
    turn, a list of items is read as messages), by the route job and the readers without Spark alike."""
    from log_formats_data import RESPONSES_LINES

    from jobs.label_logs import read_candidates

    logs = tmp_path / "responses.jsonl"
    lines = [line for line, _ in RESPONSES_LINES]
    lines.append({**lines[0], "custom_id": "p-emb", "url": "/v1/embeddings"})
    logs.write_text("".join(json.dumps(line) + "\n" for line in lines))
    want = {line["custom_id"]: text for line, text in RESPONSES_LINES} | {"p-emb": "invalid_request"}
    v = validate_logs(spark, str(logs), JobConfig())
    got = {r["custom_id"]: r["route_text"] for r in v.valid.collect()}
    got |= {r["request_id"]: r["reason"] for r in v.quarantine.collect()}
    assert got == want
    full = JobConfig.model_validate({"logs": {"messages_policy": "full"}})  # instructions: a system turn
    [turns] = [
        r for r in validate_logs(spark, str(logs), full).valid.collect() if r["custom_id"] == "p-turns"
    ]
    assert turns["route_text"].splitlines() == [
        "system: Be brief",
        "user: Name a prime",
        "assistant: 7",
        "user: Another one",
    ]
    cands, skipped = read_candidates(str(logs), JobConfig())
    assert dict(zip(cands["request_id"], cands["text"], strict=True)) == {
        k: want[k] for k in cands["request_id"]
    }
    quarantined = Counter(r for k, r in want.items() if k not in set(cands["request_id"]))
    assert skipped == dict(quarantined)


def test_json_null_prompt_routes_on_messages_and_dotted_partition_directories(spark, tmp_path):
    """A JSON null prompt is no prompt (the row routes on its messages, in both readers); a partition
    directory whose name has a dot is a column, not a path."""
    from jobs.label_logs import read_candidates

    part = tmp_path / "meta.seg=P"
    part.mkdir()
    line = {"request_id": "a", "prompt": None, "messages": [{"role": "user", "content": "hi"}]}
    (part / "a.jsonl").write_text(json.dumps(line) + "\n")
    cfg = JobConfig.model_validate({"logs": {"columns": {"segment": "meta.seg"}}})
    [row] = validate_logs(spark, str(tmp_path), cfg).valid.collect()
    assert (row["route_text"], row["meta.seg"]) == ("hi", "P")
    cands, _ = read_candidates(str(tmp_path), cfg)
    assert (cands["text"].tolist(), cands["segment"].tolist()) == (["hi"], ["P"])


def test_log_columns_named_like_the_added_ones_are_kept_apart(spark, tmp_path):
    """validate's own valid/ output routed again, or a log with its own truncated flag: the log's values
    stay under log_<name>, the job's own columns are computed afresh."""
    from jobs.validate_logs import validate_logs

    p = tmp_path / "validated.parquet"
    pq.write_table(
        pa.table({
            "request_id": ["a1"], "prompt": ["Explain recursion"], "route_text": ["stale"],
            "truncated": [True], "image_parts": [3], "norm_text": ["stale"], "prompt_hash": ["0" * 32],
        }),
        p,
    )  # fmt: skip
    row = validate_logs(spark, str(p), JobConfig(), prompt_key=True).valid.collect()[0].asDict()
    assert (row["log_route_text"], row["log_truncated"], row["log_image_parts"]) == ("stale", True, 3)
    assert (row["route_text"], row["truncated"], row["image_parts"]) == ("Explain recursion", False, 0)
    assert row["norm_text"] == "Explain recursion" and row["prompt_hash"] != "0" * 32


def test_token_counts_under_other_names_are_pointed_out():
    from schemas.logs import optional_column_hints

    lines = optional_column_hints(["request_id", "prompt", "Input_Tokens", "output_tokens"], {})
    assert lines == [
        "no prompt_tokens column (counted from the text instead), but a 'Input_Tokens' column: "
        "--column prompt_tokens=Input_Tokens uses its counts",
        "no completion_tokens column (each model's typical answer length assumed instead), but a "
        "'output_tokens' column: --column completion_tokens=output_tokens uses its counts",
    ]
    mapped = {"prompt_tokens": "input_tokens", "completion_tokens": "output_tokens"}
    assert optional_column_hints(["input_tokens", "output_tokens"], mapped) == []


def test_a_timestamp_and_a_model_under_other_names_are_pointed_out(tmp_path, capsys):
    """Exports name the request time created_at / timestamp and the model Model: without a hint every row
    would be dated today and savings would ask for --served-model."""
    from jobs.validate_logs import run_validate
    from schemas.logs import optional_column_hints

    logs = tmp_path / "export.parquet"
    created = pd.to_datetime(["2026-11-01 10:00"], utc=True)
    frame = pd.DataFrame(
        {"request_id": ["a"], "prompt": ["Say hi"], "created_at": created, "Model": ["gpt-4o"]}
    )
    frame.to_parquet(logs)
    run_validate(str(logs), str(tmp_path / "out"), JobConfig())
    out = capsys.readouterr().out
    assert (
        "no ts column (every row is dated --date, else today (UTC)), but a 'created_at' column: "
        "--column ts=created_at dates the rows by it" in out
    )
    assert (
        "no model column (savings then needs --served-model), but a 'Model' column: --column model=Model"
        in out
    )
    assert optional_column_hints(["prompt", "timestamp"], {"dt": "dt"}) == []  # a dt partition dates them
    assert optional_column_hints(["prompt", "timestamp"], {"ts": "timestamp"}) == []


def test_pandas_all_none_id_and_text_columns_are_rows_not_errors(spark, tmp_path):
    """pandas writes an all-None column, and every column of a frame with no rows, as type null: a day of
    chats in a log with a prompt column routes on its messages, other rows are quarantined, none stop
    the job."""
    import pandas as pd

    chats = [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "yo"}]]
    cases = {
        "chats.parquet": ({"request_id": ["a", "b"], "prompt": [None, None], "messages": chats}, []),
        "no_prompt.parquet": ({"request_id": ["a", "b"], "prompt": [None, None]}, ["null_prompt"] * 2),
        "no_id.parquet": ({"request_id": [None, None], "prompt": ["x", "y"]}, ["null_request_id"] * 2),
        "no_rows.parquet": ({"request_id": ["a"], "prompt": ["x"]}, None),
    }
    for name, (frame, reasons) in cases.items():
        df = pd.DataFrame(frame)
        (df if reasons is not None else df.iloc[:0]).to_parquet(tmp_path / name)
        v = validate_logs(spark, str(tmp_path / name), JobConfig())
        quarantined = sorted(r["reason"] for r in v.quarantine.collect())
        assert quarantined == (reasons or []), name
        rows_in = len(frame["request_id"]) if reasons is not None else 0
        assert v.valid.count() == rows_in - len(quarantined), name


def test_json_lines_that_are_not_utf8_are_quarantined_not_routed_mangled(tmp_path):
    """Spark's text decoders (and Python's with errors='replace') turn bytes that are not UTF-8 into
    U+FFFD: such a line is quarantined as invalid_utf8, by the route job and the readers without Spark
    alike, and its original_row is UTF-8 text that Parquet readers read back."""
    from jobs.log_table import open_logs
    from jobs.validate_logs import run_validate

    logs = tmp_path / "logs.jsonl"
    lines = [b'{"request_id": "u1", "prompt": "ok"}', b'{"request_id": "u2", "prompt": "caf\xe9 au lait"}']
    logs.write_bytes(b"\n".join(lines) + b"\n")
    summary = run_validate(str(logs), str(tmp_path / "out"), JobConfig())
    assert summary["valid"] == 1 and summary["quarantined"] == 1
    (row,) = pq.read_table(tmp_path / "out" / "quarantine").to_pylist()
    detail = "line is not UTF-8: byte 35: invalid continuation byte"
    assert (row["request_id"], row["reason"], row["detail"]) == ("u2", "invalid_utf8", detail)
    assert json.loads(row["original_row"])["prompt"] == "caf\ufffd au lait"
    table = open_logs(str(logs), JobConfig().logs)
    assert table.problems == [None, ("invalid_utf8", detail)]
    assert table.requests == [True, True]  # served requests still, for savings


def test_a_directory_of_csv_exports_whose_columns_changed(spark, tmp_path):
    """Monthly exports to which a column was added and whose columns were reordered: every file is read
    by its own header (Spark alone would read them all by the first one, each value in the wrong
    column), as savings and label sample read them."""
    import pandas as pd

    from jobs.log_table import open_logs

    logs = tmp_path / "exports"
    logs.mkdir()
    pd.DataFrame({"request_id": ["a"], "prompt": ["Say hi"], "model": ["gpt-4o"]}).to_csv(
        logs / "2026-10.csv", index=False
    )
    pd.DataFrame(
        {"model": ["gpt-4o-mini"], "prompt": ["Name a colour"], "request_id": ["b"], "segment": ["web"]}
    ).to_csv(logs / "2026-11.csv", index=False)
    want = {
        "a": {"request_id": "a", "prompt": "Say hi", "model": "gpt-4o", "segment": None},
        "b": {"request_id": "b", "prompt": "Name a colour", "model": "gpt-4o-mini", "segment": "web"},
    }
    cols = list(want["a"])
    v = validate_logs(spark, str(logs), JobConfig())
    assert {r["request_id"]: {c: r[c] for c in cols} for r in v.valid.collect()} == want
    table = open_logs(str(logs), JobConfig().logs).read(cols)
    assert {r["request_id"]: r for r in table.to_pylist()} == want


def test_a_json_key_repeated_in_a_line_keeps_its_last_value(spark, tmp_path):
    """Structured loggers (zap, pino) write a field added twice twice: the line is a request, its last
    value counts in the route job as in savings and label sample (Python's json)."""
    from jobs.log_table import open_logs

    logs = tmp_path / "app.jsonl"
    logs.write_text(
        '{"request_id": "a", "model": "gpt-4o", "prompt": "Say hi", "model": "gpt-4o-mini"}\n'
        '{"request_id": "b", "model": "gpt-4o", "prompt": "Name a colour"}\n'
    )
    v = validate_logs(spark, str(logs), JobConfig())
    assert v.quarantine.count() == 0
    assert {r["request_id"]: r["model"] for r in v.valid.collect()} == {"a": "gpt-4o-mini", "b": "gpt-4o"}
    table = open_logs(str(logs), JobConfig().logs).read(["request_id", "model"])
    assert dict(zip(*table.to_pydict().values(), strict=True)) == {"a": "gpt-4o-mini", "b": "gpt-4o"}


@pytest.mark.parametrize("name", ["export.jsonl", "export.csv"])
def test_columns_whose_names_differ_only_in_case_are_two_columns(spark, tmp_path, name):
    """An export with a "model" column beside a "Model" one (a flattened metadata field, say): each is its
    own column, as savings reads them (Spark compares names without case: an ambiguous reference for
    JSON, "model2" for CSV)."""
    import pandas as pd

    from jobs.log_table import open_logs

    logs = tmp_path / name
    frame = pd.DataFrame(
        {"request_id": ["a", "b"], "prompt": ["Say hi", "Name a colour"], "model": ["gpt-4o", "gpt-4o-mini"],
         "Model": ["GPT-4o", "GPT-4o mini"]}
    )  # fmt: skip
    if name.endswith(".csv"):
        frame.to_csv(logs, index=False)
    else:
        frame.to_json(logs, orient="records", lines=True)
    want = {"a": ("gpt-4o", "GPT-4o"), "b": ("gpt-4o-mini", "GPT-4o mini")}
    v = validate_logs(spark, str(logs), JobConfig())
    assert {r["request_id"]: (r["model"], r["Model"]) for r in v.valid.collect()} == want
    table = open_logs(str(logs), JobConfig().logs).read(["request_id", "model", "Model"])
    assert {r["request_id"]: (r["model"], r["Model"]) for r in table.to_pylist()} == want


def test_csv_null_fields_written_as_backslash_n_are_null(spark, tmp_path):
    """Snowflake's CSV unload (its default NULL_IF), MySQL's INTO OUTFILE and Hive write SQL NULL as \\N:
    a null prompt is null_prompt and a null id null_request_id, not the text "\\N" routed, in the route
    job as in savings."""
    import csv

    from jobs.log_table import open_logs

    logs = tmp_path / "unload.csv"
    with open(logs, "w", newline="") as fh:
        csv.writer(fh).writerows([
            ["REQUEST_ID", "PROMPT", "MODEL", "PROMPT_TOKENS"],
            ["a", "Say hi", "\\N", "\\N"],
            ["b", "\\N", "gpt-4o", "12"],
            ["\\N", "Name a colour", "gpt-4o", "7"],
        ])  # fmt: skip
    cfg = JobConfig.model_validate(
        {"logs": {"columns": {"request_id": "REQUEST_ID", "prompt": "PROMPT", "model": "MODEL",
                              "prompt_tokens": "PROMPT_TOKENS"}}}
    )  # fmt: skip
    v = validate_logs(spark, str(logs), cfg)
    valid = [(r["REQUEST_ID"], r["MODEL"], r["PROMPT_TOKENS"]) for r in v.valid.collect()]
    assert valid == [("a", None, None)]
    quarantined = {r["reason"]: r["request_id"] for r in v.quarantine.collect()}
    assert quarantined == {"null_prompt": "b", "null_request_id": None}
    table = open_logs(str(logs), cfg.logs).read(["REQUEST_ID", "PROMPT", "MODEL", "PROMPT_TOKENS"])
    assert table.to_pylist() == [
        {"REQUEST_ID": "a", "PROMPT": "Say hi", "MODEL": None, "PROMPT_TOKENS": None},
        {"REQUEST_ID": "b", "PROMPT": None, "MODEL": "gpt-4o", "PROMPT_TOKENS": 12},
        {"REQUEST_ID": None, "PROMPT": "Name a colour", "MODEL": "gpt-4o", "PROMPT_TOKENS": 7},
    ]


def test_snowflake_decimal_ids_counts_and_epoch_ts(spark, tmp_path):
    """Snowflake unloads NUMBER columns to Parquet as decimals: whole-number ids are ids, token counts
    counts and an epoch ts a time, in the route job as in savings."""
    import decimal

    from jobs.log_table import open_logs
    from router_core.log_rows import row_days

    D = decimal.Decimal
    pq.write_table(
        pa.table({
            "request_id": pa.array([D(1001), D(1002)], pa.decimal128(38, 0)),
            "prompt": ["Say hi", "Name a colour"],
            "ts": pa.array([D(1793527200), None], pa.decimal128(38, 0)),
            "prompt_tokens": pa.array([D(12), None], pa.decimal128(38, 0)),
        }),
        tmp_path / "unload.parquet",
    )  # fmt: skip
    v = validate_logs(spark, str(tmp_path / "unload.parquet"), JobConfig())
    rows, today = _on_one_utc_day(v.valid.collect)
    got = {str(r["request_id"]): (r["prompt_tokens"], r["dt"]) for r in rows}
    assert got == {"1001": (12, "2026-11-01"), "1002": (None, today)} and v.quarantine.count() == 0
    table = open_logs(str(tmp_path / "unload.parquet"), JobConfig().logs).read(["request_id", "ts"])
    assert row_days(table, "ts", None) == ["2026-11-01", "(unknown)"]


def test_int96_timestamps_of_spark_hive_and_impala_parquet(spark, tmp_path):
    """Spark (spark.sql.parquet.outputTimestampType=INT96), Hive and Impala write timestamps as INT96,
    which pyarrow reads as nanoseconds but Spark reads as timestamps: they date rows, as in savings."""
    from jobs.log_table import open_logs
    from router_core.log_rows import row_days

    ts = [dt.datetime(2026, 11, 1, 10), dt.datetime(2026, 11, 2, 23, 30)]
    table = pa.table({"request_id": ["a", "b"], "prompt": ["Say hi", "Name a colour"],
                      "ts": pa.array(ts, pa.timestamp("ns"))})  # fmt: skip
    pq.write_table(table, tmp_path / "hive.parquet", use_deprecated_int96_timestamps=True)
    v = validate_logs(spark, str(tmp_path / "hive.parquet"), JobConfig())
    assert {r["request_id"]: r["dt"] for r in v.valid.collect()} == {"a": "2026-11-01", "b": "2026-11-02"}
    read = open_logs(str(tmp_path / "hive.parquet"), JobConfig().logs).read(["ts"])
    assert row_days(read, "ts", None) == ["2026-11-01", "2026-11-02"]


def test_csv_rows_whose_fields_do_not_line_up_with_the_header(spark, tmp_path):
    """A CSV written with ",".join(fields): a prompt holding a comma splits into two fields. Read on, the
    prompt would be cut at the comma and the model be its second half; the row is quarantined with the
    line as written, and savings leaves it out, counted."""
    from jobs.log_table import open_logs

    rows = [("request_id", "prompt", "model"), ("a", "Say hi, briefly", "gpt-4o"), ("b", "Name a colour")]
    rows.append(("c", "Name a colour", "gpt-4o"))
    logs = tmp_path / "handmade.csv"
    logs.write_text("".join(",".join(r) + "\n" for r in rows))
    v = validate_logs(spark, str(logs), JobConfig())
    assert [r["request_id"] for r in v.valid.collect()] == ["c"]
    detail = (
        "the row's fields do not line up with the header's 3 columns: a field holding ',', a quote or a "
        "line break must be quoted"
    )
    got = {r["request_id"]: (r["reason"], r["detail"], r["original_row"]) for r in v.quarantine.collect()}
    assert got == {
        "a": ("malformed_csv", detail, "a,Say hi, briefly,gpt-4o"),
        "b": ("malformed_csv", detail, "b,Name a colour"),
    }
    logs_table = open_logs(str(logs), JobConfig().logs)
    assert logs_table.problems == [("malformed_csv", detail), ("malformed_csv", detail), None]
    assert logs_table.requests == [False, False, True]


def test_a_ui_exports_spaced_headers_are_named_in_the_missing_column_error(tmp_path):
    """A dashboard's CSV export heads its columns "Request ID", "Prompt", "Prompt Tokens": the error names
    the --column (quoted for the shell) that reads each, and the token count's hint does too."""
    import pandas as pd

    from schemas.logs import LogColumns, optional_column_hints

    logs = tmp_path / "export.csv"
    pd.DataFrame({"Request ID": ["a"], "Prompt": ["Say hi"], "Prompt Tokens": [3]}).to_csv(logs, index=False)
    with pytest.raises(SchemaError, match=r"name it with --column 'request_id=Request ID'$"):
        check_logs_schema(str(logs), JobConfig())
    cfg = JobConfig(logs={"columns": LogColumns(request_id="Request ID")})
    with pytest.raises(SchemaError, match=r"name it with --column prompt=Prompt$"):
        check_logs_schema(str(logs), cfg)
    assert optional_column_hints(["Request ID", "Prompt", "Prompt Tokens"], {}) == [
        "no prompt_tokens column (counted from the text instead), but a 'Prompt Tokens' column: "
        "--column 'prompt_tokens=Prompt Tokens' uses its counts"
    ]


def test_daily_pandas_files_with_and_without_a_missing_token_count(tmp_path):
    """pandas writes an integer column as int64 on a day without a missing value and as float64 on a day
    with one: the type error names the astype that writes both alike."""
    import pandas as pd

    logs = tmp_path / "days"
    logs.mkdir()
    day1 = pd.DataFrame({"request_id": ["a"], "prompt": ["Say hi"], "prompt_tokens": [3]})
    day1.to_parquet(logs / "d1.parquet")
    day2 = pd.DataFrame({"request_id": ["b", "c"], "prompt": ["Hi", "Yo"], "prompt_tokens": [2, None]})
    day2.to_parquet(logs / "d2.parquet")
    with pytest.raises(SchemaError) as err:
        check_logs_schema(str(logs), JobConfig())
    assert str(err.value).endswith(
        "rewrite the files with one type (pandas writes an integer column with a missing value as float64: "
        "df['prompt_tokens'].astype('Int64') before to_parquet)"
    )


def _routed_or_reasons(v) -> dict[str, str]:
    got = {r["custom_id"]: r["route_text"] for r in v.valid.collect()}
    return got | {r["request_id"]: r["reason"] for r in v.quarantine.collect() if r["request_id"]}


def _candidates_agree(logs, want: dict[str, str]) -> None:
    """label sample's reader (no Spark) routes and skips every line as the route job does."""
    from jobs.label_logs import read_candidates

    cands, skipped = read_candidates(str(logs), JobConfig())
    assert dict(zip(cands["request_id"], cands["text"], strict=True)) == {
        k: want[k] for k in cands["request_id"]
    }
    quarantined = Counter(r for k, r in want.items() if k not in set(cands["request_id"]))
    extra = Counter(skipped)
    extra.subtract(quarantined)
    assert min(extra.values()) >= 0, extra  # lines without a custom_id on top


def test_azure_openai_batch_lines_are_requests_of_their_endpoint(spark, tmp_path):
    """Azure OpenAI's Batch input files name the endpoints without /v1 (/chat/completions, /responses):
    read as the same endpoints, by the route job and the readers without Spark alike."""
    from log_formats_data import RESPONSES_LINES, request_line

    def azure(line: dict) -> dict:
        return {**line, "url": line["url"].removeprefix("/v1")}

    lines = [azure(line) for line, _ in RESPONSES_LINES]
    chat = {"model": "my-deployment", "messages": [{"role": "user", "content": "Say hi"}]}
    lines += [
        request_line("z-chat", "/chat/completions", chat),
        request_line("z-emb", "/embeddings", chat),
        request_line("z-v2", "/v2/chat/completions", chat),
    ]
    logs = tmp_path / "azure.jsonl"
    logs.write_text("".join(json.dumps(line) + "\n" for line in lines))
    want = {line["custom_id"]: text for line, text in RESPONSES_LINES}
    want |= {"z-chat": "Say hi", "z-emb": "invalid_request", "z-v2": "invalid_request"}
    v = validate_logs(spark, str(logs), JobConfig())
    assert v.fmt == "openai_batch" and _routed_or_reasons(v) == want
    details = {r["request_id"]: r["detail"] for r in v.quarantine.collect()}
    assert details["z-emb"] == (
        "url is /embeddings, not /v1/chat/completions or /v1/responses "
        "(/chat/completions or /responses in Azure OpenAI's files)"
    )
    assert "a Responses request goes to /v1/responses (/responses on Azure)" in details["p-chaturl"]
    _candidates_agree(logs, want)


def test_anthropic_message_batches_lines_route_on_system_and_messages(spark, tmp_path):
    """An Anthropic Message Batches request file: routed on params.messages after params.system (a text
    or text blocks) as a system message, image blocks counted; lines without params or messages are
    quarantined with a reason, in the route job and the readers without Spark alike."""
    from log_formats_data import ANTHROPIC_LINES, write_anthropic_batch

    case = write_anthropic_batch(tmp_path / "requests.jsonl")
    want = {line["custom_id"]: text for line, text in ANTHROPIC_LINES}
    v = validate_logs(spark, str(case.path), JobConfig())
    assert v.fmt == "anthropic_batch" and _routed_or_reasons(v) == want
    q = v.quarantine.collect()
    assert len(q) == len(case.quarantined) + case.no_id_quarantined
    details = {r["request_id"]: r["detail"] for r in q}
    assert details["a-noparams"] == details["a-params-text"] == "params is missing or not a JSON object"
    assert details["a-nomsgs"].startswith("params has no messages")
    assert {r["custom_id"]: r["image_parts"] for r in v.valid.collect()}["a-blocks"] == 1
    full = JobConfig.model_validate({"logs": {"messages_policy": "full"}})
    texts = {
        r["custom_id"]: r["route_text"] for r in validate_logs(spark, str(case.path), full).valid.collect()
    }
    assert texts["a-blocks"].splitlines() == ["system: Be brief", "user: What is in this picture?"]
    assert texts["a-turns"].splitlines() == [
        "system: Be brief",
        "user: Name a prime",
        "assistant: 7",
        "user: Another one",
    ]
    _candidates_agree(case.path, want)
    from jobs.label_logs import read_candidates

    cands, _ = read_candidates(str(case.path), full)
    assert dict(zip(cands["request_id"], cands["text"], strict=True)) == texts


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_keys_that_first_appear_past_the_first_1000_rows(spark, tmp_path, fmt):
    """A log whose completion calls came first and chat calls (with a model and a ts) later, past the
    first 1,000 rows: the late keys are columns, read alike by the route job and the readers without
    Spark; a key seen only nested in a request body is no column."""
    from jobs.label_logs import read_candidates

    rows = [{"request_id": f"p{i}", "prompt": f"Question {i}?"} for i in range(1200)]
    rows += [
        {"request_id": "m0", "messages": [{"role": "user", "content": "Chat 0"}], "ts": 1793527200000},
        {"request_id": "m1", "messages": [{"role": "user", "content": "Chat 1"}], "model": "gpt-4o"},
        {"request_id": "b0", "meta": {"segment": "nested"}, "prompt": "Body call"},
    ]
    logs = tmp_path / f"logs.{fmt}"
    if fmt == "jsonl":
        logs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        logs.write_text(json.dumps(rows, indent=2))  # a tracing tool's "export as JSON"
    v = validate_logs(spark, str(logs), JobConfig())
    assert v.quarantine.count() == 0
    valid = {r["request_id"]: r for r in v.valid.collect()}
    assert "segment" not in valid["b0"]  # the nested key is no column
    late = {k: (valid[k]["route_text"], valid[k]["model"]) for k in ("p0", "m0", "m1")}
    assert late == {"p0": ("Question 0?", None), "m0": ("Chat 0", None), "m1": ("Chat 1", "gpt-4o")}
    assert valid["m0"]["dt"] == "2026-11-01"  # its ts, epoch milliseconds
    cands, skipped = read_candidates(str(logs), JobConfig())
    assert not skipped and len(cands) == len(rows)
    got = {k: (t, m) for k, t, m in zip(cands["request_id"], cands["text"], cands["model"], strict=True)}
    assert [got[k] for k in ("p0", "m0", "m1")] == [
        ("Question 0?", None),
        ("Chat 0", None),
        ("Chat 1", "gpt-4o"),
    ]


def test_daily_parquet_files_whose_columns_changed(spark, tmp_path):
    """Daily Parquet files as pandas and pyarrow write them as a log's columns change: a column added
    (segment), a categorical of more categories (another index width), text as large_string, a usage
    struct gaining a field. Read as one table, null where a file lacks a column, by the route job and
    the readers without Spark alike."""
    import pandas as pd

    from jobs.log_table import open_logs

    logs = tmp_path / "days"
    logs.mkdir()
    usage = pa.struct([("prompt_tokens", pa.int64())])
    pd.DataFrame(
        {
            "request_id": ["a1", "a2"],
            "prompt": ["Say hi", "Name a prime"],
            "model": pd.Categorical(["gpt-4o", "gpt-4o-mini"]),
            "usage": [{"prompt_tokens": 3}, {"prompt_tokens": 4}],
        }
    ).to_parquet(logs / "2026-11-01.parquet")
    models = [f"ft:gpt-4o-mini:team-{i}" for i in range(200)]  # int16 category codes
    pd.DataFrame(
        {
            "request_id": ["b1"],
            "prompt": ["Explain TCP"],
            "model": pd.Categorical([models[7]], categories=models),
            "usage": [{"prompt_tokens": 5}],
            "segment": ["support"],
        }
    ).to_parquet(logs / "2026-11-02.parquet")
    usage = pa.struct([("prompt_tokens", pa.int64()), ("cached_tokens", pa.int64())])
    day3 = {"request_id": ["c1"], "prompt": ["Hello"], "model": ["gpt-4o"]}
    table = pa.table({k: pa.array(v, pa.large_string()) for k, v in day3.items()})
    pq.write_table(table.append_column("usage", pa.array([{"prompt_tokens": 6, "cached_tokens": 2}], usage)),
                   logs / "2026-11-03.parquet")  # fmt: skip
    cfg = JobConfig.model_validate({"logs": {"columns": {"prompt_tokens": "usage.prompt_tokens"}}})
    v = validate_logs(spark, str(logs), cfg)
    assert v.quarantine.count() == 0
    got = {r["request_id"]: (r["route_text"], r["model"], r["segment"]) for r in v.valid.collect()}
    assert got == {
        "a1": ("Say hi", "gpt-4o", None),
        "a2": ("Name a prime", "gpt-4o-mini", None),
        "b1": ("Explain TCP", models[7], "support"),
        "c1": ("Hello", "gpt-4o", None),
    }
    read = open_logs(str(logs), cfg.logs).read(["request_id", "model", "segment", "usage.prompt_tokens"])
    assert read.to_pydict() == {
        "request_id": ["a1", "a2", "b1", "c1"],
        "model": ["gpt-4o", "gpt-4o-mini", models[7], "gpt-4o"],
        "segment": [None, None, "support", None],
        "usage.prompt_tokens": [3, 4, 5, 6],
    }


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_nan_values_python_json_writes_are_null(spark, tmp_path, fmt):
    """json.dumps of a pandas frame's records writes a missing token count as a bare NaN (and an
    infinite one as Infinity), which JSON lacks: such rows are read with nulls there, not quarantined,
    by the route job and the readers without Spark alike."""
    import pandas as pd

    from jobs.log_table import open_logs

    df = pd.DataFrame(
        {
            "request_id": ["a", "b", "c"],
            "prompt": ["Say hi", "In pandas, why is [1, NaN] a float list?", "Name a prime"],
            "prompt_tokens": [3.0, float("nan"), float("-inf")],
        }
    )
    rows = df.to_dict("records")
    logs = tmp_path / f"logs.{fmt}"
    if fmt == "jsonl":
        logs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        logs.write_text(json.dumps(rows))
    assert "NaN}" in logs.read_text() and "-Infinity}" in logs.read_text()
    v = validate_logs(spark, str(logs), JobConfig())
    assert v.quarantine.count() == 0
    got = {r["request_id"]: (r["route_text"], r["prompt_tokens"]) for r in v.valid.collect()}
    want = {"a": ("Say hi", 3), "b": (rows[1]["prompt"], None), "c": ("Name a prime", None)}
    assert got == want
    read = open_logs(str(logs), JobConfig().logs).read(["request_id", "prompt", "prompt_tokens"])
    assert {k: (p, t) for k, p, t in zip(*read.to_pydict().values(), strict=True)} == want


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_request_id_in_two_files_keeps_the_first_files_row(spark, tmp_path, fmt):
    """A request logged again in a later day's export (a retry): the row of the first file by name is
    kept, however large the files (Spark reads the largest first), by the route job and the readers
    without Spark alike."""
    import pandas as pd

    from jobs.label_logs import read_candidates

    days = {
        "2026-11-01": [("r1", "Say hi")],
        "2026-11-02": [("r1", "Say hi again")] + [(f"x{i}", "Explain TCP " * 50) for i in range(200)],
    }
    for day, rows in days.items():
        df = pd.DataFrame(rows, columns=["request_id", "prompt"])
        if fmt == "jsonl":
            df.to_json(tmp_path / f"{day}.jsonl", orient="records", lines=True)
        else:
            df.to_parquet(tmp_path / f"{day}.parquet")
    v = validate_logs(spark, str(tmp_path), JobConfig())
    [dup] = v.quarantine.collect()
    assert (dup["request_id"], dup["reason"], json.loads(dup["original_row"])["prompt"]) == (
        "r1",
        "duplicate_request_id",
        "Say hi again",
    )
    assert {r["request_id"]: r["route_text"] for r in v.valid.collect()}["r1"] == "Say hi"
    cands, skipped = read_candidates(str(tmp_path), JobConfig())
    assert skipped == {"duplicate_request_id": 1}
    assert dict(zip(cands["request_id"], cands["text"], strict=True))["r1"] == "Say hi"


def test_two_json_objects_on_one_line_are_quarantined_not_half_read(spark, tmp_path):
    """Two loggers writing to one file without a lock (or a lost line break) put two objects on a line,
    and an export appended to another gives two arrays in a file: quarantined as malformed_json, not
    read up to the first value, by the route job and the readers without Spark alike; a prompt with
    braces in its text is no second value."""
    from jobs.label_logs import read_candidates

    code = "if (x) { return [1]; } else { y(); }"
    lines = [
        json.dumps({"request_id": "a", "prompt": code}),
        json.dumps({"request_id": "b", "prompt": "Say hi"}) + json.dumps({"request_id": "c", "prompt": "Yo"}),
        json.dumps({"request_id": "d", "prompt": "Name a prime"}) + " \r",
    ]
    logs = tmp_path / "logs.jsonl"
    logs.write_text("\n".join(lines) + "\n")
    v = validate_logs(spark, str(logs), JobConfig())
    assert {r["request_id"]: r["route_text"] for r in v.valid.collect()} == {"a": code, "d": "Name a prime"}
    [bad] = v.quarantine.collect()
    assert (bad["reason"], bad["detail"], bad["original_row"]) == (
        "malformed_json",
        "line holds more than one JSON value (a missing line break?)",
        lines[1],
    )
    cands, skipped = read_candidates(str(logs), JobConfig())
    assert (list(cands["request_id"]), skipped) == (["a", "d"], {"malformed_json": 1})
    arrays = tmp_path / "arrays.json"
    arrays.write_text(json.dumps([{"request_id": "a", "prompt": "x"}]) + json.dumps([{"request_id": "b"}]))
    [bad] = validate_logs(spark, str(arrays), JobConfig()).quarantine.collect()
    assert (bad["reason"], bad["detail"]) == (
        "malformed_json",
        "file is not a JSON array (not valid JSON, or cut short)",
    )
    assert len(read_candidates(str(arrays), JobConfig())[0]) == 0


def test_a_batch_line_with_a_string_longer_than_sparks_json_parser_reads(spark, tmp_path):
    """An OpenAI Batch vision request with its image inline as base64 of over 20,000,000 characters:
    Spark's JSON parser cannot read the line, so it is quarantined with a detail that says so and names
    the fix, by the route job and the readers without Spark alike."""
    from log_formats_data import batch_line

    from jobs.label_logs import read_candidates

    image = "data:image/png;base64," + "A" * 20_000_000
    chat = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                          {"type": "image_url", "image_url": {"url": image}}]}]  # fmt: skip
    logs = tmp_path / "batch.jsonl"
    logs.write_text(
        json.dumps(batch_line("big", chat))
        + "\n"
        + json.dumps(batch_line("ok", [{"role": "user", "content": "Say hi"}]))
        + "\n"
    )
    v = validate_logs(spark, str(logs), JobConfig())
    assert [r["custom_id"] for r in v.valid.collect()] == ["ok"]
    [bad] = v.quarantine.collect()
    assert (bad["request_id"], bad["reason"]) == ("big", "malformed_json")
    assert bad["detail"].startswith(
        "line of over 20,000,000 characters is no valid JSON, or holds a JSON string"
    )
    assert bad["detail"].endswith("(an inline base64 image or file? send it by URL)")
    cands, skipped = read_candidates(str(logs), JobConfig())
    assert (list(cands["request_id"]), skipped) == (["ok"], {"malformed_json": 1})
