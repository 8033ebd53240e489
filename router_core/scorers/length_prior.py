"""The length prior of pair routers trained with target data: a longer prompt makes the strong model's
win more likely.

Not learnt from battles: its direction is given, and only its centre (the mean log1p(characters) of the
training prompts) is fitted, so its logit, log length minus that centre, stays far from the sigmoid's
flat ends. The target blend (``router_core.stacks.target_blend``) adds it, standardised on the target
prompts, with a prior weight that the target labels update.

Why a given direction: within one task a longer prompt is harder and the weak model falls behind (prompt
length ranks 7 of the 8 held-out domains of the transfer protocol above random), but across a mixture of
tasks length mostly tells the tasks apart: on the generic training sets of the protocol it ranks their
own out-of-fold prompts below random (APGR 0.38-0.45 on MMLU + AlpacaEval), so no scorer fitted on them
learns it. For the same reason it is not added without target data: its effect is measured per task
(docs/routers.md, "Routing your own traffic").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from router_core.scorers.base import ScoreKind, ScorerBase, sigmoid


def log_length(texts: Sequence[str]) -> np.ndarray:
    return np.log1p(np.fromiter((len(t) for t in texts), np.float64, len(texts)))


class LengthPriorScorer(ScorerBase):
    """P(strong beats weak) = sigmoid(log1p(characters) - centre). No parameters."""

    name: ClassVar[str] = "length_prior"
    output: ClassVar[ScoreKind] = "probability"
    needs_text: ClassVar[bool] = True
    in_default: ClassVar[bool] = False  # added to pair routers by the pipeline, not listed by users
    pair_only: ClassVar[bool] = True

    def __init__(self) -> None:
        pass  # no parameters (get_params reads the constructor's)

    def fit(self, data: Any, embeddings: np.ndarray | None = None) -> LengthPriorScorer:
        x = log_length(data.prompts)
        self.models_ = list(data.models)
        self.centre_ = float(x.mean()) if len(x) else 0.0
        return self

    def score(self, embeddings: np.ndarray | None, texts: Sequence[str] | None = None) -> np.ndarray:
        raise ValueError("the length prior gives a pair probability only (a pair router's stack input)")

    def win_prob(
        self, embeddings: np.ndarray | None, texts: Sequence[str] | None, strong: str, weak: str
    ) -> np.ndarray:
        if texts is None:
            raise ValueError("the length prior needs the prompt texts")
        return sigmoid(log_length(texts) - self.centre_)

    def _json_state(self) -> dict[str, Any]:
        return {"centre": self.centre_}

    def _save_state(self, directory: str) -> None:
        pass  # the centre travels in <name>.json (_json_state)

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        self.centre_ = float(meta["centre"])
