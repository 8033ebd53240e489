"""Which prompts to label: ``random`` (uniform over requests), ``stratified`` (proportional over strata,
e.g. day x segment) and ``informative`` (where the router is least sure, far from its training prompts,
no near-duplicates, every cluster of the traffic covered). Each pick says why it was chosen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STRATEGIES = ("informative", "random", "stratified")
DUPLICATE_SIMILARITY = 0.95  # cosine: two prompts this close are one prompt for labelling
MAX_CLUSTERS = 32


@dataclass(frozen=True)
class Pick:
    index: int  # row of the candidate table
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def proportional_quota(sizes: Sequence[int], n: int, at_least_one: bool = False) -> np.ndarray:
    """Split n over groups in proportion to their sizes (largest remainders), never above a size."""
    sizes = np.asarray(sizes, dtype=np.int64)
    n = int(min(n, sizes.sum()))
    quota = np.zeros(len(sizes), dtype=np.int64)
    if at_least_one and n >= len(sizes):
        quota[:] = np.minimum(1, sizes)
    while quota.sum() < n:
        left = n - quota.sum()
        room = sizes - quota
        share = left * room / room.sum()
        add = np.minimum(np.floor(share).astype(np.int64), room)
        if add.sum() == 0:  # hand out the remainders one by one, largest first (ties: first group)
            order = np.lexsort((np.arange(len(sizes)), -(share - np.floor(share))))
            add[order[:left]] = 1
            add = np.minimum(add, room)
        quota += add
    return quota


def sample_random(n_rows: int, n: int, seed: int) -> list[Pick]:
    idx = np.sort(np.random.default_rng(seed).permutation(n_rows)[: min(n, n_rows)])
    return [Pick(int(i), "random: uniform sample of the requests") for i in idx]


def sample_stratified(strata: Sequence[str], n: int, seed: int) -> list[Pick]:
    """Proportional allocation over strata (at least one per stratum when n allows), uniform within."""
    keys, inverse, sizes = np.unique(
        np.asarray(strata, dtype=object), return_inverse=True, return_counts=True
    )
    quota = proportional_quota(sizes, n, at_least_one=True)
    rng = np.random.default_rng(seed)
    picks = []
    for s, key in enumerate(keys):
        rows = np.flatnonzero(inverse == s)
        chosen = np.sort(rng.permutation(rows)[: quota[s]])
        why = f"stratified: stratum {key} ({quota[s]} of its {sizes[s]} requests)"
        picks += [Pick(int(i), why, {"stratum": str(key)}) for i in chosen]
    return sorted(picks, key=lambda p: p.index)


def uncertainty_pair(strong_win_prob: np.ndarray, threshold: float) -> np.ndarray:
    """1 at the routing threshold, 0 at the far end of [0, 1]."""
    p = np.asarray(strong_win_prob, dtype=np.float64)
    return 1.0 - np.abs(p - threshold) / max(threshold, 1.0 - threshold, 1e-9)


def uncertainty_multi(predicted_quality: np.ndarray) -> np.ndarray:
    """N models: 1 when the two best predicted qualities are equal, lower as the best one pulls away."""
    q = np.sort(np.asarray(predicted_quality, dtype=np.float64), axis=1)
    gap = q[:, -1] - q[:, -2] if q.shape[1] > 1 else np.zeros(len(q))
    span = max(float(np.ptp(q)), 1e-9)
    return 1.0 - np.clip(gap / span, 0.0, 1.0)


def _rank01(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (ties share the mean rank): scale-free, so two signals combine fairly."""
    if len(x) <= 1:
        return np.ones(len(x))
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    _, inv = np.unique(x, return_inverse=True)
    mean_rank = np.bincount(inv, ranks) / np.bincount(inv)
    return mean_rank[inv] / (len(x) - 1)


def clusters(embeddings: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Spherical k-means labels (FAISS) of unit-norm embeddings."""
    import faiss

    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if k <= 1 or len(x) <= k:
        return np.zeros(len(x), dtype=np.int64) if k <= 1 else np.arange(len(x), dtype=np.int64)
    km = faiss.Kmeans(x.shape[1], k, niter=20, nredo=3, seed=seed, spherical=True, min_points_per_centroid=1)
    km.train(x)
    return km.index.search(x, 1)[1][:, 0].astype(np.int64)


def _reason(u: float, p: float | None, sim: float | None, cluster: int, k: int) -> str:
    parts = []
    if p is not None:
        parts.append(f"router unsure (score {p:.3f}, uncertainty {u:.2f})")
    else:
        parts.append(f"router unsure (uncertainty {u:.2f})")
    if sim is not None:
        parts.append(f"nearest training prompt at similarity {sim:.2f}")
    return "informative: " + "; ".join(parts) + f"; covers cluster {cluster + 1} of {k}"


def sample_informative(
    embeddings: np.ndarray,
    uncertainty: np.ndarray,
    n: int,
    seed: int,
    nearest_train_sim: np.ndarray | None = None,
    score: np.ndarray | None = None,
    duplicate_similarity: float = DUPLICATE_SIMILARITY,
) -> list[Pick]:
    """``n`` candidates (rows of distinct prompts) that are most worth a label.

    Worth = mean of the rank of the router's uncertainty and the rank of the distance to the nearest
    training prompt (when the router has an index). The quota of each traffic cluster is proportional to
    its size (at least one each), filled by worth; a candidate within ``duplicate_similarity`` of one
    already picked is skipped. Quota a cluster cannot fill goes to the best remaining candidates."""
    m = len(uncertainty)
    n = min(n, m)
    worth = _rank01(np.asarray(uncertainty, dtype=np.float64))
    if nearest_train_sim is not None:
        novelty = 1.0 - np.clip(np.asarray(nearest_train_sim, dtype=np.float64), -1.0, 1.0)
        worth = 0.5 * worth + 0.5 * _rank01(novelty)
    k = max(1, min(MAX_CLUSTERS, n, int(np.ceil(np.sqrt(m)))))
    label = clusters(embeddings, k, seed)
    k = int(label.max()) + 1 if m else 0
    sizes = np.bincount(label, minlength=k)
    quota = proportional_quota(sizes, n, at_least_one=True)
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    chosen: list[int] = []

    def take(rows: np.ndarray, limit: int) -> int:
        got = 0
        for i in rows[np.argsort(-worth[rows], kind="stable")]:
            if got >= limit:
                break
            if i in taken or (chosen and float(np.max(emb[chosen] @ emb[i])) >= duplicate_similarity):
                continue
            chosen.append(int(i))
            taken.add(int(i))
            got += 1
        return got

    taken: set[int] = set()
    for c in range(k):
        take(np.flatnonzero(label == c), int(quota[c]))
    if len(chosen) < n:  # clusters short of distinct prompts: best remaining anywhere
        take(np.arange(m), n - len(chosen))
    picks = []
    for i in sorted(chosen):
        p = None if score is None else float(score[i])
        sim = None if nearest_train_sim is None else float(nearest_train_sim[i])
        details = {
            "uncertainty": round(float(uncertainty[i]), 4),
            "worth": round(float(worth[i]), 4),
            "cluster": int(label[i]),
            "nearest_train_similarity": None if sim is None else round(sim, 4),
        }
        picks.append(Pick(i, _reason(float(uncertainty[i]), p, sim, int(label[i]), k), details))
    return picks
