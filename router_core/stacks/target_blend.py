"""The default score of a pair router trained with target data: a blend of what the generic data knows
and what the target labels say, weighted by how many target labels there are.

    s = alpha * z(generic stack) + (1 - alpha) * mean_t z(target scorer t),  alpha = prior / (prior + n)

``generic stack``: the usual ``PairStack`` (mean mode) over the generic scorers, fitted on the generic
prompts' out-of-fold outputs; ``target scorer``: the scorers fitted on the target prompts alone
(``router_core.scorers.target``); z: standardised on the target prompts; n: the number of target
prompts. A final slope and intercept on the target prompts calibrate s into P(strong beats weak).

Why a fixed blend and not weights fitted on the target prompts: with 50-200 labels, per-scorer weights
fitted on out-of-fold outputs followed the noise of a few dozen decisive prompts (a generic scorer that
ranks a held-out domain worse than random could get the largest weight), and the routers lost to the
target scorers alone; the leave-one-domain-out protocol chose this form and ``prior``
(docs/routers.md, "Routing your own traffic").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from router_core.stacks.logistic import fit_soft_logistic, logit
from router_core.stacks.pair import PairStack


def _z(x: np.ndarray, on: np.ndarray) -> tuple[float, float]:
    mu, sd = float(x[on].mean()), float(x[on].std())
    return mu, sd if sd > 1e-12 else 1.0


def fit_target_blend(
    probs: Mapping[str, np.ndarray],
    target: np.ndarray,
    is_target: np.ndarray,
    target_scorers: Sequence[str],
    prior: float,
) -> PairStack:
    """A ``PairStack`` (its linear map of the base logits) holding the blend; ``is_target``: per row.
    The calibration is fitted on the target rows with the generic rows as a prior of ``prior`` rows, so a
    few labels give a usable probability scale (threshold policies read it), not only an order."""
    names = list(probs)
    generic = [s for s in names if s not in target_scorers]
    tgt = [s for s in names if s in target_scorers]
    n = int(is_target.sum())
    alpha = prior / (prior + n) if generic else 0.0
    coef = np.zeros(len(names))
    intercept = 0.0
    if generic:
        rows = ~is_target if (~is_target).sum() >= 2 else np.ones(len(target), bool)
        g = PairStack(mode="mean").fit({s: probs[s][rows] for s in generic}, target[rows])
        lin = np.column_stack([logit(probs[s]) for s in generic]) @ g.coef_
        mu, sd = _z(lin, is_target)
        for s, c in zip(generic, g.coef_, strict=True):
            coef[names.index(s)] += alpha * c / sd
        intercept -= alpha * mu / sd
    for s in tgt:
        mu, sd = _z(logit(probs[s]), is_target)
        coef[names.index(s)] += (1 - alpha) / (len(tgt) * sd)
        intercept -= (1 - alpha) * mu / (len(tgt) * sd)
    x = np.column_stack([logit(probs[s]) for s in names])
    blend = x @ coef + intercept
    w = np.where(is_target, 1.0, prior / max(1, int((~is_target).sum())))
    (a,), b = fit_soft_logistic(blend[:, None], target, sample_weight=w * (len(w) / w.sum()))
    a = max(float(a), 1e-3)  # a few labels must not reverse the blend's order
    stack = PairStack(mode="mean")
    stack.scorers_, stack.coef_, stack.intercept_ = names, a * coef, float(a * intercept + b)
    return stack
