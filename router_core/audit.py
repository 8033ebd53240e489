"""Measured quality on an audit sample: labelled requests joined to the routing labels.

An audit label says how good each model's answer to a request was (per-model correctness or scores, or
battles between two models). On the audited requests this module measures the quality of the routed
choice against always calling each model, the PGR, and their bootstrap CIs. Pure numpy/pandas.

Pair routers: q_s, q_w = measured quality of the strong and weak model (scores as given; battles give
q_s = the strong model's win rate against the weak one, ties 1/2, and q_w = 1 - q_s, so quality as routed
is the routed model's win rate). quality_routed = mean q[routed], quality_all_strong = mean q_s,
quality_all_weak = mean q_w, PGR = (quality_routed - quality_all_weak) / (quality_all_strong -
quality_all_weak). N-model routers: the same with every model's score, on requests where the routed, the
strong and the weak model are scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router_core.evaluation import pair_targets
from router_core.savings_stats import POISSON1_LUT
from router_core.training_data import TrainingSet

SAMPLING_STRATEGIES = ("random", "stratified", "informative", "unknown")
MIN_GROUP_N = 30  # audited requests a day or segment needs for its own figures
FIGURES = ("quality_routed", "quality_all_strong", "quality_all_weak", "pgr")


@dataclass
class AuditLabels:
    """Audit files as read: the merged labels plus the request-id and sampling facts the loader drops."""

    data: TrainingSet  # prompts normalised like the route job's texts
    prompt_by_request: dict[str, int] = field(default_factory=dict)  # request_id -> prompt index
    strategy_by_prompt: dict[int, str] = field(default_factory=dict)  # from a sample_strategy column
    strategy_by_request: dict[str, str] = field(default_factory=dict)
    default_strategy: str = "unknown"  # --audit-sampling, for rows without a sample_strategy value
    files: list[str] = field(default_factory=list)


@dataclass
class AuditSample:
    """The audited requests: measured quality per model and the router's decision for each."""

    models: list[str]  # columns of q
    q: np.ndarray  # float64 [n, len(models)], NaN where unknown
    routed: np.ndarray  # int64 [n] column of the routed model
    strong: int  # column of the strong model
    weak: int  # column of the weak model
    day: np.ndarray  # object [n]
    segment: np.ndarray  # object [n]
    strategy: np.ndarray  # object [n] sampling strategy of each audited request
    row: np.ndarray  # int64 [n] position in the savings frame's rows
    kind: str  # "scores", "battles" or "mixed"
    matched: dict[str, int]  # join counts

    @property
    def n(self) -> int:
        return int(len(self.routed))


def _prompt_rows(labels: AuditLabels, request_ids: Sequence[Any], texts: Sequence[str | None] | None):
    """Prompt index per request (-1: not audited) and how it was matched."""
    index = {p: i for i, p in enumerate(labels.data.prompts)}
    out = np.full(len(request_ids), -1, dtype=np.int64)
    by_id = by_text = 0
    for i, rid in enumerate(request_ids):
        j = labels.prompt_by_request.get(str(rid), -1) if rid is not None else -1
        if j >= 0:
            by_id += 1
        elif texts is not None and texts[i]:
            j = index.get(texts[i], -1)
            by_text += j >= 0
        out[i] = j
    return out, {"by_request_id": by_id, "by_prompt_text": by_text}


def _pair_quality(data: TrainingSet, strong: str, weak: str) -> tuple[np.ndarray, str]:
    """[n_prompts, 2] (strong, weak) measured quality, NaN where the audit has neither scores nor battles."""
    t = pair_targets(data, strong, weak)
    q = np.full((len(data.prompts), 2), np.nan)
    q[t.prompt_idx, 0], q[t.prompt_idx, 1] = t.q_strong, t.q_weak
    return q, t.kind


