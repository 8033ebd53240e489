"""The length prior of pair routers: a longer prompt makes the strong model's win more likely.

Not learnt from battles: its direction is fixed, and only its centre and scale (of log1p(characters)) are
fitted, on the training prompts. The pair stack adds it with a fixed weight to the standardised stack of
the learnt scorers (``PairStack(priors=...)``, ``router_core.stacks.target_blend``), outside the choice
of which scorers rank the right way.

Why a fixed direction: within one task a longer prompt is harder and the weak model falls behind (prompt
length ranked 7 of the 8 held-out domains of the transfer protocol above random), but across a mixture
of tasks length mostly says which task a prompt is from, so fitted on a mixed training set it pointed
the wrong way (out-of-fold APGR 0.38-0.45 on MMLU + AlpacaEval) and could not carry over. Adding it lifted
the default router's mean held-out APGR from 0.508 to 0.560 with no target labels and from 0.554 / 0.568
to 0.576 / 0.595 with 50 / 200 (docs/routers.md, "Routing your own traffic").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from router_core.scorers.base import ScoreKind, ScorerBase, sigmoid


def log_length(texts: Sequence[str]) -> np.ndarray:
    return np.log1p(np.fromiter((len(t) for t in texts), np.float64, len(texts)))


class LengthPriorScorer(ScorerBase):
    """P(strong beats weak) = sigmoid of the prompt's standardised log length. No parameters."""

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
        self.mu_ = float(x.mean()) if len(x) else 0.0
        self.sd_ = float(x.std()) if len(x) and x.std() > 1e-9 else 1.0
        return self

    def score(self, embeddings: np.ndarray | None, texts: Sequence[str] | None = None) -> np.ndarray:
        raise ValueError("the length prior gives a pair probability only (a pair router's stack input)")

    def win_prob(
        self, embeddings: np.ndarray | None, texts: Sequence[str] | None, strong: str, weak: str
    ) -> np.ndarray:
        if texts is None:
            raise ValueError("the length prior needs the prompt texts")
        return sigmoid((log_length(texts) - self.mu_) / self.sd_)

    def _json_state(self) -> dict[str, Any]:
        return {"mu": self.mu_, "sd": self.sd_}

    def _save_state(self, directory: str) -> None:
        pass  # the centre and scale travel in <name>.json (_json_state)

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        self.mu_, self.sd_ = float(meta["mu"]), float(meta["sd"])
