"""Known prompts: what the training data measured for a prompt that is routed again.

Nightly logs and bulk workloads repeat prompts that the training data already scored (benchmark items,
templated requests, last month's labelled traffic). For those, one real observation of each model beats
any estimate from similar prompts, yet a neighbour-based scorer gives the identical prompt only 1/k of its
weight, and the stack, fitted on held-out prompts, never saw a repeat. So after the stack, a prompt whose
normalised text is in the training data has its estimate moved towards what was measured:

    estimate = (prior * estimate + w * observed) / (prior + w)

with ``w`` the weight of the prompt's source (``train``'s source weighting, 1 by default) and ``prior``
the pseudo-count of the router's own estimate. Lookups are by exact text (a hash of the normalised
prompt), never by embedding similarity: prompts that share a long preamble embed almost identically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from router_core.text import normalize_prompt, prompt_hash


def _keys(texts: Sequence[str]) -> np.ndarray:
    return np.array([prompt_hash(normalize_prompt(t)).encode("ascii") for t in texts], dtype="S32")


class KnownPrompts:
    """Observed outcomes by prompt hash. ``prior``: how many observations the router's estimate is
    worth (1 = as much as one measured outcome)."""

    def __init__(self, prior: float = 1.0) -> None:
        if not prior > 0:
            raise ValueError(f"known-prompt prior must be > 0, got {prior}")
        self.prior = prior

    def fit(self, data: Any, strong: str | None = None, weak: str | None = None) -> KnownPrompts:
        """From a TrainingSet: per-model scores for an N-model router; for a pair router, the observed
        P(strong beats weak) (scores, or the pair's battles on that prompt; ties count half)."""
        weights = np.asarray(data.prompt_weights(), np.float64)
        if strong is None:
            obs = np.asarray(data.scores, np.float64)
            rows = np.flatnonzero(~np.isnan(obs).all(axis=1) & (weights > 0))
            obs = obs[rows]
        else:
            from router_core.outcomes import pair_outcomes, strong_win_label

            try:
                tg = pair_outcomes(data, strong, weak)
            except ValueError:  # no prompt has an outcome for the pair
                tg = None
            if tg is None:
                rows, obs = np.zeros(0, np.int64), np.zeros((0, 1))
            else:
                keep = weights[tg.prompt_idx] > 0
                rows = tg.prompt_idx[keep]
                obs = strong_win_label(tg.q_strong, tg.q_weak)[keep, None]
        keys = _keys([data.prompts[i] for i in rows])
        order = np.argsort(keys, kind="stable")
        self.keys_, self.observed_, self.weight_ = keys[order], obs[order], weights[rows][order]
        return self

    def __len__(self) -> int:
        return len(self.keys_)

    def lookup(self, texts: Sequence[str]) -> np.ndarray:
        """Row of each text in the table, -1 where unknown."""
        return self.lookup_hashes(_keys(texts))

    def lookup_hashes(self, hashes: Sequence[str] | np.ndarray) -> np.ndarray:
        """Like ``lookup`` for ``router_core.text.prompt_hash`` values of normalised prompts (the route
        job's dedupe key)."""
        q = np.asarray(hashes, dtype="S32")
        if not len(self.keys_) or not len(q):
            return np.full(len(q), -1, np.int64)
        pos = np.minimum(np.searchsorted(self.keys_, q), len(self.keys_) - 1)
        return np.where(self.keys_[pos] == q, pos, -1)

    def blend(self, estimate: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """``estimate`` ([n] pair probabilities or [n, M] qualities) with known prompts moved towards
        their observed outcomes; models with no observation keep the estimate."""
        est = np.asarray(estimate, np.float64)
        rows = self.lookup(texts)
        hit = np.flatnonzero(rows >= 0)
        if not len(hit):
            return est
        out = est.copy()
        cur = out[hit].reshape(len(hit), -1)
        obs = self.observed_[rows[hit]]
        w = np.where(np.isnan(obs), 0.0, self.weight_[rows[hit], None])
        new = (self.prior * cur + w * np.nan_to_num(obs)) / (self.prior + w)
        out[hit] = new.reshape(out[hit].shape)
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"keys": self.keys_, "observed": self.observed_, "weight": self.weight_}

    @classmethod
    def from_arrays(cls, prior: float, arrays: Mapping[str, np.ndarray]) -> KnownPrompts:
        self = cls(prior)
        self.keys_ = np.asarray(arrays["keys"], dtype="S32")
        self.observed_ = np.asarray(arrays["observed"], np.float64)
        self.weight_ = np.asarray(arrays["weight"], np.float64)
        return self
