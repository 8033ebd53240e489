"""The labelling loop against a real OpenAI-compatible server on 127.0.0.1 (tests/openai_server.py):
sample -> Batch files -> server answers -> judge -> ingest -> train -> route, with fault injection,
kill-and-resume of the judge step, and safe re-runs of `batch submit` / `batch collect`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import jobs.cli  # noqa: F401  (registers every command)
from jobs.app import EXIT_BAD_INPUT, app
from router_core.labeling.batch_api import JOURNAL_NAME
from tests.openai_server import FakeOpenAI, body_key

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-test-7f3a9c"  # must never appear in any file or output
STRONG, WEAK = "strong-model", "weak-model"
TOPICS = ["algebra", "poetry", "chemistry", "cooking", "history", "football"]


def cli(*args: str, env: dict[str, str] | None = None):
    res = CliRunner().invoke(app, list(args), env={"OPENAI_API_KEY": KEY, **(env or {})})
    assert KEY not in res.output
    return res


def write_logs(path: Path, n: int = 48) -> list[str]:
    """Chat-style prompt logs over two days and two segments; every third prompt is HARD (only the strong
    model answers it well), one request repeats another prompt, one has no prompt."""
    ids, prompts = [], []
    for i in range(n):
        hard = "HARD proof: " if i % 3 == 0 else ""
        ids.append(f"req-{i:03d}")
        prompts.append(f"{hard}Question {i} about {TOPICS[i % len(TOPICS)]}: explain item {i}.")
    ids += ["req-dup", "req-null"]
    prompts += [prompts[1], None]
    m = len(ids)
    table = pa.table(
        {
            "request_id": ids,
            "prompt": pa.array(prompts, pa.string()),
            "ts": pa.array(
                [pd.Timestamp("2026-11-01", tz="UTC") + pd.Timedelta(hours=11 * i) for i in range(m)]
            ),
            "segment": ["web" if i % 2 else "api" for i in range(m)],
            "model": [STRONG] * m,
        }
    )
    pq.write_table(table, path)
    return ids


def write_prompts(logs: Path, prompts: list | None) -> Path:
    """Logs of ``prompts`` (ids p0, p1, ...), else write_logs's."""
    if prompts is None:
        write_logs(logs)
    else:
        pd.DataFrame({"request_id": [f"p{i}" for i in range(len(prompts))], "prompt": prompts}).to_parquet(
            logs
        )
    return logs


def sampled(tmp: Path, n: int, out: str = "s", prompts: list[str] | None = None) -> Path:
    """Logs (``prompts``, else write_logs's) -> `label sample --models` into ``tmp/out``: both models'
    Batch request files, not submitted yet."""
    logs = write_prompts(tmp / "logs.parquet", prompts)
    sample = tmp / out
    res = cli("label", "sample", "--logs", str(logs), "--n", str(n), "--out", str(sample),
              "--models", f"{STRONG},{WEAK}")  # fmt: skip
    assert res.exit_code == 0, res.output
    return sample


def answered_sample(
    tmp: Path,
    url: str,
    n: int,
    strategy: str = "random",
    router: str | None = None,
    prompts: list | None = None,
) -> Path:
    """Logs -> `label sample` -> `batch submit` -> `batch collect --wait`: a sample with both answers."""
    logs = write_prompts(tmp / "logs.parquet", prompts)
    sample = tmp / f"sample-{strategy}"
    args = [
        "label",
        "sample",
        "--logs",
        str(logs),
        "--n",
        str(n),
        "--out",
        str(sample),
        "--strategy",
        strategy,
    ]
    args += ["--router", router] if router else ["--models", f"{STRONG},{WEAK}"]
    res = cli(*args)
    assert res.exit_code == 0, res.output
    res = cli("batch", "submit", str(sample), "--base-url", url)
    assert res.exit_code == 0, res.output
    res = cli("batch", "collect", str(sample), "--base-url", url, "--wait", "--poll-s", "0")
    assert res.exit_code == 0, res.output
    return sample


def test_sample_writes_batch_files_and_manifest(server, tmp_path):
    fake, url = server
    sample = answered_sample(tmp_path, url, 10, "stratified")
    man = json.loads((sample / "manifest.json").read_text())
    assert man["strategy"] == "stratified" and man["n"] == 10 and man["n_requested"] == 10
    assert man["valid_requests"] == 49 and man["skipped_requests"] == {"null_prompt": 1}
    assert len(man["prompts"]) == 10 and all(
        p["reason"].startswith("stratified: stratum 2026-") for p in man["prompts"]
    )
    for model, files in man["files"].items():
        lines = [json.loads(x) for f in files for x in (sample / f).read_text().splitlines()]
        assert [ln["custom_id"] for ln in lines] == [p["custom_id"] for p in man["prompts"]]
        assert {ln["body"]["model"] for ln in lines} == {model} and lines[0]["url"] == "/v1/chat/completions"
        assert lines[0]["body"]["messages"][0]["role"] == "user"
        out = [
            json.loads(x)
            for f in files
            for x in (sample / f).with_suffix(".output.jsonl").read_text().splitlines()
        ]
        assert sorted(o["custom_id"] for o in out) == sorted(ln["custom_id"] for ln in lines)
    summary = json.loads((sample / "_batch_summary.json").read_text())
    assert [(f["answered"], f["failed"], f["missing"]) for f in summary["files"]] == [(10, 0, 0), (10, 0, 0)]
    assert fake.api_keys == {f"Bearer {KEY}"}
    assert not any(KEY in p.read_text() for p in sample.rglob("*") if p.is_file() and p.suffix != ".parquet")


def judge_cmd(sample: Path, out: Path, url: str, *extra: str, timeout_s: float = 2) -> list[str]:
    """The server's timeout faults answer nothing until the client gives up; 2 s is far above a normal
    call's time on a loaded machine, so only they time out and no answered call is sent twice."""
    return ["label", "judge", "--sample", str(sample), "--out", str(out), "--endpoint", url,
            "--judge-model", "judge-model", "--backoff-s", "0.01", "--timeout-s", str(timeout_s),
            *extra]  # fmt: skip


def judge_bodies(out: Path) -> dict[str, str]:
    """custom_id -> server body key of every judge request prepared in ``out``."""
    lines = [
        json.loads(x)
        for f in sorted((out / "batch/judge").glob("part-?????.jsonl"))
        for x in f.read_text().splitlines()
    ]
    return {ln["custom_id"]: body_key(ln["body"]) for ln in lines}


