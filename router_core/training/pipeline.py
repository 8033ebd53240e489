"""``train_router``: the training pipeline, one named function per phase.

1. ``weigh_sources``: per-source battle weights, chosen with a cheap probe scorer on a held-out fold.
2. ``out_of_fold_outputs``: the base scorers' outputs on prompts they were not fitted on. Cross-fitting
   over prompt-level hash folds gives the stack every prompt; a scorer with ``refit_on_all = False``
   (BERT: too costly to train k times) switches every scorer to one held-out fold.
3. the router kind's ``fit_stack`` (``router_core.training.strategies``): the stacked default score
   and its out-of-fold metrics.
4. ``refit_scorers``: the base scorers refitted on every prompt (the stack keeps what it learnt out of
   fold); a scorer that is not refitted keeps its training-fold fit.
5. ``training_manifest``: what the router records about its training.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router_core.known_prompts import KnownPrompts
from router_core.outcomes import pair_names_error
from router_core.router import Router
from router_core.scorers import registry
from router_core.scorers.base import Scorer, sigmoid
from router_core.scorers.registry import DEFAULT_SCORERS
from router_core.scoring_cost import MANIFEST_KEY, CallUsage, usage_record
from router_core.training.source_weights import fit_source_weights
from router_core.training.strategies import (
    ModelsStrategy,
    PairStrategy,
    RouterKind,
    StackInput,
)
from router_core.training_data import TrainingSet, fold_prompts, split_prompts

VALID_SALT = "router-valid"


@dataclass
class TrainPlan:
    """What every phase reads: the data, its embeddings, the kind of router (pair or N models) and the
    scorers to fit."""

    data: TrainingSet
    embeddings: np.ndarray
    kind: RouterKind
    scorers: list[str]
    params: dict[str, dict[str, Any]]
    log: Callable[[str], None]
    target_sources: tuple[str, ...] = ()  # the user's own traffic: what validation is chosen for
    # scorer -> paid calls made while scoring out of fold (scorers that call an endpoint only)
    usage: dict[str, CallUsage] = field(default_factory=dict)

    def make(self, name: str) -> Scorer:
        return registry.scorer_class(name)(**self.params.get(name, {}))


def seeded_params(
    scorers: Sequence[str], scorer_params: Mapping[str, Mapping[str, Any]] | None, seed: int
) -> dict[str, dict[str, Any]]:
    """Each scorer's constructor parameters: the given ones, plus ``seed`` for scorers that take one
    (``Scorer.seed_param``) and were not given theirs."""
    params = {k: dict(v) for k, v in (scorer_params or {}).items()}
    for name in scorers:
        seed_param = registry.scorer_class(name).seed_param
        if seed_param is not None:
            params.setdefault(name, {}).setdefault(seed_param, seed)
    return params


# ---------------------------------------------------------------------------- 1. source weights


def weigh_sources(
    plan: TrainPlan, tr_idx: np.ndarray, va_idx: np.ndarray, probe_name: str
) -> tuple[dict[str, float], dict[str, Any]]:
    """Source weights (1 each when fewer than two sources have battles) and the weighting report."""
    data = plan.data
    with_battles = [s for i, s in enumerate(data.sources) if (data.battle_source == i).any()]
    if not (len(with_battles) > 1 and len(va_idx) and len(tr_idx)):
        return {s: 1.0 for s in data.sources}, {}
    plan.log(
        f"weighting {len(with_battles)} sources on validation 1-AUC "
        f"({probe_name} on the training fold; 0.5 = no signal, lower is better)"
    )
    weights, report = fit_source_weights(
        _probe_evaluator(plan, tr_idx, va_idx, probe_name), data.sources, log=plan.log,
        fixed=plan.target_sources,
    )  # fmt: skip
    plan.log(f"source weights: {weights}")
    return weights, report


def _probe_evaluator(
    plan: TrainPlan, tr_idx: np.ndarray, va_idx: np.ndarray, probe_name: str
) -> Callable[[dict[str, float]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """weights -> per source, the probe's validation P(a beats b) and outcomes on the target models'
    battles, the probe trained on the training fold with those weights."""
    data = plan.data
    cols = plan.kind.model_columns(data)
    train_part, valid_part = data.subset(tr_idx), data.subset(va_idx)
    in_target = np.isin(valid_part.battle_a, cols) & np.isin(valid_part.battle_b, cols)
    qa = np.unique(valid_part.battle_prompt[in_target])
    remap = np.full(len(valid_part.prompts), -1)
    remap[qa] = np.arange(len(qa))
    # the same for every weighting
    e_q, t_q = plan.embeddings[va_idx][qa], [valid_part.prompts[i] for i in qa]

    def evaluate(weights: dict[str, float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        probe = plan.make(probe_name).fit(train_part.with_weights(weights), plan.embeddings[tr_idx])
        f = plan.kind.probe_features(probe, e_q, t_q, cols, len(data.models))
        res = {}
        for si, s in enumerate(data.sources):
            if plan.target_sources and s not in plan.target_sources:
                continue  # with target data, weights are chosen for its prompts alone
            sel = in_target & (valid_part.battle_source == si)
            if sel.sum() == 0:
                continue
            rows = remap[valid_part.battle_prompt[sel]]
            p = sigmoid(f[rows, valid_part.battle_a[sel]] - f[rows, valid_part.battle_b[sel]])
            res[s] = (p.astype(np.float64), valid_part.battle_outcome[sel].astype(np.float64))
        return res

    return evaluate


# ------------------------------------------------------------------------ 2. out-of-fold outputs


def stack_splits(
    plan: TrainPlan, stack_folds: int, tr_idx: np.ndarray, va_idx: np.ndarray, joint_stack: bool | None
) -> tuple[int, list[str], list[tuple[np.ndarray, np.ndarray]]]:
    """(folds, costly scorers, [(fit prompts, out-of-fold prompts)] per fold)."""
    n = len(plan.data.prompts)
    costly = [s for s in plan.scorers if not registry.scorer_class(s).refit_on_all]
    folds = stack_folds if stack_folds > 1 and not costly else 1
    if folds > 1:
        fold_of = fold_prompts(plan.data.prompts, folds, salt=VALID_SALT)
        plan.log(
            f"stacking on all {n:,} prompts, each scored by scorers fitted on the other "
            f"{folds - 1} of {folds} folds"
        )
        splits = [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(folds)]
        return folds, costly, splits
    if stack_folds > 1:
        plan.log(
            f"stacking on the held-out fold ({len(va_idx):,} prompts), not cross-fitted: "
            f"{', '.join(costly)} is too costly to train {stack_folds} times"
            + plan.kind.stacking_note(joint_stack)
        )
    return folds, costly, [(tr_idx, va_idx)]


def out_of_fold_outputs(
    plan: TrainPlan,
    weighted: TrainingSet,
    splits: list[tuple[np.ndarray, np.ndarray]],
    folds: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, list[Any], dict[str, Scorer]]:
    """(scorer -> out-of-fold outputs, their prompt rows, per-fold targets, the last fold's fits)."""
    fitted: dict[str, Scorer] = {}
    outputs: dict[str, list[np.ndarray]] = {n: [] for n in plan.scorers}
    stack_rows: list[np.ndarray] = []  # prompt indices of the stack's rows, in fold order
    targets: list[Any] = []
    for f, (fit_idx, out_idx) in enumerate(splits):
        if folds > 1 and (len(out_idx) == 0 or len(fit_idx) == 0):
            continue
        fit_part, out_part = weighted.subset(fit_idx), weighted.subset(out_idx)
        emb_out, texts_out = plan.embeddings[out_idx], out_part.prompts
        rows, tg = plan.kind.fold_rows(out_part)
        if rows is not None:
            if folds > 1 and len(rows) == 0:
                continue  # nothing in this fold for the pair's stack: skip the fits
            emb_out, texts_out = emb_out[rows], [texts_out[i] for i in rows]
            targets.append(tg)
        stack_rows.append(out_idx if rows is None else out_idx[rows])
        timings = []
        for name in plan.scorers:
            t0 = time.perf_counter()
            if folds == 1:
                plan.log(
                    f"fitting {name} on {len(fit_idx):,} training-fold prompts "
                    f"({fit_part.n_battles:,} battles)"
                )
            sc = fitted[name] = plan.make(name).fit(fit_part, plan.embeddings[fit_idx])
            outputs[name].append(plan.kind.base_output(sc, emb_out, texts_out))
            _add_usage(plan, name, sc)
            timings.append(f"{name} {time.perf_counter() - t0:.1f}s")
            if folds == 1:
                plan.log(f"  {name} fitted in {time.perf_counter() - t0:.1f}s")
        if folds > 1:
            plan.log(f"  fold {f + 1}/{folds}: fitted on {len(fit_idx):,} prompts ({', '.join(timings)})")
    out = {n: np.concatenate(v) if v else np.zeros(0) for n, v in outputs.items()}
    rows_all = np.concatenate(stack_rows) if stack_rows else np.zeros(0, dtype=np.int64)
    return out, rows_all, targets, fitted


def _add_usage(plan: TrainPlan, name: str, scorer: Scorer) -> None:
    usage = getattr(scorer, "scoring_usage", lambda: None)()
    if usage is not None:
        plan.usage.setdefault(name, CallUsage()).merge(usage)


def scoring_costs(plan: TrainPlan, final: Mapping[str, Scorer]) -> dict[str, Any]:
    """Per scorer that calls an endpoint: its out-of-fold calls, tokens and cost (``scoring_cost``)."""
    out = {}
    for name, usage in plan.usage.items():
        rec = out[name] = usage_record(usage, *getattr(final[name], "scoring_prices", lambda: (None, None))())
        cost = "no price given" if rec["cost_usd"] is None else f"${rec['cost_usd']:.4f}"
        plan.log(f"{name}: {rec['requests']:,} chat requests for {rec['prompts']:,} prompts, "
                 f"{rec['prompt_tokens']:,} + {rec['completion_tokens']:,} tokens, {cost}")  # fmt: skip
    return out


# ----------------------------------------------------------------------------------- 4. refit


def refit_scorers(plan: TrainPlan, fitted: Mapping[str, Scorer], weighted: TrainingSet) -> dict[str, Scorer]:
    final: dict[str, Scorer] = {}
    for name in plan.scorers:
        if name in fitted and not fitted[name].refit_on_all:
            plan.log(f"keeping {name} fitted on the training fold (not refitted: too costly to train twice)")
            final[name] = fitted[name]
            continue
        t0 = time.perf_counter()
        plan.log(f"refitting {name} on all {len(plan.data.prompts):,} prompts")
        final[name] = plan.make(name).fit(weighted, plan.embeddings)
        plan.log(f"  {name} refitted in {time.perf_counter() - t0:.1f}s")
    return final


# --------------------------------------------------------------------------------- 5. manifest


def training_manifest(
    data: TrainingSet,
    source_weights: dict[str, float],
    source_report: dict[str, Any],
    valid_frac: float,
    folds: int,
    seed: int,
    metrics: dict[str, Any],
    target_sources: Sequence[str] = (),
) -> dict[str, Any]:
    counts = {s: int((data.battle_source == i).sum()) for i, s in enumerate(data.sources)}
    return {
        "training_data_hash": data.content_hash(),
        "sources": data.sources,
        "target_sources": list(target_sources),
        "battles_per_source": counts,
        "prompts": len(data.prompts),
        "source_weights": source_weights,
        "source_weighting": source_report,
        "valid_frac": valid_frac,
        "stack_folds": folds,
        "seed": seed,
        "metrics": metrics,
    }


# ------------------------------------------------------------------------------- target data

MIN_TARGET_PROMPTS = 20  # fewer: too few to fit the target scorers per fold; trained as generic data
TARGET_PRIOR = 40.0  # what the generic data knows weighs as much as this many target prompts
# Prior weight of the length prior (router_core.scorers.length_prior) in the target blend, in sds of the
# blended score, before the target labels update it (chosen by the leave-one-domain-out protocol).
LENGTH_PRIOR = 1.0


def target_prompts(
    data: TrainingSet, target_sources: Sequence[str], log: Callable[[str], None]
) -> np.ndarray | None:
    """Mask of the prompts from ``target_sources``; None without (enough) target prompts."""
    if not target_sources:
        return None
    unknown = [s for s in target_sources if s not in data.sources]
    if unknown:
        raise ValueError(f"target sources {unknown} are not in the training data ({data.sources})")
    mask = data.prompts_of_sources(target_sources)
    if mask.sum() < MIN_TARGET_PROMPTS:
        log(f"only {int(mask.sum())} target prompts (< {MIN_TARGET_PROMPTS}): trained as generic data")
        return None
    log(f"target data: {int(mask.sum()):,} prompts of {', '.join(target_sources)}; validation and the "
        f"stack are chosen for them")  # fmt: skip
    return mask


def with_target_scorers(
    scorers: list[str],
    params: dict[str, dict[str, Any]],
    target_sources: Sequence[str],
    target_scorers: Sequence[str],
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The base scorers plus the target scorers, told the target sources."""
    unknown = [t for t in target_scorers if t not in registry.TARGET_SCORERS]
    if unknown:
        raise ValueError(f"not target scorers: {unknown} (known: {', '.join(registry.TARGET_SCORERS)})")
    out = {k: dict(v) for k, v in params.items()}
    for name in target_scorers:
        out.setdefault(name, {})["sources"] = list(target_sources)
    return [*scorers, *(t for t in target_scorers if t not in scorers)], out


def offset_params(
    data: TrainingSet, strong: str | None, weak: str | None, target_sources: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Offset inputs of the pair stack -> their parameters: the source mix of the generic sources, for
    pair routers where two or more of them label the pair (with target data, the target blend's generic
    stack removes it)."""
    if strong is None:
        return {}
    generic = [s for s in data.sources if s not in set(target_sources)]
    if sum(data.source_label_count(s, strong, weak) > 0 for s in generic) < 2:
        return {}
    return {"source_mix": {"strong": strong, "weak": weak, "exclude": list(target_sources)}}


def stack_priors(strong: str | None, with_target: bool, weight: float) -> dict[str, float]:
    """Prior inputs of the stack -> their prior weight: the length prior, for pair routers trained with
    target data (without, the stack's rows are the generic data, where length mostly tells the tasks of a
    mixture apart: docs/routers.md)."""
    return {"length_prior": float(weight)} if strong is not None and with_target and weight > 0 else {}


# ------------------------------------------------------------------------------------ pipeline


def router_kind(data: TrainingSet, strong: str | None, weak: str | None) -> RouterKind:
    if (problem := pair_names_error(strong, weak, names=("strong", "weak"))) is not None:
        raise ValueError(problem)
    if strong is None:
        return ModelsStrategy()
    data.pair(strong, weak)  # validates both names
    return PairStrategy(strong, weak)


def check_scorers(scorers: Sequence[str], strong: str | None) -> None:
    if not scorers:
        raise ValueError("no scorers selected")
    pair_only = [s for s in scorers if getattr(registry.scorer_class(s), "pair_only", False)]
    if strong is None and pair_only:
        raise ValueError(
            f"scorer(s) {', '.join(pair_only)} give a pair probability only: train a pair router "
            "(--strong/--weak) or leave them out of --scorers"
        )


def all_scorers(
    data: TrainingSet, strong: str | None, weak: str | None, scorers: list[str], params: dict[str, dict],
    used_targets: list[str], target_scorers: Sequence[str], length_prior: float, source_mix: bool,
) -> tuple[list[str], dict[str, dict], dict[str, float]]:  # fmt: skip
    """(every scorer to fit, their parameters, the stack's prior weights): the chosen scorers, plus with
    target data the target scorers, the prior inputs (the length prior) and, on several generic
    sources, the source mix (``source_mix``)."""
    if used_targets:
        scorers, params = with_target_scorers(scorers, params, used_targets, target_scorers)
    priors = stack_priors(strong, bool(used_targets), length_prior)
    scorers += [p for p in priors if p not in scorers]
    offsets = offset_params(data, strong, weak, used_targets) if source_mix else {}
    scorers += [o for o in offsets if o not in scorers]
    return scorers, {**params, **offsets}, priors


def fold_metrics(
    folds: int, requested: int, costly: Sequence[str], tr_idx: np.ndarray, va_idx: np.ndarray
) -> dict[str, Any]:
    """How the stack was fitted: its folds, why fewer than requested, the split of a single fold."""
    metrics: dict[str, Any] = {"stack_folds": folds}
    if folds != requested:
        metrics["stack_folds_requested"] = requested
        metrics["stack_fallback"] = f"{', '.join(costly)} is trained once (too costly per fold)"
    if folds == 1:
        metrics.update(valid_prompts=int(len(va_idx)), train_prompts=int(len(tr_idx)))
    return metrics


def train_router(
    data: TrainingSet,
    embeddings: np.ndarray,
    embedder_id: str,
    strong: str | None = None,
    weak: str | None = None,
    scorers: Sequence[str] = DEFAULT_SCORERS,
    scorer_params: Mapping[str, Mapping[str, Any]] | None = None,
    valid_frac: float = 0.2,
    seed: int = 0,
    weight_sources: bool = True,
    stack_mode: str = "mean",
    source_probe: str = "sw",
    known_prior: float | None = 1.0,
    stack_folds: int = 5,
    joint_stack: bool | None = None,
    target_sources: Sequence[str] = (),
    target_prior: float = TARGET_PRIOR,
    target_scorers: Sequence[str] = registry.DEFAULT_TARGET_SCORERS,
    length_prior: float = LENGTH_PRIOR,
    source_mix: bool = True,
    log: Callable[[str], None] = print,
) -> Router:
    """Fit base scorers, source weights and the stacked default score; returns an unsaved Router.
    ``known_prior``: pseudo-count of the router's estimate against a training prompt's own observed
    outcome when that prompt is routed again (``router_core.known_prompts``); None: no known prompts.
    ``stack_folds``: k >= 2 fits the stack on every prompt's out-of-fold base outputs (k fits per scorer,
    plus the final one); 1, or a scorer with ``refit_on_all = False``, uses one ``valid_frac`` fold.
    ``joint_stack``: N models: True makes the default score a ``JointStack`` (one network over all
    models' scorer features and the embedding) instead of the per-model linear ``QualityStack``; None
    (default): only when the stack is cross-fitted (on one held-out fold, a fifth of the prompts, it did
    worse than the linear stack: docs/routers-n-model.md).
    ``target_sources``: sources that are the user's own traffic (``train --target-data``). The
    ``target_scorers`` (fitted on them alone) join the base scorers and source weights are chosen on their
    validation battles. Pair routers: the default score is the target blend of the generic stack and the
    target scorers (``router_core.stacks.target_blend``; ``target_prior``: the generic stack's weight in
    target-prompt units). N models: the target scorers' features join the stack, fitted as without
    target data (every row weighing 1, the joint stack by default).
    ``length_prior``: pair routers with target data: the prior weight of the length prior in the target
    blend (0: none). ``source_mix``: pair routers on several generic sources: the (generic) stack removes
    the sources' base rates from the scorers (``router_core.scorers.source_mix``)."""
    kind = router_kind(data, strong, weak)
    check_scorers(scorers, strong)
    if stack_folds < 1:
        raise ValueError(f"stack_folds must be at least 1, got {stack_folds}")
    is_target = target_prompts(data, target_sources, log)
    used_targets = list(target_sources) if is_target is not None else []
    params = seeded_params(scorers, scorer_params, seed)
    scorers, params, priors = all_scorers(
        data, strong, weak, list(scorers), params, used_targets, target_scorers, length_prior, source_mix
    )
    plan = TrainPlan(data, embeddings, kind, scorers, params, log, tuple(target_sources))
    valid = split_prompts(data.prompts, valid_frac, salt=VALID_SALT)
    tr_idx, va_idx = np.flatnonzero(~valid), np.flatnonzero(valid)

    source_weights: dict[str, float] = {s: 1.0 for s in data.sources}
    source_report: dict[str, Any] = {}
    if weight_sources:
        source_weights, source_report = weigh_sources(plan, tr_idx, va_idx, source_probe)
    weighted = data.with_weights(source_weights)

    folds, costly, splits = stack_splits(plan, stack_folds, tr_idx, va_idx, joint_stack)
    outputs, rows, targets, fitted = out_of_fold_outputs(plan, weighted, splits, folds)
    metrics = fold_metrics(folds, stack_folds, costly, tr_idx, va_idx)
    use_joint = folds > 1 if joint_stack is None else joint_stack
    inputs = StackInput(
        outputs, rows, targets, folds, weighted, tr_idx, embeddings, use_joint, seed, stack_mode, log,
        is_target, target_prior, priors,
    )  # fmt: skip
    stack_fit = kind.fit_stack(inputs)
    metrics.update(stack_fit.metrics)

    final = refit_scorers(plan, fitted, weighted)
    known = None
    if known_prior is not None:
        known = KnownPrompts(known_prior).fit(weighted, strong, weak)
        log(f"known prompts: observed outcomes of {len(known):,} training prompts (prior {known_prior:g})")
    manifest = training_manifest(
        data, source_weights, source_report, valid_frac, folds, seed, metrics, used_targets
    )
    if plan.usage:
        manifest[MANIFEST_KEY] = scoring_costs(plan, final)
    return Router(
        models=list(data.models),
        strong=strong,
        weak=weak,
        embedder_id=embedder_id,
        scorers=final,
        stack=stack_fit.stack,
        manifest=manifest,
        known=known,
        joint=stack_fit.joint,
    )
