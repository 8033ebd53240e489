"""Lexical scorer: a linear Bradley-Terry model on TF-IDF word/bigram features of the prompt text.

quality q[p, m] = x_p . W[:, m] + b_m, x_p the sublinear TF-IDF vector of prompt p, fitted on battles by
``fit_linear_bt`` (BT loss, L2 prior, deterministic L-BFGS).

Why it exists next to the embedding scorers: MiniLM embeddings group prompts by topic, but what makes
a prompt hard for one model and not the other is often lexical (numbers, "Statement 1 |", option
formats, code tokens). On held-out MMLU this view is only weakly correlated with kNN/SW/MF, so it adds
to the ensemble (docs/routers.md). Symmetric in a/b by construction.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from router_core.scorers.base import ScoreKind, ScorerBase
from router_core.scorers.linear_bt import fit_linear_bt


def _vectorizer(ngram_max: int, max_features: int | None, vocabulary: dict[str, int] | None = None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        ngram_range=(1, ngram_max),
        min_df=1 if vocabulary is not None else 2,
        max_features=max_features,
        sublinear_tf=True,
        dtype=np.float32,
        vocabulary=vocabulary,
    )


class LexScorer(ScorerBase):
    """Parameters: ``c`` inverse L2 strength (like scikit-learn's C), ``ngram_max`` longest word n-gram,
    ``max_features`` vocabulary size, ``max_iter`` L-BFGS iterations."""

    name: ClassVar[str] = "lex"
    output: ClassVar[ScoreKind] = "rating"
    needs_text: ClassVar[bool] = True

    def __init__(
        self, c: float = 0.1, ngram_max: int = 2, max_features: int = 50_000, max_iter: int = 500
    ) -> None:
        self.c = c
        self.ngram_max = ngram_max
        self.max_features = max_features
        self.max_iter = max_iter

    def fit(self, data: Any, embeddings: np.ndarray | None = None) -> LexScorer:
        """Train on ``data.prompts`` and its battles (embeddings are not used: this scorer reads text)."""
        if data.n_battles == 0:
            raise ValueError("lex: no battles to train on")
        if self.c <= 0:
            raise ValueError(f"lex: c must be > 0, got {self.c}")
        self.models_ = list(data.models)
        self.vec_ = _vectorizer(self.ngram_max, self.max_features)
        try:
            x = self.vec_.fit_transform(list(data.prompts)).tocsr()
        except ValueError:  # every term below min_df (tiny data): keep single-use terms
            self.vec_ = _vectorizer(self.ngram_max, self.max_features)
            self.vec_.min_df = 1
            x = self.vec_.fit_transform(list(data.prompts)).tocsr()
        self.coef_, self.intercept_, self.n_iter_ = fit_linear_bt(x, data, self.c, self.max_iter)
        return self

    def score(self, embeddings: np.ndarray | None, texts: Sequence[str] | None = None) -> np.ndarray:
        if texts is None:
            raise ValueError("lex scorer needs the prompt texts")
        if len(texts) == 0:
            return np.zeros((0, len(self.models_)), dtype=np.float32)
        x = self.vec_.transform(list(texts))
        return np.asarray(x @ self.coef_ + self.intercept_, dtype=np.float32)

    # ------------------------------------------------------------------ persistence

    def _json_state(self) -> dict[str, Any]:
        return {"vocabulary": {t: int(i) for t, i in self.vec_.vocabulary_.items()}}

    def _manifest_facts(self) -> dict[str, Any]:
        return {"vocabulary_size": len(self.vec_.vocabulary_), "n_iter": self.n_iter_}

    def _save_state(self, directory: str) -> None:
        np.savez(
            os.path.join(directory, "lex.npz"),
            idf=self.vec_.idf_.astype(np.float64),
            coef=self.coef_,
            intercept=self.intercept_,
        )

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        with np.load(os.path.join(directory, "lex.npz"), allow_pickle=False) as z:
            idf, self.coef_, self.intercept_ = z["idf"], z["coef"], z["intercept"]
        self.vec_ = _vectorizer(self.ngram_max, None, vocabulary=meta["vocabulary"])
        self.vec_.idf_ = idf  # sklearn rebuilds its transformer from idf_: no refit, no pickle
        self.n_iter_ = int(params.get("n_iter", 0))
