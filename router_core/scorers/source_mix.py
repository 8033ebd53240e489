"""The source mix of a pair router trained on several sources: how much of a prompt's score is the base
rate of the sources its nearest training prompts come from.

Sources measure the routed pair on different scales: a judge that prefers GPT-4 in 89% of AlpacaEval
battles, MMLU correctness where the two models tie on 77% of questions. A neighbour or embedding scorer
fitted on both gives a prompt near chat prompts the battles' high base rate and a prompt near exam
questions the low one, whatever the prompt itself asks. On traffic unlike either source that difference
is not about the prompt, and it ranked held-out MMLU categories below random (docs/routers.md, "Sources
of different scales").

This input is that base rate: the mean, over a prompt's ``k`` nearest training prompts (weights
exp((sim - best) / tau)), of the logit of their source's mean pair target. Its output is
sigmoid(that logit), so the stack reads the logit back. ``PairStack`` does not average it with the
scorers: it removes from each scorer's logit the part that this input predicts on the stack's rows
(``offset = True``), so the router keeps what each source says about prompts within it and drops the
difference between the sources' scales. The pipeline adds it to pair routers trained on two or more
generic sources; with target data it covers the generic sources alone (``exclude``), and the target
blend's generic stack removes it (``router_core.stacks.target_blend``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from router_core.label_coverage import LabelIndex, unit_rows
from router_core.outcomes import pair_outcomes, strong_win_label
from router_core.scorers.base import ScoreKind, ScorerBase, sigmoid
from router_core.stacks.logistic import logit

STATE_FILE = "source_mix.npz"
# A source's mean pair target is kept inside [EDGE, 1 - EDGE] before its logit: a source where one model
# wins every battle must not dominate the mix.
EDGE = 0.02


def source_base_logits(data: Any, strong: str, weak: str) -> np.ndarray:
    """Per source of ``data``: the logit of its prompts' mean pair target (the pooled mean's for a source
    without a prompt labelled for the pair)."""
    try:
        t = pair_outcomes(data, strong, weak)
    except ValueError:
        return np.zeros(len(data.sources))
    target = strong_win_label(t.q_strong, t.q_weak)
    src = np.asarray(data.prompt_source)[t.prompt_idx]
    pooled = float(target.mean()) if len(target) else 0.5
    means = [float(target[src == i].mean()) if (src == i).any() else pooled for i in range(len(data.sources))]
    return logit(np.clip(means, EDGE, 1 - EDGE))


class SourceMixScorer(ScorerBase):
    """P = sigmoid(neighbour-weighted base logit of the training prompts' sources), for ``strong`` vs
    ``weak`` (set by the pipeline)."""

    name: ClassVar[str] = "source_mix"
    output: ClassVar[ScoreKind] = "probability"
    in_default: ClassVar[bool] = False  # added by the pipeline, not listed by users
    pair_only: ClassVar[bool] = True
    offset: ClassVar[bool] = True

    def __init__(
        self, strong: str = "", weak: str = "", exclude: Sequence[str] = (), k: int = 100, tau: float = 0.1
    ) -> None:
        self.strong = strong
        self.weak = weak
        self.exclude = list(exclude)  # sources whose prompts are not neighbours (the target data)
        self.k = k
        self.tau = tau

    def fit(self, data: Any, embeddings: np.ndarray) -> SourceMixScorer:
        self.models_ = list(data.models)
        base = source_base_logits(data, self.strong, self.weak)
        source = np.asarray(data.prompt_source, np.int64)
        keep = ~np.isin(source, [i for i, s in enumerate(data.sources) if s in set(self.exclude)])
        self.prompt_logit_ = base[source[keep]].astype(np.float32)
        # rounded as the saved index stores them, so a loaded router scores as the fitted one
        self.index_ = LabelIndex(
            unit_rows(np.asarray(embeddings)[keep]).astype(np.float16).astype(np.float32)
        )
        return self

    def base_logit(self, embeddings: np.ndarray) -> np.ndarray:
        """The neighbour-weighted source base logit of each prompt (0 for an empty index)."""
        n, index = len(embeddings), self.index_.index
        if n == 0 or index.ntotal == 0:
            return np.zeros(n)
        sims, nbr = index.search(unit_rows(embeddings), min(self.k, index.ntotal))
        w = np.where(nbr >= 0, np.exp((sims - sims[:, :1]) / self.tau), 0.0)
        vals = self.prompt_logit_[np.where(nbr >= 0, nbr, 0)]
        return (w * vals).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12)

    def score(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        raise ValueError("the source mix gives a pair probability only (a pair router's stack input)")

    def win_prob(
        self, embeddings: np.ndarray, texts: Sequence[str] | None, strong: str, weak: str
    ) -> np.ndarray:
        if (strong, weak) != (self.strong, self.weak):
            raise ValueError(
                f"the source mix was fitted for {self.strong} vs {self.weak}, not {strong} vs {weak}"
            )
        return sigmoid(self.base_logit(embeddings))

    def _save_state(self, directory: str) -> None:
        self.index_.save(directory)
        np.savez(os.path.join(directory, STATE_FILE), prompt_logit=self.prompt_logit_)

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        self.index_ = LabelIndex.load(directory)
        with np.load(os.path.join(directory, STATE_FILE), allow_pickle=False) as z:
            self.prompt_logit_ = z["prompt_logit"].astype(np.float32)
