"""Scorers fitted on the user's own labelled traffic only (``train --target-data``).

A generic training set is large and the target set small, so a scorer fitted on both is dominated by
the generic prompts; these scorers see the target prompts alone and give the stack (fitted on the target
prompts' out-of-fold outputs) a signal the generic data cannot drown:

- ``target_knn``: the ``knn`` scorer over the target prompts, with sharper weights (fewer, closer
  neighbours) than the generic one, because a few hundred prompts of one task are dense around each other.
- ``target_linear``: a linear Bradley-Terry model on the prompt embedding over the target prompts (with
  a strong L2 prior: a few hundred labels against 384 dimensions), a direction in embedding space along
  which the strong model's advantage grows in this task.
- ``target_shape``: the ``shape`` scorer (length, digits, lines) over the target prompts: how long and
  how numeric a prompt is predicts whether the weak model keeps up differently in each task (long word
  problems vs long reading passages), so its direction is learnt from the target labels.

The training pipeline adds ``target_linear`` when target sources are given (``train_router``'s
``target_scorers``: the other two measured worse in the blend, docs/routers.md); none is trained
otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from router_core.scorers.base import ScoreKind, ScorerBase
from router_core.scorers.knn import KNNScorer
from router_core.scorers.linear_bt import fit_linear_bt
from router_core.scorers.shape import ShapeScorer


def target_rows(data: Any, sources: Sequence[str]) -> np.ndarray:
    """Prompts of ``data`` that one of ``sources`` (by name) has labels on."""
    return np.flatnonzero(data.prompts_of_sources([s for s in sources if s in data.sources]))


def _target_part(name: str, data: Any, sources: Sequence[str]) -> np.ndarray:
    rows = target_rows(data, sources)
    if len(rows) == 0:
        raise ValueError(f"{name}: no prompts of the target sources {list(sources)} in the training data")
    return rows


class _OnTargetSources:
    """Fits the scorer it is mixed into on the prompts of ``self.sources`` only."""

    name: ClassVar[str]
    sources: list[str]

    def fit(self, data: Any, embeddings: np.ndarray | None = None) -> Any:
        rows = _target_part(self.name, data, self.sources)
        emb = None if embeddings is None else np.asarray(embeddings)[rows]
        return super().fit(data.subset(rows), emb)  # type: ignore[misc]


class TargetKNNScorer(_OnTargetSources, KNNScorer):
    """``knn`` fitted on the prompts of ``sources`` only. Parameters as ``knn``, plus ``sources``."""

    name: ClassVar[str] = "target_knn"
    in_default: ClassVar[bool] = False  # added by the pipeline when there is target data

    def __init__(
        self, k: int = 20, tau: float = 0.1, shrink: float = 2.0, sources: Sequence[str] = ()
    ) -> None:
        super().__init__(k=k, tau=tau, shrink=shrink)
        self.sources = list(sources)


class TargetShapeScorer(_OnTargetSources, ShapeScorer):
    """``shape`` fitted on the prompts of ``sources`` only. Parameters as ``shape``, plus ``sources``."""

    name: ClassVar[str] = "target_shape"
    in_default: ClassVar[bool] = False  # added by the pipeline when there is target data

    def __init__(
        self, c: float = 0.3, n_bins: int = 1, max_iter: int = 500, sources: Sequence[str] = ()
    ) -> None:
        super().__init__(c=c, n_bins=n_bins, max_iter=max_iter)
        self.sources = list(sources)


class TargetLinearScorer(ScorerBase):
    """Linear Bradley-Terry on the embedding, fitted on the prompts of ``sources`` only. Parameters:
    ``c`` inverse L2 strength, ``max_iter`` L-BFGS iterations, ``sources``."""

    name: ClassVar[str] = "target_linear"
    output: ClassVar[ScoreKind] = "rating"
    in_default: ClassVar[bool] = False  # added by the pipeline when there is target data

    def __init__(self, c: float = 1.0, max_iter: int = 300, sources: Sequence[str] = ()) -> None:
        self.c = c
        self.max_iter = max_iter
        self.sources = list(sources)

    def fit(self, data: Any, embeddings: np.ndarray) -> TargetLinearScorer:
        rows = _target_part(self.name, data, self.sources)
        part = data.subset(rows)
        if part.n_battles == 0:
            raise ValueError(f"{self.name}: the target prompts have no battles to train on")
        self.models_ = list(data.models)
        x = np.asarray(embeddings, np.float64)[rows]
        self.coef_, self.intercept_, self.n_iter_ = fit_linear_bt(x, part, self.c, self.max_iter)
        return self

    def score(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        return np.asarray(np.asarray(embeddings, np.float32) @ self.coef_ + self.intercept_, np.float32)

    def _save_state(self, directory: str) -> None:
        np.savez(os.path.join(directory, "target_linear.npz"), coef=self.coef_, intercept=self.intercept_)

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        with np.load(os.path.join(directory, "target_linear.npz"), allow_pickle=False) as z:
            self.coef_, self.intercept_ = z["coef"], z["intercept"]
