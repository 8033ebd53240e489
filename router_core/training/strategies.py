"""The two kinds of router (``RouterKind``: a pair, N models) of one training pipeline
(``router_core.training``).

``PairStrategy``: a strong and a weak model; the base outputs are P(strong beats weak) on the prompts with
a pair target, stacked by ``PairStack``. ``ModelsStrategy``: N models; the base outputs are per-model
features of every prompt, stacked by ``QualityStack`` (and ``JointStack`` when cross-fitted).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from router_core.outcomes import pair_outcomes, strong_win_label
from router_core.scorers.base import Scorer
from router_core.scorers.registry import TARGET_SCORERS, scorer_class
from router_core.stacks import JointStack, PairStack, QualityStack, logit, quality_features
from router_core.stacks.target_blend import fit_target_blend
from router_core.training.metrics import cross_fit, pair_fit_metrics, quality_metrics
from router_core.training.target_curve import (
    argmax_quality,
    best_single_model,
    learning_curve,
    pair_metric,
)

MIN_STACK_ROWS = 20  # fewer out-of-fold targets than this: the ensemble is a plain average


@dataclass
class StackInput:
    """The out-of-fold phase's result, what a stack is fitted on."""

    outputs: dict[str, np.ndarray]  # scorer -> out-of-fold base outputs, rows in ``rows`` order
    rows: np.ndarray  # prompt indices of the out-of-fold rows (every fold's, in fold order)
    targets: list[Any]  # per fold: the strategy's targets of that fold's rows (see ``fold_rows``)
    folds: int
    weighted: Any  # the TrainingSet with source weights
    train_idx: np.ndarray  # prompts of the training fold (the stack's data when ``folds == 1``)
    embeddings: np.ndarray
    use_joint: bool
    seed: int
    stack_mode: str
    log: Callable[[str], None]
    is_target: np.ndarray | None = None  # prompt mask of the target data (None: no target data)
    target_prior: float = 0.0  # pair target blend: the generic stack's weight, in target-prompt units
    priors: dict[str, float] = field(default_factory=dict)  # target blend: prior inputs -> their weight

    @property
    def on_target(self) -> np.ndarray | None:
        """Per stack row: is it a target prompt (None without target data)."""
        return None if self.is_target is None else self.is_target[self.rows]


@dataclass
class StackFit:
    stack: PairStack | QualityStack | None
    joint: JointStack | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


