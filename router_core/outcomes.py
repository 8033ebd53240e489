"""The outcomes a router is trained and evaluated against, from a ``TrainingSet``: a pair's per-prompt
qualities (scores, or the pair's battles) and the strong-win label they stand for; N models' per-model
scores. ("Target", elsewhere, is the user's own traffic: ``train --target-data``.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class PairOutcomes:
    prompt_idx: np.ndarray  # int64 [n] rows of the TrainingSet that have a target
    q_strong: np.ndarray  # float64 [n]
    q_weak: np.ndarray  # float64 [n]
    kind: str  # "scores", "battles" or "mixed"


def pair_names_error(
    strong: str | None, weak: str | None, names: tuple[str, str] = ("--strong", "--weak")
) -> str | None:
    """Why a strong/weak pair cannot name a router's models (both given for a pair router, neither for an
    N-model router, never the same model twice); None when it can. ``names``: how the caller calls them."""
    s, w = names
    if (strong is None) != (weak is None):
        return f"give both {s} and {w} (a pair router) or neither (an N-model router)"
    if strong is not None and strong == weak:
        return f"{s} and {w} must differ"
    return None


def strong_win_label(q_strong: np.ndarray, q_weak: np.ndarray) -> np.ndarray:
    """P(strong beats weak) a prompt's qualities stand for: ties 0.5, correctness 0/0.5/1, win rates as
    they are. Clipped, so scores on a wider scale (judge grades 1-10) read as "higher score wins"."""
    return np.clip((1.0 + np.asarray(q_strong, np.float64) - np.asarray(q_weak, np.float64)) / 2.0, 0.0, 1.0)


def pair_outcomes(data: Any, strong: str, weak: str) -> PairOutcomes:
    """Per-prompt quality of strong and weak from a TrainingSet.

    Prompts with a score for both models use the scores. Other prompts with battles between the two use
    the (weighted) mean outcome from the strong model's side: q_strong = P(strong wins), ties = 0.5,
    q_weak = 1 - q_strong. Battles derived from scores are not counted twice (scored prompts use scores).
    """
    for m in (strong, weak):
        if m not in data.models:
            from router_core.training_data import did_you_mean

            hint = did_you_mean([m], data.models)
            raise ValueError(f"model '{m}' is not in the evaluation data{hint}; present: {data.models}")
    if strong == weak:
        raise ValueError("strong and weak model must differ")
    s, w = data.models.index(strong), data.models.index(weak)
    n = len(data.prompts)
    qs = data.scores[:, s].astype(np.float64)
    qw = data.scores[:, w].astype(np.float64)
    scored = ~(np.isnan(qs) | np.isnan(qw))

    a, b = data.battle_a, data.battle_b
    in_pair = ((a == s) & (b == w)) | ((a == w) & (b == s))
    bp = data.battle_prompt[in_pair]
    o = np.where(a[in_pair] == s, data.battle_outcome[in_pair], 1.0 - data.battle_outcome[in_pair])
    wt = data.battle_weight[in_pair].astype(np.float64)
    wsum = np.bincount(bp, weights=wt, minlength=n)
    osum = np.bincount(bp, weights=wt * o, minlength=n)
    battled = (wsum > 0) & ~scored
    p_strong = np.divide(osum, wsum, out=np.zeros(n), where=wsum > 0)

    keep = np.flatnonzero(scored | battled)
    if len(keep) == 0:
        raise ValueError(f"no prompt has scores or battles for both '{strong}' and '{weak}'")
    q_s = np.where(scored, qs, p_strong)[keep]
    q_w = np.where(scored, qw, 1.0 - p_strong)[keep]
    kind = "mixed" if scored.any() and battled.any() else ("scores" if scored.any() else "battles")
    return PairOutcomes(keep, q_s, q_w, kind)


def model_outcomes(data: Any, models: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(prompt_idx, true quality [n, len(models)]) for prompts scored on every model (N-model eval)."""
    missing = [m for m in models if m not in data.models]
    if missing:
        from router_core.training_data import did_you_mean

        hint = did_you_mean(missing, data.models)
        raise ValueError(f"model(s) {missing} not in the evaluation data{hint}; present: {data.models}")
    cols = [data.models.index(m) for m in models]
    q = data.scores[:, cols].astype(np.float64)
    keep = np.flatnonzero(~np.isnan(q).any(axis=1))
    if len(keep) == 0:
        raise ValueError("N-model evaluation needs per-model scores; no prompt is scored on every model")
    return keep, q[keep]
