"""The one interface every scorer implements (scikit-learn style).

- The constructor holds only parameters (no data, no fitted state).
- ``fit(data, embeddings)`` learns from a ``TrainingSet`` (see router_core.training_data) and the
  embeddings of ``data.prompts`` (row i = prompt i), and returns ``self``.
- ``score(embeddings, texts)`` maps a batch of prompts to per-model quality logits, float32
  ``[n, len(models)]`` in the column order of ``self.models_``. Higher means better. For a pair the
  router turns them into P(strong beats weak) = sigmoid(q[strong] - q[weak]) unless the scorer
  overrides ``win_prob`` (e.g. a classifier that predicts the pair outcome directly).
- ``save(dir)`` / ``load(dir)``: safetensors / npz / FAISS files only (never pickle); the returned
  dict of parameters goes into the router manifest.

Nothing here may depend on which model of a pair is listed first: swapping model_a / model_b in the
data must give the same scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import numpy as np


class Scorer(Protocol):
    name: ClassVar[str]
    needs_text: ClassVar[bool]  # True when score() reads the raw texts (BERT)
    models_: list[str]

    def fit(self, data: Any, embeddings: np.ndarray) -> Scorer: ...

    def score(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray: ...

    def win_prob(
        self, embeddings: np.ndarray, texts: Sequence[str] | None, strong: str, weak: str
    ) -> np.ndarray: ...

    def get_params(self) -> dict[str, Any]: ...

    def save(self, directory: str) -> dict[str, Any]: ...

    @classmethod
    def load(cls, directory: str, params: dict[str, Any]) -> Scorer: ...


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))).astype(np.float32)


class ScorerBase:
    """Shared plumbing: parameter introspection and the default pairwise probability."""

    name: ClassVar[str] = "base"
    needs_text: ClassVar[bool] = False
    # False for scorers too costly to train twice (BERT): the router keeps the training-fold fit, which is
    # also the fit the ensemble was calibrated on, instead of refitting on all prompts.
    refit_on_all: ClassVar[bool] = True

    def get_params(self) -> dict[str, Any]:
        import inspect

        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    def _index(self, model: str) -> int:
        try:
            return self.models_.index(model)
        except ValueError:
            raise KeyError(f"model '{model}' is not known to scorer '{self.name}' ({self.models_})") from None

    def win_prob(
        self, embeddings: np.ndarray, texts: Sequence[str] | None, strong: str, weak: str
    ) -> np.ndarray:
        return self.win_prob_from_scores(self.score(embeddings, texts), strong, weak)

    def win_prob_from_scores(self, q: np.ndarray, strong: str, weak: str) -> np.ndarray:
        """P(strong beats weak) from this scorer's ``score`` output (BT ratings: a sigmoid of the gap)."""
        return sigmoid(q[:, self._index(strong)] - q[:, self._index(weak)])