def test_judge_endpoint_with_faults_answers_every_request_once(server, tmp_path):
    fake, url = server
    sample = answered_sample(tmp_path, url, 12)
    fake.fault_every = 2  # about half the judge requests fail their first attempt, every kind of fault
    out = tmp_path / "judge"
    sigterm = signal.getsignal(signal.SIGTERM)
    res = cli(*judge_cmd(sample, out, url, "--concurrency", "4"))
    assert res.exit_code == 0, res.output
    assert signal.getsignal(signal.SIGTERM) is sigterm  # the judge's SIGTERM handler ends with it
    assert set(fake.faults_sent) == {"429", "500", "timeout", "truncated", "slow"}, fake.faults_sent
    bodies = judge_bodies(out)
    assert len(bodies) == 24  # 12 prompts x one pair x both orders
    assert [fake.answered[b] for b in bodies.values()] == [1] * 24  # each paid call exactly once
    outputs = [json.loads(x) for x in (out / "batch/judge/part-00000.output.jsonl").read_text().splitlines()]
    assert sorted(o["custom_id"] for o in outputs) == sorted(bodies)
    run = json.loads((out / "judge_run.json").read_text())
    assert run["cost"]["judge_calls"] == 24 and run["cost"]["prompt_tokens"] > 0  # costs recorded
    assert run["stats"]["retries"] >= 10 and "judge cost of this run: 24 calls" in res.output
    assert "earlier runs" not in res.output
    summary = next(ln for ln in res.output.splitlines() if "answered now" in ln)
    assert "(errors by kind: " in summary and "{" not in summary  # the kinds read as words, not a dict
    # A re-run finds everything journaled and calls nothing.
    before = sum(fake.attempts.values())
    res = cli(*judge_cmd(sample, out, url))
    assert res.exit_code == 0 and "24 of 24 requests already answered" in res.output
    assert "0 retries\n" in res.output  # no error: no errors-by-kind clause
    assert sum(fake.attempts.values()) == before
    # Its cost is its own calls' (none), the earlier runs' apart.
    assert "judge cost of this run: 0 calls, 0 prompt + 0 completion tokens" in res.output
    assert "with earlier runs' calls: 24 calls" in res.output
    run = json.loads((out / "judge_run.json").read_text())
    assert run["cost"]["judge_calls"] == 0 and run["cost_all_runs"]["judge_calls"] == 24


