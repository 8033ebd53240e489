"""The default score of a pair router trained with target data: a blend of what the generic data knows
and what the target labels say, weighted by how many target labels there are.

    s = alpha * z(generic stack) + (1 - alpha) * mean_t z(target scorer t)

``generic stack``: the usual ``PairStack`` (mean mode) over the generic scorers, fitted on the generic
prompts' out-of-fold outputs; ``target scorer``: the scorers fitted on the target prompts alone
(``router_core.scorers.target``); z: standardised on the target prompts. alpha is the grid value whose
blend ranks the target prompts' out-of-fold outputs best, shrunk towards prior / (prior + n) (n target
prompts): with few labels the prior weight, with many what the labels show. A final slope and intercept
calibrate s into P(strong beats weak).

Why one blend weight and not per-scorer weights fitted on the target prompts: with 50-200 labels, those
fitted on out-of-fold outputs followed the noise of a few dozen decisive prompts (a generic scorer that
ranks a held-out domain worse than random could get the largest weight), and the routers lost to the
target scorers alone; the leave-one-domain-out protocol chose this form and ``prior``
(docs/routers.md, "Routing your own traffic").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from router_core.evaluation import decisive_auc
from router_core.stacks.logistic import fit_soft_logistic, logit
from router_core.stacks.pair import PairStack


def _z(x: np.ndarray, on: np.ndarray) -> tuple[float, float]:
    mu, sd = float(x[on].mean()), float(x[on].std())
    return mu, sd if sd > 1e-12 else 1.0


ALPHAS = np.linspace(0.0, 1.0, 5)


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
    x = np.column_stack([logit(probs[s]) for s in names])
    parts = _standardised_parts(probs, target, is_target, names, generic, tgt)
    alpha = _blend_weight(x, parts, target, is_target, prior) if generic and tgt else float(bool(generic))
    coef = alpha * parts["generic"][0] + (1 - alpha) * parts["target"][0]
    intercept = alpha * parts["generic"][1] + (1 - alpha) * parts["target"][1]
    blend = x @ coef + intercept
    w = np.where(is_target, 1.0, prior / max(1, int((~is_target).sum())))
    (a,), b = fit_soft_logistic(blend[:, None], target, sample_weight=w * (len(w) / w.sum()))
    a = max(float(a), 1e-3)  # a few labels must not reverse the blend's order
    stack = PairStack(mode="mean")
    stack.scorers_, stack.coef_, stack.intercept_ = names, a * coef, float(a * intercept + b)
    return stack


def _standardised_parts(
    probs: Mapping[str, np.ndarray], target: np.ndarray, is_target: np.ndarray, names: list[str],
    generic: list[str], tgt: list[str],
) -> dict[str, tuple[np.ndarray, float]]:  # fmt: skip
    """(coef over ``names``, intercept) of z(generic stack) and of the mean z of the target scorers,
    both standardised on the target rows."""
    out = {"generic": (np.zeros(len(names)), 0.0), "target": (np.zeros(len(names)), 0.0)}
    if generic:
        rows = ~is_target if (~is_target).sum() >= 2 else np.ones(len(target), bool)
        g = PairStack(mode="mean").fit({s: probs[s][rows] for s in generic}, target[rows])
        lin = np.column_stack([logit(probs[s]) for s in generic]) @ g.coef_
        mu, sd = _z(lin, is_target)
        coef = np.zeros(len(names))
        coef[[names.index(s) for s in generic]] = g.coef_ / sd
        out["generic"] = (coef, -mu / sd)
    if tgt:
        coef, icpt = np.zeros(len(names)), 0.0
        for s in tgt:
            mu, sd = _z(logit(probs[s]), is_target)
            coef[names.index(s)] = 1.0 / (len(tgt) * sd)
            icpt -= mu / (len(tgt) * sd)
        out["target"] = (coef, icpt)
    return out


def _blend_weight(
    x: np.ndarray, parts: dict[str, tuple[np.ndarray, float]], target: np.ndarray, is_target: np.ndarray,
    prior: float,
) -> float:  # fmt: skip
    """alpha: the grid value whose blend ranks the target rows best (AUC of their out-of-fold outputs),
    shrunk towards the prior weight prior / (prior + n) with ``prior`` pseudo-prompts."""
    n = int(is_target.sum())
    alpha0 = prior / (prior + n)
    aucs = []
    for a in ALPHAS:
        coef = a * parts["generic"][0] + (1 - a) * parts["target"][0]
        aucs.append(decisive_auc(x[is_target] @ coef, target[is_target]))
    if any(v is None for v in aucs):
        return alpha0
    best = float(ALPHAS[int(np.argmax(aucs))])
    return (n * best + prior * alpha0) / (n + prior)
