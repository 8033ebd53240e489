"""Embedding throughput: plain Python vs the Spark UDF path, on the same prompts, in one run.

    .venv/bin/python bench/embed_throughput.py --n 2000 --master local[2]

Prompts come from ../shared/data (MMLU + AlpacaEval) when present, else are generated. Prints a Markdown
table row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_prompts(n: int) -> tuple[list[str], str]:
    import pyarrow.parquet as pq

    if (SHARED / "mmlu_dev.parquet").exists():
        mmlu = pq.read_table(SHARED / "mmlu_dev.parquet", columns=["prompt"]).column(0).to_pylist()
        alpaca = (
            pq.read_table(SHARED / "alpaca_eval2_battles.parquet", columns=["prompt"]).column(0).to_pylist()
        )
        pool = list(dict.fromkeys(alpaca)) + mmlu
        out = [pool[i % len(pool)] + ("" if i < len(pool) else f" (#{i})") for i in range(n)]
        return out, "MMLU + AlpacaEval prompts from ../shared/data"
    from tests.test_embed_udf import generated_prompts

    return generated_prompts(n), "generated prompts"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()
    prompts, origin = load_prompts(args.n)

    from router_core.embedder import load_embedder

    cores = os.cpu_count() or 1
    emb = load_embedder("minilm", threads=cores)  # what the UDF loads: on CPU the fp32 ONNX export
    emb.encode(prompts[:32])  # warm-up
    t = time.perf_counter()
    emb.encode(prompts)
    plain = len(prompts) / (time.perf_counter() - t)
    print(f"plain python: {plain:.1f} prompts/s ({type(emb).__name__}, {cores} threads)", flush=True)

    import pandas as pd

    from jobs.config import SparkConfig
    from jobs.spark_session import get_spark
    from udfs.embed_udf import embed_udf

    spark = get_spark(SparkConfig(master=args.master))
    parts = spark.sparkContext.defaultParallelism
    df = spark.createDataFrame(pd.DataFrame({"prompt": prompts})).repartition(parts).cache()
    df.count()
    udf = embed_udf({"kind": "minilm"})
    # warm the Python workers (model load once per worker) on a tiny job first
    df.limit(parts * 8).select(udf("prompt")).write.format("noop").mode("overwrite").save()
    t = time.perf_counter()
    df.select(udf("prompt").alias("v")).write.format("noop").mode("overwrite").save()
    spark_rate = len(prompts) / (time.perf_counter() - t)
    print(f"spark UDF ({args.master}): {spark_rate:.1f} prompts/s", flush=True)
    print(
        f"| {len(prompts)} {origin} | {platform.processor() or platform.machine()}, {cores} cores | "
        f"{plain:.1f} | {spark_rate:.1f} | {spark_rate / plain:.2f} |"
    )
    spark.stop()


if __name__ == "__main__":
    main()
