"""The Spark embedding UDF gives the same vectors as plain-Python encode (acceptance: cosine >= 0.999)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from udfs.embed_udf import embed_udf

SUBJECTS = [
    "photosynthesis",
    "the French revolution",
    "binary search",
    "interest rates",
    "volcanoes",
    "Shakespeare's sonnets",
    "prime numbers",
    "the immune system",
    "neural networks",
    "jazz",
]
ASKS = [
    "Explain {} to a child.",
    "Write a short poem about {}.",
    "What are common misconceptions about {}?",
    "Give three exam questions on {} with answers.",
    "Summarise the history of {} in two sentences.",
]


def generated_prompts(n: int) -> list[str]:
    out = []
    for i in range(n):
        s, a = SUBJECTS[i % len(SUBJECTS)], ASKS[(i // len(SUBJECTS)) % len(ASKS)]
        out.append(a.format(s) + (f" Variant {i}." if i % 3 else "") + " Please be detailed." * (i % 4))
    return out


def test_udf_matches_plain_encode_2000_rows(spark, embedder):
    prompts = generated_prompts(2000)
    pdf = pd.DataFrame({"request_id": [f"r{i}" for i in range(len(prompts))], "prompt": prompts})
    df = spark.createDataFrame(pdf).repartition(4)
    udf = embed_udf({"kind": "minilm", "batch_size": 64, "max_length": 256})
    rows = df.select("request_id", udf("prompt").alias("v")).collect()
    spark_vecs = {r["request_id"]: np.asarray(r["v"], dtype=np.float32) for r in rows}
    assert len(spark_vecs) == 2000
    plain = embedder.encode(prompts)
    cos = np.array([spark_vecs[f"r{i}"] @ plain[i] for i in range(len(prompts))])
    assert cos.min() >= 0.999, f"min cosine {cos.min()}"


def test_int8_udf_matches_plain_int8_encode(spark, int8_embedder):
    """Workers build (or reuse) the int8 model themselves; one prompt per call makes their vectors equal
    to the driver's whatever the Arrow batches look like."""
    prompts = generated_prompts(300)
    pdf = pd.DataFrame({"request_id": [f"r{i}" for i in range(len(prompts))], "prompt": prompts})
    df = spark.createDataFrame(pdf).repartition(3)
    udf = embed_udf({"kind": "minilm_int8", "max_length": 256})
    rows = df.select("request_id", udf("prompt").alias("v")).collect()
    plain = int8_embedder.encode(prompts)
    cos = np.array([np.asarray(r["v"], dtype=np.float32) @ plain[int(r["request_id"][1:])] for r in rows])
    assert len(cos) == 300 and cos.min() >= 0.9999, f"min cosine {cos.min()}"
