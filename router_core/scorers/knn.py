"""kNN scorer: similarity-weighted average of what the nearest training prompts measured.

- ``score``: per-model expected score (e.g. P(correct)) from the k nearest prompts that have scores,
  shrunk towards the model's global mean by ``shrink`` pseudo-prompts; for a model known only from
  battles, its shrunk kNN win rate against all others (so every column is "higher is better").
- ``win_prob``: kNN win rate of strong over weak from the neighbours' battles (score-derived ones
  included), shrunk towards the global rate; ties count half.
Cheap, and a strong feature for the ensemble: it is the "kNN correctness" estimate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from router_core.scorers.base import ScoreKind, ScorerBase
from router_core.scorers.sw import win_tensor


class KNNScorer(ScorerBase):
    """Parameters: ``k`` neighbours, ``tau`` temperature of the weights exp((sim - 1) / tau),
    ``shrink`` pseudo-count towards the global mean."""

    name: ClassVar[str] = "knn"
    output: ClassVar[ScoreKind] = "probability"
    needs_text: ClassVar[bool] = False

    def __init__(self, k: int = 100, tau: float = 1.0, shrink: float = 1.0) -> None:
        self.k = k
        self.tau = tau
        self.shrink = shrink

    def fit(self, data: Any, embeddings: np.ndarray) -> KNNScorer:
        self.models_ = list(data.models)
        self._set_state(
            np.ascontiguousarray(embeddings, dtype=np.float32),
            np.asarray(data.scores, dtype=np.float32),
            {
                "prompt": data.battle_prompt,
                "a": data.battle_a,
                "b": data.battle_b,
                "outcome": data.battle_outcome,
                "weight": data.battle_weight,
            },
        )
        return self

    def _set_state(self, emb: np.ndarray, scores: np.ndarray, battles: dict[str, np.ndarray]) -> None:
        import faiss

        self.scores_ = scores
        self.battles_ = {k: np.asarray(v) for k, v in battles.items()}
        m = len(self.models_)
        b = self.battles_
        self.wins_ = win_tensor(len(scores), m, b["prompt"], b["a"], b["b"], b["outcome"], b["weight"])
        known = ~np.isnan(scores)
        with np.errstate(invalid="ignore", divide="ignore"):  # battle-only models: no mean, NaN
            cnt = known.sum(0)
            self.global_score_ = np.where(cnt > 0, np.where(known, scores, 0.0).sum(0) / cnt, np.nan)
        tot = np.asarray(self.wins_.sum(axis=0)).reshape(m, m)
        self.global_wins_ = tot
        self.index_ = faiss.IndexFlatIP(emb.shape[1])
        self.index_.add(emb)

    def _neighbours(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(embeddings, dtype=np.float32)
        k = min(self.k, self.index_.ntotal)
        sims, nbr = self.index_.search(q, k)
        w = np.where(nbr >= 0, np.exp((sims - 1.0) / self.tau), 0.0)
        return w, np.where(nbr >= 0, nbr, 0)

    def _knn_wins(self, w: np.ndarray, nbr: np.ndarray) -> np.ndarray:
        n, k = nbr.shape
        sel = sp.csr_matrix(
            (w.ravel(), (np.repeat(np.arange(n), k), nbr.ravel())), shape=(n, self.index_.ntotal)
        )
        m = len(self.models_)
        return (sel @ self.wins_).toarray().reshape(n, m, m)

    def score(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        w, nbr = self._neighbours(embeddings)
        s = self.scores_[nbr]  # [n, k, M]
        known = ~np.isnan(s)
        num = np.einsum("nk,nkm->nm", w, np.where(known, s, 0.0))
        den = np.einsum("nk,nkm->nm", w, known.astype(np.float64))
        g = self.global_score_
        out = (num + self.shrink * np.nan_to_num(g)) / (den + self.shrink)
        no_scores = np.isnan(g)
        if no_scores.any():
            wins = self._knn_wins(w, nbr)
            won, played = wins.sum(2), wins.sum(2) + wins.sum(1)
            gt = self.global_wins_
            g_rate = (gt.sum(1) + 0.5) / (gt.sum(1) + gt.sum(0) + 1.0)
            rate = (won + self.shrink * g_rate) / (played + self.shrink)
            out[:, no_scores] = rate[:, no_scores]
        return out.astype(np.float32)

    def win_prob(
        self, embeddings: np.ndarray, texts: Sequence[str] | None, strong: str, weak: str
    ) -> np.ndarray:
        s, wk = self._index(strong), self._index(weak)
        w, nbr = self._neighbours(embeddings)
        wins = self._knn_wins(w, nbr)
        gt = self.global_wins_
        g = (gt[s, wk] + 0.5) / (gt[s, wk] + gt[wk, s] + 1.0)
        p = (wins[:, s, wk] + self.shrink * g) / (wins[:, s, wk] + wins[:, wk, s] + self.shrink)
        return p.astype(np.float32)

    def win_prob_from_scores(self, q: np.ndarray, strong: str, weak: str) -> np.ndarray:
        raise NotImplementedError("knn's pair probability comes from neighbour win counts, not from score()")

    def _save_state(self, directory: str) -> None:
        import faiss

        faiss.write_index(self.index_, os.path.join(directory, "knn.faiss"))
        np.savez(os.path.join(directory, "knn.npz"), scores=self.scores_, **self.battles_)

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        import faiss

        index = faiss.read_index(os.path.join(directory, "knn.faiss"))
        emb = index.reconstruct_n(0, index.ntotal)
        with np.load(os.path.join(directory, "knn.npz"), allow_pickle=False) as z:
            scores = z["scores"]
            battles = {k: z[k] for k in ("prompt", "a", "b", "outcome", "weight")}
        self._set_state(emb, scores, battles)
