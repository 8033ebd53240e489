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

from router_core.intervals import percentile_ci
from router_core.outcomes import pair_outcomes
from router_core.savings_stats import POISSON1_LUT
from router_core.training_data import TrainingSet

SAMPLING_STRATEGIES = ("random", "stratified", "informative", "unknown")
MIN_GROUP_N = 30  # audited requests a day or segment needs for its own figures


@dataclass
class AuditLabels:
    """Audit files as read: the merged labels plus the request-id and sampling facts the loader drops."""

    data: TrainingSet  # prompts normalised like the route job's texts
    prompt_by_request: dict[str, int] = field(default_factory=dict)  # request_id -> prompt index
    strategy_by_prompt: dict[int, str] = field(default_factory=dict)  # from a sample_strategy column
    strategy_by_request: dict[str, str] = field(default_factory=dict)
    # prompts every audit row of which names its request: they label that request, not every copy of
    # the text in the logs (a random sample of requests stays one)
    id_only_prompts: set[int] = field(default_factory=set)
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
            j = -1 if j in labels.id_only_prompts else j
            by_text += j >= 0
        out[i] = j
    return out, {"by_request_id": by_id, "by_prompt_text": by_text}


def _pair_quality(data: TrainingSet, strong: str, weak: str) -> tuple[np.ndarray, str]:
    """[n_prompts, 2] (strong, weak) measured quality, NaN where the audit has neither scores nor battles."""
    t = pair_outcomes(data, strong, weak)
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


def _boot_sums(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, k] Poisson(1)-weighted column sums of ``values`` [n, k] (the savings report's bootstrap).
    One set of draws for all columns, so figures computed from the same sums share their resamples."""
    acc = np.zeros((n_boot, values.shape[1]))
    chunk = max(1, 4_000_000 // max(n_boot, 1))
    for s in range(0, len(values), chunk):
        part = values[s : s + chunk]
        w = POISSON1_LUT[rng.integers(0, POISSON1_LUT.size, size=(n_boot, len(part)), dtype=np.uint16)]
        acc += w @ part
    return acc


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(b) > 1e-12, a / np.where(b == 0, 1, b), np.nan)


def _pair_from_sums(s: np.ndarray) -> dict[str, np.ndarray]:
    """Figures from sums [..., 4] of (1, q_routed, q_strong, q_weak)."""
    r, st, wk = (_ratio(s[..., k], s[..., 0]) for k in (1, 2, 3))
    pgr = _ratio(r - wk, st - wk)
    return {"quality_routed": r, "quality_all_strong": st, "quality_all_weak": wk, "pgr": pgr}


def _ci(x: np.ndarray) -> list[float] | None:
    ci = percentile_ci(x, min_n=2)
    return list(ci) if ci else None


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _with_cis(point: Mapping[str, np.ndarray], boot: Mapping[str, np.ndarray] | None, n: int) -> dict:
    out: dict[str, Any] = {"n": n, **{k: _num(float(v)) for k, v in point.items()}}
    for k in point:
        out[f"{k}_ci"] = _ci(boot[k]) if boot is not None else None
    return out


def pair_figures(
    routed_q: np.ndarray, q_s: np.ndarray, q_w: np.ndarray, n_boot: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Measured figures with 95% percentile-bootstrap CIs (``<figure>_ci``) on one audit sample."""
    v = np.column_stack([np.ones(len(routed_q)), routed_q, q_s, q_w])
    boot = _pair_from_sums(_boot_sums(v, n_boot, rng)) if n_boot > 0 and len(v) else None
    return _with_cis(_pair_from_sums(v.sum(axis=0)), boot, len(v))


def _routed_q(a: AuditSample) -> np.ndarray:
    return a.q[np.arange(a.n), a.routed]


def _groups(a: AuditSample) -> list[tuple[str, str, np.ndarray]]:
    """(level, name, mask): the whole audit, then each day and segment."""
    out = [("total", "*", np.ones(a.n, dtype=bool))]
    for level, values in (("by_day", a.day), ("by_segment", a.segment)):
        out += [(level, str(g), values == g) for g in sorted(set(values.tolist()))]
    return out


def _public(f: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("n", "pgr", "pgr_ci", "quality_routed", "quality_all_strong", "quality_all_weak")
    return {k: f[k] for k in keys}


def audit_summary(a: AuditSample, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """summary.json's ``audit`` object: n, pgr, pgr_ci, quality_routed, quality_all_strong,
    quality_all_weak, and the same per day and per segment where n allows (else n and a reason).
    Every group reuses the total's bootstrap draws, so a day holding the whole audit gets its CI."""
    base = np.column_stack([np.ones(a.n), _routed_q(a), a.q[:, a.strong], a.q[:, a.weak]])
    groups = _groups(a)
    v = np.hstack([base * m[:, None] for _, _, m in groups])
    boot = _boot_sums(v, n_boot, np.random.default_rng(seed)) if n_boot > 0 and a.n else None
    point = v.sum(axis=0)
    out: dict[str, Any] = {"by_day": {}, "by_segment": {}}
    for i, (level, name, mask) in enumerate(groups):
        k = int(mask.sum())
        cols = slice(4 * i, 4 * i + 4)
        if level != "total" and k < MIN_GROUP_N:
            out[level][name] = {"n": k, "reason": f"fewer than {MIN_GROUP_N} audited requests"}
            continue
        b = _pair_from_sums(boot[:, cols]) if boot is not None else None
        fig = _public(_with_cis(_pair_from_sums(point[cols]), b, k))
        if level == "total":
            out = {**fig, **out}
        else:
            out[level][name] = fig
    return out


def _per_model(a: AuditSample, n_boot: int, seed: int) -> dict[str, Any]:
    """Quality of each single model and the routed choice minus it, on the audited requests that score it."""
    rq = _routed_q(a)
    known = np.isfinite(a.q)
    q0 = np.where(known, a.q, 0.0)
    v = np.hstack([known, q0, known * (rq[:, None] - q0)]).astype(np.float64)
    boot = _boot_sums(v, n_boot, np.random.default_rng(seed)) if n_boot > 0 and a.n else None
    point, m = v.sum(axis=0), len(a.models)
    out = {}
    for k, name in enumerate(a.models):
        stats = {"quality": (k, m + k), "routed_minus_model": (k, 2 * m + k)}
        rec: dict[str, Any] = {"n": int(point[k])}
        for key, (den, num) in stats.items():
            rec[key] = _num(float(_ratio(point[num], point[den])))
            rec[f"{key}_ci"] = _ci(_ratio(boot[:, num], boot[:, den])) if boot is not None else None
        rec["routed_to"] = int((a.routed == k).sum())
        out[name] = rec
    return out


def audit_details(a: AuditSample, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Everything else the report shows: every figure's CI (the same draws as ``audit_summary``), quality
    per single model, the battles' win rate, the sampling strategy, and the join counts."""
    full = pair_figures(_routed_q(a), a.q[:, a.strong], a.q[:, a.weak], n_boot, np.random.default_rng(seed))
    details = {
        "figures": full,
        "per_model": _per_model(a, n_boot, seed),
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