def _run_until_journaled(
    args: list[str], journal: Path, done: int, sig: int, fake: FakeOpenAI
) -> subprocess.CompletedProcess:
    """Runs the judge and stops it with ``sig`` once ``done`` calls are journaled. The server holds the
    answers after the ``done``-th, so the run cannot finish first, and lets them through only once the
    run is dead (kill) or says it waits for its calls in flight (Ctrl-C), so it starts no new ones."""
    env = {**os.environ, "OPENAI_API_KEY": KEY, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    fake.hold_after = done
    proc = subprocess.Popen([sys.executable, "-m", "jobs.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    output: list[str] = []
    waiting = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            output.append(line)
            if "interrupted: waiting for the" in line:
                waiting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count('"event":"done"') >= done:
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    if sig == signal.SIGINT:
        waiting.wait(timeout=60)
    else:
        proc.wait(timeout=60)
    fake.release.set()
    proc.wait(timeout=60)
    reader.join(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, "".join(output))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_judge_killed_midway_resumes_without_duplicates_or_losses(server, tmp_path, sig):
    fake, url = server
    sample = answered_sample(tmp_path, url, 20)
    out = tmp_path / "judge"
    # held answers wait for the signal: no client timeout may fire meanwhile
    args = judge_cmd(sample, out, url, "--concurrency", "3", timeout_s=120)
    first = _run_until_journaled(args, out / "journal.jsonl", 8, sig, fake)
    assert KEY not in first.stdout
    bodies = judge_bodies(out)
    assert len(bodies) == 40
    from router_core.labeling.direct_calls import journal_state
    from router_core.labeling.journal import Journal

    _, in_flight = journal_state(Journal(out / "journal.jsonl").read())
    answered_before = sum(1 for b in bodies.values() if fake.answered[b])
    assert 8 <= answered_before <= 8 + 3, "the run was stopped midway, its --concurrency calls in flight"
    if sig == signal.SIGINT:
        assert first.returncode == 130 and "re-run the same command to resume" in first.stdout, first.stdout
    res = cli(*args)
    assert res.exit_code == 0, res.output
    counts = [fake.answered[b] for b in bodies.values()]
    assert min(counts) == 1  # none lost
    outputs = [json.loads(x) for x in (out / "batch/judge/part-00000.output.jsonl").read_text().splitlines()]
    assert sorted(o["custom_id"] for o in outputs) == sorted(bodies)
    if sig == signal.SIGINT:
        assert max(counts) == 1  # Ctrl-C waits for the calls in flight: nothing is paid twice
        assert not in_flight
    else:  # a hard kill can only repeat the calls it left in flight (at most --concurrency), and says so
        assert sum(c - 1 for c in counts) <= len(in_flight) <= 3
    resent = json.loads((out / "judge_run.json").read_text())["stats"]["resent_after_crash"]
    assert resent == len(in_flight)


def train(data: Path, out: Path) -> None:
    res = cli("train", "--data", str(data), "--strong", STRONG, "--weak", WEAK, "--scorers", "sw,mf",
              "--out", str(out), "--threads", "2")  # fmt: skip
    assert res.exit_code == 0, res.output


@pytest.mark.slow
def test_loop_end_to_end_sample_answer_judge_ingest_train_route(spark, server, tmp_path):
    from jobs.route_cmd import app_main

    fake, url = server
    seed_battles = pd.DataFrame(
        {
            "prompt": [
                f"{'HARD proof: ' if i % 2 else ''}Seed task {i} on {TOPICS[i % 6]}" for i in range(24)
            ],
            "model_a": [STRONG] * 24,
            "model_b": [WEAK] * 24,
            "winner": ["model_a" if i % 2 else "tie" for i in range(24)],
        }
    )
    seed_battles.to_parquet(tmp_path / "seed.parquet")
    train(tmp_path / "seed.parquet", tmp_path / "router0")
    sample = answered_sample(tmp_path, url, 24, "informative", str(tmp_path / "router0"))
    man = json.loads((sample / "manifest.json").read_text())
    assert man["n"] == 24 and man["strategy"] == "informative" and "threshold" in man
    assert all(p["reason"].startswith("informative: router unsure") for p in man["prompts"])
    assert all(p["nearest_train_similarity"] is not None for p in man["prompts"])
    assert len({p["custom_id"] for p in man["prompts"]}) == 24

    # Judge as Batch files through the Batch API ...
    res = cli(
        "label",
        "judge",
        "--sample",
        str(sample),
        "--out",
        str(tmp_path / "judge"),
        "--judge-model",
        "judge-model",
    )
    assert res.exit_code == 0, res.output
    for step in (["submit"], ["collect", "--wait", "--poll-s", "0"]):
        res = cli("batch", step[0], str(tmp_path / "judge"), "--base-url", url, *step[1:])
        assert res.exit_code == 0, res.output
    res = cli(
        "label", "ingest", "--judgements", str(tmp_path / "judge"), "--out", str(tmp_path / "battles.parquet")
    )
    assert res.exit_code == 0, res.output
    battles = pd.read_parquet(tmp_path / "battles.parquet")
    assert len(battles) == 24 and set(battles["sample_strategy"]) == {"informative"}
    hard = battles["prompt"].str.startswith("HARD")
    assert (battles.loc[hard, "winner"] == "model_a").all() and (battles.loc[~hard, "winner"] == "tie").all()
    assert battles["both_order_agreement"].all() and (battles["judge_model"] == "judge-model").all()

    # ... and directly, with faults: the same battles.
    fake.fault_every = 3
    res = cli(*judge_cmd(sample, tmp_path / "judge-direct", url))
    assert res.exit_code == 0, res.output
    res = cli(
        "label",
        "ingest",
        "--judgements",
        str(tmp_path / "judge-direct"),
        "--out",
        str(tmp_path / "b2.parquet"),
    )
    assert res.exit_code == 0, res.output
    direct = pd.read_parquet(tmp_path / "b2.parquet")
    key = ["custom_id", "model_a", "model_b", "winner"]
    pd.testing.assert_frame_equal(direct[key].sort_values("custom_id").reset_index(drop=True),
                                  battles[key].sort_values("custom_id").reset_index(drop=True))  # fmt: skip

    # The battles train a router that routes the user's traffic.
    train(tmp_path / "battles.parquet", tmp_path / "router1")
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {STRONG: {"input_price": 10, "output_price": 30}, WEAK: {"input_price": 1, "output_price": 2}}
        )
    )
    args = ["--router", tmp_path / "router1", "--logs", tmp_path / "logs.parquet", "--out", tmp_path / "o"]
    rc = app_main([*map(str, args), "--strong-share", "0.5", "--prices", str(prices)])
    assert rc == 0
    import pyarrow.dataset as pads

    labels = pads.dataset(str(tmp_path / "o" / "labels"), partitioning="hive").to_table().to_pandas()
    assert len(labels) == 49  # every valid request routed
    logs = pd.read_parquet(tmp_path / "logs.parquet").set_index("request_id")
    is_hard = labels["request_id"].map(logs["prompt"]).str.startswith("HARD")
    p_hard, p_easy = (
        labels.loc[is_hard, "strong_win_prob"].mean(),
        labels.loc[~is_hard, "strong_win_prob"].mean(),
    )
    assert p_hard > p_easy + 0.1, (p_hard, p_easy)

    # The route job's dispatch files go through the same submit/collect, and its labels can drive the
    # next informative sample without scoring again.
    dispatch = tmp_path / "o" / "dispatch"
    for step in (["submit"], ["collect", "--wait", "--poll-s", "0"]):
        res = cli("batch", step[0], str(dispatch), "--base-url", url, *step[1:])
        assert res.exit_code == 0, res.output
    summary = json.loads((dispatch / "_batch_summary.json").read_text())
    assert sum(f["answered"] for f in summary["files"]) == 49 and not summary["pending"]
    args = ["--logs", str(tmp_path / "logs.parquet"), "--router", str(tmp_path / "router1"), "--n", "8"]
    args += ["--labels", str(tmp_path / "o" / "labels"), "--embed-cache", str(tmp_path / "cache")]
    args += ["--strategy", "informative"]
    res = cli("label", "sample", *args, "--out", str(tmp_path / "s2"))
    assert res.exit_code == 0, res.output
    res = cli("label", "sample", *args, "--out", str(tmp_path / "s3"))
    assert res.exit_code == 0 and "48 cached, 0 to embed" in res.output, res.output
    man2 = json.loads((tmp_path / "s2" / "manifest.json").read_text())
    assert man2["n"] == 8 and "scored" not in res.output  # scores came from the labels
    assert json.loads((tmp_path / "s3" / "manifest.json").read_text())["prompts"] == man2["prompts"]


def test_position_bias_unparseable_verdicts_and_failed_answers_are_accounted_for(server, tmp_path):
    fake, url = server
    prompts = [
        "HARD proof of a lemma",
        "Name a colour",
        "BIASED question",
        "GARBLED question",
        "FAILBATCH question",
    ]
    sample = answered_sample(tmp_path, url, 5, prompts=prompts)
    summary = json.loads((sample / "_batch_summary.json").read_text())
    assert [(f["answered"], f["failed"], f["failed_ids"]) for f in summary["files"]] == [(4, 1, ["p4"])] * 2
    out = tmp_path / "judge"
    res = cli(*judge_cmd(sample, out, url))
    assert res.exit_code == 0, res.output
    assert f"next: batch-router label ingest --judgements {out} --out BATTLES.parquet" in res.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["judge_requests"] == 8 and sorted(u["model"] for u in man["unanswered"]) == [STRONG, WEAK]
    assert {u["custom_id"] for u in man["unanswered"]} == {"p4"} and "server error" in man["unanswered"][0][
        "reason"
    ]
    battles_path = tmp_path / "b.parquet"
    res = cli("label", "ingest", "--judgements", str(out), "--out", str(battles_path))
    assert res.exit_code == 0, res.output
    assert "1 of 4 pairs have no battle: a battle needs a verdict in both orders" in res.output  # p3
    assert f"next: batch-router train --data PUBLIC --target-data {battles_path}" in res.output
    b = pd.read_parquet(battles_path).set_index("request_id")
    assert (
        b.loc["p0", "winner"] == "model_a"
        and b.loc["p1", "winner"] == "tie"
        and b.loc["p1", "both_order_agreement"]
    )
    # The biased judge said "A" in both orders: the two orders disagree, so the battle is a recorded tie.
    assert (b.loc["p2", "winner"], b.loc["p2", "both_order_agreement"]) == ("tie", False)
    assert (b.loc["p2", "verdict_ab"], b.loc["p2", "verdict_ba"]) == ("A", "A")
    q = pd.read_parquet(tmp_path / "b.quarantine.parquet")
    assert sorted(q["order"]) == ["ab", "ba"] and set(q["reason"]) == {"unparseable_verdict"}
    assert set(q["request_id"]) == {"p3"} and q["raw_verdict"].str.contains("cannot decide").all()
    assert set(b["sample_strategy"]) == {"random"}
    battles = pd.read_parquet(battles_path)
    assert list(battles.columns[:4]) == ["prompt", "model_a", "model_b", "winner"]


def test_batch_submit_and_collect_are_safe_to_rerun(server, tmp_path):
    fake, url = server
    sample = answered_sample(tmp_path, url, 6)
    files = sorted(sample.glob("batch/*/part-00000.jsonl"))
    assert [fake.batches_created_for(f.read_bytes()) for f in files] == [1, 1]
    res = cli("batch", "submit", str(sample), "--base-url", url)
    assert res.exit_code == 0 and res.output.count("already submitted as") == 2
    # A run that created its batches but died before journaling them: found again by their metadata.
    journal = sample / JOURNAL_NAME
    journal.write_text("".join(x + "\n" for x in journal.read_text().splitlines() if '"created"' not in x))
    res = cli("batch", "submit", str(sample), "--base-url", url)
    assert res.exit_code == 0 and res.output.count("(not created again)") == 2, res.output
    assert [fake.batches_created_for(f.read_bytes()) for f in files] == [1, 1]
    polls = sum(fake.polls.values())
    res = cli("batch", "collect", str(sample), "--base-url", url)
    assert res.exit_code == 0 and "6 answered, 0 failed, 0 missing" in res.output
    assert sum(fake.polls.values()) == polls  # collected batches are not fetched again
    # A changed file is a new submission; a still-running batch makes collect exit 3 and say so.
    fake.polls_to_complete = 3
    files[0].write_text(files[0].read_text().replace("Question", "Question (edited)"))
    assert cli("batch", "submit", str(sample), "--base-url", url).exit_code == 0
    assert fake.batches_created_for(files[0].read_bytes()) == 1
    assert not (files[0].with_suffix(".output.jsonl")).exists()  # the old answers are set aside
    assert len(list(files[0].parent.glob("part-00000.output.jsonl.superseded-*"))) == 1
    res = cli("batch", "collect", str(sample), "--base-url", url)
    assert res.exit_code == 3 and "still running" in res.output


def test_collect_goes_where_submit_sent_the_batches(server, tmp_path):
    fake, url = server
    sample = answered_sample(tmp_path, url, 4)  # submitted and collected with --base-url url
    journal = (sample / JOURNAL_NAME).read_text()
    assert f'"base_url":"{url.rstrip("/")}"' in journal.replace(" ", "")
    for out in sample.glob("batch/*/*.output.jsonl"):
        out.unlink()  # collected again below
    res = cli("batch", "collect", str(sample))  # no --base-url: the server they were submitted to
    assert res.exit_code == 0, res.output
    assert f"collecting from {url.rstrip('/')}, where `batch submit` sent these batches" in res.output
    assert "4 answered, 0 failed, 0 missing" in res.output
    res = cli("batch", "collect", str(sample), "--base-url", "http://127.0.0.1:9/v1")
    assert res.exit_code == EXIT_BAD_INPUT
    assert f"submitted to {url.rstrip('/')}, not http://127.0.0.1:9/v1" in res.output
    assert f"--base-url {url.rstrip('/')}" in res.output


@pytest.mark.parametrize("name", ["battles.csv", "battles"])
def test_ingest_into_a_file_not_named_parquet_is_an_error(tmp_path, name):
    """The battles are Parquet, and `train` reads a file by its extension: Parquet bytes in battles.csv
    would fail there with an encoding error, far from the cause."""
    res = cli("label", "ingest", "--judgements", str(tmp_path / "judge"), "--out", str(tmp_path / name))
    assert res.exit_code == EXIT_BAD_INPUT and "name the file *.parquet" in res.output, res.output
    assert not (tmp_path / name).exists()


def test_ingest_help_points_to_target_data():
    res = CliRunner().invoke(app, ["label", "ingest", "--help"], terminal_width=200)
    assert res.exit_code == 0 and "train --target-data" in res.output


@pytest.mark.parametrize(
    "command, other",
    [(["label", "judge"], "`batch submit --base-url`"), (["batch", "submit"], "`label judge --endpoint`")],
)
def test_the_judge_endpoint_and_the_batch_base_url_point_to_each_other(command, other):
    """Both name one server's base URL; no shared flag, since --endpoint also switches the judge from
    Batch files to direct calls."""
    res = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "300"})
    assert res.exit_code == 0 and other in " ".join(res.output.replace("│", " ").split())