def _multi_quality(data: TrainingSet, models: Sequence[str]) -> tuple[np.ndarray, str]:
    q = np.full((len(data.prompts), len(models)), np.nan)
    for k, m in enumerate(models):
        if m in data.models:
            q[:, k] = data.scores[:, data.models.index(m)]
    return q, "scores"


def match_audit(
    labels: AuditLabels,
    rows: Mapping[str, np.ndarray],
    models: Sequence[str],
    strong: str,
    weak: str,
    pair: bool,
) -> AuditSample:
    """Join audit labels to routed requests. ``rows``: request_id, text (normalised prompt or None),
    routed_model, day, segment (one entry per routed request). A pair router's audit needs the strong and
    weak model in the labels; an N-model one needs per-model scores."""
    present = set(labels.data.models)
    missing = [m for m in (strong, weak) if m not in present]
    if missing:
        raise ValueError(
            f"audit labels have no {' or '.join(repr(m) for m in missing)}: they must score the router's "
            f"strong and weak model (audit models: {sorted(present)})"
        )
    cols = [strong, weak] if pair else list(models)
    q_prompt, kind = _pair_quality(labels.data, strong, weak) if pair else _multi_quality(labels.data, cols)
    prompt, matched = _prompt_rows(labels, rows["request_id"], rows.get("text"))
    col = {m: k for k, m in enumerate(cols)}
    routed = np.array([col.get(str(m), -1) for m in rows["routed_model"]], dtype=np.int64)
    s, w = col[strong], col[weak]
    ok = prompt >= 0
    q_rows = np.full((len(prompt), len(cols)), np.nan)
    q_rows[ok] = q_prompt[prompt[ok]]
    routed_q = np.take_along_axis(q_rows, np.maximum(routed, 0)[:, None], axis=1)[:, 0]
    keep = ok & (routed >= 0) & np.isfinite(routed_q) & np.isfinite(q_rows[:, s] + q_rows[:, w])
    matched["joined"] = int(ok.sum())
    matched["without_measured_quality"] = int((ok & ~keep).sum())
    idx = np.flatnonzero(keep)
    rid = np.asarray(rows["request_id"], dtype=object)[idx]
    strategy = np.array(
        [
            labels.strategy_by_request.get(str(r))
            or labels.strategy_by_prompt.get(int(prompt[i]))
            or labels.default_strategy
            for r, i in zip(rid, idx, strict=True)
        ],
        dtype=object,
    )
    return AuditSample(
        models=cols,
        q=q_rows[idx],
        routed=routed[idx],
        strong=s,
        weak=w,
        day=np.asarray(rows["day"], dtype=object)[idx],
        segment=np.asarray(rows["segment"], dtype=object)[idx],
        strategy=strategy,
        row=idx.astype(np.int64),
        kind=kind,
        matched=matched,
    )


# ------------------------------------------------------------------------------------------- figures


