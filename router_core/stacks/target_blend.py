"""The default score of a pair router trained with target data: a blend of what the generic data knows
and what the target labels say, weighted by how many target labels there are, plus the length prior.

    s = z(alpha * z(generic stack) + (1 - alpha) * mean_t z(target scorer t)) + sum_p w_p * z(prior p)

``generic stack``: the usual ``PairStack`` (mean mode) over the generic scorers, fitted on the generic
prompts' out-of-fold outputs; ``target scorer``: the scorers fitted on the target prompts alone
(``router_core.scorers.target``); ``prior p``: an input with a prior weight that the target labels
update (``router_core.scorers.length_prior``, ``_prior_weights``);
z: standardised on the target prompts. alpha = prior / (prior + n) with n target prompts and ``prior``
pseudo-prompts: with few labels the generic data counts, with many the labels decide. A final slope and
intercept calibrate s into P(strong beats weak).

Why fixed weights and nothing fitted on the target prompts' out-of-fold outputs: with 50-200 labels, per-
scorer weights fitted on them followed the noise of a few dozen decisive prompts (a generic scorer that
ranks a held-out domain worse than random could get the largest weight), and choosing alpha by the AUC of
those outputs did no better than the fixed alpha; the leave-one-domain-out protocol chose this form,
``prior`` and the prior weights (docs/routers.md, "Routing your own traffic").
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
    priors: Mapping[str, float] | None = None,
) -> PairStack:
    """A ``PairStack`` (its linear map of the base logits) holding the blend; ``is_target``: per row;
    ``priors``: the prior weights of prior inputs among ``probs``. The calibration is fitted on the target
    rows with the generic rows as a prior of ``prior`` rows, so a few labels give a usable probability
    scale (threshold policies read it), not only an order."""
    names = list(probs)
    prior_w0 = {s: w for s, w in (priors or {}).items() if s in probs}
    generic = [s for s in names if s not in target_scorers and s not in prior_w0]
    tgt = [s for s in names if s in target_scorers]
    x = np.column_stack([logit(probs[s]) for s in names])
    parts = _standardised_parts(probs, target, is_target, names, generic, tgt)
    n = int(is_target.sum())
    alpha = prior / (prior + n) if generic and tgt else float(bool(generic))
    coef = alpha * parts["generic"][0] + (1 - alpha) * parts["target"][0]
    intercept = alpha * parts["generic"][1] + (1 - alpha) * parts["target"][1]
    mu, sd = _z(x @ coef + intercept, is_target)  # the priors' weights are in sds of this blend
    coef, intercept = coef / sd, (intercept - mu) / sd
    if prior_w0:
        scale = {s: _z(x[:, names.index(s)], is_target) for s in prior_w0}
        z_p = {s: (x[:, names.index(s)] - m) / d for s, (m, d) in scale.items()}
        for s, w in _prior_weights(x @ coef + intercept, z_p, prior_w0, target, is_target).items():
            m, d = scale[s]
            coef[names.index(s)] += w / d
            intercept -= w * m / d
    blend = x @ coef + intercept
    w = np.where(is_target, 1.0, prior / max(1, int((~is_target).sum())))
    (a,), b = fit_soft_logistic(blend[:, None], target, sample_weight=w * (len(w) / w.sum()))
    a = max(float(a), 1e-3)  # a few labels must not reverse the blend's order
    stack = PairStack(mode="mean")
    stack.scorers_, stack.coef_, stack.intercept_ = names, a * coef, float(a * intercept + b)
    return stack


PRIOR_ROWS = 200.0  # a prior input's weight counts as much as this many target prompts' evidence


def _prior_weights(
    blend: np.ndarray, z_p: dict[str, np.ndarray], prior: Mapping[str, float], target: np.ndarray,
    is_target: np.ndarray,
) -> dict[str, float]:  # fmt: skip
    """Each prior input's weight, its prior weight w0 moved towards what the target rows show:
    (n * w_hat + PRIOR_ROWS * w0) / (n + PRIOR_ROWS), w_hat its logistic coefficient next to the blend's
    (both standardised) relative to the blend's, kept within [-w0, 2 w0]. Target traffic where the prior
    does not hold (length tells the tasks of a mixture apart) turns it down with a few hundred labels."""
    on = is_target
    n = int(on.sum())
    feats = np.column_stack([blend[on], *(v[on] for v in z_p.values())])
    coef, _ = fit_soft_logistic(feats, target[on])
    out = {}
    for j, (s, w0) in enumerate(prior.items(), start=1):
        w_hat = float(np.clip(coef[j] / max(float(coef[0]), 0.1), -w0, 2.0 * w0))
        out[s] = (n * w_hat + PRIOR_ROWS * w0) / (n + PRIOR_ROWS)
    return out


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
