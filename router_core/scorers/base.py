"""The one interface every scorer implements (scikit-learn style).

- The constructor holds only parameters (no data, no fitted state).
- ``fit(data, embeddings)`` learns from a ``TrainingSet`` (see router_core.training_data) and the
  embeddings of ``data.prompts`` (row i = prompt i), and returns ``self``.
- ``score(embeddings, texts)`` maps a batch of prompts to a per-model output, float32
  ``[n, len(models)]`` in the column order of ``self.models_``; higher means better. ``output`` says what
  the numbers are (``ScoreKind``), so the stacks know how to read them without knowing the scorer.
- ``win_prob`` / ``win_prob_from_scores``: P(strong beats weak) for a pair, by default
  sigmoid(q[strong] - q[weak]); a scorer overrides them when its pair probability is something else.
- ``save(dir)`` / ``load(dir, params)``: safetensors / npz / FAISS files only (never pickle); the
  returned dict of parameters goes into the router manifest. ``ScorerBase`` does the shared part (the
  directory, ``<name>.json`` with the model list, constructor parameters from the manifest); a scorer
  writes and reads its own arrays in ``_save_state`` / ``_load_state``.

Nothing here may depend on which model of a pair is listed first: swapping model_a / model_b in the
data must give the same scores.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import numpy as np

# rating: Bradley-Terry-type, only differences between models mean anything; probability: in [0, 1]
# (e.g. a neighbour mean of correctness); logit: log-odds of each model's own quality.
ScoreKind = Literal["rating", "probability", "logit"]
S = TypeVar("S", bound="ScorerBase")


class Scorer(Protocol):
    name: ClassVar[str]
    output: ClassVar[ScoreKind]
    needs_text: ClassVar[bool]  # True when score() reads the raw texts (BERT, lex)
    in_default: ClassVar[bool]  # trained by default (else only on request, --scorers)
    refit_on_all: ClassVar[bool]  # False: too costly to train per fold and again on everything
    seed_param: ClassVar[str | None]  # the constructor parameter that takes the training seed, if any
    pair_only: ClassVar[bool]  # True: gives only a pair probability (win_prob), no N-model score()
    # True: the pair stack removes from the other scorers' logits what this input predicts, instead of
    # averaging it in (router_core.scorers.source_mix)
    offset: ClassVar[bool]
    models_: list[str]

    def fit(self, data: Any, embeddings: np.ndarray) -> Scorer: ...

    def score(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray: ...

    def win_prob(
        self, embeddings: np.ndarray, texts: Sequence[str] | None, strong: str, weak: str
    ) -> np.ndarray: ...

    def win_prob_from_scores(self, q: np.ndarray, strong: str, weak: str) -> np.ndarray: ...

    def get_params(self) -> dict[str, Any]: ...

    def save(self, directory: str) -> dict[str, Any]: ...

    @classmethod
    def load(cls, directory: str, params: dict[str, Any]) -> Scorer: ...


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))).astype(np.float32)


class ScorerBase:
    """Shared plumbing: parameters, the default pairwise probability and the save/load frame."""

    name: ClassVar[str] = "base"
    output: ClassVar[ScoreKind] = "rating"
    needs_text: ClassVar[bool] = False
    in_default: ClassVar[bool] = True
    # False for scorers too costly to train twice (BERT): the router keeps the training-fold fit, which is
    # also the fit the ensemble was calibrated on, instead of refitting on all prompts.
    refit_on_all: ClassVar[bool] = True
    seed_param: ClassVar[str | None] = None
    pair_only: ClassVar[bool] = False
    offset: ClassVar[bool] = False

    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    @classmethod
    def from_params(cls: type[S], params: dict[str, Any]) -> S:
        """A new scorer with the constructor parameters found in ``params`` (a manifest entry also holds
        fitted facts, such as a validation loss, that are not parameters)."""
        known = inspect.signature(cls.__init__).parameters
        return cls(**{k: v for k, v in params.items() if k in known and k != "self"})

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

    def scoring_usage(self) -> Any | None:
        """A ``router_core.scoring_cost.CallUsage`` of the paid calls ``win_prob`` / ``score`` made since
        the fit; None for scorers that call nothing."""
        return None

    def scoring_prices(self) -> tuple[float | None, float | None]:
        """USD per 1M input and output tokens of those calls (None: not given)."""
        return None, None

    # ------------------------------------------------------------------ persistence

    def save(self, directory: str) -> dict[str, Any]:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"{self.name}.json"), "w") as f:
            json.dump({"models": self.models_, **self._json_state()}, f)
        self._save_state(directory)
        return {**self.get_params(), **self._manifest_facts()}

    @classmethod
    def load(cls: type[S], directory: str, params: dict[str, Any]) -> S:
        self = cls.from_params(params)
        with open(os.path.join(directory, f"{cls.name}.json")) as f:
            meta = json.load(f)
        self.models_ = list(meta["models"])
        self._load_state(directory, meta, params)
        return self

    def _json_state(self) -> dict[str, Any]:
        """Small JSON-able state written next to the model list in ``<name>.json``."""
        return {}

    def _manifest_facts(self) -> dict[str, Any]:
        """Fitted facts recorded with the parameters in the manifest (read back by ``_load_state``)."""
        return {}

    def _save_state(self, directory: str) -> None:
        raise NotImplementedError

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        raise NotImplementedError
