"""Prompt-shape scorer: a linear Bradley-Terry model on a few surface measurements of the prompt text.

Features: log length (chars), log digit count, digit share, log line count, plus one-hot bins of log
length (quantile edges fitted on the training prompts), standardised on the training prompts; fitted on
battles with ``fit_linear_bt`` like ``lex``.

Why it exists: how long a prompt is and how much arithmetic it holds says a lot about whether a weaker
model keeps up (reading passages, multi-step word problems, long puzzles), and neither a mean-pooled,
truncated MiniLM embedding nor TF-IDF term weights measure it. On an inner split of the MMLU training
questions these four numbers alone ranked GPT-4-vs-Mixtral prompts nearly as well as kNN (APGR 0.672 vs
0.685), correlated only ~0.4 with kNN and TF-IDF, and lifted their mean from 0.718 to 0.728
(docs/routers.md, "Decisions and the evidence behind them"). That did not carry over to held-out
prompts (MMLU, AlpacaEval, LLMRouter: no gain for the ensemble), so it is an option
(``--scorers ...,shape``), not a default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from router_core.scorers.base import ScoreKind, ScorerBase
from router_core.scorers.linear_bt import fit_linear_bt


def shape_measures(texts: Sequence[str]) -> np.ndarray:
    """[n, 4]: log1p(chars), log1p(digits), digits / chars, log1p(lines)."""
    out = np.zeros((len(texts), 4), dtype=np.float64)
    for i, t in enumerate(texts):
        n_chars = len(t)
        n_digits = sum(ch.isdigit() for ch in t)
        out[i] = (
            np.log1p(n_chars),
            np.log1p(n_digits),
            n_digits / max(n_chars, 1),
            np.log1p(t.count("\n") + 1),
        )
    return out


class ShapeScorer(ScorerBase):
    """Parameters: ``c`` inverse L2 strength, ``n_bins`` length bins, ``max_iter`` L-BFGS iterations."""

    name: ClassVar[str] = "shape"
    output: ClassVar[ScoreKind] = "rating"
    needs_text: ClassVar[bool] = True
    in_default: ClassVar[bool] = False  # no held-out gain measured (see the module docstring)

    def __init__(self, c: float = 1.0, n_bins: int = 8, max_iter: int = 500) -> None:
        self.c = c
        self.n_bins = n_bins
        self.max_iter = max_iter

    def _features(self, texts: Sequence[str]) -> np.ndarray:
        raw = shape_measures(texts)
        bins = np.eye(len(self.edges_) + 1)[np.searchsorted(self.edges_, raw[:, 0])]
        return np.column_stack([(raw - self.mu_) / self.sd_, bins])

    def fit(self, data: Any, embeddings: np.ndarray | None = None) -> ShapeScorer:
        """Train on ``data.prompts`` and its battles (embeddings are not used: this scorer reads text)."""
        if data.n_battles == 0:
            raise ValueError("shape: no battles to train on")
        if self.c <= 0 or self.n_bins < 1:
            raise ValueError(f"shape: need c > 0 and n_bins >= 1, got c={self.c}, n_bins={self.n_bins}")
        self.models_ = list(data.models)
        raw = shape_measures(list(data.prompts))
        self.mu_, sd = raw.mean(axis=0), raw.std(axis=0)
        self.sd_ = np.where(sd > 1e-12, sd, 1.0)
        self.edges_ = np.unique(np.quantile(raw[:, 0], np.linspace(0.0, 1.0, self.n_bins + 1)[1:-1]))
        x = self._features(list(data.prompts))
        self.coef_, self.intercept_, self.n_iter_ = fit_linear_bt(x, data, self.c, self.max_iter)
        return self

    def score(self, embeddings: np.ndarray | None, texts: Sequence[str] | None = None) -> np.ndarray:
        if texts is None:
            raise ValueError("shape scorer needs the prompt texts")
        if len(texts) == 0:
            return np.zeros((0, len(self.models_)), dtype=np.float32)
        return np.asarray(self._features(list(texts)) @ self.coef_ + self.intercept_, dtype=np.float32)

    # ------------------------------------------------------------------ persistence

    def _manifest_facts(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter_}

    def _save_state(self, directory: str) -> None:
        np.savez(
            os.path.join(directory, "shape.npz"),
            mu=self.mu_,
            sd=self.sd_,
            edges=self.edges_,
            coef=self.coef_,
            intercept=self.intercept_,
        )

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        with np.load(os.path.join(directory, "shape.npz"), allow_pickle=False) as z:
            self.mu_, self.sd_, self.edges_ = z["mu"], z["sd"], z["edges"]
            self.coef_, self.intercept_ = z["coef"], z["intercept"]
        self.n_iter_ = int(params.get("n_iter", 0))
