"""The default score of a pair router trained with target data: what the generic data knows, what the
target labels say and the length prior, weighted by a prior that the target labels update.

    s = w_g * z(generic stack) + w_t * mean_t z(target scorer t) + sum_p w_p * z(prior input p)

``generic stack``: the usual ``PairStack`` (mean mode) over the generic scorers, fitted on the generic
prompts' out-of-fold outputs (with the source mix of the generic sources as its offset, when there is
one: ``router_core.scorers.source_mix``); ``target scorer``: the scorers fitted on the target prompts alone
(``router_core.scorers.target``); ``prior input``: ``router_core.scorers.length_prior``; z: standardised on
the target prompts. The weights are a logistic regression on the target prompts' out-of-fold inputs with
a Gaussian prior centred on

    PRIOR_SLOPE * ((alpha * z(generic stack) + (1 - alpha) * z(target)) / sd + sum_p w0_p * z(prior p))

(sd: that of the alpha mix on the target prompts), alpha = prior / (prior + n) with n target prompts and
``prior`` pseudo-prompts: with few labels the generic data counts, with many the target scorers. The
prior counts as much as PRIOR_ROWS target prompts, so a few hundred labels move each weight, including
the generic stack's and the length prior's, towards what the labels show. A final slope and intercept
calibrate s into P(strong beats weak).

Why a prior this strong, and no per-scorer weights: with 50-200 labels, weights fitted on the target
prompts' out-of-fold outputs alone followed the noise of a few dozen decisive prompts (a generic scorer
that ranks a held-out domain worse than random could get the largest weight), and choosing alpha by the
AUC of those outputs did no better than a fixed alpha. Updating the fixed-alpha blend's three weights
with PRIOR_ROWS = 200 kept the generic stack where the labels confirm it (a task the generic data
covers) and ranked single-task domains and mixtures of tasks better than the fixed blend; the
leave-one-domain-out protocol chose this form and its constants (docs/routers.md, "Routing your own
traffic").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from router_core.stacks.logistic import fit_logistic_towards, fit_soft_logistic, logit
from router_core.stacks.pair import PairStack

# The prior's logit slope per sd of the fixed-alpha blend: about the calibration slope of that blend on
# the protocol's target prompts (0.1-0.3).
PRIOR_SLOPE = 0.2
# The prior counts as much as this many target prompts' evidence; one prompt carries about
# INFO_PER_ROW of Fisher information on a standardised input (p (1 - p) near p = 0.5).
PRIOR_ROWS = 200.0
INFO_PER_ROW = 0.25


def _z(x: np.ndarray, on: np.ndarray) -> tuple[float, float]:
    mu, sd = float(x[on].mean()), float(x[on].std())
    return mu, sd if sd > 1e-12 else 1.0


def fit_target_blend(
    probs: Mapping[str, np.ndarray],
    target: np.ndarray,
    is_target: np.ndarray,
    target_scorers: Sequence[str],
    prior: float,
    priors: Mapping[str, float] | None = None,
    offsets: Sequence[str] = (),
) -> PairStack:
    """A ``PairStack`` (its linear map of the base logits) holding the blend; ``is_target``: per row;
    ``priors``: the prior weights of prior inputs among ``probs``; ``offsets``: inputs the generic stack
    removes from the generic scorers (``PairStack(offsets=...)``). The calibration is fitted on the target
    rows with the generic rows as a prior of ``prior`` rows, so a few labels give a usable probability
    scale (threshold policies read it), not only an order."""
    names = list(probs)
    prior_w0 = {s: w for s, w in (priors or {}).items() if s in probs}
    offsets = [s for s in names if s in set(offsets)]
    generic = [s for s in names if s not in target_scorers and s not in prior_w0 and s not in offsets]
    tgt = [s for s in names if s in target_scorers]
    x = np.column_stack([logit(probs[s]) for s in names])
    inputs = _standardised_inputs(probs, x, target, is_target, names, (generic, offsets), tgt, list(prior_w0))
    z = {k: x @ c + i for k, (c, i) in inputs.items()}
    n = int(is_target.sum())
    alpha = prior / (prior + n) if generic and tgt else float(bool(generic))
    sd = float((alpha * z["generic"] + (1 - alpha) * z["target"])[is_target].std()) or 1.0
    mean = {"generic": PRIOR_SLOPE * alpha / sd, "target": PRIOR_SLOPE * (1 - alpha) / sd}
    mean.update({s: PRIOR_SLOPE * w0 for s, w0 in prior_w0.items()})
    keys = list(inputs)
    feats = np.column_stack([z[k][is_target] for k in keys])
    w, _ = fit_logistic_towards(feats, target[is_target], np.array([mean[k] for k in keys]),
                                INFO_PER_ROW * PRIOR_ROWS)  # fmt: skip
    coef = sum(wk * inputs[k][0] for wk, k in zip(w, keys, strict=True))
    intercept = float(sum(wk * inputs[k][1] for wk, k in zip(w, keys, strict=True)))
    blend = x @ coef + intercept
    row_w = np.where(is_target, 1.0, prior / max(1, int((~is_target).sum())))
    (a,), b = fit_soft_logistic(blend[:, None], target, sample_weight=row_w * (len(row_w) / row_w.sum()))
    a = max(float(a), 1e-3)  # a few labels must not reverse the blend's order
    stack = PairStack(mode="mean")
    stack.scorers_, stack.coef_, stack.intercept_ = names, a * coef, float(a * intercept + b)
    return stack


def _standardised(coef: np.ndarray, x: np.ndarray, on: np.ndarray) -> tuple[np.ndarray, float]:
    """The linear map ``x @ coef`` rescaled to mean 0 and sd 1 on the rows ``on``: (coef, intercept)."""
    mu, sd = _z(x @ coef, on)
    return coef / sd, -mu / sd


def _standardised_inputs(
    probs: Mapping[str, np.ndarray], x: np.ndarray, target: np.ndarray, is_target: np.ndarray,
    names: list[str], generic_offsets: tuple[list[str], list[str]], tgt: list[str], prior_inputs: list[str],
) -> dict[str, tuple[np.ndarray, float]]:  # fmt: skip
    """(coef over ``names``, intercept) of each input of the blend, standardised on the target rows:
    z(generic stack), the mean z of the target scorers, and z of each prior input; ``x``: the logits of
    ``probs`` in ``names`` order; ``generic_offsets``: the generic scorers and the generic stack's offsets."""
    generic, offsets = generic_offsets
    unit = {s: np.eye(len(names))[names.index(s)] for s in [*tgt, *prior_inputs]}
    out = {"generic": (np.zeros(len(names)), 0.0), "target": (np.zeros(len(names)), 0.0)}
    if generic:
        rows = ~is_target if (~is_target).sum() >= 2 else np.ones(len(target), bool)
        g = PairStack(mode="mean", offsets=offsets).fit(
            {s: probs[s][rows] for s in generic + offsets}, target[rows]
        )
        coef = np.zeros(len(names))
        coef[[names.index(s) for s in g.scorers_]] = g.coef_
        out["generic"] = _standardised(coef, x, is_target)
    if tgt:
        parts = [_standardised(unit[s], x, is_target) for s in tgt]
        out["target"] = (sum(c for c, _ in parts) / len(tgt), sum(i for _, i in parts) / len(tgt))
    out.update({s: _standardised(unit[s], x, is_target) for s in prior_inputs})
    return out