def test_one_line_errors(server, tmp_path):
    fake, url = server
    logs = tmp_path / "logs.parquet"
    write_logs(logs)
    res = cli("label", "sample", "--logs", str(logs), "--n", "3", "--out", str(tmp_path / "s"))
    assert res.exit_code == EXIT_BAD_INPUT and "give --router DIR (its models) or --models a,b" in res.output
    res = cli("label", "sample", "--logs", str(logs), "--n", "3", "--out", str(tmp_path / "s"),
              "--strategy", "informative", "--models", "a,b")  # fmt: skip
    assert res.exit_code == EXIT_BAD_INPUT and "--strategy informative needs --router DIR" in res.output
    res = cli("label", "sample", "--logs", str(tmp_path / "nope"), "--n", "3", "--out", str(tmp_path / "s"),
              "--strategy", "random", "--models", "a,b")  # fmt: skip
    assert res.exit_code == EXIT_BAD_INPUT and "logs path not found" in res.output
    args = ["label", "sample", "--logs", str(logs), "--n", "3", "--strategy", "random", "--models", "a,b"]
    assert cli(*args, "--out", str(tmp_path / "s")).exit_code == 0
    res = cli(*args, "--out", str(tmp_path / "s"))
    assert res.exit_code == EXIT_BAD_INPUT and "already holds a sample" in res.output
    res = cli("label", "judge", "--sample", str(tmp_path / "s"), "--out", str(tmp_path / "j"))
    assert res.exit_code == EXIT_BAD_INPUT and "has answers from every model" in res.output
    res = cli("label", "ingest", "--judgements", str(tmp_path / "s"), "--out", str(tmp_path / "b.parquet"))
    assert res.exit_code == EXIT_BAD_INPUT and "not a judge directory" in res.output
    res = cli("batch", "collect", str(tmp_path / "s"), "--base-url", url)
    assert res.exit_code == EXIT_BAD_INPUT and "run `batch submit`" in res.output
    res = cli("batch", "submit", str(tmp_path / "s"), "--base-url", url, env={"OPENAI_API_KEY": ""})
    assert res.exit_code == EXIT_BAD_INPUT and "set the environment variable OPENAI_API_KEY" in res.output
    assert "Traceback" not in res.output