class RouterKind(Protocol):
    strong: str | None
    weak: str | None

    def model_columns(self, data: Any) -> list[int]:
        """Columns of the models the router routes between (the source-weight probe is scored on them)."""

    def probe_features(
        self, probe: Scorer, emb: np.ndarray, texts: Sequence[str], cols: list[int], n_models: int
    ) -> np.ndarray:
        """[n, n_models] per-model values whose differences give the probe's battle probabilities."""

    def fold_rows(self, part: Any) -> tuple[np.ndarray | None, Any]:
        """(rows of ``part`` the stack learns from, None = all; their targets)."""

    def base_output(self, scorer: Scorer, emb: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """What the stack reads from one scorer for these prompts."""

    def stacking_note(self, joint_stack: bool | None) -> str:
        """Appended to the log line when the stack cannot be cross-fitted."""

    def fit_stack(self, inp: StackInput) -> StackFit: ...


@dataclass
class PairStrategy:
    strong: str
    weak: str

    def model_columns(self, data: Any) -> list[int]:
        return [data.models.index(self.strong), data.models.index(self.weak)]

    def probe_features(
        self, probe: Scorer, emb: np.ndarray, texts: Sequence[str], cols: list[int], n_models: int
    ) -> np.ndarray:
        # The pair's own probability, as a 2-column "rating".
        p_pair = np.asarray(probe.win_prob(emb, texts, self.strong, self.weak), np.float64)
        f = np.zeros((len(texts), n_models))
        f[:, cols[0]] = logit(p_pair)
        return f

    def fold_rows(self, part: Any) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        try:
            tg = pair_outcomes(part, self.strong, self.weak)
        except ValueError:
            return np.zeros(0, dtype=np.int64), (np.zeros(0), np.zeros(0))
        return tg.prompt_idx, (tg.q_strong, tg.q_weak)

    def base_output(self, scorer: Scorer, emb: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(scorer.win_prob(emb, texts, self.strong, self.weak), np.float64)

    def stacking_note(self, joint_stack: bool | None) -> str:
        return ""

    def fit_stack(self, inp: StackInput) -> StackFit:
        q_s = np.concatenate([q for q, _ in inp.targets]) if inp.targets else np.zeros(0)
        q_w = np.concatenate([q for _, q in inp.targets]) if inp.targets else np.zeros(0)
        probs, target = inp.outputs, strong_win_label(q_s, q_w)
        fit = StackFit(stack=None)
        if len(target) >= MIN_STACK_ROWS:
            fit.stack, oof = _fit_pair_stack(probs, target, inp)
            # with target data, the metrics are the target prompts' (what the router is for)
            on = np.ones(len(target), bool) if inp.on_target is None else inp.on_target
            fit.metrics["scorers"] = {n: pair_fit_metrics(p[on], q_s[on], q_w[on]) for n, p in probs.items()}
            fit.metrics["scorers"]["ensemble"] = pair_fit_metrics(oof[on], q_s[on], q_w[on])
            if inp.is_target is not None:
                fit.metrics["target_curve"] = _target_curve(inp, probs, q_s, q_w, target, oof)
            coef = fit.stack.coef_.round(4).tolist()
            fit.metrics["ensemble_coef"] = dict(zip(fit.stack.scorers_, coef, strict=True))
            fit.metrics["ensemble_mode"] = inp.stack_mode
        else:
            inp.log(f"only {len(target)} out-of-fold prompts with outcomes: the ensemble is a plain average")
        fit.metrics["valid_targets"] = fit.metrics["stack_prompts"] = int(len(target))
        return fit


def _fit_pair_stack(
    probs: dict[str, np.ndarray], target: np.ndarray, inp: StackInput
) -> tuple[PairStack, np.ndarray]:
    """The default score fitted on the base scorers' out-of-fold outputs, and its own out-of-fold
    prediction (so the reported ensemble metric is not in-sample)."""
    fit = _pair_stack_fitter(probs, target, inp)
    stack = fit(np.arange(len(target)))
    oof = cross_fit(
        len(target), 5, lambda tr, te: fit(np.flatnonzero(tr)).predict({k: v[te] for k, v in probs.items()})
    )
    return stack, oof


def _pair_stack_fitter(
    probs: dict[str, np.ndarray], target: np.ndarray, inp: StackInput
) -> Callable[[np.ndarray], PairStack]:
    """rows -> the stack fitted on those stack rows: with target data the target blend, else PairStack."""
    on = inp.on_target
    offsets = [k for k in probs if scorer_class(k).offset]
    if on is None:
        return lambda r: PairStack(mode=inp.stack_mode, offsets=offsets).fit(
            {k: v[r] for k, v in probs.items()}, target[r]
        )
    return lambda r: fit_target_blend(
        {k: v[r] for k, v in probs.items()},
        target[r],
        on[r],
        TARGET_SCORERS,
        inp.target_prior,
        inp.priors,
        offsets,
    )


def _target_curve(
    inp: StackInput, probs: dict[str, np.ndarray], q_s: np.ndarray, q_w: np.ndarray, target: np.ndarray,
    oof: np.ndarray,
) -> dict[str, Any]:  # fmt: skip
    fit = _pair_stack_fitter(probs, target, inp)

    def fit_predict(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        return fit(tr).predict({k: v[te] for k, v in probs.items()})

    assert inp.on_target is not None
    return learning_curve(pair_metric(q_s, q_w, inp.seed), "apgr", inp.on_target, oof, fit_predict, inp.seed)


def score_range(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-model (min, max) of the training scores, the range predicted quality lives in. Scores that all
    lie in [0, 1] (correctness, win rates) keep exactly [0, 1]; no or constant scores fall back to [0, 1]."""
    m = scores.shape[1]
    known = scores[~np.isnan(scores)]
    if known.size == 0 or (known.min() >= 0.0 and known.max() <= 1.0):
        return np.zeros(m), np.ones(m)
    with np.errstate(all="ignore"):
        lo = np.nanmin(np.where(np.isnan(scores), np.inf, scores), axis=0)
        hi = np.nanmax(np.where(np.isnan(scores), -np.inf, scores), axis=0)
    bad = ~np.isfinite(lo) | ~np.isfinite(hi) | (hi <= lo)
    return np.where(bad, 0.0, lo), np.where(bad, 1.0, hi)


@dataclass
class ModelsStrategy:
    strong: None = None
    weak: None = None

    def model_columns(self, data: Any) -> list[int]:
        return list(range(len(data.models)))

    def probe_features(
        self, probe: Scorer, emb: np.ndarray, texts: Sequence[str], cols: list[int], n_models: int
    ) -> np.ndarray:
        return quality_features(probe.output, probe.score(emb, texts))

    def fold_rows(self, part: Any) -> tuple[None, None]:
        return None, None

    def base_output(self, scorer: Scorer, emb: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        return quality_features(scorer.output, scorer.score(emb, texts))

    def stacking_note(self, joint_stack: bool | None) -> str:
        return "; so the linear stack, not the joint one" if not joint_stack else ""

    def fit_stack(self, inp: StackInput) -> StackFit:
        feats, rows, w = inp.outputs, inp.rows, inp.weighted
        lo, hi = score_range(w.subset(inp.train_idx).scores if inp.folds == 1 else w.scores)
        scores = w.scores[rows].astype(np.float64)
        # With target data too: every row weighs 1 and the joint stack is the default. Weighting the
        # target rows up (a linear stack whose generic rows weigh as much as 40 or 400 target prompts)
        # ranks held-out LLMRouter families worse (docs/routers-n-model.md, "Routing your own traffic").
        stack = QualityStack().fit(feats, scores, lo, hi)
        fit = StackFit(stack, metrics={"stack_prompts": int(len(rows))})
        full = ~np.isnan(scores).any(axis=1)
        fit.metrics["valid_targets"] = int(full.sum())
        if full.sum() >= MIN_STACK_ROWS:
            fit.metrics.update(_models_metrics(inp, fit.stack, scores, full, lo, hi))
        if inp.use_joint and fit.metrics["valid_targets"] >= MIN_STACK_ROWS:
            t0 = time.perf_counter()
            fit.joint = JointStack(seed=inp.seed).fit(feats, inp.embeddings[rows], scores, lo, hi)
            inp.log(f"joint stack fitted on {len(rows):,} prompts in {time.perf_counter() - t0:.1f}s")
        fit.metrics["default_score"] = "joint_stack" if fit.joint is not None else "linear_stack"
        on = inp.on_target
        if on is not None and (~np.isnan(scores[on]).any(axis=1)).sum() >= MIN_STACK_ROWS:
            fit.metrics["target_curve"] = _models_target_curve(inp, on, scores, lo, hi, fit.joint is not None)
        return fit


# The joint stack (a network: 1-3 s per fit on 2 cores) gets a cheaper curve than the linear one:
# 3 folds and one draw per point, 9 fits in all.
JOINT_CURVE_FOLDS, JOINT_CURVE_REPEATS = 3, 1


def _models_target_curve(
    inp: StackInput, on: np.ndarray, scores: np.ndarray, lo: np.ndarray, hi: np.ndarray, joint: bool
) -> dict[str, Any]:
    """The target learning curve of the router's default score (``target_curve``; ``on``: per stack row,
    is it a target prompt): the quality of the model predicted best on the target prompts, each fold's
    stack fitted on the generic rows plus the other folds' target rows; with the best single model's
    (also out of fold) to compare."""
    feats, emb = inp.outputs, inp.embeddings[inp.rows]

    def fit_predict(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        part = {k: v[tr] for k, v in feats.items()}
        test = {k: v[te] for k, v in feats.items()}
        if joint:
            return JointStack(seed=inp.seed).fit(part, emb[tr], scores[tr], lo, hi).predict(test, emb[te])
        return QualityStack().fit(part, scores[tr], lo, hi).predict(test)

    t0 = time.perf_counter()
    folds, repeats = (JOINT_CURVE_FOLDS, JOINT_CURVE_REPEATS) if joint else (5, 3)
    out = learning_curve(argmax_quality(scores, inp.seed), "quality", on, None, fit_predict, inp.seed,
                         folds=folds, repeats=repeats)  # fmt: skip
    out["best_single_model_quality"] = round(best_single_model(scores, on, inp.seed), 4)
    inp.log(f"target learning curve in {time.perf_counter() - t0:.1f}s")
    return out


def _models_metrics(
    inp: StackInput, stack: QualityStack, scores: np.ndarray, full: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> dict[str, Any]:
    """Out-of-fold quality metrics of each scorer and of the stack (its own 5-fold cross-fit), on the
    fully scored rows."""
    feats, y = inp.outputs, scores[full]
    per_scorer = {n: quality_metrics(stack.predict_one(n, feats[n])[full], y) for n in feats}
    f_full = {k: v[full] for k, v in feats.items()}
    oof = cross_fit(
        int(full.sum()),
        5,
        lambda tr, te: (
            QualityStack()
            .fit({k: v[tr] for k, v in f_full.items()}, y[tr], lo, hi)
            .predict({k: v[te] for k, v in f_full.items()})
        ),
    )
    # checked on fully scored rows; the joint stack itself also fits partly scored ones
    if inp.use_joint:
        per_scorer["linear_stack"] = quality_metrics(oof, y)
        e_full = inp.embeddings[inp.rows][full]
        t0 = time.perf_counter()
        oof = cross_fit(
            int(full.sum()),
            5,
            lambda tr, te: (
                JointStack(seed=inp.seed)
                .fit({k: v[tr] for k, v in f_full.items()}, e_full[tr], y[tr], lo, hi)
                .predict({k: v[te] for k, v in f_full.items()}, e_full[te])
            ),
        )
        inp.log(f"joint stack: out-of-fold check in {time.perf_counter() - t0:.1f}s")
    per_scorer["ensemble"] = quality_metrics(oof, y)
    models = list(inp.weighted.models)
    return {
        "scorers": per_scorer,
        "single_model_quality": dict(zip(models, y.mean(axis=0).round(4).tolist(), strict=True)),
    }
