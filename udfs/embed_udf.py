"""Embedding UDF: loads the embedder once per Python worker and maps Arrow batches of texts to vectors.

Shaped like ``pyspark.ml.functions.predict_batch_udf``: ``make_embed_fn`` is the closure factory (model
loaded once, then batch -> array), ``embed_udf`` wraps it as an iterator pandas UDF.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

# One embedder per (config) per Python worker; with spark.python.worker.reuse the worker and this cache
# outlive a single task, so the model loads once per worker, not per batch or per task.
_EMBEDDERS: dict[str, Any] = {}


def task_device() -> str | None:
    """The GPU Spark assigned to this task (TaskContext resources), else None (CPU / auto)."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    if ctx is None:
        return None
    gpus = ctx.resources().get("gpu")
    if gpus and gpus.addresses:
        return f"cuda:{gpus.addresses[0]}"
    return None


def task_threads() -> int:
    """torch threads for this task: the task's CPUs, so threads x concurrent tasks = cores."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    try:
        return max(1, int(ctx.cpus())) if ctx is not None else max(1, os.cpu_count() or 1)
    except Exception:  # older Spark without TaskContext.cpus()
        return 1


def get_embedder(embedder_conf: dict[str, Any]):
    from router_core.embedder import load_embedder

    conf = dict(embedder_conf)
    kind = conf.pop("kind", "minilm")
    threads = task_threads()
    if kind == "minilm" and (device := task_device()):
        conf["device"] = device
    key = json.dumps([kind, conf], sort_keys=True)
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = load_embedder(kind, threads=threads, **conf)
    set_torch_threads(threads)
    return _EMBEDDERS[key]


def set_torch_threads(threads: int | None = None) -> None:
    """torch's thread count is per process, not per model: set it (to the task's CPUs) in every task
    where torch is loaded; a worker that never needs torch does not import it for this."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads or task_threads())


def make_embed_fn(embedder_conf: dict[str, Any]) -> Callable[[], Callable[[list[str]], np.ndarray]]:
    """Closure factory: call it in the worker to get ``texts -> float32 [n, d]``."""

    def make() -> Callable[[list[str]], np.ndarray]:
        return get_embedder(embedder_conf).encode

    return make


def embed_udf(embedder_conf: dict[str, Any]):
    """Iterator pandas UDF ``array<float>`` over a string column."""
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType

    make = make_embed_fn(embedder_conf)

    @pandas_udf(ArrayType(FloatType()))
    def embed(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        encode = make()
        for texts in batches:
            vecs = encode(texts.tolist())
            yield pd.Series(list(vecs))

    return embed