def test_informative_labels_that_are_no_route_labels_fail_before_embedding(tmp_path):
    logs = tmp_path / "logs.parquet"
    write_logs(logs)
    data = tmp_path / "scores.parquet"
    prompts = [f"{'HARD proof: ' if i % 3 == 0 else ''}Question {i} about {TOPICS[i % 6]}" for i in range(30)]
    pd.DataFrame(
        {"prompt": prompts, STRONG: [1.0] * 30, WEAK: [float(i % 3 != 0) for i in range(30)]}
    ).to_parquet(data)
    train(data, tmp_path / "router")
    args = ["label", "sample", "--logs", str(logs), "--n", "3", "--router", str(tmp_path / "router")]
    args += ["--strategy", "informative", "--out", str(tmp_path / "s")]
    for labels, message in [
        (tmp_path / "router", "has no request_id or strong_win_prob column"),  # the router, not its labels
        (tmp_path / "nope", f"--labels {tmp_path / 'nope'} not found"),
    ]:
        res = cli(*args, "--labels", str(labels))
        assert res.exit_code == EXIT_BAD_INPUT and message in res.output, res.output
        assert "give the --out of `batch-router route` run with this router" in " ".join(res.output.split())
        assert "embedded" not in res.output and "Traceback" not in res.output
    # A routing threshold given as 0 is the threshold used, not the --strong-share default's.
    assert cli(*args, "--threshold", "0").exit_code == 0
    man = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert man["threshold"] == 0.0 and man["strong_share"] is None


def test_default_strategy_is_random_and_needs_no_router(tmp_path):
    """bench/label_sampling.py found informative no better than random (docs/routers.md)."""
    logs = tmp_path / "logs.parquet"
    write_logs(logs)
    args = ["--logs", str(logs), "--n", "3", "--models", "a,b", "--out", str(tmp_path / "s")]
    res = cli("label", "sample", *args)
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert man["strategy"] == "random" and man["n"] == 3
    assert all(p["reason"].startswith("random:") for p in man["prompts"])
    assert f"next: batch-router batch submit {tmp_path / 's'} && batch-router batch collect" in res.output


def test_logged_responses_and_reference_answers(server, tmp_path):
    """A log with the served model's answer asks only the other model; a reference column switches the
    judge to reference-based grading."""
    fake, url = server
    logs = tmp_path / "logs.parquet"
    pd.DataFrame(
        {
            "request_id": ["a", "b", "c"],
            "prompt": ["HARD proof one", "Easy two", "Easy three"],
            "model": [STRONG, STRONG, "other-model"],
            "response": [f"{STRONG} answers [quality 9]", None, "ignored [quality 1]"],
            "gold": ["QED", "2", "3"],
        }
    ).to_parquet(logs)
    sample = tmp_path / "s"
    args = ["--logs", str(logs), "--n", "3", "--out", str(sample), "--strategy", "random"]
    args += ["--models", f"{STRONG},{WEAK}", "--response-column", "response", "--reference-column", "gold"]
    res = cli("label", "sample", *args)
    assert res.exit_code == 0, res.output
    strong_ids = [json.loads(x)["custom_id"] for x in (sample / f"batch/{STRONG}/part-00000.jsonl").open()]
    assert strong_ids == ["b", "c"]  # "a" has the served model's logged answer
    for step in (["submit"], ["collect", "--wait", "--poll-s", "0"]):
        assert cli("batch", step[0], str(sample), "--base-url", url, *step[1:]).exit_code == 0
    out = tmp_path / "j"
    res = cli("label", "judge", "--sample", str(sample), "--out", str(out), "--judge-model", "judge-model")
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in (out / "batch/judge/part-00000.jsonl").open()]
    assert len(lines) == 6
    first = next(ln for ln in lines if ln["custom_id"] == "a:0-1:ab")
    user = first["body"]["messages"][1]["content"]
    assert f"{STRONG} answers [quality 9]" in user and "[The Start of Reference Answer]\nQED" in user
    assert "reference answer" in first["body"]["messages"][0]["content"]
    for step in (["submit"], ["collect", "--wait", "--poll-s", "0"]):
        assert cli("batch", step[0], str(out), "--base-url", url, *step[1:]).exit_code == 0
    res = cli("label", "ingest", "--judgements", str(out), "--out", str(tmp_path / "b.parquet"))
    assert res.exit_code == 0, res.output
    b = pd.read_parquet(tmp_path / "b.parquet").set_index("request_id")
    assert b.loc["a", "winner"] == "model_a" and b.loc["a", "judge_prompt"] == "mt-bench-pair-math-v1"
    # Re-judging the same answers into a submitted directory is a no-op; other answers are refused there.
    judge = ["label", "judge", "--sample", str(sample), "--out", str(out), "--judge-model", "judge-model"]
    assert cli(*judge).exit_code == 0
    res = cli(*judge[:-1], "another-judge")
    assert res.exit_code == EXIT_BAD_INPUT and "into another --out" in res.output


def test_a_wrong_key_stops_the_judge_and_journals_nothing_as_answered(server, tmp_path):
    fake, url = server
    sample = answered_sample(tmp_path, url, 4)
    fake.required_key = "sk-right"
    out = tmp_path / "judge"
    res = cli(*judge_cmd(sample, out, url))
    assert res.exit_code == EXIT_BAD_INPUT and "refused the calls (401" in res.output, res.output
    assert '"event":"done"' not in (out / "journal.jsonl").read_text()
    res = cli(*judge_cmd(sample, out, url), env={"OPENAI_API_KEY": "sk-right"})
    assert res.exit_code == 0 and "judge cost of this run: 8 calls" in res.output, res.output


def test_chat_logs_keep_their_messages_in_the_batch_bodies(tmp_path):
    from tests.log_fixtures import write_messages_log

    logs = tmp_path / "chat.parquet"
    write_messages_log(logs)  # m-ok (system + two user turns), m-nouser, m-null
    sample = tmp_path / "s"
    args = ["--logs", str(logs), "--n", "5", "--out", str(sample), "--strategy", "random"]
    res = cli("label", "sample", *args, "--models", f"{STRONG},{WEAK}")
    assert res.exit_code == 0, res.output
    man = json.loads((sample / "manifest.json").read_text())
    assert man["n"] == 1 and man["skipped_requests"] == {"no_user_turn": 1, "null_prompt": 1}
    (line,) = [json.loads(x) for x in (sample / f"batch/{WEAK}/part-00000.jsonl").open()]
    assert line["custom_id"] == "m-ok" and [m["role"] for m in line["body"]["messages"]] == [
        "system", "user", "assistant", "user"]  # fmt: skip
    row = pd.read_parquet(sample / "sample.parquet").iloc[0]
    assert row["prompt"] == "first\nSecond question?"  # the routed text (all user turns), as train reads it
    assert row["question"].startswith("system: be brief\nuser: first")  # the judge sees the whole chat


