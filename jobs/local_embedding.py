"""Embedding prompts in the driver process (``train``, ``evaluate``, ``label sample``, benches): in chunks
with progress lines, and optionally through an npz cache keyed by (embedder id, prompt hash). The Spark
route job has its own Parquet cache (``jobs/embedding_cache.py``), which its workers read and append in
parallel; the two do not share vectors."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def encode_in_chunks(
    encode: Callable[[list[str]], np.ndarray],
    texts: Sequence[str],
    dim: int,
    log: Callable[[str], None],
    chunk: int = 2048,
) -> np.ndarray:
    """``encode`` over ``texts`` ``chunk`` at a time, logging progress and rate after each chunk."""
    if texts:  # the first progress line comes a chunk later: up to a minute or two on CPU
        every = f" (a progress line every {chunk:,})" if len(texts) > chunk else ""
        log(f"embedding {len(texts):,} prompts{every}")
    parts, t0 = [], time.perf_counter()
    for start in range(0, len(texts), chunk):
        parts.append(encode(list(texts[start : start + chunk])))
        done = min(start + chunk, len(texts))
        rate = done / max(time.perf_counter() - t0, 1e-9)
        log(f"embedded {done:,}/{len(texts):,} prompts ({rate:,.0f} prompts/s)")
    return np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)


def embed_prompts(
    embedder: Any,
    texts: Sequence[str],
    cache_dir: str | None,
    log: Callable[[str], None],
    chunk: int = 2048,
) -> np.ndarray:
    """``embedder.encode`` over ``texts`` in chunks with progress, through the npz cache when given."""

    def encode(batch: list[str]) -> np.ndarray:
        return encode_in_chunks(embedder.encode, batch, getattr(embedder, "dim", 0), log, chunk)

    return cached_encode(encode, embedder.id, list(texts), cache_dir, log)


def embed_like_router(
    embedder_id: str,
    texts: Sequence[str],
    cache_dir: str | None,
    log: Callable[[str], None],
    chunk: int = 2048,
    threads: int | None = None,
) -> np.ndarray:
    """``texts`` embedded by the embedder a router's ``embedder_id`` names (bundled MiniLM fp32 / int8, or
    its OpenAI-compatible endpoint with the key in OPENAI_API_KEY); one BadInputError line when it cannot
    be loaded here."""
    from jobs.errors import fail
    from router_core.embedder import embedder_for_id

    try:
        embedder = embedder_for_id(embedder_id, threads)
    except (ValueError, RuntimeError) as exc:
        fail(f"cannot embed like the router: {exc}")
    return embed_prompts(embedder, texts, cache_dir, log, chunk)


def cached_encode(
    encode: Callable[[list[str]], np.ndarray],
    embedder_id: str,
    texts: list[str],
    cache_dir: str | None,
    log: Callable[[str], None],
) -> np.ndarray:
    """``encode(texts)``, reusing an npz cache keyed by (embedder id, prompt hash) when ``cache_dir`` is
    given: CPU embedding dominates re-training and evaluation, and the same prompts recur between them.
    The file holds only string/float arrays (no pickle) and is replaced atomically."""
    from router_core.text import prompt_hash

    if not cache_dir or not texts:
        return encode(texts)
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, hashlib.sha256(embedder_id.encode()).hexdigest()[:16] + ".npz")
    hashes, vecs = np.zeros(0, dtype="<U32"), None
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as z:
            if str(z["embedder_id"]) == embedder_id:
                hashes, vecs = z["hash"], z["emb"]
    pos = {h: i for i, h in enumerate(hashes.tolist())}
    keys = [prompt_hash(t) for t in texts]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k not in pos:
            first.setdefault(k, i)
    todo = list(first.values())  # each missing prompt once, in first-seen order
    log(f"embedding cache {path}: {len(texts) - len(todo):,} cached, {len(todo):,} to embed")
    if todo:
        new = encode([texts[i] for i in todo]).astype(np.float32)
        for j, i in enumerate(todo):
            pos[keys[i]] = len(hashes) + j
        hashes = np.concatenate([hashes, np.array([keys[i] for i in todo], dtype="<U32")])
        vecs = new if vecs is None else np.concatenate([vecs, new])
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        np.savez(tmp, embedder_id=np.array(embedder_id), hash=hashes, emb=vecs)
        os.replace(tmp, path)
    assert vecs is not None  # texts is non-empty: every key is cached or was just embedded
    return vecs[[pos[k] for k in keys]]
