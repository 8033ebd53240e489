"""bench/gpu_check.py: its CPU run of the same code path, the faiss stand-in it uses on the GPU machine,
and its usage errors, so the check works when a GPU machine is lent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.bench_modules import load_bench

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu_check.py"


def _load(name: str):
    return load_bench(name)


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_check_uses_the_route_jobs_embedder_settings():
    from jobs.config import EmbedderConfig

    cfg = EmbedderConfig()
    assert _load("gpu_check").ROUTE_EMBEDDER == {"kind": cfg.kind, **cfg.kwargs()}


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_faiss_stand_in_reads_flat_indexes_as_faiss_does(tmp_path, metric):
    import faiss

    stand_ins = _load("gpu_stand_ins")
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((50, 16)).astype(np.float32)
    index = faiss.IndexFlatIP(16) if metric == "ip" else faiss.IndexFlatL2(16)
    index.add(xb)
    faiss.write_index(index, str(tmp_path / "x.faiss"))
    got = stand_ins.read_flat_index(tmp_path / "x.faiss")
    assert got.ntotal == 50 and got.d == 16 and got.metric == metric
    assert np.array_equal(got.reconstruct_n(0, got.ntotal), index.reconstruct_n(0, index.ntotal))
    q = rng.standard_normal((7, 16)).astype(np.float32)
    for k in (5, 60):  # k above ntotal: FAISS pads with id -1
        want_s, want_i = index.search(q, k)
        got_s, got_i = got.search(q, k)
        assert np.array_equal(got_i, want_i)
        found = want_i >= 0
        np.testing.assert_allclose(got_s[found], want_s[found], rtol=1e-5, atol=1e-4)


def test_faiss_stand_in_refuses_other_index_kinds(tmp_path):
    import faiss

    stand_ins = _load("gpu_stand_ins")
    xb = np.random.default_rng(0).standard_normal((100, 8)).astype(np.float32)
    index = faiss.IndexHNSWFlat(8, 16, faiss.METRIC_INNER_PRODUCT)
    index.add(xb)
    faiss.write_index(index, str(tmp_path / "h.faiss"))
    with pytest.raises(ValueError, match="cannot be read without faiss"):
        stand_ins.faiss_module().read_index(str(tmp_path / "h.faiss"))


def test_missing_bundle_is_a_one_line_error(tmp_path):
    res = _run("--cpu", "--bundle", str(tmp_path / "none"), timeout=120)
    assert res.returncode == 2
    missing = tmp_path / "none"
    assert res.stdout.strip().splitlines() == [
        f"error: {missing}/bundle.json not found; run: bench/gpu_check.py --prepare {missing}"
    ]
    assert "Traceback" not in res.stderr


def test_prepare_leaves_a_folder_that_is_not_a_bundle_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    res = _run("--prepare", str(tmp_path), timeout=120)
    assert res.returncode == 2 and res.stdout.startswith(f"error: {tmp_path} exists and is not a bundle")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_prepare_then_cpu_check_passes(tmp_path):
    """The whole check on CPU, as the GPU machine runs it: stand-ins for pyspark, faiss and the MiniLM
    package, the fp16 weight copy, both routers through make_score_fn, agreement and prompts/s."""
    bundle = tmp_path / "bundle"
    prep = _run("--prepare", str(bundle), "--train-rows", "120", "--reference-prompts", "16")
    assert prep.returncode == 0, prep.stdout + prep.stderr
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["total_bytes"] < 60 * 2**20  # leaves room for the working tree in the 64 MiB that travel
    out = tmp_path / "cpu.json"
    # --seconds 300: every figure times all its prompts, however loaded the machine is; --max-seconds 600
    # (this run's timeout): no figure is skipped because the agreement checks before them ran slowly
    res = _run("--cpu", "--bundle", str(bundle), "--faiss", "stand-in", "--seconds", "300",
               "--max-seconds", "600", "--out", str(out))  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads(out.read_text())
    assert got["passed"] is True and got["mode"] == "cpu"
    assert got["modules"] == {"pyspark": "stand-in", "faiss": "stand-in"}
    assert got["versions"]["faiss"] == "stand-in"
    assert got["embed_agreement"]["min_cosine"] >= 0.999
    for name in ("sw_mf", "sw_mf_bert"):
        agree = got[f"score_agreement_{name}"]
        assert agree["passed"] is True and agree["rows"] == meta["reference_prompts"]
        assert set(agree["max_abs_diff"]) >= {"score_sw", "score_mf", "strong_win_prob"}
        assert all(d <= 1e-3 for d in agree["max_abs_diff"].values())
    assert "score_bert" in got["score_agreement_sw_mf_bert"]["max_abs_diff"]
    figures = {row["what"]: row for row in got["throughput"]}
    assert set(figures) == {"embed", "sw_mf", "sw_mf_bert"}
    assert all(row["prompts"] == 32 and row["prompts_per_s"] > 0 for row in figures.values())


def test_gpu_run_without_cuda_is_a_one_line_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    (tmp_path / "bundle.json").write_text("{}")
    res = _run("--bundle", str(tmp_path), "--out", str(tmp_path / "r.json"), timeout=120)
    assert res.returncode == 2
    want = "error: no CUDA device visible to torch; use --cpu for the CPU run"
    assert res.stdout.strip().splitlines() == [want]
    assert not (tmp_path / "r.json").exists()