def test_a_sample_that_repeats_prompts_says_how_many_are_distinct(capsys):
    from jobs.label_sample import _say_repeats

    _say_repeats(["hot"] * 39 + [f"p{i}" for i in range(11)], "random")
    assert "the 50 sampled requests hold 12 distinct prompts" in capsys.readouterr().err
    _say_repeats([f"p{i}" for i in range(50)], "random")
    assert capsys.readouterr().err == ""


def _dashboard_download(requests: list[dict], failed: str) -> tuple[str, str]:
    """(output file, error file) as the OpenAI dashboard gives them for a judge batch: model_a wins every
    pair (``[[A]]`` when it is shown first, ``[[B]]`` otherwise); the ``failed`` request errs."""
    out, err = [], []
    for i, r in enumerate(requests):
        cid = r["custom_id"]
        if cid == failed:
            error = {"code": "server_error", "message": "The server had an error"}
            err.append({"id": f"batch_req_{i}", "custom_id": cid, "response": None, "error": error})
            continue
        verdict = "[[A]]" if cid.endswith(":ab") else "[[B]]"
        body = {"id": f"chatcmpl-{i}", "object": "chat.completion", "model": "judge-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Fine. {verdict}"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}}  # fmt: skip
        response = {"status_code": 200, "request_id": f"req_{i}", "body": body}
        out.append({"id": f"batch_req_{i}", "custom_id": cid, "response": response, "error": None})
    return ("".join(json.dumps(x) + "\n" for x in out), "".join(json.dumps(x) + "\n" for x in err))


def test_ingest_reads_judge_outputs_downloaded_by_hand(server, tmp_path):
    """A team that submits the judge's Batch files itself (dashboard, its own tooling) and downloads the
    results gives them to `label ingest --results`."""
    fake, url = server
    sample = answered_sample(tmp_path, url, 4)
    judge = tmp_path / "judge"
    res = cli("label", "judge", "--sample", str(sample), "--out", str(judge), "--judge-model", "judge-model")
    assert res.exit_code == 0, res.output
    parts = sorted(judge.rglob("part-*.jsonl"))
    requests = [json.loads(x) for f in parts for x in f.read_text().splitlines()]
    assert len(requests) == 8
    battles = tmp_path / "b.parquet"

    def ingest(*results: str):
        return cli("label", "ingest", "--judgements", str(judge), "--out", str(battles), *results)

    res = ingest()
    assert res.exit_code == EXIT_BAD_INPUT and "--results" in res.output
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    failed = requests[0]["custom_id"]
    output, errors = _dashboard_download(requests, failed)
    (downloads / "batch_6753_output.jsonl").write_text(output)
    (downloads / "batch_6753_error.jsonl").write_text(errors)
    (downloads / "batch_6753_input.jsonl").write_text(json.dumps(requests[0]) + "\n")
    res = ingest("--results", str(downloads))
    assert res.exit_code == 0, res.output
    b = pd.read_parquet(battles)
    assert len(b) == 3 and set(b["winner"]) == {"model_a"} and b["both_order_agreement"].all()
    q = pd.read_parquet(tmp_path / "b.quarantine.parquet")
    assert list(q["judge_custom_id"]) == [failed] and list(q["reason"]) == ["judge_error"]
    # The models' answers, or the judge's request file, are named as such, not ingested as judgements.
    answers = next(sample.rglob("*.output.jsonl"))
    res = ingest("--results", str(answers))
    assert res.exit_code == EXIT_BAD_INPUT and "none of its 4 custom_ids is a judge request" in res.output
    inputs = downloads / "batch_6753_input.jsonl"
    res = ingest("--results", str(inputs))
    assert res.exit_code == EXIT_BAD_INPUT and "a Batch request file" in res.output


def test_batch_submit_refuses_anthropic_and_azure_dispatch_files_before_sending(server, tmp_path):
    """route's dispatch files of an Anthropic Message Batches file hold {custom_id, params} lines, and
    those of an Azure OpenAI file /chat/completions urls: `batch submit` (an OpenAI-compatible Batch API)
    names what to do with them and uploads nothing; `batch collect` says the same of Anthropic's."""
    from log_formats_data import anthropic_line, request_line

    fake, url = server
    dispatch = tmp_path / "dispatch"
    (dispatch / "claude" / "dt=2026-11-01").mkdir(parents=True)
    (dispatch / "gpt-4o" / "dt=2026-11-01").mkdir(parents=True)
    line = anthropic_line("a1", [{"role": "user", "content": "Hello, world"}])
    (dispatch / "claude" / "dt=2026-11-01" / "part-00000.jsonl").write_text(json.dumps(line) + "\n")
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hi"}]}
    ok = dispatch / "gpt-4o" / "dt=2026-11-01" / "part-00000.jsonl"
    ok.write_text(json.dumps(request_line("c1", "/v1/chat/completions", chat)) + "\n")
    for command in ("submit", "collect"):
        res = cli("batch", command, str(dispatch), "--base-url", url)
        assert res.exit_code == EXIT_BAD_INPUT, res.output
        assert "holds Anthropic Message Batches requests (custom_id, params)" in res.output
        assert "client.messages.batches.create" in res.output and "Traceback" not in res.output
    azure = tmp_path / "azure.jsonl"
    azure.write_text(json.dumps(request_line("c1", "/chat/completions", chat)) + "\n")
    res = cli("batch", "submit", str(azure), "--base-url", url)
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert "endpoint /chat/completions is not a Batch API endpoint" in res.output
    assert "Azure OpenAI's form: submit the file with Azure OpenAI's Batch API" in res.output
    assert fake.files == {} and fake.batches == {}


def test_sample_request_directories_are_named_as_dispatch_and_never_shared(tmp_path):
    """'org/m' and 'org_m' once both became batch/org_m/, one model's files over the other's."""
    logs = tmp_path / "logs.parquet"
    write_logs(logs)
    res = cli("label", "sample", "--logs", str(logs), "--n", "4", "--models", "org/m,org_m", "--out",
              str(tmp_path / "s"))  # fmt: skip
    assert res.exit_code == 0, res.output
    files = json.loads((tmp_path / "s" / "manifest.json").read_text())["files"]
    assert files == {"org/m": ["batch/org--m/part-00000.jsonl"], "org_m": ["batch/org_m/part-00000.jsonl"]}
    for model, (path,) in files.items():
        lines = (tmp_path / "s" / path).read_text().splitlines()
        assert len(lines) == 4 and {json.loads(x)["body"]["model"] for x in lines} == {model}


