"""``make demo``: train a small router on bundled MMLU data, route demo logs with Spark, report savings.

Runs offline in a fresh clone (no ../shared, no network): ``python -m jobs.demo --out demo_out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parent / "demo_data" / "mmlu_sample.parquet"
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
N_TRAIN = 500
N_LOG_ROWS = 300
DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def split_sample() -> tuple[pa.Table, pa.Table]:
    t = pq.read_table(DATA)
    order = np.random.default_rng(0).permutation(t.num_rows)
    return t.take(pa.array(order[:N_TRAIN])), t.take(pa.array(order[N_TRAIN:]))


def train(train_table: pa.Table, out: Path) -> Path:
    from router_core.embedder import load_embedder
    from router_core.training import train_router
    from router_core.training_data import load_training_data

    path = out / "demo_train.parquet"
    pq.write_table(train_table, path)
    data = load_training_data([str(path)])
    embedder = load_embedder("minilm", threads=2)
    t = time.time()
    emb = embedder.encode(data.prompts)
    say(f"embedded {len(data.prompts)} training prompts in {time.time() - t:.1f}s")
    router = train_router(
        data, emb, embedder.id, strong=STRONG, weak=WEAK, scorers=("sw", "mf"), log=lambda m: say(f"  {m}")
    )
    router.record_label_coverage(emb)  # the reference route's label_similarity summary is compared with
    router.save(str(out / "router"))
    return out / "router"


def write_logs(log_table: pa.Table, out: Path) -> tuple[Path, dict[str, dict[str, bool]]]:
    """N_LOG_ROWS requests over three days (some questions asked twice), all served by the strong model."""
    from router_core.tokens import count_tokens

    rng = np.random.default_rng(1)
    prompts = log_table.column("prompt").to_pylist()
    pick = rng.integers(0, len(prompts), N_LOG_ROWS)
    texts = [prompts[i] for i in pick]
    ts = [
        dt.datetime.fromisoformat(DAYS[k % len(DAYS)]).replace(tzinfo=dt.UTC)
        + dt.timedelta(seconds=int(rng.integers(0, 86_400)))
        for k in range(N_LOG_ROWS)
    ]
    ids = [f"demo-{k:04d}" for k in range(N_LOG_ROWS)]
    table = pa.table(
        {
            "request_id": ids,
            "prompt": texts,
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "segment": [["tutoring", "exam-prep", "research"][int(i) % 3] for i in pick],
            "model": [STRONG] * N_LOG_ROWS,
            "prompt_tokens": pa.array(count_tokens(texts), pa.int64()),
            "completion_tokens": pa.array(rng.integers(20, 400, N_LOG_ROWS), pa.int64()),
        }
    )
    path = out / "demo_logs.parquet"
    pq.write_table(table, path)
    correct = {
        rid: {
            STRONG: bool(log_table.column(STRONG)[int(i)].as_py()),
            WEAK: bool(log_table.column(WEAK)[int(i)].as_py()),
        }
        for rid, i in zip(ids, pick, strict=True)
    }
    return path, correct


def write_audit(logs: Path, correct: dict[str, dict[str, bool]], out: Path, n: int = 100) -> Path:
    """A random sample of the demo requests with both models' measured correctness: the audit labels that
    let the savings report measure quality retained instead of trusting the router's own scores."""
    log_table = pq.read_table(logs, columns=["request_id", "prompt"])
    pick = np.sort(
        np.random.default_rng(1).choice(log_table.num_rows, size=min(n, log_table.num_rows), replace=False)
    )
    sample = log_table.take(pa.array(pick))
    rids = sample.column("request_id").to_pylist()
    table = sample.append_column(STRONG, pa.array([correct[r][STRONG] for r in rids])).append_column(
        WEAK, pa.array([correct[r][WEAK] for r in rids])
    )
    path = out / "demo_audit.parquet"
    pq.write_table(table, path)
    return path


def accuracy(labels_dir: Path, correct: dict[str, dict[str, bool]]) -> dict[str, float]:
    import pyarrow.dataset as pads

    t = pads.dataset(str(labels_dir), format="parquet", partitioning="hive").to_table()
    routed = dict(zip(t.column("request_id").to_pylist(), t.column("routed_model").to_pylist(), strict=True))
    return {
        "routed": float(np.mean([correct[r][m] for r, m in routed.items()])),
        "all_strong": float(np.mean([correct[r][STRONG] for r in routed])),
        "all_weak": float(np.mean([correct[r][WEAK] for r in routed])),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo_out", help="output directory (default demo_out)")
    ap.add_argument("--strong-share", type=float, default=0.5, help="share of requests sent to GPT-4")
    ap.add_argument("--master", default="local[*]", help="Spark master URL (default local[*])")
    args = ap.parse_args(argv)
    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_table, log_table = split_sample()
    say(f"bundled MMLU sample: {train_table.num_rows} questions to train on, {log_table.num_rows} for logs")
    router = train(train_table, out)
    logs, correct = write_logs(log_table, out)
    say(f"router in {router}; {N_LOG_ROWS} demo log rows in {logs}")

    from jobs.config import load_config
    from jobs.route_logs import run_route
    from jobs.route_setup import RouteOptions
    from router_core.route_decision import RoutePolicy

    cfg = load_config(None, {"spark.master": args.master})
    route_out = out / "route"
    summary = run_route(
        RouteOptions(str(router), str(logs), str(route_out), RoutePolicy("strong_share", args.strong_share)),
        cfg,
    )
    acc = accuracy(route_out / "labels", correct)
    n = sum(summary["routed"].values())
    say("summary")
    for m, k in summary["routed"].items():
        say(f"  {m}: {k}/{n} requests ({100 * k / max(n, 1):.0f}%)")
    strong_cost = summary["cost_by_model_usd"][STRONG]
    say(
        f"  projected cost ${summary['cost_routed_usd']:.4f} vs all-strong ${strong_cost:.4f} "
        f"({100 * (1 - summary['cost_routed_usd'] / max(strong_cost, 1e-12)):.0f}% less)"
    )
    say(
        f"  MMLU accuracy on these requests: routed {acc['routed']:.3f}, all-strong {acc['all_strong']:.3f}, "
        f"all-weak {acc['all_weak']:.3f}"
    )
    (out / "demo_summary.json").write_text(json.dumps({"route": summary, "accuracy": acc}, indent=2) + "\n")

    from jobs.savings import run_savings

    audit = write_audit(logs, correct, out)
    report = run_savings(
        str(logs),
        str(route_out / "labels"),
        str(out / "report"),
        bootstrap=200,
        audit=[str(audit)],
        audit_sampling="random",
    )
    measured = report.get("audit") or {}
    if measured.get("pgr") is not None:
        low, high = measured["pgr_ci"]
        say(
            f"  measured quality retained (PGR) on {measured['n']} randomly audited requests: "
            f"{100 * measured['pgr']:.0f}% (95% CI {100 * low:.0f}% .. {100 * high:.0f}%)"
        )
    say(f"savings report: {out / 'report' / 'report.html'}")
    say(f"done in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
