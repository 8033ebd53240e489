"""A 1,000,000-row synthetic prompt log through the route job at local[2]: wall time and peak memory;
with ``--validate-only``, through ``batch-router validate`` alone: validation rows/s.

The log repeats a few thousand distinct prompts (real ones from ../shared/data when present), so the
dedupe keeps embedding short and the run measures the row-scale parts (validation, joins, calibration,
writes). Peak memory is the largest sum of RSS over the job's whole process tree (driver Python, JVM,
Python workers), sampled from /proc every 0.5 s. Validation rows/s is rows in / the ``seconds`` of
validate_summary.json: reading, every row check, writing valid/ and quarantine/ and counting them, Spark
start-up excluded (the wall time, start-up included, is printed too).

    .venv/bin/python bench/million_rows.py --rows 1000000 --distinct 5000 --work /tmp/million
    .venv/bin/python bench/million_rows.py --rows 1000000 --validate-only --work /tmp/million
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from route_throughput import bench_prompts, route_command, train_router  # noqa: E402


def tree_rss_bytes(pid: int) -> int:
    """Sum of VmRSS of ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            with open(f"/proc/{entry}/status") as fh:
                kb = next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = kb * 1024
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def write_log(path: Path, rows: int, distinct: int, seed: int = 0) -> None:
    texts, _ = bench_prompts(distinct, seed)
    texts = list(dict.fromkeys(texts))
    rng = np.random.default_rng(seed)
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    writer = None
    chunk = 200_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        idx = rng.integers(0, len(texts), n)
        ts = [base + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 3 * 86_400, n)]
        t = pa.table(
            {
                "request_id": [f"req-{i:09d}" for i in range(start, start + n)],
                "prompt": pa.array([texts[i] for i in idx], pa.string()),
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "completion_tokens": pa.array(rng.integers(10, 800, n), pa.int64()),
            }
        )
        writer = writer or pq.ParquetWriter(path, t.schema)
        writer.write_table(t)
    if writer:
        writer.close()


def validate_only(logs: Path, work: Path, master: str) -> dict:
    """`batch-router validate` on ``logs`` in a fresh process: its own seconds (start-up excluded)."""
    out = work / "validate_out"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    exe = str(Path(sys.executable).parent / "batch-router")
    cmd = [exe, "validate", "--logs", str(logs), "--out", str(out), "--master", master]
    print(" ".join(cmd), flush=True)
    t = time.time()
    subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.time() - t
    s = json.loads((out / "validate_summary.json").read_text())
    return {
        "rows": s["rows_in"],
        "valid": s["valid"],
        "quarantined": s["quarantined"],
        "master": master,
        "validate_seconds": s["seconds"],
        "validate_rows_per_s": round(s["rows_in"] / s["seconds"]),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="log rows (default 1000000)")
    ap.add_argument("--distinct", type=int, default=5_000, help="distinct prompts (default 5000)")
    ap.add_argument("--work", default="/tmp/million", help="scratch directory")
    ap.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    ap.add_argument("--json", default=None, help="write the results here too")
    ap.add_argument("--validate-only", action="store_true", help="run `batch-router validate` only")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    logs = work / f"logs_{args.rows}_{args.distinct}.parquet"
    if not logs.exists():
        t = time.time()
        write_log(logs, args.rows, args.distinct)
        print(f"wrote {logs} in {time.time() - t:.0f}s", flush=True)
    if args.validate_only:
        res = validate_only(logs, work, args.master)
        print(json.dumps(res, indent=2))
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
        return
    router = train_router(work / "router_sw_mf", ("sw", "mf"))
    out = work / "out"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    cmd = route_command(router, logs, out, args.master)
    print(" ".join(cmd), flush=True)
    t = time.time()
    proc = subprocess.Popen(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_bytes(proc.pid))
        time.sleep(0.5)
    wall = time.time() - t
    if proc.returncode != 0:
        raise SystemExit(f"route job failed with exit code {proc.returncode}")
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    res = {
        "rows": args.rows,
        "distinct_prompts": counts["distinct_prompts"],
        "valid": counts["valid"],
        "master": args.master,
        "wall_s": round(wall, 1),
        "rows_per_s": round(args.rows / wall),
        "peak_rss_gib": round(peak / 2**30, 2),
        "driver_memory": os.environ.get("BATCH_ROUTER_DRIVER_MEMORY", "4g"),
    }
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
