"""How far a prompt is from the router's labelled data: the cosine similarity to its nearest training prompt.

A routed prompt with a low similarity is unlike every prompt the router learnt from, so its score comes
from what the scorers generalise (length, wording, the generic sources), not from labels on prompts like
it. ``Router.label_similarity`` gives it per prompt; it searches the kNN scorer's index, else SW's, else
a ``LabelIndex`` of the training prompts that ``attach_label_index`` adds to a router with neither.
``nearest_other_similarity`` gives the same figure for the training prompts themselves (each against the
others), the reference a routed batch is compared with.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

LABEL_INDEX_FILE = "label_index.npz"
LOW_SIMILARITY = 0.5  # the route log and summaries report the share of requests below this
QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9)
REFERENCE_SAMPLE = 2000  # training prompts whose nearest other prompt is searched (a sample keeps it fast)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """float32 rows scaled to length 1 (zero rows stay zero), so inner products are cosines."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norm > 0, norm, 1.0), dtype=np.float32)


def nearest_similarity(index: Any, embeddings: np.ndarray) -> np.ndarray:
    """Each row's inner product with its nearest vector of a FAISS inner-product index (float64, in
    [-1, 1] for unit vectors; NaN for an empty index)."""
    n = len(embeddings)
    if index.ntotal == 0 or n == 0:
        return np.full(n, np.nan)
    sims, ids = index.search(unit_rows(embeddings), 1)
    return np.where(ids[:, 0] >= 0, np.clip(sims[:, 0].astype(np.float64), -1.0, 1.0), np.nan)


class LabelIndex:
    """Exact inner-product index of the training prompts' unit embeddings, stored as float16."""

    def __init__(self, vectors: np.ndarray) -> None:
        import faiss

        self.vectors = unit_rows(vectors)
        self.index = faiss.IndexFlatIP(self.vectors.shape[1])
        self.index.add(self.vectors)

    def similarity(self, embeddings: np.ndarray) -> np.ndarray:
        return nearest_similarity(self.index, embeddings)

    def save(self, directory: str) -> None:
        np.savez(os.path.join(directory, LABEL_INDEX_FILE), vectors=self.vectors.astype(np.float16))

    @classmethod
    def load(cls, directory: str) -> LabelIndex:
        with np.load(os.path.join(directory, LABEL_INDEX_FILE), allow_pickle=False) as z:
            return cls(z["vectors"].astype(np.float32))


def nearest_other_similarity(
    embeddings: np.ndarray, sample: int = REFERENCE_SAMPLE, seed: int = 0
) -> np.ndarray:
    """For up to ``sample`` training prompts (at random), the cosine similarity to the nearest OTHER
    training prompt: what a routed prompt of the training distribution would typically get."""
    import faiss

    vecs = unit_rows(embeddings)
    n = len(vecs)
    if n < 2:
        return np.zeros(0)
    rows = np.sort(np.random.default_rng(seed).choice(n, min(sample, n), replace=False))
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    sims, ids = index.search(vecs[rows], 2)
    # The prompt itself is normally first; with an identical vector elsewhere it may come second.
    other = np.where(ids[:, 0] == rows, sims[:, 1], sims[:, 0])
    return np.clip(other.astype(np.float64), -1.0, 1.0)


def similarity_summary(sims: np.ndarray) -> dict[str, Any]:
    """Count, share below ``LOW_SIMILARITY``, median and quantiles of similarities (NaN left out)."""
    s = np.asarray(sims, np.float64)
    s = s[~np.isnan(s)]
    if len(s) == 0:
        return {"count": 0}
    return {
        "count": int(len(s)),
        f"share_below_{LOW_SIMILARITY}": float((s < LOW_SIMILARITY).mean()),
        "median": float(np.median(s)),
        "quantiles": {f"p{round(q * 100):02d}": float(np.quantile(s, q)) for q in QUANTILES},
    }