def test_ingest_of_two_rounds_whose_request_ids_repeat_keeps_every_battle(server, tmp_path):
    """Two labelling rounds of Batch input files both number their requests task-0, task-1, ...: ingesting
    both judge directories keeps each round's battles with its own prompts and verdicts."""
    fake, url = server
    judges = []
    for k, prompts in enumerate([["HARD proof one", "HARD proof two"], ["Easy one", "Easy two"]]):
        (tmp_path / f"round{k}").mkdir()
        sample = answered_sample(tmp_path / f"round{k}", url, 2, prompts=prompts)  # ids p0, p1 both times
        judges.append(tmp_path / f"judge{k}")
        assert cli(*judge_cmd(sample, judges[-1], url)).exit_code == 0
    battles = tmp_path / "b.parquet"
    res = cli("label", "ingest", "--judgements", str(judges[0]), "--judgements", str(judges[1]),
              "--out", str(battles))  # fmt: skip
    assert res.exit_code == 0, res.output
    b = pd.read_parquet(battles).set_index("prompt")
    assert sorted(b.index) == ["Easy one", "Easy two", "HARD proof one", "HARD proof two"]
    assert set(b.loc[["HARD proof one", "HARD proof two"], "winner"]) == {"model_a"}  # the strong model
    assert set(b.loc[["Easy one", "Easy two"], "winner"]) == {"tie"}
    # Verdicts given by hand cannot say which round they answer.
    outputs = next(judges[0].rglob("*.output.jsonl"))
    res = cli("label", "ingest", "--judgements", str(judges[0]), "--judgements", str(judges[1]),
              "--out", str(battles), "--results", str(outputs))  # fmt: skip
    assert res.exit_code == EXIT_BAD_INPUT and "ingest those directories one at a time" in res.output


def test_logged_answers_that_name_no_model_of_the_sample_are_an_error(tmp_path):
    """--response-column keeps the served model's answer; logs that cannot say it came from one of the
    models would otherwise have every model asked, the column silently ignored."""
    frame = pd.DataFrame({"request_id": ["a", "b"], "prompt": ["One?", "Two?"], "answer": ["1", "2"]})
    args = ["--n", "2", "--models", f"{STRONG},{WEAK}", "--response-column", "answer"]
    frame.to_json(tmp_path / "no_model.jsonl", orient="records", lines=True)
    res = cli(
        "label", "sample", "--logs", str(tmp_path / "no_model.jsonl"), "--out", str(tmp_path / "s1"), *args
    )
    assert res.exit_code == EXIT_BAD_INPUT and "do not say which model served each request" in res.output
    frame.assign(model=f"{STRONG}-2024-08-06").to_csv(tmp_path / "dated.csv", index=False)
    res = cli("label", "sample", "--logs", str(tmp_path / "dated.csv"), "--out", str(tmp_path / "s2"), *args)
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert f"no logged answer comes from {STRONG} or {WEAK} (served by: {STRONG}-2024-08-06)" in res.output
    assert not (tmp_path / "s1").exists() and not (tmp_path / "s2").exists()


def test_a_batch_the_server_failed_as_a_whole_is_submitted_again(server, tmp_path):
    """A batch that fails before answering anything (OpenAI's enqueued-token limit) leaves its requests
    unanswered: a re-run of `batch submit` creates it again, where a batch that answered is never sent
    twice, and `batch collect` then fetches the new batch's answers."""
    fake, url = server
    sample = sampled(tmp_path, 4)
    fake.fail_batches, fake.polls_to_complete = 1, 1
    assert cli("batch", "submit", str(sample), "--base-url", url).exit_code == 0
    res = cli("batch", "collect", str(sample), "--wait", "--poll-s", "0")
    assert res.exit_code == 0 and "token_limit_exceeded" in res.output, res.output
    assert "re-run `batch submit" in res.output
    failed = next(f for f in json.loads((sample / "_batch_summary.json").read_text())["files"]
                  if f["status"] == "failed")  # fmt: skip
    res = cli("batch", "submit", str(sample), "--base-url", url)
    assert res.exit_code == 0 and "1 submitted, 1 already submitted" in res.output, res.output
    request_file = sample / failed["file"]
    assert fake.batches_created_for(request_file.read_bytes()) == 2
    res = cli("batch", "collect", str(sample), "--wait", "--poll-s", "0")
    assert res.exit_code == 0 and "2 of 2 batches finished: 8 answered, 0 failed, 0 missing" in res.output
    assert cli("batch", "submit", str(sample), "--base-url", url).exit_code == 0  # nothing left to send
    assert fake.batches_created_for(request_file.read_bytes()) == 2


def test_judging_directly_what_was_submitted_as_batches_is_refused(server, tmp_path):
    """Judge Batch files already sent with `batch submit` are answered by their batches: `label judge
    --endpoint` into the same directory would pay for every judgement again."""
    fake, url = server
    sample = answered_sample(tmp_path, url, 3)
    out = tmp_path / "judge"
    res = cli("label", "judge", "--sample", str(sample), "--out", str(out), "--judge-model", "judge-model")
    assert res.exit_code == 0, res.output
    assert cli("batch", "submit", str(out), "--base-url", url).exit_code == 0
    calls = sum(fake.attempts.values())
    res = cli(*judge_cmd(sample, out, url))
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert f"collect their verdicts with `batch-router batch collect {out} --wait`" in " ".join(
        res.output.split()
    )
    assert sum(fake.attempts.values()) == calls and not (out / "journal.jsonl").exists()


def test_responses_from_a_folder_of_both_models_outputs_are_refused(server, tmp_path):
    """The sampled prompts have one custom_id for every model, so a download folder holding both models'
    outputs, given as each model's --responses, would have one model's answers judged against
    themselves: named as an error instead."""
    fake, url = server
    sample = answered_sample(tmp_path, url, 3)
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    for k, model in enumerate((STRONG, WEAK)):
        output = (sample / f"batch/{model}/part-00000.output.jsonl").read_text()
        (downloads / f"batch_{k}_output.jsonl").write_text(output)
    args = ["--responses", f"{STRONG}={downloads}", "--responses", f"{WEAK}={downloads}"]
    res = cli("label", "judge", "--sample", str(sample), "--out", str(tmp_path / "j"), *args)
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    flowing = " ".join(res.output.split())
    assert "batch_0_output.jsonl and batch_1_output.jsonl both answer" in flowing
    assert f"by {STRONG} and {WEAK}: outputs of several models" in flowing
    (downloads / "batch_1_output.jsonl").rename(tmp_path / "weak_output.jsonl")
    args = ["--responses", f"{STRONG}={downloads}", "--responses", f"{WEAK}={tmp_path / 'weak_output.jsonl'}"]
    res = cli("label", "judge", "--sample", str(sample), "--out", str(tmp_path / "j"), *args)
    assert res.exit_code == 0 and "6 judge requests" in res.output, res.output


