"""The trained router: base scorers + stacked default score, saved as one checksummed directory.

``Router.score`` is what the Spark route job calls on each batch of embeddings (and texts, when a scorer
reads them). Training (``train_router``) cross-fits over prompt-level hash folds: each fold is scored by
base scorers fitted on the other folds, the stack and per-model calibration are fitted on these
out-of-fold outputs of every prompt, then the base scorers are refitted on everything. A scorer with
``refit_on_all = False`` (BERT: too costly to train k times) switches to one held-out fold for all
scorers, and keeps its training-fold fit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router_core.artifact import RouterLoadError, read_manifest, write_manifest
from router_core.known_prompts import KnownPrompts
from router_core.scorers.base import sigmoid
from router_core.scorers.ensemble import (
    PairStack,
    QualityStack,
    battle_log_loss,
    fit_source_weights,
    logit,
    quality_features,
)
from router_core.scorers.joint_stack import JointStack
from router_core.training_data import TrainingSet, fold_prompts, split_prompts

DEFAULT_SCORERS = ("sw", "mf", "knn", "lex", "bert")
# Trainable on request (--scorers) but not in the default: measured without a held-out gain (docs/routers.md).
OPTIONAL_SCORERS = ("shape",)
ENSEMBLE_FILE = "ensemble.npz"
KNOWN_PROMPTS_FILE = "known_prompts.npz"
VALID_SALT = "router-valid"
MIN_STACK_ROWS = 20  # fewer out-of-fold targets than this: the ensemble is a plain average


def scorer_class(name: str):
    if name == "sw":
        from router_core.scorers.sw import SWScorer

        return SWScorer
    if name == "mf":
        from router_core.scorers.mf import MFScorer

        return MFScorer
    if name == "knn":
        from router_core.scorers.knn import KNNScorer

        return KNNScorer
    if name == "lex":
        from router_core.scorers.lex import LexScorer

        return LexScorer
    if name == "shape":
        from router_core.scorers.shape import ShapeScorer

        return ShapeScorer
    if name == "bert":
        from router_core.scorers.bert import BertScorer

        return BertScorer
    raise ValueError(f"unknown scorer '{name}' (known: {', '.join(DEFAULT_SCORERS + OPTIONAL_SCORERS)})")


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
class Router:
    models: list[str]
    strong: str | None
    weak: str | None
    embedder_id: str
    scorers: dict[str, Any]
    stack: PairStack | QualityStack | None
    manifest: dict = field(default_factory=dict)
    known: KnownPrompts | None = None  # observed outcomes of the training prompts, by text
    joint: JointStack | None = None  # N models: the default score when fitted (else the linear stack)

    @property
    def scorer_names(self) -> list[str]:
        return list(self.scorers)

    @property
    def needs_text(self) -> bool:
        """Whether callers should pass the prompt texts to ``score``: a scorer reads them, or known
        prompts look them up (without texts, known prompts are simply not applied)."""
        return self.known is not None or self._scorers_read_text

    @property
    def _scorers_read_text(self) -> bool:
        return any(getattr(s, "needs_text", False) for s in self.scorers.values())

    @property
    def is_pair(self) -> bool:
        return self.strong is not None

    # ------------------------------------------------------------------ scoring

    def _base_outputs(
        self,
        embeddings: np.ndarray,
        texts: Sequence[str] | None,
        precomputed: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        if self._scorers_read_text and texts is None:
            raise ValueError(f"router scorers {self.scorer_names} need the prompt texts")
        if texts is not None and len(texts) != len(embeddings):
            raise ValueError(f"{len(texts)} texts for {len(embeddings)} embeddings")
        out = {}
        for name, sc in self.scorers.items():
            q = (precomputed or {}).get(name)
            if self.is_pair:
                p = (
                    sc.win_prob(embeddings, texts, self.strong, self.weak)
                    if q is None
                    else sc.win_prob_from_scores(q, self.strong, self.weak)
                )
                out[name] = np.asarray(p, np.float64)
            else:
                out[name] = quality_features(name, sc.score(embeddings, texts) if q is None else q)
        return out

    def score(
        self,
        embeddings: np.ndarray,
        texts: list[str] | None = None,
        precomputed: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Every scorer's output and the default score for a batch. ``precomputed``: scorer name -> that
        scorer's ``score(embeddings, texts)`` output when the caller already has it (the route job gets
        BERT's from the transformer pass it shares with the embedder)."""
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        base = self._base_outputs(embeddings, texts, precomputed)
        if self.is_pair:
            res = {f"score_{k}": v.astype(np.float32) for k, v in base.items()}
            if isinstance(self.stack, PairStack):
                p = self.stack.predict(base)
            else:
                p = np.mean(list(base.values()), axis=0)
            res["strong_win_prob"] = self.with_known(p, texts).astype(np.float32)
            return res
        assert isinstance(self.stack, QualityStack)
        res = {f"score_{k}": self.stack.predict_one(k, v).max(axis=1) for k, v in base.items()}
        q = self.default_quality(base, embeddings)
        res["predicted_quality"] = self.with_known(q, texts).astype(q.dtype)
        return res

    def default_quality(self, feats: Mapping[str, np.ndarray], embeddings: np.ndarray) -> np.ndarray:
        """N models: the default per-model estimate from the base scorers' features, before known
        prompts: the joint stack when the router has one, else the per-model linear stack."""
        assert isinstance(self.stack, QualityStack)
        if self.joint is None:
            return self.stack.predict(feats)
        q = self.joint.predict(feats, embeddings)
        untrained = ~self.stack.calibrated_
        if untrained.any():
            # A model without scores in the stack's data (battle-only): the joint output for it is
            # untrained; keep the linear stack's win-rate estimate, as before.
            q[:, untrained] = self.stack.predict(feats)[:, untrained]
        return q

    def with_known(self, estimate: np.ndarray, texts: Sequence[str] | None) -> np.ndarray:
        if self.known is None or texts is None:
            return estimate
        return self.known.blend(estimate, texts)

    def known_count(self, texts: Sequence[str]) -> int:
        """How many of these prompts the router has observed outcomes for (0 without known prompts)."""
        return 0 if self.known is None else int((self.known.lookup(texts) >= 0).sum())

    # ------------------------------------------------------------------ persistence

    def save(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        scorer_entries = []
        for name, sc in self.scorers.items():
            params = sc.save(os.path.join(path, name))
            scorer_entries.append({"name": name, "dir": name, "params": params})
        arrays = self.stack.to_arrays() if self.stack is not None else {}
        if self.joint is not None:
            arrays.update(self.joint.to_arrays())
        np.savez(os.path.join(path, ENSEMBLE_FILE), **arrays)
        written_here = ("format_version", "files", "scorers", "models", "strong", "weak", "embedder_id")
        manifest = {k: v for k, v in self.manifest.items() if k not in (*written_here, "known_prompts")}
        if self.known is not None:
            np.savez(os.path.join(path, KNOWN_PROMPTS_FILE), **self.known.to_arrays())
            manifest["known_prompts"] = {"prior": self.known.prior, "count": len(self.known)}
        self.manifest = write_manifest(
            path,
            {
                "models": self.models,
                "strong": self.strong,
                "weak": self.weak,
                "embedder_id": self.embedder_id,
                "scorers": scorer_entries,
                "default_score": "ensemble",
                **manifest,
            },
            version=2 if self.joint is not None else 1,
        )

    @classmethod
    def load(cls, path: str, embedder_id: str | None = None) -> Router:
        manifest = read_manifest(path, embedder_id)
        scorers = {}
        try:
            for entry in manifest["scorers"]:
                klass = scorer_class(entry["name"])
                scorers[entry["name"]] = klass.load(os.path.join(path, entry["dir"]), entry["params"])
            with np.load(os.path.join(path, ENSEMBLE_FILE), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            known = None
            if "known_prompts" in manifest:  # routers written before known prompts have none
                with np.load(os.path.join(path, KNOWN_PROMPTS_FILE), allow_pickle=False) as z:
                    known = KnownPrompts.from_arrays(manifest["known_prompts"]["prior"], z)
        except (KeyError, ValueError, OSError) as exc:
            raise RouterLoadError(f"cannot load router from {path}: {exc}") from exc
        names = list(scorers)
        strong, weak = manifest.get("strong"), manifest.get("weak")
        stack: PairStack | QualityStack | None = None
        if strong is not None and "pair_coef" in arrays:
            stack = PairStack.from_arrays(names, arrays)
        elif strong is None:
            stack = QualityStack.from_arrays(names, arrays)
        joint = JointStack.from_arrays(names, arrays) if strong is None and "j_mean" in arrays else None
        return cls(
            models=list(manifest["models"]),
            strong=strong,
            weak=weak,
            embedder_id=manifest["embedder_id"],
            scorers=scorers,
            stack=stack,
            manifest=manifest,
            known=known,
            joint=joint,
        )


# ---------------------------------------------------------------------------------------- training


def _auc(score: np.ndarray, target: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    keep = target != 0.5
    y = target[keep] > 0.5
    if keep.sum() < 2 or y.all() or not y.any():
        return None
    return float(roc_auc_score(y, score[keep]))


def _pair_metrics(p: np.ndarray, q_s: np.ndarray, q_w: np.ndarray) -> dict[str, Any]:
    from router_core.evaluation import pair_metrics, strong_win_target

    target = strong_win_target(q_s, q_w)
    out: dict[str, Any] = {"log_loss": battle_log_loss(p, target), "auc": _auc(p, target)}
    try:
        m = pair_metrics(q_s, q_w, p, n_boot=0)
        out["apgr"] = m["apgr"]["value"] if isinstance(m["apgr"], dict) else m["apgr"]
        out["cpt50"] = m["cpt"]["50"]["value"] if isinstance(m["cpt"]["50"], dict) else m["cpt"]["50"]
    except ValueError:
        pass
    return out


def _cross_fit(n: int, k: int, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Out-of-fold predictions of the stack (so its reported metric is not in-sample)."""
    fold = np.arange(n) % k
    np.random.default_rng(0).shuffle(fold)
    out = None
    for f in range(k):
        pred = fit_predict(fold != f, fold == f)
        if out is None:
            out = np.zeros((n, *pred.shape[1:]), dtype=np.float64)
        out[fold == f] = pred
    assert out is not None
    return out


def _fit_pair_stack(
    probs: dict[str, np.ndarray], target: np.ndarray, mode: str
) -> tuple[PairStack, np.ndarray]:
    """The default score fitted on the base scorers' out-of-fold outputs, and its own out-of-fold
    prediction (so the reported ensemble metric is not in-sample)."""
    stack = PairStack(mode=mode).fit(probs, target)
    oof = _cross_fit(
        len(target),
        5,
        lambda tr, te: (
            PairStack(mode=mode)
            .fit({k: v[tr] for k, v in probs.items()}, target[tr])
            .predict({k: v[te] for k, v in probs.items()})
        ),
    )
    return stack, oof


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
    worse than the linear stack: docs/routers-n-model.md)."""
    if (strong is None) != (weak is None):
        raise ValueError("give both strong and weak (a pair router) or neither (an N-model router)")
    if strong is not None:
        data.pair(strong, weak)  # validates both names
    if not scorers:
        raise ValueError("no scorers selected")
    if stack_folds < 1:
        raise ValueError(f"stack_folds must be at least 1, got {stack_folds}")
    params = {k: dict(v) for k, v in (scorer_params or {}).items()}
    if "mf" in scorers:
        params.setdefault("mf", {}).setdefault("seed", seed)
    if "bert" in scorers:
        params.setdefault("bert", {}).setdefault("random_state", seed)

    def make(name: str):
        return scorer_class(name)(**params.get(name, {}))

    valid = split_prompts(data.prompts, valid_frac, salt=VALID_SALT)
    tr_idx, va_idx = np.flatnonzero(~valid), np.flatnonzero(valid)
    m_idx = [data.models.index(strong), data.models.index(weak)] if strong else list(range(len(data.models)))

    # 1. Source weights: a cheap probe scorer trained on the training fold per candidate weighting.
    source_weights = {s: 1.0 for s in data.sources}
    source_report: dict[str, Any] = {}
    with_battles = [s for i, s in enumerate(data.sources) if (data.battle_source == i).any()]
    if weight_sources and len(with_battles) > 1 and len(va_idx) and len(tr_idx):
        log(
            f"weighting {len(with_battles)} sources on validation 1-AUC "
            f"({source_probe} on the training fold; 0.5 = no signal, lower is better)"
        )
        train_part, valid_part = data.subset(tr_idx), data.subset(va_idx)
        in_target = np.isin(valid_part.battle_a, m_idx) & np.isin(valid_part.battle_b, m_idx)
        probe_cls = scorer_class(source_probe)
        qa = np.unique(valid_part.battle_prompt[in_target])
        remap = np.full(len(valid_part.prompts), -1)
        remap[qa] = np.arange(len(qa))
        e_q, t_q = embeddings[va_idx][qa], [valid_part.prompts[i] for i in qa]  # the same for every weighting

        def evaluate(weights: dict[str, float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
            probe = probe_cls(**params.get(source_probe, {}))
            probe.fit(train_part.with_weights(weights), embeddings[tr_idx])
            if strong is not None:  # the pair's own probability, as a 2-column "rating"
                p_pair = np.asarray(probe.win_prob(e_q, t_q, strong, weak), np.float64)
                f = np.zeros((len(qa), len(data.models)))
                f[:, m_idx[0]] = logit(p_pair)
            else:
                f = quality_features(source_probe, probe.score(e_q, t_q))
            res = {}
            for si, s in enumerate(data.sources):
                sel = in_target & (valid_part.battle_source == si)
                if sel.sum() == 0:
                    continue
                rows = remap[valid_part.battle_prompt[sel]]
                p = sigmoid(f[rows, valid_part.battle_a[sel]] - f[rows, valid_part.battle_b[sel]])
                res[s] = (p.astype(np.float64), valid_part.battle_outcome[sel].astype(np.float64))
            return res

        source_weights, source_report = fit_source_weights(evaluate, data.sources, log=log)
        log(f"source weights: {source_weights}")
    weighted = data.with_weights(source_weights)
    train_part = weighted.subset(tr_idx)

    # 2. Out-of-fold base outputs for the stack. Cross-fitting (each prompt scored by scorers that did
    #    not see it) gives the stack every prompt instead of one held-out fold; with a scorer too costly
    #    to train k times (BERT), every scorer uses the single held-out fold.
    costly = [n for n in scorers if not getattr(scorer_class(n), "refit_on_all", True)]
    folds = stack_folds if stack_folds > 1 and not costly else 1
    if folds > 1:
        fold_of = fold_prompts(data.prompts, folds, salt=VALID_SALT)
        splits = [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(folds)]
        log(
            f"stacking on all {len(data.prompts):,} prompts, each scored by scorers fitted on the other "
            f"{folds - 1} of {folds} folds"
        )
    else:
        splits = [(tr_idx, va_idx)]
        if stack_folds > 1:
            log(
                f"stacking on the held-out fold ({len(va_idx):,} prompts), not cross-fitted: "
                f"{', '.join(costly)} is too costly to train {stack_folds} times"
                + ("; so the linear stack, not the joint one" if strong is None and not joint_stack else "")
            )
    fitted: dict[str, Any] = {}
    outputs: dict[str, list[np.ndarray]] = {n: [] for n in scorers}
    stack_rows: list[np.ndarray] = []  # prompt indices scored out of fold, in fold order
    q_parts: list[tuple[np.ndarray, np.ndarray]] = []  # pair: q_strong, q_weak of each fold's targets
    for f, (fit_idx, out_idx) in enumerate(splits):
        if folds > 1 and (len(out_idx) == 0 or len(fit_idx) == 0):
            continue
        fit_part, out_part = weighted.subset(fit_idx), weighted.subset(out_idx)
        emb_out, texts_out = embeddings[out_idx], out_part.prompts
        if strong is not None:
            from router_core.evaluation import pair_targets

            try:
                tg = pair_targets(out_part, strong, weak)
                rows, q_s, q_w = tg.prompt_idx, tg.q_strong, tg.q_weak
            except ValueError:
                rows, q_s, q_w = np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
            if folds > 1 and len(rows) == 0:
                continue  # nothing in this fold for the pair's stack: skip the fits
            emb_out, texts_out = emb_out[rows], [texts_out[i] for i in rows]
            q_parts.append((q_s, q_w))
        stack_rows.append(out_idx)
        timings = []
        for name in scorers:
            t0 = time.perf_counter()
            if folds == 1:
                log(
                    f"fitting {name} on {len(fit_idx):,} training-fold prompts "
                    f"({fit_part.n_battles:,} battles)"
                )
            sc = fitted[name] = make(name).fit(fit_part, embeddings[fit_idx])
            if strong is not None:
                outputs[name].append(np.asarray(sc.win_prob(emb_out, texts_out, strong, weak), np.float64))
            else:
                outputs[name].append(quality_features(name, sc.score(emb_out, texts_out)))
            timings.append(f"{name} {time.perf_counter() - t0:.1f}s")
            if folds == 1:
                log(f"  {name} fitted in {time.perf_counter() - t0:.1f}s")
        if folds > 1:
            log(f"  fold {f + 1}/{folds}: fitted on {len(fit_idx):,} prompts ({', '.join(timings)})")
    out_of_fold = {n: np.concatenate(v) if v else np.zeros(0) for n, v in outputs.items()}

    use_joint = folds > 1 if joint_stack is None else joint_stack
    metrics: dict[str, Any] = {"stack_folds": folds}
    if folds != stack_folds:
        metrics["stack_folds_requested"] = stack_folds
        metrics["stack_fallback"] = f"{', '.join(costly)} is trained once (too costly per fold)"
    if folds == 1:
        metrics.update(valid_prompts=int(len(va_idx)), train_prompts=int(len(tr_idx)))
    stack: PairStack | QualityStack | None
    if strong is not None:
        from router_core.evaluation import strong_win_target

        q_s = np.concatenate([q for q, _ in q_parts]) if q_parts else np.zeros(0)
        q_w = np.concatenate([q for _, q in q_parts]) if q_parts else np.zeros(0)
        probs = out_of_fold
        target = strong_win_target(q_s, q_w)
        if len(target) >= MIN_STACK_ROWS:
            stack, oof = _fit_pair_stack(probs, target, stack_mode)
            metrics["scorers"] = {n: _pair_metrics(p, q_s, q_w) for n, p in probs.items()}
            metrics["scorers"]["ensemble"] = _pair_metrics(oof, q_s, q_w)
            metrics["ensemble_coef"] = dict(zip(stack.scorers_, stack.coef_.round(4).tolist(), strict=True))
            metrics["ensemble_mode"] = stack_mode
        else:
            stack = None
            log(f"only {len(target)} out-of-fold prompts with a target: the ensemble is a plain average")
        metrics["valid_targets"] = metrics["stack_prompts"] = int(len(target))
    else:
        feats = out_of_fold
        rows_all = np.concatenate(stack_rows) if stack_rows else np.zeros(0, dtype=np.int64)
        lo, hi = score_range(train_part.scores if folds == 1 else weighted.scores)
        scores_va = weighted.scores[rows_all].astype(np.float64)
        metrics["stack_prompts"] = int(len(rows_all))
        stack = QualityStack().fit(feats, scores_va, lo, hi)
        full = ~np.isnan(scores_va).any(axis=1)
        metrics["valid_targets"] = int(full.sum())
        if full.sum() >= MIN_STACK_ROWS:
            metrics["scorers"] = {}
            for n in fitted:
                pred = stack.predict_one(n, feats[n])[full]
                metrics["scorers"][n] = _quality_metrics(pred, scores_va[full])
            oof = _cross_fit(
                int(full.sum()),
                5,
                lambda tr, te: (
                    QualityStack()
                    .fit({k: v[full][tr] for k, v in feats.items()}, scores_va[full][tr], lo, hi)
                    .predict({k: v[full][te] for k, v in feats.items()})
                ),
            )
            if use_joint:  # checked on fully scored rows; the joint stack itself also fits partly scored ones
                metrics["scorers"]["linear_stack"] = _quality_metrics(oof, scores_va[full])
                f_full, e_full, y_full = (
                    {k: v[full] for k, v in feats.items()},
                    embeddings[rows_all][full],
                    scores_va[full],
                )
                t0 = time.perf_counter()
                oof = _cross_fit(
                    int(full.sum()),
                    5,
                    lambda tr, te: (
                        JointStack(seed=seed)
                        .fit({k: v[tr] for k, v in f_full.items()}, e_full[tr], y_full[tr], lo, hi)
                        .predict({k: v[te] for k, v in f_full.items()}, e_full[te])
                    ),
                )
                log(f"joint stack: out-of-fold check in {time.perf_counter() - t0:.1f}s")
            metrics["scorers"]["ensemble"] = _quality_metrics(oof, scores_va[full])
            metrics["single_model_quality"] = dict(
                zip(data.models, scores_va[full].mean(axis=0).round(4).tolist(), strict=True)
            )

    joint = None
    if strong is None and use_joint and metrics.get("valid_targets", 0) >= MIN_STACK_ROWS:
        t0 = time.perf_counter()
        joint = JointStack(seed=seed).fit(feats, embeddings[rows_all], scores_va, lo, hi)
        log(f"joint stack fitted on {len(rows_all):,} prompts in {time.perf_counter() - t0:.1f}s")
    if strong is None:
        metrics["default_score"] = "joint_stack" if joint is not None else "linear_stack"

    # 3. Refit base scorers on all prompts (the stack keeps the weights it learnt out of fold).
    final: dict[str, Any] = {}
    for name in scorers:
        if name in fitted and not getattr(fitted[name], "refit_on_all", True):
            log(f"keeping {name} fitted on the training fold (not refitted: too costly to train twice)")
            final[name] = fitted[name]
            continue
        t0 = time.perf_counter()
        log(f"refitting {name} on all {len(data.prompts):,} prompts")
        final[name] = make(name).fit(weighted, embeddings)
        log(f"  {name} refitted in {time.perf_counter() - t0:.1f}s")

    known = None
    if known_prior is not None:
        known = KnownPrompts(known_prior).fit(weighted, strong, weak)
        log(f"known prompts: observed outcomes of {len(known):,} training prompts (prior {known_prior:g})")

    counts = {s: int((data.battle_source == i).sum()) for i, s in enumerate(data.sources)}
    manifest = {
        "training_data_hash": data.content_hash(),
        "sources": data.sources,
        "battles_per_source": counts,
        "prompts": len(data.prompts),
        "source_weights": source_weights,
        "source_weighting": source_report,
        "valid_frac": valid_frac,
        "stack_folds": folds,
        "seed": seed,
        "metrics": metrics,
    }
    return Router(
        models=list(data.models),
        strong=strong,
        weak=weak,
        embedder_id=embedder_id,
        scorers=final,
        stack=stack,
        manifest=manifest,
        known=known,
        joint=joint,
    )


def _quality_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Mean true score of the argmax model (quality at unlimited budget) and Brier/MSE of the estimate."""
    choice = np.argmax(pred, axis=1)
    return {
        "argmax_quality": float(true[np.arange(len(true)), choice].mean()),
        "mse": float(np.mean((pred - true) ** 2)),
    }
