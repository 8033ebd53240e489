"""Throughput of the savings job on synthetic logs + labels (pandas/pyarrow, no Spark).

.venv/bin/python bench/savings_speed.py --rows 1000000 --bootstrap 1000 --out /tmp/savings_bench
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.savings import run_savings


def make_inputs(root: Path, rows: int, days: int, segments: int, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    shutil.rmtree(root, ignore_errors=True)  # write_to_dataset appends: start from an empty dir
    ids = np.char.add("r", np.arange(rows).astype(str)).astype(object)
    day = rng.integers(0, days, rows)
    dts = np.array([f"2026-10-{d + 1:02d}" for d in range(days)], dtype=object)[day]
    p = rng.beta(2, 3, rows)
    logs = pa.table(
        {
            "request_id": ids,
            "prompt": pa.array(["synthetic prompt"] * rows),
            "model": pa.array(np.where(rng.random(rows) < 0.9, "gpt-4o", "gpt-4o-mini").astype(object)),
            "prompt_tokens": rng.integers(20, 2000, rows),
            "completion_tokens": rng.integers(10, 800, rows),
            "segment": np.array([f"seg{i}" for i in range(segments)], dtype=object)[
                rng.integers(0, segments, rows)
            ],
            "dt": dts,
        }
    )
    root.mkdir(parents=True, exist_ok=True)
    pq.write_to_dataset(logs, root / "logs", partition_cols=["dt"])
    route = root / "route"
    labels = pa.table(
        {
            "request_id": ids,
            "strong_win_prob": p,
            "routed_model": np.where(p >= 0.5, "gpt-4o", "gpt-4o-mini").astype(object),
            "dt": dts,
        }
    )
    pq.write_to_dataset(labels, route / "labels", partition_cols=["dt"])
    (route / "manifest.json").write_text(
        json.dumps(
            {"router": {"models": ["gpt-4o", "gpt-4o-mini"], "strong": "gpt-4o", "weak": "gpt-4o-mini"}}
        )
    )
    return {"logs": root / "logs", "labels": route}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="requests in the synthetic log")
    ap.add_argument("--days", type=int, default=30, help="distinct dt partitions")
    ap.add_argument("--segments", type=int, default=8, help="distinct segment values")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--out", default="/tmp/savings_bench", help="scratch directory")
    a = ap.parse_args()
    t0 = time.time()
    inputs = make_inputs(Path(a.out) / "in", a.rows, a.days, a.segments)
    print(f"generated {a.rows} rows in {time.time() - t0:.1f}s", flush=True)
    t1 = time.time()
    summary = run_savings(
        str(inputs["logs"]), str(inputs["labels"]), str(Path(a.out) / "report"), bootstrap=a.bootstrap
    )
    dt = time.time() - t1
    print(
        json.dumps(
            {
                "rows": a.rows,
                "bootstrap": a.bootstrap,
                "days": a.days,
                "segments": a.segments,
                "seconds": round(dt, 1),
                "rows_per_s": round(a.rows / dt),
            }
        ),
        flush=True,
    )
    assert summary["counts"]["labeled"] == a.rows


if __name__ == "__main__":
    main()