def test_a_sample_submitted_with_its_parent_directory_is_not_submitted_again(server, tmp_path):
    """`batch submit label/` journals in label/; `batch collect label/sample` finds no journal there and
    says to run `batch submit`, which finds the same requests' batches on the server by content instead
    of paying for them again."""
    fake, url = server
    sample = sampled(tmp_path, 3, "label/sample")
    assert cli("batch", "submit", str(sample.parent), "--base-url", url).exit_code == 0
    res = cli("batch", "collect", str(sample), "--base-url", url)
    assert res.exit_code == EXIT_BAD_INPUT and "run `batch submit`" in res.output
    res = cli("batch", "submit", str(sample), "--base-url", url)
    assert res.exit_code == 0 and res.output.count("(not created again)") == 2, res.output
    files = sorted(sample.glob("batch/*/part-00000.jsonl"))
    assert [fake.batches_created_for(f.read_bytes()) for f in files] == [1, 1]
    res = cli("batch", "collect", str(sample), "--wait", "--poll-s", "0")
    assert res.exit_code == 0 and "6 answered, 0 failed, 0 missing" in res.output, res.output


def test_collecting_one_file_submitted_alone_lists_no_other_file_as_superseded(server, tmp_path):
    """Files of one directory submitted one at a time share its journal: collecting one of them
    accounts for that file only, and names none of the others superseded."""
    fake, url = server
    sample = sampled(tmp_path, 3)
    first, second = sorted(sample.glob("batch/*/part-00000.jsonl"))
    (second.parent / "part-00001.jsonl").write_text(second.read_text().replace("Question", "Query"))
    for f in (second, second.parent / "part-00001.jsonl"):
        assert cli("batch", "submit", str(f), "--base-url", url).exit_code == 0
    res = cli("batch", "collect", str(second), "--wait", "--poll-s", "0")
    assert res.exit_code == 0 and "1 of 1 batches finished: 3 answered" in res.output, res.output
    summary = json.loads((second.parent / "_batch_summary.json").read_text())
    assert summary["superseded"] == [] and [f["file"] for f in summary["files"]] == [second.name]
    second.write_text(second.read_text().replace("Question", "Question (edited)"))
    res = cli("batch", "collect", str(second), "--wait", "--poll-s", "0")
    superseded = json.loads((second.parent / "_batch_summary.json").read_text())["superseded"]
    assert [s["file"] for s in superseded] == [second.name], res.output
    assert first.exists()


def test_resending_what_an_expired_batch_and_failed_requests_left_unanswered(server, tmp_path):
    """An expired batch keeps the answers it finished; requests that failed with a 5xx may succeed later.
    `batch submit --resend-unanswered` sends only those again (never an answered one, nor one refused as
    invalid), and `batch collect` merges their answers into the file's own outputs: one line per
    custom_id for the judge to read. Re-runs, and a run that crashed before journaling, send nothing twice."""
    fake, url = server
    prompts = ["Q0 FLAKY hello", "Q1 INVALID hello", "Q2 hello", "Q3 hello", "Q4 hello"]
    sample = sampled(tmp_path, 5, prompts=prompts)
    assert cli("batch", "submit", str(sample), "--base-url", url).exit_code == 0
    fake.expire_after = 3  # the first batch collected (the strong model's) expires after 3 lines
    res = cli("batch", "collect", str(sample), "--wait", "--poll-s", "0")
    assert res.exit_code == 0 and "4 answered, 6 failed, 0 missing" in res.output, res.output
    assert "sends its 3 unanswered requests again" in res.output  # FLAKY and the 2 expired ones
    assert "sends its 1 unanswered requests again" in res.output  # FLAKY
    before = len(fake.batches)
    res = cli("batch", "submit", str(sample), "--base-url", "http://127.0.0.1:9/v1", "--resend-unanswered")
    assert res.exit_code == 0 and f"resend its requests with --base-url {url}" in res.output, res.output
    res = cli("batch", "submit", str(sample), "--base-url", url, "--resend-unanswered")
    assert res.exit_code == 0 and "4 unanswered requests resent" in res.output, res.output
    assert len(fake.batches) == before + 2
    # Not collected yet: another run sends nothing; nor does one that crashed before journaling them.
    res = cli("batch", "submit", str(sample), "--base-url", url, "--resend-unanswered")
    assert res.exit_code == 0 and res.output.count("is not collected yet") == 2, res.output
    journal = sample / JOURNAL_NAME
    kept = [x for x in journal.read_text().splitlines() if "resend_created" not in x]
    journal.write_text("".join(x + "\n" for x in kept))
    res = cli("batch", "submit", str(sample), "--base-url", url, "--resend-unanswered")
    assert res.exit_code == 0 and res.output.count("(not created again)") == 2, res.output
    assert len(fake.batches) == before + 2
    res = cli("batch", "collect", str(sample), "--wait", "--poll-s", "0")
    assert res.exit_code == 0 and "8 answered, 2 failed, 0 missing" in res.output, res.output
    assert "then resent in batch_" in res.output
    for f in sample.glob("batch/*/part-00000.jsonl"):
        ids = [json.loads(x)["custom_id"] for x in f.read_text().splitlines()]
        out = [json.loads(x) for x in f.with_suffix(".output.jsonl").read_text().splitlines()]
        err = [json.loads(x) for x in f.with_suffix(".errors.jsonl").read_text().splitlines()]
        assert [o["custom_id"] for o in out + err] == [i for i in ids if i != ids[1]] + [ids[1]]
        assert [e["response"]["status_code"] for e in err] == [400]
    assert max(fake.answered.values()) == 1  # no answer paid for twice
    # Nothing left to resend but the invalid requests; collect again reads the merged files.
    res = cli("batch", "submit", str(sample), "--base-url", url, "--resend-unanswered")
    assert res.exit_code == 0 and res.output.count("nothing to resend") == 2, res.output
    assert len(fake.batches) == before + 2
    polls = sum(fake.polls.values())
    res = cli("batch", "collect", str(sample))
    assert res.exit_code == 0 and "8 answered, 2 failed, 0 missing" in res.output
    assert sum(fake.polls.values()) == polls
    # Outputs deleted: the file's batch and its resent requests' batch are both fetched and merged again.
    for out in sample.glob("batch/*/part-00000.output.jsonl"):
        out.unlink()
    res = cli("batch", "collect", str(sample))
    assert res.exit_code == 0 and "8 answered, 2 failed, 0 missing" in res.output, res.output
    res = cli("label", "judge", "--sample", str(sample), "--out", str(tmp_path / "j"))
    assert res.exit_code == 0 and "8 judge requests" in res.output, res.output
