"""One-pass embed + score over Arrow batches of DISTINCT prompts (``DataFrame.mapInArrow``).

Input rows: ``prompt_hash``, ``text`` (normalised prompt), ``embedding`` (from the cache, null when the
prompt was never embedded). Per batch: embed only the rows without a cached vector (the embedder sorts
them by length), run every scorer of the router on the whole batch at once, count prompt tokens, and
search each prompt's nearest training prompt (``label_similarity``).
A router's BERT scorer is the embedder's MiniLM with a fine-tuned top: when both run on CPU, prompts to
embed that fit BERT's token limit go through one shared pass (``BertScorer.embed_and_score``, the
embedder's vectors) instead of two transformer passes.
The router (FAISS index, MF weights, BERT) and the embedder load once per Python worker and stay in a
module-level cache, so with ``spark.python.worker.reuse`` they outlive tasks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from router_core.router import Router

_ROUTERS: dict[tuple[str, str], Router] = {}


def router_path(name: str) -> str:
    """Local directory of the router archive shipped with ``SparkContext.addArchive`` (unpacked by Spark)."""
    from pyspark import SparkFiles

    path = SparkFiles.get(name)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"router '{name}' was not shipped to this executor (looked in {path})")
    return path


def limit_native_threads() -> None:
    """BLAS / OpenMP (FAISS) threads = this task's CPUs, like torch's, so concurrent tasks do not
    oversubscribe the cores."""
    from threadpoolctl import threadpool_limits

    from udfs.embed_udf import task_threads

    n = task_threads()
    threadpool_limits(n)
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:
        pass


def get_router(name: str, embedder_id: str) -> Router:
    from router_core.router import Router

    key = (name, embedder_id)
    if key not in _ROUTERS:
        limit_native_threads()
        _ROUTERS[key] = Router.load(router_path(name), embedder_id=embedder_id)
    return _ROUTERS[key]


def score_schema(scorer_names: list[str], n_models: int | None) -> str:
    """Spark DDL of the rows this UDF yields (n_models None = pair router)."""
    cols = [
        "prompt_hash string",
        "embedding array<float>",
        "from_cache boolean",
        "counted_prompt_tokens long",
    ]
    cols += [f"score_{s} double" for s in scorer_names]
    cols.append("strong_win_prob double")
    cols.append("label_similarity double")
    if n_models is not None:
        cols.append("predicted_quality array<double>")
    return ", ".join(cols)


def _embeddings(column: pa.ChunkedArray | pa.Array, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(vectors [n, dim] float32, has_vector [n] bool) from a nullable list<float> column. A vector of
    another length or with a non-finite value (a damaged or foreign cache file) counts as none, so that
    prompt is embedded again instead of being scored on a wrong vector."""
    import pyarrow.compute as pc

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False)
    has = np.asarray(lengths == dim, dtype=bool)
    out = np.zeros((n, dim), dtype=np.float32)
    if has.any():
        present = arr.filter(pa.array(has))
        flat = present.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        out[has] = flat.reshape(int(has.sum()), dim)
        has &= np.isfinite(out).all(axis=1)
        out[~has] = 0.0
    return out, has


def _list_array(values: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    n, d = values.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1), type=value_type))


def _embed_with_bert(
    texts: list[str], todo: np.ndarray, bert: Any, encode: Callable[[list[str]], np.ndarray], vecs: np.ndarray
) -> np.ndarray:
    """Fill ``vecs[todo]``; return BERT's logits for every row, sharing the pass where a prompt fits."""
    shared = todo[bert.fits_untruncated([texts[i] for i in todo])] if len(todo) else todo
    logits = np.zeros((len(texts), len(bert.models_)), dtype=np.float32)
    if len(shared):
        vecs[shared], logits[shared] = bert.embed_and_score([texts[i] for i in shared])
    alone = np.setdiff1d(todo, shared)
    if len(alone):
        vecs[alone] = encode([texts[i] for i in alone])
    rest = np.setdiff1d(np.arange(len(texts)), shared)
    if len(rest):
        logits[rest] = bert.score(None, [texts[i] for i in rest])
    return logits


def score_batch(
    batch: pa.RecordBatch,
    router: Router,
    encode: Callable[[list[str]], np.ndarray],
    dim: int,
    bert: Any | None = None,
    use_known: bool = True,
) -> pa.RecordBatch:
    """Embed what the cache lacks, score every row. ``bert``: ``router.bert_sharing_network(embedder)``.
    ``use_known=False``: the router's known prompts are not applied."""
    from router_core.tokens import count_tokens

    texts = batch.column("text").to_pylist()
    vecs, has = _embeddings(batch.column("embedding"), dim)
    todo = np.flatnonzero(~has)
    precomputed = None
    if bert is not None:
        precomputed = {"bert": _embed_with_bert(texts, todo, bert, encode, vecs)}
    elif len(todo):
        vecs[todo] = encode([texts[i] for i in todo])
    given_texts = texts if router.needs_text else None
    scores = router.score(vecs, given_texts, precomputed, use_known=use_known)
    cols: dict[str, pa.Array] = {
        "prompt_hash": batch.column("prompt_hash"),
        "embedding": _list_array(vecs, pa.float32()),
        "from_cache": pa.array(has),
        "counted_prompt_tokens": pa.array(count_tokens(texts), pa.int64()),
    }
    for s in router.scorer_names:
        cols[f"score_{s}"] = pa.array(np.asarray(scores[f"score_{s}"], dtype=np.float64))
    if router.strong is not None:
        cols["strong_win_prob"] = pa.array(np.asarray(scores["strong_win_prob"], dtype=np.float64))
    else:
        # N-model routers have no strong/weak pair: the column stays null.
        cols["strong_win_prob"] = pa.nulls(len(texts), pa.float64())
    sims = router.label_similarity(vecs)
    cols["label_similarity"] = pa.array(sims, pa.float64(), mask=np.isnan(sims))  # null: no index
    if router.strong is None:
        pq = np.asarray(scores["predicted_quality"], dtype=np.float64)
        cols["predicted_quality"] = _list_array(pq, pa.float64())
    return pa.RecordBatch.from_pydict(cols)


def make_score_fn(
    router_name: str, embedder_conf: dict[str, Any], use_known: bool = True
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function for ``df.mapInArrow(fn, score_schema(...))``. ``use_known=False``: the router's
    known prompts (training outcomes looked up by text) are not applied."""

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from udfs.embed_udf import get_embedder, set_torch_threads

        embedder = get_embedder(embedder_conf)
        router = get_router(router_name, embedder.id)
        set_torch_threads()  # a BERT scorer may have imported torch after the embedder loaded
        bert = router.bert_sharing_network(embedder)
        for batch in batches:
            if batch.num_rows:
                yield score_batch(batch, router, embedder.encode, embedder.dim, bert, use_known)

    return score