def _poisson_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, n] Poisson(1) resampling weights (the savings report's bootstrap, per audited request)."""
    return POISSON1_LUT[rng.integers(0, POISSON1_LUT.size, size=(n_boot, n), dtype=np.uint16)]


def _figures(w: np.ndarray, routed_q: np.ndarray, q_s: np.ndarray, q_w: np.ndarray) -> dict[str, np.ndarray]:
    """Figures for each row of weights ``w`` [B, n] (a 1-row ``w`` of ones: the point estimate)."""
    tot = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r, s, k = (w @ routed_q) / tot, (w @ q_s) / tot, (w @ q_w) / tot
        gap = s - k
        pgr = np.where(np.abs(gap) > 1e-12, (r - k) / gap, np.nan)
    return {"quality_routed": r, "quality_all_strong": s, "quality_all_weak": k, "pgr": pgr}


def _ci(x: np.ndarray) -> list[float] | None:
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return None
    lo, hi = np.percentile(x, [2.5, 97.5])
    return [float(lo), float(hi)]


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def pair_figures(
    routed_q: np.ndarray, q_s: np.ndarray, q_w: np.ndarray, n_boot: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Measured figures with 95% percentile-bootstrap CIs (``<figure>_ci``) on one audit sample."""
    n = len(routed_q)
    point = _figures(np.ones((1, n)), routed_q, q_s, q_w)
    out: dict[str, Any] = {"n": n, **{k: _num(v[0]) for k, v in point.items()}}
    boot = _figures(_poisson_weights(n, n_boot, rng), routed_q, q_s, q_w) if n_boot > 0 and n else None
    for k in FIGURES:
        out[f"{k}_ci"] = _ci(boot[k]) if boot is not None else None
    return out


def mean_ci(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[float | None, list[float] | None]:
    """Mean of ``x`` and its 95% percentile-bootstrap CI (None, None for an empty ``x``)."""
    if len(x) == 0:
        return None, None
    if n_boot <= 0:
        return float(np.mean(x)), None
    w = _poisson_weights(len(x), n_boot, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(x)), _ci((w @ x) / w.sum(axis=1))


def _routed_q(a: AuditSample) -> np.ndarray:
    return a.q[np.arange(a.n), a.routed]


def audit_summary(a: AuditSample, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """summary.json's ``audit`` object: n, pgr, pgr_ci, quality_routed, quality_all_strong,
    quality_all_weak, and the same per day and per segment where n allows (else n and a reason)."""
    rng = np.random.default_rng(seed)
    rq, qs, qw = _routed_q(a), a.q[:, a.strong], a.q[:, a.weak]
    full = pair_figures(rq, qs, qw, n_boot, rng)
    out = _public(full)
    for key, groups in (("by_day", a.day), ("by_segment", a.segment)):
        per: dict[str, Any] = {}
        for g in sorted(set(groups.tolist())):
            sel = groups == g
            k = int(sel.sum())
            if k < MIN_GROUP_N:
                per[str(g)] = {"n": k, "reason": f"fewer than {MIN_GROUP_N} audited requests"}
                continue
            per[str(g)] = _public(pair_figures(rq[sel], qs[sel], qw[sel], n_boot, rng))
        out[key] = per
    return out


def _public(f: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("n", "pgr", "pgr_ci", "quality_routed", "quality_all_strong", "quality_all_weak")
    return {k: f[k] for k in keys}


def audit_details(a: AuditSample, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Everything else the report shows: every figure's CI, quality per single model, the battles'
    win rate, the sampling strategy, and the join counts."""
    rng = np.random.default_rng(seed)
    rq = _routed_q(a)
    full = pair_figures(rq, a.q[:, a.strong], a.q[:, a.weak], n_boot, rng)
    per_model = {}
    for k, m in enumerate(a.models):
        known = np.isfinite(a.q[:, k])
        quality, quality_ci = mean_ci(a.q[known, k], n_boot, rng)
        diff, diff_ci = mean_ci(rq[known] - a.q[known, k], n_boot, rng)
        per_model[m] = {
            "n": int(known.sum()),
            "quality": quality,
            "quality_ci": quality_ci,
            "routed_minus_model": diff,
            "routed_minus_model_ci": diff_ci,
            "routed_to": int((a.routed == k).sum()),
        }
    details = {
        "figures": full,
        "per_model": per_model,
        "label_kind": a.kind,
        "sampling": sampling(a.strategy),
        "matched": dict(a.matched),
    }
    if a.kind == "battles":
        details["routed_win_rate"] = full["quality_routed"]
        details["routed_win_rate_ci"] = full["quality_routed_ci"]
    return details


def sampling(strategy: np.ndarray) -> dict[str, Any]:
    """Whether the audit is a random sample of the traffic (unbiased) or chosen otherwise (biased)."""
    values, n = np.unique(strategy.astype(str), return_counts=True)
    counts = {str(k): int(v) for k, v in zip(values, n, strict=True)}
    random = bool(len(strategy)) and set(counts) == {"random"}
    name = next(iter(counts)) if len(counts) == 1 else ("mixed" if counts else "unknown")
    return {"strategy": name, "counts": counts, "random": random}
