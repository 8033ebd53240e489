"""The Spark route job end to end on tiny generated logs with tiny routers trained here (sw + mf)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from jobs.route_cmd import app_main
from jobs.route_logs import FAIL_ENV
from jobs.route_outputs import DISPATCH_MAX_LINES
from router_core.dispatch_dirs import safe_model_dir

STRONG, WEAK, NANO = "gpt-4o", "gpt-4o-mini", "gpt-4.1-nano"


def train_tiny_routers(out: Path, embedder) -> tuple[Path, Path]:
    """A pair router (STRONG vs WEAK) and a 3-model router, trained in seconds on generated correctness."""
    from router_core.training import train_router
    from router_core.training_data import load_training_data

    rng = np.random.default_rng(0)
    prompts, cols = [], {STRONG: [], WEAK: [], NANO: []}
    for i in range(80):
        hard = i % 2 == 0
        prompts.append(
            f"Prove that the sum of the first {i} odd numbers is a square" if hard else f"Say hi to {i}"
        )
        for m, p in ((STRONG, 0.9), (WEAK, 0.3 if hard else 0.9), (NANO, 0.1 if hard else 0.8)):
            cols[m].append(bool(rng.random() < p))
    # two prompts that the logs repeat (known prompts), outcomes as their kind suggests
    for text, right in (
        ("Prove that 0 squared is even", (True, False, False)),
        ("Say hi to friend 1", (True,) * 3),
    ):
        prompts.append(text)
        for m, r in zip((STRONG, WEAK, NANO), right, strict=True):
            cols[m].append(r)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"prompt": prompts, **cols}), out / "train.parquet")
    data = load_training_data([str(out / "train.parquet")])
    emb = embedder.encode(data.prompts)
    kw = {
        "scorers": ("sw", "mf"),
        "scorer_params": {"mf": {"max_epochs": 5}},
        "log": lambda s: None,
    }
    pair = train_router(data, emb, embedder.id, strong=STRONG, weak=WEAK, **kw)
    pair.record_label_coverage(emb)  # as `train` does: the training prompts' reference in the manifest
    pair.save(str(out / "pair"))
    train_router(data, emb, embedder.id, **kw).save(str(out / "multi"))
    return out / "pair", out / "multi"


def write_logs(path: Path) -> dict:
    """Two days; repeated prompts (also differing only in whitespace); two bad rows."""
    texts = [f"Prove that {i} squared is even" if i % 3 == 0 else f"Say hi to friend {i}" for i in range(12)]
    ids, prompts, ts = [], [], []
    for k in range(36):
        ids.append(f"req-{k:03d}")
        t = texts[k % 12]
        prompts.append(t if k < 24 else "  " + t.replace(" ", "   ") + "\n")  # same prompt after normalising
        ts.append(dt.datetime(2026, 11, 1 + k % 2, 10, tzinfo=dt.UTC))
    ids += ["bad-empty", "req-000"]
    prompts += ["   ", "duplicate id"]
    ts += [ts[0], ts[0]]
    pq.write_table(
        pa.table({"request_id": ids, "prompt": prompts, "ts": pa.array(ts, pa.timestamp("us", tz="UTC"))}),
        path,
    )
    return {
        "valid": 36,
        "distinct": 12,
        "quarantined": {"bad-empty": "empty_prompt", "req-000": "duplicate_request_id"},
    }


@pytest.fixture(scope="module")
def routers(tmp_path_factory, embedder):
    return train_tiny_routers(tmp_path_factory.mktemp("routers"), embedder)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    path = tmp_path_factory.mktemp("logs") / "logs.parquet"
    return path, write_logs(path)


def route(*args: str) -> int:
    return app_main([*map(str, args)])


def labels(out: Path) -> pa.Table:
    return (
        pads.dataset(str(out / "labels"), format="parquet", partitioning="hive")
        .to_table()
        .sort_by("request_id")
    )


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def routed_pair(spark, routers, logs, tmp_path_factory):
    out = tmp_path_factory.mktemp("route") / "out"
    rc = route("--router", routers[0], "--logs", logs[0], "--out", out, "--strong-share", "0.5")
    assert rc == 0
    return out


def test_ignore_known_prompts_changes_only_the_known_ones(spark, routers, routed_pair, logs, tmp_path):
    out = tmp_path / "ignored"
    args = ["--logs", logs[0], "--out", out, "--strong-share", "0.5", "--ignore-known-prompts"]
    assert route("--router", routers[0], *args) == 0
    assert manifest(out)["counts"]["known_prompts"] is None
    with_known, ignored = labels(routed_pair), labels(out)
    p1, p0 = with_known.column("strong_win_prob").to_numpy(), ignored.column("strong_win_prob").to_numpy()
    from router_core.text import normalize_prompt, prompt_hash

    known = {prompt_hash(normalize_prompt(t)) for t in ("Prove that 0 squared is even", "Say hi to friend 1")}
    is_known = np.isin(with_known.column("prompt_hash").to_pylist(), list(known))
    assert is_known.sum() == 6  # each known text appears 3 times in the logs
    np.testing.assert_allclose(p1[~is_known], p0[~is_known], atol=1e-6)
    assert (np.abs(p1[is_known] - p0[is_known]) > 1e-3).all()
    # The label column says which rows leaned on observed outcomes (none when they were ignored).
    np.testing.assert_array_equal(with_known.column("known_prompt").to_numpy(zero_copy_only=False), is_known)
    assert not ignored.column("known_prompt").to_numpy(zero_copy_only=False).any()


def test_estimated_token_counts_are_counted_and_said(routed_pair, logs, capsys):
    """Logs without prompt_tokens / completion_tokens: the manifest counts the rows whose tokens were
    counted or assumed, and the summary says so next to the projected cost."""
    from jobs.route_outputs import print_summary

    counts = manifest(routed_pair)["counts"]
    assert counts["prompt_tokens_counted"] == logs[1]["valid"]
    assert counts["completion_tokens_estimated"] == logs[1]["valid"]

    class Pair:
        strong = STRONG

    print_summary(counts, Pair())
    out = capsys.readouterr().out
    assert f"{logs[1]['valid']} rows without prompt_tokens: counted with all-MiniLM-L6-v2 WordPiece" in out
    assert f"{logs[1]['valid']} rows without completion_tokens: each model's typical answer length" in out
    assert out.index("rows without completion_tokens") < out.index("projected cost")


def test_contract_labels_one_row_per_valid_input(routed_pair, logs):
    t = labels(routed_pair)
    assert t.num_rows == logs[1]["valid"]
    assert len(set(t.column("request_id").to_pylist())) == t.num_rows
    for col in (
        "request_id",
        "prompt_hash",
        "score_sw",
        "score_mf",
        "strong_win_prob",
        "routed_model",
        "known_prompt",
        "label_similarity",
        "dt",
    ):
        assert col in t.column_names, col
    p = t.column("strong_win_prob").to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    # cosine to the nearest training prompt: ~1 for the prompts the router was trained on
    sim = t.column("label_similarity").to_numpy()
    assert t.schema.field("label_similarity").type == pa.float64() and ((sim > -1) & (sim <= 1 + 1e-6)).all()
    known = t.column("known_prompt").to_numpy(zero_copy_only=False)
    assert known.any() and (sim[known] > 0.999).all() and (sim[~known] < 0.999).all()
    summary = manifest(routed_pair)["counts"]["label_similarity"]
    assert summary["count"] == t.num_rows
    assert summary["median"] == pytest.approx(float(np.median(sim)))
    assert summary["share_below_0.5"] == pytest.approx(float((sim < 0.5).mean()))
    assert set(t.column("dt").to_pylist()) == {"2026-11-01", "2026-11-02"}
    q = pads.dataset(str(routed_pair / "quarantine"), format="parquet", partitioning="hive").to_table()
    assert (
        dict(zip(q.column("request_id").to_pylist(), q.column("reason").to_pylist(), strict=True))
        == logs[1]["quarantined"]
    )


def test_exact_strong_share_and_ranking(routed_pair, logs):
    t = labels(routed_pair)
    strong = np.array(t.column("routed_model").to_pylist()) == STRONG
    assert strong.sum() == round(0.5 * logs[1]["valid"])
    p = t.column("strong_win_prob").to_numpy()
    assert p[strong].min() >= p[~strong].max()


def test_dedupe_embeds_each_distinct_prompt_once(routed_pair, logs):
    import pyarrow.dataset as pads

    from jobs.embedding_cache import embedder_dir

    counts = manifest(routed_pair)["counts"]
    assert counts["distinct_prompts"] == logs[1]["distinct"]
    assert counts["known_prompts"] == 2  # training prompts that the logs repeat, whitespace aside
    assert counts["embedded"] == logs[1]["distinct"]
    emb_id = manifest(routed_pair)["router"]["embedder_id"]
    cache = embedder_dir(routed_pair / "_embedding_cache", emb_id)
    assert pads.dataset(str(cache), format="parquet").count_rows() == logs[1]["distinct"]
    t = labels(routed_pair)
    assert len(set(t.column("prompt_hash").to_pylist())) == logs[1]["distinct"]


def test_projections_and_daily_summary(routed_pair, logs):
    p = pads.dataset(str(routed_pair / "projections"), format="parquet", partitioning="hive").to_table()
    assert p.num_rows == logs[1]["valid"]
    routed = p.column("cost_routed_usd").to_numpy()
    s, w = p.column("cost_all_strong_usd").to_numpy(), p.column("cost_all_weak_usd").to_numpy()
    is_strong = np.array(p.column("routed_model").to_pylist()) == STRONG
    assert np.allclose(routed, np.where(is_strong, s, w))
    assert (s > w).all() and (p.column("prompt_tokens").to_numpy() > 0).all()
    d = pads.dataset(str(routed_pair / "projections_daily"), format="parquet", partitioning="hive").to_table()
    assert sorted(d.column("dt").to_pylist()) == ["2026-11-01", "2026-11-02"]
    assert sum(d.column("requests").to_pylist()) == logs[1]["valid"]
    assert np.isclose(sum(d.column("cost_routed_usd").to_pylist()), routed.sum())


def test_dispatch_files(routed_pair, logs):
    t = labels(routed_pair)
    want = dict(zip(t.column("request_id").to_pylist(), t.column("routed_model").to_pylist(), strict=True))
    dirs = json.loads((routed_pair / "dispatch" / "models.json").read_text())
    got = {}
    for f in sorted((routed_pair / "dispatch").glob("*/dt=*/part-*.jsonl")):
        model = dirs[f.parent.parent.name]
        lines = f.read_text().splitlines()
        assert 0 < len(lines) <= DISPATCH_MAX_LINES
        for line in lines:
            req = json.loads(line)
            assert req["method"] == "POST" and req["url"] == "/v1/chat/completions"
            assert req["body"]["model"] == model
            assert req["body"]["messages"][0]["role"] == "user" and req["body"]["messages"][0]["content"]
            got[req["custom_id"]] = model
    assert got == want


def test_manifest_checksums(routed_pair):
    import hashlib

    m = manifest(routed_pair)
    assert m["counts"]["rows_in"] == 38 and m["counts"]["valid"] == 36
    assert m["router"]["manifest_sha256"] and m["outputs"]
    for rel, digest in m["outputs"].items():
        assert hashlib.sha256((routed_pair / rel).read_bytes()).hexdigest() == digest


def test_second_run_embeds_nothing_and_gives_identical_labels(spark, routers, logs, routed_pair, tmp_path):
    out = tmp_path / "out"
    cache = routed_pair / "_embedding_cache"
    assert route("--router", routers[0], "--logs", logs[0], "--out", out, "--cache", cache) == 0
    assert manifest(out)["counts"]["embedded"] == 0
    assert manifest(out)["counts"]["from_cache"] == logs[1]["distinct"]
    assert labels(out).equals(labels(routed_pair))


def test_a_damaged_cache_file_is_left_out_and_its_prompts_embedded_again(
    spark, routers, logs, routed_pair, tmp_path, capsys
):
    from jobs.embedding_cache import embedder_dir
    from router_core.router import Router

    cache = tmp_path / "cache"
    shutil.copytree(routed_pair / "_embedding_cache", cache)
    emb_dir = embedder_dir(cache, Router.load(str(routers[0]), scorers=False).embedder_id)
    (part,) = emb_dir.glob("part-*.parquet")
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])  # a copy cut short: no Parquet footer
    capsys.readouterr()
    assert route("--router", routers[0], "--logs", logs[0], "--out", tmp_path / "out", "--cache", cache) == 0
    assert f"{part} is not a readable Parquet file" in capsys.readouterr().out
    assert manifest(tmp_path / "out")["counts"]["embedded"] == logs[1]["distinct"]
    assert labels(tmp_path / "out").equals(labels(routed_pair))


def test_a_route_run_leaves_the_callers_session_settings_as_they_were(
    spark, routers, logs, routed_pair, tmp_path
):
    shuffle = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.caseSensitive", "false")
    spark.conf.set("spark.sql.shuffle.partitions", "5")
    try:
        cache = routed_pair / "_embedding_cache"
        assert (
            route("--router", routers[0], "--logs", logs[0], "--out", tmp_path / "out", "--cache", cache) == 0
        )
        assert spark.conf.get("spark.sql.caseSensitive") == "false"  # the log reader sets it for the run
        assert spark.conf.get("spark.sql.shuffle.partitions") == "5"
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", shuffle)
        spark.conf.unset("spark.sql.caseSensitive")
    assert labels(tmp_path / "out").equals(labels(routed_pair))


def test_a_negative_logged_token_count_is_counted_or_assumed_not_costed(
    spark, routers, routed_pair, tmp_path
):
    import pandas as pd

    log = pd.DataFrame(
        {
            "request_id": ["neg", "pos"],
            "prompt": ["Say hi to friend 1", "Prove that 3 squared is even"],
            "prompt_tokens": [-100, 12],
            "completion_tokens": [-5, 40],
        }
    )
    log.to_parquet(tmp_path / "log.parquet")
    cache = routed_pair / "_embedding_cache"
    assert route("--router", routers[0], "--logs", tmp_path / "log.parquet", "--out", tmp_path / "out",
                 "--cache", cache) == 0  # fmt: skip
    p = (
        pads.dataset(str(tmp_path / "out" / "projections"), partitioning="hive")
        .to_table()
        .sort_by("request_id")
    )
    rows = {r["request_id"]: r for r in p.to_pylist()}
    assert rows["neg"]["prompt_tokens"] > 0 and rows["neg"]["completion_tokens"] == 350
    assert rows["pos"]["prompt_tokens"] == 12 and rows["pos"]["completion_tokens"] == 40
    assert all(r["cost_routed_usd"] > 0 for r in rows.values())
    counts = manifest(tmp_path / "out")["counts"]
    assert counts["prompt_tokens_counted"] == 1 and counts["completion_tokens_estimated"] == 1


def test_injected_failure_leaves_nothing_visible_and_rerun_is_identical(
    spark, routers, logs, routed_pair, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    monkeypatch.setenv(FAIL_ENV, "1")
    with pytest.raises(RuntimeError, match=FAIL_ENV):
        route("--router", routers[0], "--logs", logs[0], "--out", out)
    for name in ("labels", "projections", "quarantine", "dispatch"):
        assert not (out / name).exists(), name  # only the hidden staging dir exists
    assert list((out / "_staging").rglob("*.parquet"))  # the failure came after writing temp files
    monkeypatch.delenv(FAIL_ENV)
    assert route("--router", routers[0], "--logs", logs[0], "--out", out) == 0
    assert not (out / "_staging").exists()
    assert labels(out).equals(labels(routed_pair))


def test_a_run_into_an_out_another_run_is_writing_stops_before_touching_it(
    spark, routers, logs, routed_pair, tmp_path, capsys
):
    from jobs.atomic_write import exclusive

    out = tmp_path / "out"
    shutil.copytree(routed_pair, out)
    staged = out / "_staging" / "run-in-progress" / "labels"
    staged.mkdir(parents=True)  # the other run's staged files, about to be committed
    with exclusive(out):  # held as the other run holds it
        assert route("--router", routers[0], "--logs", logs[0], "--out", out, "--strong-share", "1") == 2
    assert "another run is writing to" in capsys.readouterr().err
    assert staged.is_dir()
    assert labels(out).equals(labels(routed_pair))


def test_dispatch_files_missing_a_routed_request_fail_the_run_before_commit(
    spark, routers, logs, routed_pair, tmp_path, monkeypatch, capsys
):
    from pyspark.sql import functions as F

    from jobs import route_outputs

    write = route_outputs.write_dispatch

    def losing_one(dispatch, path):  # a writer that loses a line (a lost task, a bad join)
        write(dispatch.where(F.col("request_id") != "req-005"), path)

    monkeypatch.setattr(route_outputs, "write_dispatch", losing_one)
    out = tmp_path / "out"
    cache = routed_pair / "_embedding_cache"
    assert route("--router", routers[0], "--logs", logs[0], "--out", out, "--cache", cache) == 2
    assert (
        "the dispatch files hold 35 lines for 36 routed requests: nothing was committed"
        in capsys.readouterr().err
    )
    assert not (out / "labels").exists() and not (out / "dispatch").exists()


def test_a_failed_cache_append_fails_the_run_before_commit(spark, routers, logs, tmp_path, monkeypatch):
    from jobs import embedding_cache

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(embedding_cache, "append_cache", disk_full)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        route("--router", routers[0], "--logs", logs[0], "--out", out)
    assert not (out / "labels").exists() and not (out / "manifest.json").exists()


def test_the_cache_append_has_its_own_log_line(spark, routers, logs, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert route("--router", routers[0], "--logs", logs[0], "--out", tmp_path / "out", "--cache", cache) == 0
    line = f"embedding cache: {logs[1]['distinct']} new vectors appended to {cache} in "
    assert line in capsys.readouterr().out
    assert len(list(cache.glob("embedder=*/part-*.parquet"))) == 1  # one file per run, not one per task


def test_an_error_while_the_cache_is_appended_wins_and_names_both(
    spark, routers, logs, tmp_path, monkeypatch, capsys
):
    from jobs import embedding_cache
    from jobs.route_logs import RouteRun

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    def calibrate_fails(*args):
        raise RuntimeError("calibration broke")

    monkeypatch.setattr(embedding_cache, "append_cache", disk_full)
    monkeypatch.setattr(RouteRun, "calibrate", calibrate_fails)
    with pytest.raises(RuntimeError, match="calibration broke"):
        route("--router", routers[0], "--logs", logs[0], "--out", tmp_path / "out")
    assert "the embedding cache append failed too: No space left on device" in capsys.readouterr().out


def test_a_cpu_worker_scores_without_importing_torch(routers):
    """The score UDF's batch function, as a Spark worker runs it, with the default CPU embedder (the
    ONNX export) and an sw + mf router: torch (about 2 s of a worker's start) is never imported."""
    import subprocess
    import sys

    from router_core.onnx_embedder import onnx_model

    onnx_model(max_length=256, precision="fp32")  # what `make setup` builds
    code = (
        "import sys, pyarrow as pa\n"
        "from udfs.embed_udf import get_embedder\n"
        "from udfs.score_udf import score_batch\n"
        "from router_core.router import Router\n"
        "e = get_embedder({'kind': 'minilm', 'max_length': 256})\n"
        "assert type(e).__name__ == 'OnnxMiniLMEmbedder', type(e)\n"
        f"r = Router.load({str(routers[0])!r}, embedder_id=e.id)\n"
        "batch = pa.RecordBatch.from_pydict({'prompt_hash': ['h'], 'text': ['Say hi to friend 3'],\n"
        "    'embedding': pa.nulls(1, pa.list_(pa.float32()))})\n"
        "assert score_batch(batch, r, e.encode, e.dim).num_rows == 1\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_bad_policy_and_budget_are_one_line_errors(routers, logs, tmp_path, capsys):
    assert route("--router", routers[1], "--logs", logs[0], "--out", tmp_path, "--strong-share", "0.5") == 2
    assert (
        route(
            "--router",
            routers[0],
            "--logs",
            logs[0],
            "--out",
            tmp_path,
            "--threshold",
            "0.5",
            "--budget-usd",
            "1",
        )
        == 2
    )
    assert route("--router", routers[0], "--logs", logs[0], "--out", tmp_path, "--strong-share", "1.5") == 2
    err = capsys.readouterr().err
    assert "does not apply to a 3-model router" in err and "at most one policy" in err


def test_a_budget_below_the_cheapest_cost_stops_before_any_prompt_is_embedded(
    routers, logs, tmp_path, capsys
):
    out = tmp_path / "out"
    assert route("--router", routers[0], "--logs", logs[0], "--out", out, "--budget-usd", "0.0001") == 2
    captured = capsys.readouterr()
    assert (
        "--budget-usd 0.0001 is below the cheapest possible cost: the 36 valid requests cost at least $"
        in (captured.err)
    )
    assert "embed+score" not in captured.out
    assert not (out / "_embedding_cache").exists() and not (out / "labels").exists()


def test_a_cache_path_that_is_a_file_is_one_line_error(routers, logs, tmp_path, capsys):
    not_a_dir = tmp_path / "cache.txt"
    not_a_dir.write_text("x")
    assert (
        route("--router", routers[0], "--logs", logs[0], "--out", tmp_path / "out", "--cache", not_a_dir) == 2
    )
    err = capsys.readouterr().err
    assert f"cannot use {not_a_dir} as the embedding cache (--cache)" in err
    assert not (tmp_path / "out" / "labels").exists()


def test_safe_model_dirs():
    d = safe_model_dir(["mistralai/Mixtral-8x7B", "a b", "a_b", "_x", "gpt-4o"])
    assert d["mistralai/Mixtral-8x7B"] == "mistralai--Mixtral-8x7B" and d["gpt-4o"] == "gpt-4o"
    assert d["a b"] != d["a_b"] and not d["_x"].startswith("_")
    assert all("/" not in v for v in d.values()) and len(set(d.values())) == len(d)


@pytest.mark.slow
def test_budget_threshold_and_date_rerun(spark, routers, logs, routed_pair, tmp_path, capsys):
    out = tmp_path / "out"
    cache = routed_pair / "_embedding_cache"
    p = pads.dataset(str(routed_pair / "projections"), format="parquet", partitioning="hive").to_table()
    weak_total = float(np.sum(p.column("cost_all_weak_usd").to_numpy()))
    extra = float(np.sum(p.column("cost_all_strong_usd").to_numpy())) - weak_total
    budget = weak_total + 0.3 * extra
    assert (
        route(
            "--router", routers[0], "--logs", logs[0], "--out", out, "--cache", cache, "--budget-usd", budget
        )
        == 0
    )
    spent = pads.dataset(str(out / "projections"), partitioning="hive").to_table().column("cost_routed_usd")
    assert 0 < float(np.sum(spent.to_numpy())) <= budget
    assert (
        route(
            "--router",
            routers[0],
            "--logs",
            logs[0],
            "--out",
            tmp_path / "x",
            "--cache",
            cache,
            "--budget-usd",
            weak_total * 0.5,
        )
        == 2
    )  # below the all-weak cost

    # Threshold, re-running only 2026-11-02: the other date keeps its budget labels.
    before = labels(out)
    assert (
        route(
            "--router",
            routers[0],
            "--logs",
            logs[0],
            "--out",
            out,
            "--cache",
            cache,
            "--threshold",
            "0.5",
            "--date",
            "2026-11-02",
        )
        == 0
    )
    after = labels(out)
    assert after.num_rows == before.num_rows
    keep = pa.compute.equal(before.column("dt"), "2026-11-01")
    assert after.filter(pa.compute.equal(after.column("dt"), "2026-11-01")).equals(before.filter(keep))
    new = after.filter(pa.compute.equal(after.column("dt"), "2026-11-02"))
    # The manifest is this run's: its checksums cover the files of its date, not the other run's.
    written = manifest(out)["outputs"]
    assert written and all("dt=2026-11-02" in rel or rel == "dispatch/models.json" for rel in written)
    outputs = {"labels", "projections", "projections_daily", "dispatch"}
    assert {rel.split("/")[0] for rel in written} >= outputs
    p2 = new.column("strong_win_prob").to_numpy()
    assert ((np.array(new.column("routed_model").to_pylist()) == STRONG) == (p2 >= 0.5)).all()

    # A date without rows (a wrong --date, or ts in another time zone) is an error naming the dates the
    # log holds, and leaves the outputs as they were.
    capsys.readouterr()
    assert route("--router", routers[0], "--logs", logs[0], "--out", out, "--date", "2026-10-31") == 2
    err = capsys.readouterr().err
    assert "no rows dated 2026-10-31" in err and "rows are dated 2026-11-01 to 2026-11-02" in err
    assert labels(out).equals(after) and not (out / "_staging").exists()


@pytest.mark.slow
def test_n_model_router_policies(spark, routers, logs, routed_pair, tmp_path, capsys):
    cache = routed_pair / "_embedding_cache"
    out = tmp_path / "cw"
    assert (
        route("--router", routers[1], "--logs", logs[0], "--out", out, "--cache", cache, "--cost-weight", "0")
        == 0
    )
    t = labels(out)
    # N-model labels carry label_similarity too (the sw scorer's index); the log summarises it
    assert t.column("label_similarity").null_count == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "label similarity" in ln)
    assert "% of requests below 0.5" in line and "median" in line
    pqual = t.column("predicted_quality").to_pylist()
    best = [max(dict(m), key=dict(m).get) for m in pqual]
    assert t.column("routed_model").to_pylist() == best  # weight 0: the best predicted model
    assert {k for k, _ in pqual[0]} == {STRONG, WEAK, NANO}
    proj = pads.dataset(str(out / "projections"), partitioning="hive").to_table()
    cheapest = float(np.sum([min(v for _, v in m) for m in proj.column("cost_by_model_usd").to_pylist()]))
    budget = cheapest * 1.5
    out_b = tmp_path / "budget"
    assert (
        route(
            "--router",
            routers[1],
            "--logs",
            logs[0],
            "--out",
            out_b,
            "--cache",
            cache,
            "--budget-usd",
            budget,
        )
        == 0
    )
    spent = pads.dataset(str(out_b / "projections"), partitioning="hive").to_table().column("cost_routed_usd")
    assert float(np.sum(spent.to_numpy())) <= budget
    out_q = tmp_path / "q"
    assert (
        route(
            "--router",
            routers[1],
            "--logs",
            logs[0],
            "--out",
            out_q,
            "--cache",
            cache,
            "--quality-target",
            "0.5",
        )
        == 0
    )
    assert labels(out_q).num_rows == logs[1]["valid"]
    shutil.rmtree(tmp_path)


@pytest.mark.slow
def test_int8_router_routes_with_its_embedder(spark, int8_embedder, logs, tmp_path, capsys):
    """A router trained on int8 vectors: with no embedder configured the job embeds with minilm_int8
    (workers build the ONNX model themselves; a wrong embedder would fail every task's router load);
    a config that insists on another kind is a one-line error before Spark work."""
    pair, _ = train_tiny_routers(tmp_path / "routers", int8_embedder)
    out = tmp_path / "out"
    assert route("--router", pair, "--logs", logs[0], "--out", out, "--strong-share", "0.5") == 0
    t = labels(out)
    assert t.num_rows == logs[1]["valid"]
    assert manifest(out)["counts"]["embedded"] == logs[1]["distinct"]
    conf = tmp_path / "fp32.yaml"
    conf.write_text("embedder:\n  kind: minilm\n")
    rc = route("--router", pair, "--logs", logs[0], "--out", tmp_path / "o2", "--strong-share", "0.5",
               "--config", conf)  # fmt: skip
    assert rc == 2 and "cannot reproduce the router's embeddings" in capsys.readouterr().err


def test_a_tracing_export_routes_on_nested_fields(spark, routers, tmp_path):
    """A tracing export: the chat under inputs, the token counts under usage; projections
    take the logged counts and the dispatch bodies the nested chat."""
    runs = [
        {
            "id": f"run{i}",
            "inputs": {"messages": [{"role": "user", "content": f"Explain topic {i} briefly"}]},
            "usage": {"prompt_tokens": 100 + i, "completion_tokens": 40},
            "start_time": "2026-11-01T10:00:00Z",
        }
        for i in range(4)
    ]
    logs = tmp_path / "runs.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in runs))
    columns = ["request_id=id", "messages=inputs.messages", "ts=start_time"]
    columns += ["prompt_tokens=usage.prompt_tokens", "completion_tokens=usage.completion_tokens"]
    out = tmp_path / "out"
    rc = route(
        "--router", routers[0], "--logs", logs, "--out", out, *[a for c in columns for a in ("--column", c)]
    )
    assert rc == 0
    p = pads.dataset(str(out / "projections"), format="parquet", partitioning="hive").to_table()
    p = p.sort_by("request_id")
    assert p.column("prompt_tokens").to_pylist() == [100, 101, 102, 103]
    assert p.column("completion_tokens").to_pylist() == [40.0] * 4
    sent = [json.loads(line) for f in out.glob("dispatch/*/dt=2026-11-01/part-*.jsonl") for line in f.open()]
    assert {r["custom_id"]: r["body"]["messages"] for r in sent} == {
        r["id"]: r["inputs"]["messages"] for r in runs
    }


def test_responses_api_bodies_dispatch_to_their_endpoint_one_per_file(spark, routers, tmp_path):
    """A body column mixing chat completions and Responses API bodies: each body is sent unchanged but for
    its model, to its own endpoint, and no dispatch file mixes endpoints (the Batch API refuses that);
    each file's lines are in request_id order, whatever the log's order."""
    bodies = {
        f"q{i}": {"model": "gpt-4o", "messages": [{"role": "user", "content": f"Explain topic {i}"}]}
        if i % 2
        else {"model": "gpt-4o", "input": f"Explain topic {i}", "instructions": "Be brief", "store": False}
        for i in range(6)
    }
    logs = tmp_path / "bodies.jsonl"
    rows = [json.dumps({"request_id": k, "body": json.dumps(b)}) + "\n" for k, b in reversed(bodies.items())]
    logs.write_text("".join(rows))
    out = tmp_path / "out"
    assert route("--router", routers[0], "--logs", logs, "--out", out, "--strong-share", "1") == 0
    files = sorted(out.glob("dispatch/*/dt=*/part-*.jsonl"))
    sent = {}
    for f in files:
        lines = [json.loads(line) for line in f.read_text().splitlines()]
        assert len({line["url"] for line in lines}) == 1, f
        assert [line["custom_id"] for line in lines] == sorted(line["custom_id"] for line in lines)
        sent |= {line["custom_id"]: line for line in lines}
    assert len(files) == 2 and set(sent) == set(bodies)
    for k, line in sent.items():
        responses = "input" in bodies[k]
        assert line["url"] == ("/v1/responses" if responses else "/v1/chat/completions")
        assert line["body"] == {**bodies[k], "model": line["body"]["model"]}
    assert manifest(out)["counts"]["dispatch_lines"] == 6


def test_driver_written_days_sit_where_spark_puts_them(spark, tmp_path):
    """Dates with the characters Spark escapes in partition paths: the driver's writer makes the same
    directories, and Spark reads the same rows back."""
    import pyarrow as pa

    from jobs.route_outputs import write_partitioned, write_table_by_day

    days = ["2026-01-01", "2026/01/02", "a:b=c%d?e", 'q"#*[x]^{', "back\\slash", "tab\there", "", None]
    table = pa.table({"request_id": [f"r{i}" for i in range(len(days))], "dt": days})
    write_table_by_day(table, tmp_path / "driver")
    write_partitioned(spark.createDataFrame(table.to_pandas()), tmp_path / "spark")

    def day_dirs(side: str) -> list[str]:
        return sorted(p.name for p in (tmp_path / side).iterdir() if p.is_dir())

    def rows(side: str) -> list[list[str]]:
        df = spark.read.parquet(str(tmp_path / side)).toPandas()
        return df.sort_values("request_id").astype(str).values.tolist()

    assert day_dirs("driver") == day_dirs("spark") and rows("driver") == rows("spark")


def test_savings_on_a_route_run_that_labelled_no_row_says_why(spark, routers, tmp_path):
    """A Batch file of embeddings requests (url /v1/embeddings, no chat to route on) routes no line:
    savings on that run's output names the quarantine, not a Parquet error about dispatch/models.json."""
    from jobs.savings import run_savings
    from router_core.savings_frame import SavingsInputError

    logs = tmp_path / "embeddings_batch.jsonl"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hi"}]}
    line = {"custom_id": "t0", "method": "POST", "url": "/v1/embeddings", "body": body}
    logs.write_text(json.dumps(line) + "\n")
    out = tmp_path / "out"
    assert route("--router", routers[0], "--logs", logs, "--out", out) == 0
    with pytest.raises(SavingsInputError) as err:
        run_savings(str(logs), str(out), str(tmp_path / "rep"), bootstrap=0)
    assert str(err.value) == (
        f"{out} has no labels/: its route run labelled none of its 1 log rows (quarantined "
        f"invalid_request: 1; their reasons are in {out / 'quarantine'})"
    )
