"""Similarity-weighted Bradley-Terry (RouteLLM's "sw_ranking"), batched.

For a query q every training battle gets the weight ``scale * base ** (sim(q, p_b) / max_sim(q))`` where
p_b is the battle's prompt. The weighted BT likelihood of ratings r only depends on the weighted win
counts W[q, i, j] (ties count half a win each way), so instead of refitting a logistic regression per
query we (1) fold battles into a per-prompt win tensor D[p, i*M + j], (2) get W for a whole batch of
queries as ``weights[q, p] @ D`` (a sparse product), and (3) solve every query's L2-regularised BT fit
at once with batched Newton steps.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from router_core.scorers.base import ScoreKind, ScorerBase

MAX_BATCH_CELLS = 1 << 25  # 32M float32 similarities (128 MiB) per exact-mode batch


def win_tensor(
    n_prompts: int,
    n_models: int,
    prompt: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    weight: np.ndarray,
) -> sp.csr_matrix:
    """Sparse [n_prompts, M*M]: entry (p, i*M+j) = weighted wins of model i over model j on prompt p."""
    w = weight.astype(np.float64)
    o = outcome.astype(np.float64)
    rows = np.concatenate([prompt, prompt])
    cols = np.concatenate([a * n_models + b, b * n_models + a])
    vals = np.concatenate([w * o, w * (1.0 - o)])
    m = sp.coo_matrix((vals, (rows, cols)), shape=(n_prompts, n_models * n_models)).tocsr()
    m.data = m.data.astype(np.float32)  # products with float32 weights stay float32
    m.sum_duplicates()
    return m


def fit_bt_batch(wins: np.ndarray, l2: float, max_iter: int = 100, tol: float = 1e-9) -> np.ndarray:
    """Maximise sum_ij W[q,i,j] log sigmoid(r_i - r_j) - l2/2 |r|^2 for every q at once (Newton).

    wins: [n, M, M]; returns ratings [n, M] (natural log-odds scale). The objective is strictly concave
    for l2 > 0, so Newton converges; steps are capped so a flat start never overshoots wildly.
    """
    n, m, _ = wins.shape
    r = np.zeros((n, m), dtype=np.float64)
    tot = wins + wins.transpose(0, 2, 1)  # games played between i and j
    wins_i = wins.sum(axis=2)
    eye = np.eye(m)
    active = np.ones(n, dtype=bool)
    for _ in range(max_iter):
        ra = r[active]
        p = 1.0 / (1.0 + np.exp(-(ra[:, :, None] - ra[:, None, :])))
        grad = wins_i[active] - (tot[active] * p).sum(axis=2) - l2 * ra
        c = tot[active] * p * (1.0 - p)
        # Negative Hessian: graph Laplacian of the curvature weights plus the prior.
        neg_h = eye * (c.sum(axis=2) + l2)[:, :, None] - c
        step = np.linalg.solve(neg_h, grad[:, :, None])[:, :, 0]
        big = np.abs(step).max(axis=1, keepdims=True)
        step *= np.minimum(1.0, 4.0 / np.maximum(big, 1e-300))
        r[active] = ra + step
        done = np.abs(step).max(axis=1) < tol
        idx = np.flatnonzero(active)
        active[idx[done]] = False
        if not active.any():
            break
    return r


class SWScorer(ScorerBase):
    """Per-query BT ratings over all models from similarity-weighted battles.

    Parameters: ``base``/``scale`` of the similarity weight (RouteLLM: 10, 10), ``top_k`` neighbour
    prompts per query (None = every battle, exact), ``index`` = flat (exact inner product) | ivf | hnsw
    (approximate, needs ``top_k``), ``l2`` prior on ratings, ``batch_size`` queries per batched solve
    (capped so one batch's exact similarity matrix stays under ``MAX_BATCH_CELLS`` floats).
    """

    name: ClassVar[str] = "sw"
    output: ClassVar[ScoreKind] = "rating"
    needs_text: ClassVar[bool] = False

    def __init__(
        self,
        base: float = 10.0,
        scale: float = 10.0,
        top_k: int | None = None,
        index: str = "flat",
        l2: float = 1.0,
        batch_size: int = 1024,
        nlist: int = 256,
        nprobe: int = 16,
    ) -> None:
        self.base = base
        self.scale = scale
        self.top_k = top_k
        self.index = index
        self.l2 = l2
        self.batch_size = batch_size
        self.nlist = nlist
        self.nprobe = nprobe

    # ------------------------------------------------------------------ fit

    def fit(self, data: Any, embeddings: np.ndarray) -> SWScorer:
        if self.index not in ("flat", "ivf", "hnsw"):
            raise ValueError(f"sw: unknown index '{self.index}' (flat, ivf, hnsw)")
        if self.index != "flat" and not self.top_k:
            raise ValueError("sw: approximate indexes (ivf, hnsw) need top_k")
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        if emb.shape[0] != len(data.prompts):
            raise ValueError(f"sw: {emb.shape[0]} embeddings for {len(data.prompts)} prompts")
        self.models_ = list(data.models)
        self._set_battles(
            len(data.prompts),
            data.battle_prompt,
            data.battle_a,
            data.battle_b,
            data.battle_outcome,
            data.battle_weight,
        )
        self.index_ = self._build_index(emb)
        self.embeddings_ = emb if self.index == "flat" else None
        return self

    def _set_battles(self, n_prompts: int, prompt, a, b, outcome, weight) -> None:
        self.n_prompts_ = int(n_prompts)
        self.battles_ = {
            "prompt": np.asarray(prompt, dtype=np.int64),
            "a": np.asarray(a, dtype=np.int64),
            "b": np.asarray(b, dtype=np.int64),
            "outcome": np.asarray(outcome, dtype=np.float32),
            "weight": np.asarray(weight, dtype=np.float32),
        }
        bt = self.battles_
        self.wins_ = win_tensor(
            n_prompts, len(self.models_), bt["prompt"], bt["a"], bt["b"], bt["outcome"], bt["weight"]
        )
        self.wins_t_ = self.wins_.T.tocsr()  # exact mode multiplies by the transpose: keep it row-major

    def _build_index(self, emb: np.ndarray):
        import faiss

        d = emb.shape[1]
        if self.index == "flat":
            idx = faiss.IndexFlatIP(d)
        elif self.index == "hnsw":
            idx = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        else:
            nlist = max(1, min(self.nlist, emb.shape[0] // 39))  # FAISS wants ~39 points per centroid
            idx = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            idx.train(emb)
            idx.nprobe = self.nprobe
        idx.add(emb)
        return idx

    # ------------------------------------------------------------------ score

    def _weights(self, sims: np.ndarray) -> np.ndarray:
        # RouteLLM normalises by the query's best similarity; guard the all-nonpositive case.
        mx = sims.max(axis=1, keepdims=True)
        mx = np.where(mx > 1e-6, mx, 1.0)
        # exp of a scaled copy, in place: np.power on float64 would dominate the batch.
        w = sims * (np.float32(np.log(self.base)) / mx)
        np.exp(w, out=w)
        w *= self.scale
        return w

    def query_wins(self, embeddings: np.ndarray) -> np.ndarray:
        """Weighted win counts W[n, M, M] for a batch of query embeddings."""
        q = np.ascontiguousarray(embeddings, dtype=np.float32)
        m = len(self.models_)
        if self.top_k is None:
            w = self._weights(q @ self.embeddings_.T)  # float32 is plenty for weights in [scale, scale*base]
            flat = np.asarray((self.wins_t_ @ w.T).T)
        else:
            k = min(int(self.top_k), self.n_prompts_)
            sims, nbr = self.index_.search(q, k)
            valid = nbr >= 0
            w = self._weights(np.where(valid, sims, -np.inf).astype(np.float32))
            w = np.where(valid, w, 0.0)
            rows = np.repeat(np.arange(len(q)), k)
            sel = sp.csr_matrix(
                (w.ravel(), (rows, np.where(valid, nbr, 0).ravel())), shape=(len(q), self.n_prompts_)
            )
            flat = (sel @ self.wins_).toarray()
        return flat.reshape(len(q), m, m)

    def score(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        n = embeddings.shape[0]
        out = np.zeros((n, len(self.models_)), dtype=np.float32)
        # Bigger batches amortise the per-batch Python/BLAS overhead (~1.4x faster at 1024 than at 256
        # queries on 5k prompts); the cap bounds the dense [batch, n_prompts] similarity block in exact mode.
        step = max(1, min(self.batch_size, MAX_BATCH_CELLS // max(1, self.n_prompts_)))
        for s in range(0, n, step):
            out[s : s + step] = fit_bt_batch(self.query_wins(embeddings[s : s + step]), self.l2)
        return out

    # ------------------------------------------------------------------ persistence

    def _json_state(self) -> dict[str, Any]:
        return {"n_prompts": self.n_prompts_}

    def _manifest_facts(self) -> dict[str, Any]:
        return {"n_battles": int(self.battles_["prompt"].shape[0])}

    def _save_state(self, directory: str) -> None:
        import faiss

        faiss.write_index(self.index_, os.path.join(directory, "sw.faiss"))
        np.savez(os.path.join(directory, "sw_battles.npz"), **self.battles_)

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        import faiss

        with np.load(os.path.join(directory, "sw_battles.npz"), allow_pickle=False) as z:
            bt = {k: z[k] for k in ("prompt", "a", "b", "outcome", "weight")}
        self._set_battles(meta["n_prompts"], bt["prompt"], bt["a"], bt["b"], bt["outcome"], bt["weight"])
        self.index_ = faiss.read_index(os.path.join(directory, "sw.faiss"))
        if self.index == "ivf":
            self.index_.nprobe = self.nprobe
        self.embeddings_ = self.index_.reconstruct_n(0, self.index_.ntotal) if self.index == "flat" else None
