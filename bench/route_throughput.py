"""Route-job throughput vs bare embedding, on real prompts (../shared/data when present, else generated).

(a) bare: the embedder the job loads (``load_embedder``: on CPU the fp32 ONNX MiniLM), in plain Python with
    2 threads, on the log's distinct prompts (the job embeds each distinct prompt once, so timing bare
    embedding on all N rows would flatter the job);
(b) the full route job (`batch-router route`, fresh Spark at local[2], fresh cache) with an sw+mf router;
(c) the same with sw+mf+bert.
Router training is not timed. Prints and writes JSON with prompts/s and the ratios to (a).
``--embedder minilm_int8`` runs all three with the int8 ONNX embedder instead (routers trained with it).

    .venv/bin/python bench/route_throughput.py --n 20000 --work /tmp/route_bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"


def real_prompts() -> list[str]:
    """Distinct prompts of MMLU + LLMRouter + AlpacaEval (in that order), or [] without ../shared/data."""
    out: list[str] = []
    for name, col in (
        ("mmlu_dev.parquet", "prompt"),
        ("llmrouter_train.parquet", "question"),
        ("llmrouter_test.parquet", "question"),
        ("alpaca_eval2_battles.parquet", "prompt"),
    ):
        p = SHARED / name
        if p.exists():
            out += pq.read_table(p, columns=[col]).column(col).to_pylist()
    return list(dict.fromkeys(t for t in out if isinstance(t, str) and t.strip()))


def generated_prompts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = "model data router cost quality prompt answer explain compute batch token spark".split()
    return [f"Question {i}: " + " ".join(rng.choice(words, int(rng.integers(5, 60)))) + "?" for i in range(n)]


def bench_prompts(n: int, seed: int = 0) -> tuple[list[str], str]:
    """n prompts: every distinct real prompt once (shuffled), topped up with repeats of them (logs repeat)."""
    pool = real_prompts()
    source = "real (../shared/data: MMLU, LLMRouter, AlpacaEval)"
    if not pool:
        pool, source = generated_prompts(n, seed), "generated"
    rng = np.random.default_rng(seed)
    pool = [pool[i] for i in rng.permutation(len(pool))][:n]
    extra = [pool[i] for i in rng.integers(0, len(pool), max(0, n - len(pool)))]
    prompts = pool + extra
    return [prompts[i] for i in rng.permutation(len(prompts))], source


def write_logs(prompts: list[str], path: Path, days: int = 3) -> None:
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    ts = [base + dt.timedelta(days=i % days, seconds=i % 86_400) for i in range(len(prompts))]
    pq.write_table(
        pa.table(
            {
                "request_id": [f"req-{i:08d}" for i in range(len(prompts))],
                "prompt": prompts,
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            }
        ),
        path,
    )


def training_table(n: int = 1500) -> pa.Table:
    """Pair-correctness training data: MMLU from ../shared/data, else the bundled demo sample."""
    p = SHARED / "mmlu_dev.parquet"
    if not p.exists():
        p = REPO / "jobs" / "demo_data" / "mmlu_sample.parquet"
    t = pq.read_table(p)
    return t.slice(0, min(n, t.num_rows))


def train_router(
    out: Path, scorers: tuple[str, ...], n_train: int = 1500, embedder_kind: str = "minilm"
) -> Path:
    from router_core.embedder import load_embedder
    from router_core.training import train_router as fit
    from router_core.training_data import load_training_data

    if (out / "manifest.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    data_path = out.parent / "train.parquet"
    pq.write_table(training_table(n_train), data_path)
    data = load_training_data([str(data_path)])
    embedder = load_embedder(embedder_kind, threads=2)
    emb = embedder.encode(data.prompts)
    params = {"bert": {"epochs": 1}} if "bert" in scorers else {}
    router = fit(
        data,
        emb,
        embedder.id,
        strong=STRONG,
        weak=WEAK,
        scorers=scorers,
        scorer_params=params,
        log=lambda m: print(f"  [train] {m}", flush=True),
    )
    router.save(str(out))
    return out


def bare_embedding(prompts: list[str], threads: int = 2, kind: str = "minilm") -> float:
    import torch

    from router_core.embedder import load_embedder

    torch.set_num_threads(threads)
    emb = load_embedder(kind, threads=threads)
    emb.encode(prompts[:64])  # warm-up, like the job's first batch
    t = time.time()
    emb.encode(prompts)
    return time.time() - t


def route_command(router: Path, logs: Path, out: Path, master: str) -> list[str]:
    """`batch-router route ... --strong-share 0.5` from this venv (million_rows.py runs it too)."""
    exe = str(Path(sys.executable).parent / "batch-router")
    return [exe, "route", "--router", str(router), "--logs", str(logs), "--out", str(out), "--master", master,
            "--strong-share", "0.5"]  # fmt: skip


def route_job(router: Path, logs: Path, out: Path, master: str = "local[2]") -> dict:
    """Run `batch-router route` in a fresh process; wall time includes Spark start-up."""
    cmd = route_command(router, logs, out, master)
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.time() - t
    if r.returncode != 0:
        raise RuntimeError(f"route job failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    stage = re.search(r"embed\+score: .* in ([0-9.]+)s", r.stdout)
    up = re.search(r"spark up \(.*\) in ([0-9.]+)s", r.stdout)
    print("\n".join(line for line in r.stdout.splitlines() if line.startswith("[route]")), flush=True)
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    return {
        "wall_s": round(wall, 1),
        "spark_startup_s": float(up.group(1)) if up else None,
        "embed_score_stage_s": float(stage.group(1)) if stage else None,
        "distinct_prompts": counts["distinct_prompts"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="prompts (default 20000)")
    ap.add_argument("--work", default="/tmp/route_bench", help="scratch directory (routers, logs, outputs)")
    ap.add_argument("--skip-bert", action="store_true", help="skip (c), the run with the BERT scorer")
    ap.add_argument("--json", default=None, help="write the results here too")
    ap.add_argument(
        "--embedder", default="minilm", choices=("minilm", "minilm_int8"), help="embedder of (a) and routers"
    )
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    prompts, source = bench_prompts(args.n)
    logs = work / "logs.parquet"
    write_logs(prompts, logs)
    n_distinct = len(set(prompts))
    print(f"{len(prompts)} prompts ({n_distinct} distinct), {source}", flush=True)

    kind = args.embedder
    routers = {"b_sw_mf": train_router(work / f"router_sw_mf_{kind}", ("sw", "mf"), embedder_kind=kind)}
    if not args.skip_bert:
        routers["c_sw_mf_bert"] = train_router(
            work / f"router_sw_mf_bert_{kind}", ("sw", "mf", "bert"), embedder_kind=kind
        )

    res: dict = {"n": len(prompts), "distinct": n_distinct, "source": source, "embedder": kind}
    res["cpu_count"] = os.cpu_count()
    a = bare_embedding(list(dict.fromkeys(prompts)), kind=kind)
    res["a_bare_embedding"] = {
        "seconds": round(a, 1),
        "distinct_prompts_per_s": round(n_distinct / a, 1),
        "log_rows_per_s": round(len(prompts) / a, 1),
    }
    print(f"(a) bare embedding: {n_distinct} distinct prompts in {a:.1f}s = {n_distinct / a:.1f}/s")
    for key, router in routers.items():
        out = work / f"out_{key}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        r = route_job(router, logs, out)
        r["log_rows_per_s"] = round(len(prompts) / r["wall_s"], 1)
        r["distinct_prompts_per_s"] = round(n_distinct / r["wall_s"], 1)
        # Same prompts embedded in both: ratio = bare seconds / job wall seconds (Spark start-up included).
        r["ratio_to_a"] = round(a / r["wall_s"], 3)
        res[key] = r
        print(f"({key[0]}) route job {key}: {r}", flush=True)
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
