"""Router evaluation: pair (quality vs share of strong calls, PGR / APGR / CPT) and N models (quality vs
cost, AIQ), with bootstrap confidence intervals. Pure numpy (+ matplotlib for the plots).

Pair conventions (RouteLLM): a router score ranks prompts; sending the top ``s`` share to the strong model
gives quality Q(s). PGR(s) = (Q(s) - Q_weak) / (Q_strong - Q_weak); APGR = integral of PGR over s in [0, 1];
CPT(x) = smallest strong share with PGR >= x. Prompts with TIED scores are taken in random order: the curve
is the expectation over tie permutations, which is exactly linear inside each tie block (computed in
closed form, no sampling).

N-model conventions (RouterBench): the policy "argmax_j predicted_quality_j - lambda * cost_j" is swept over
lambda; AIQ = area under the non-decreasing upper convex hull of the (cost, quality) points, normalised
over the cost range of the single models. Points between two policies are reachable by randomising
between them, which is why the hull (not the raw points) is integrated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from router_core.intervals import percentile_ci

CPT_LEVELS = (0.2, 0.5, 0.8)
# A mean quality gap between strong and weak at or below this leaves PGR (a share of the gap) undefined
PGR_MIN_GAP = 1e-12
_BOOT_CHUNK = 128  # bootstrap replicates per vectorised block (bounds memory at ~chunk * n floats)


# ----------------------------------------------------------------------------------------- pair


def decisive_auc(score: np.ndarray, outcome: np.ndarray) -> float | None:
    """AUC of ``score`` on the decisive rows (outcome != 0.5, ties left out); None when they hold one
    class only."""
    from sklearn.metrics import roc_auc_score

    o = np.asarray(outcome, np.float64)
    dec = np.abs(o - 0.5) > 1e-6
    y = o[dec] > 0.5
    if y.all() or not y.any():
        return None
    return float(roc_auc_score(y, np.asarray(score, np.float64)[dec]))


def bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Resampling prompts with replacement = multinomial counts per prompt."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def pair_curves(
    q_strong: np.ndarray, q_weak: np.ndarray, score: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected curve under random tie order, for each row of ``weights`` [B, n].

    Returns (share [B, G+1], quality [B, G+1], pgr [B, G+1]) at tie-block boundaries; the curve is
    linear between them.
    """
    order = np.argsort(-score, kind="stable")
    s_sorted = score[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    gain = (q_strong - q_weak)[order]
    w = weights[:, order]
    cnt = np.add.reduceat(w, starts, axis=1)
    g = np.add.reduceat(w * gain, starts, axis=1)
    total = w.sum(axis=1, keepdims=True)
    q_w = (w * q_weak[order]).sum(axis=1, keepdims=True) / total
    q_s = (w * q_strong[order]).sum(axis=1, keepdims=True) / total
    zero = np.zeros((w.shape[0], 1))
    share = np.concatenate([zero, np.cumsum(cnt, axis=1)], axis=1) / total
    quality = q_w + np.concatenate([zero, np.cumsum(g, axis=1)], axis=1) / total
    gap = q_s - q_w
    with np.errstate(divide="ignore", invalid="ignore"):
        pgr = np.where(np.abs(gap) > PGR_MIN_GAP, (quality - q_w) / gap, np.nan)
    return share, quality, pgr


def apgr_from_curve(share: np.ndarray, pgr: np.ndarray) -> np.ndarray:
    return np.sum(np.diff(share, axis=1) * (pgr[:, 1:] + pgr[:, :-1]) / 2.0, axis=1)


def _cpt(share: np.ndarray, pgr: np.ndarray, level: float) -> np.ndarray:
    """Smallest share with PGR >= level (linear inside a segment); NaN if never reached."""
    hit = pgr >= level
    first = np.argmax(hit, axis=1)
    out = np.full(share.shape[0], np.nan)
    rows = np.flatnonzero(hit.any(axis=1))
    for r in rows:
        j = first[r]
        if j == 0:
            out[r] = 0.0
            continue
        p0, p1, x0, x1 = pgr[r, j - 1], pgr[r, j], share[r, j - 1], share[r, j]
        out[r] = x0 + (level - p0) / (p1 - p0) * (x1 - x0)
    return out


def _ci(values: np.ndarray) -> list[float | None]:
    ci = percentile_ci(values)
    return list(ci) if ci else [None, None]


def _metric(value: float, boot: np.ndarray | None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": None if np.isnan(value) else float(value)}
    if boot is not None:
        out["ci95"] = _ci(boot)
        out["n_boot_reached"] = int((~np.isnan(boot)).sum())
    return out


def pair_metrics(
    q_strong: np.ndarray,
    q_weak: np.ndarray,
    score: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    levels: Sequence[float] = CPT_LEVELS,
) -> dict[str, Any]:
    """APGR, CPT(levels) with 95% bootstrap CIs (same resamples for every router given the same seed),
    plus the point-estimate curve for plotting."""
    q_strong, q_weak = np.asarray(q_strong, np.float64), np.asarray(q_weak, np.float64)
    score = np.asarray(score, np.float64)
    n = len(score)
    if not (len(q_strong) == len(q_weak) == n) or n == 0:
        raise ValueError("q_strong, q_weak and score must be non-empty and of equal length")
    if np.isnan(score).any():
        raise ValueError("router scores contain NaN")
    share, quality, pgr = pair_curves(q_strong, q_weak, score, np.ones((1, n)))
    if np.isnan(pgr).all():
        raise ValueError("strong and weak have the same mean quality on this data: PGR is undefined")
    apgr = float(apgr_from_curve(share, pgr)[0])
    cpts = {lv: float(_cpt(share, pgr, lv)[0]) for lv in levels}

    boot_apgr = boot_cpt = None
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        ba, bc = [], {lv: [] for lv in levels}
        for start in range(0, n_boot, _BOOT_CHUNK):
            wts = bootstrap_weights(n, min(_BOOT_CHUNK, n_boot - start), rng)
            bs, _, bp = pair_curves(q_strong, q_weak, score, wts)
            ba.append(apgr_from_curve(bs, bp))
            for lv in levels:
                bc[lv].append(_cpt(bs, bp, lv))
        boot_apgr = np.concatenate(ba)
        boot_cpt = {lv: np.concatenate(bc[lv]) for lv in levels}

    return {
        "n": n,
        "apgr": _metric(apgr, boot_apgr),
        "cpt": {
            f"{round(lv * 100)}": _metric(cpts[lv], None if boot_cpt is None else boot_cpt[lv])
            for lv in levels
        },
        "curve": {"share": share[0].tolist(), "quality": quality[0].tolist(), "pgr": pgr[0].tolist()},
    }


def pair_reference(q_strong: np.ndarray, q_weak: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """Strong-only / weak-only quality, the random router (APGR 0.5, CPT(x) = x in expectation) and the
    oracle (strong exactly where it is better)."""
    q_strong, q_weak = np.asarray(q_strong, np.float64), np.asarray(q_weak, np.float64)
    return {
        "quality_strong": float(q_strong.mean()),
        "quality_weak": float(q_weak.mean()),
        "random": {"apgr": {"value": 0.5}, "cpt": {f"{round(lv * 100)}": {"value": lv} for lv in CPT_LEVELS}},
        "oracle": pair_metrics(q_strong, q_weak, q_strong - q_weak, n_boot=n_boot, seed=seed),
    }


# ----------------------------------------------------------------------------------------- N models


def upper_hull(cost: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing upper concave hull of (cost, quality) points, sorted by cost."""
    order = np.lexsort((-quality, cost))
    pts: list[tuple[float, float]] = []
    for c, q in zip(cost[order], quality[order], strict=True):
        if pts and c == pts[-1][0]:
            continue  # same cost, lower quality
        while len(pts) >= 2:
            (c1, q1), (c2, q2) = pts[-2], pts[-1]
            if (q2 - q1) * (c - c1) <= (q - q1) * (c2 - c1):  # pts[-1] is on or under the chord
                pts.pop()
            else:
                break
        pts.append((float(c), float(q)))
    hc, hq = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    top = int(np.argmax(hq))  # beyond the best point, spending more buys nothing: flat
    return hc[: top + 1], hq[: top + 1]


def hull_value(hc: np.ndarray, hq: np.ndarray, c: np.ndarray | float) -> np.ndarray:
    """Hull quality at cost c (flat beyond both ends)."""
    return np.interp(c, hc, hq)


def aiq(hc: np.ndarray, hq: np.ndarray, c_lo: float, c_hi: float) -> float:
    """Average quality of the hull over [c_lo, c_hi] (area / cost range)."""
    if c_hi <= c_lo:
        return float(hull_value(hc, hq, c_lo))
    xs = np.unique(np.concatenate([[c_lo, c_hi], hc[(hc > c_lo) & (hc < c_hi)]]))
    ys = hull_value(hc, hq, xs)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2.0) / (c_hi - c_lo))


def lambda_grid(pred: np.ndarray, cost: np.ndarray, n: int = 300) -> np.ndarray:
    """0, a geometric grid spanning every trade-off scale of this data, and +inf (always cheapest)."""
    p_range = float(np.nanmax(pred) - np.nanmin(pred)) or 1.0
    diffs = np.diff(np.unique(cost))
    c_step = float(diffs.min()) if len(diffs) else 1.0
    hi = 10.0 * p_range / c_step
    return np.concatenate([[0.0], np.geomspace(hi * 1e-6, hi, n), [np.inf]])


def policy_choices(pred: np.ndarray, cost: np.ndarray, lambdas: np.ndarray) -> np.ndarray:
    """int [L, n] model chosen per prompt for each lambda; ties go to the cheaper model."""
    c_norm = cost / max(float(np.max(cost)), 1e-300)
    out = np.empty((len(lambdas), pred.shape[0]), dtype=np.int64)
    for i, lam in enumerate(lambdas):
        util = -cost if np.isinf(lam) else pred - lam * cost
        out[i] = np.argmax(util - 1e-9 * c_norm, axis=1)
    return out


def _sweep_points(choice: np.ndarray, true_q: np.ndarray, cost: np.ndarray, w: np.ndarray):
    """(cost [B, L], quality [B, L]) of each policy under prompt weights w [B, n]."""
    rows = np.arange(true_q.shape[0])
    cq = true_q[rows, choice]  # [L, n]
    cc = cost[rows, choice]
    tot = w.sum(axis=1, keepdims=True)
    return (w @ cc.T) / tot, (w @ cq.T) / tot


@dataclass
class CurveSummary:
    aiq: float
    best_quality: float
    hull_cost: np.ndarray
    hull_quality: np.ndarray
    points_cost: np.ndarray
    points_quality: np.ndarray


def _summarise(pc: np.ndarray, pq: np.ndarray, c_lo: float, c_hi: float) -> CurveSummary:
    hc, hq = upper_hull(pc, pq)
    return CurveSummary(aiq(hc, hq, c_lo, c_hi), float(pq.max()), hc, hq, pc, pq)


def resampled_summaries(
    pc: np.ndarray, pq: np.ndarray, cost: np.ndarray, weights: np.ndarray
) -> list[CurveSummary]:
    """One curve summary per row of ``weights`` [B, n]: points (cost ``pc``, quality ``pq``) [B, L] of that
    resample, AIQ over the cost range of its single models."""
    out = []
    for i in range(len(weights)):
        sc = (weights[i] @ cost) / weights[i].sum()  # single-model costs of this resample
        out.append(_summarise(pc[i], pq[i], float(sc.min()), float(sc.max())))
    return out


@dataclass
class _MultiSetting:
    """What every N-model curve of one evaluation shares."""

    true_q: np.ndarray  # [n, M]
    cost: np.ndarray  # [n, M]
    single_c: np.ndarray  # [M] mean cost of each single model
    single_q: np.ndarray  # [M] mean quality of each single model
    c_lo: float
    c_hi: float
    best: int  # the best single model: highest quality, the cheaper one on a tie

    def curve(self, pred: np.ndarray) -> tuple[np.ndarray, CurveSummary]:
        choice = policy_choices(np.asarray(pred, np.float64), self.cost, lambda_grid(pred, self.cost))
        pc, pq = _sweep_points(choice, self.true_q, self.cost, np.ones((1, len(self.true_q))))
        return choice, _summarise(pc[0], pq[0], self.c_lo, self.c_hi)


def multi_metrics(
    true_q: np.ndarray,
    cost: np.ndarray,
    routers: Mapping[str, np.ndarray],
    models: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Quality-vs-cost evaluation of N-model routers.

    ``true_q`` [n, M] measured quality, ``cost`` [n, M] cost per prompt, ``routers`` name -> predicted
    quality [n, M] (any monotone scale: lambda absorbs it). Reference curves: each single model, uniform
    random routing (a point), the single-model hull (randomly mixing single models, RouterBench's
    "zero router") and the oracle (true quality as prediction).
    """
    true_q, cost = np.asarray(true_q, np.float64), np.asarray(cost, np.float64)
    n, m = true_q.shape
    if cost.shape != (n, m):
        raise ValueError(f"cost has shape {cost.shape}, expected {(n, m)}")
    single_c, single_q = cost.mean(axis=0), true_q.mean(axis=0)
    best = int(np.lexsort((single_c, -single_q))[0])
    st = _MultiSetting(true_q, cost, single_c, single_q, float(single_c.min()), float(single_c.max()), best)
    zero = _summarise(single_c, single_q, st.c_lo, st.c_hi)
    _, oracle = st.curve(true_q)
    out: dict[str, Any] = {
        "n": n,
        "models": list(models),
        "cost_range": [st.c_lo, st.c_hi],
        "single_models": {
            mod: {"cost": float(single_c[j]), "quality": float(single_q[j])} for j, mod in enumerate(models)
        },
        "best_single": {
            "model": models[best],
            "cost": float(single_c[best]),
            "quality": float(single_q[best]),
        },
        "random": {"cost": float(cost.mean()), "quality": float(true_q.mean())},
        "zero_router": {"aiq": zero.aiq},
        "oracle": {"aiq": oracle.aiq, "best_quality": oracle.best_quality},
        "routers": {},
    }
    curves: dict[str, CurveSummary] = {"oracle": oracle, "zero_router": zero}
    rng_weights = (
        np.concatenate(
            [
                bootstrap_weights(n, min(_BOOT_CHUNK, n_boot - s), np.random.default_rng([seed, s]))
                for s in range(0, n_boot, _BOOT_CHUNK)
            ]
        )
        if n_boot > 0
        else None
    )
    for name, pred in routers.items():
        pred = np.asarray(pred, np.float64)
        if pred.shape != (n, m):
            raise ValueError(f"router '{name}' predictions have shape {pred.shape}, expected {(n, m)}")
        out["routers"][name], curves[name] = _router_metrics(st, pred, models, rng_weights)
    out["_curves"] = curves  # for plotting; dropped before writing JSON
    return out


def _router_metrics(
    st: _MultiSetting, pred: np.ndarray, models: Sequence[str], rng_weights: np.ndarray | None
) -> tuple[dict[str, Any], CurveSummary]:
    """One router's AIQ, best quality, margins over the single models (bootstrap CIs when resampled)."""
    choice, s = st.curve(pred)
    dominated = {
        mod: float(hull_value(s.hull_cost, s.hull_quality, st.single_c[j]) - st.single_q[j])
        for j, mod in enumerate(models)
    }
    best_c = st.single_c[st.best]
    reach = s.points_cost[s.points_quality >= st.single_q[st.best] - 1e-12]
    frac = float(reach.min() / best_c) if len(reach) and best_c > 0 else None
    r: dict[str, Any] = {
        "aiq": {"value": s.aiq},
        "best_quality": {"value": s.best_quality},
        "margin_over_single_at_its_cost": dominated,
        "dominates_every_single_model": bool(all(v >= -1e-12 for v in dominated.values())),
        "cost_fraction_to_best_single_quality": frac,
    }
    if rng_weights is not None:
        bc, bq = _sweep_points(choice, st.true_q, st.cost, rng_weights)
        boot = resampled_summaries(bc, bq, st.cost, rng_weights)
        r["aiq"]["ci95"] = _ci(np.array([b.aiq for b in boot]))
        r["best_quality"]["ci95"] = _ci(np.array([b.best_quality for b in boot]))
    return r, s


# ----------------------------------------------------------------------------------------- reporting


def _axes():
    """A fresh (figure, axes) on the non-interactive backend (evaluate runs headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 5))


def _save(fig, ax, path: str, xlabel: str, title: str, legend_size: int) -> None:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel("quality")
    ax.set_title(title)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_pair(
    path: str, results: Mapping[str, Mapping[str, Any]], ref: Mapping[str, Any], title: str
) -> None:
    fig, ax = _axes()
    for name, r in results.items():
        c = r["curve"]
        ax.plot(np.array(c["share"]) * 100, c["quality"], label=f"{name} (APGR {r['apgr']['value']:.3f})")
    oc = ref["oracle"]["curve"]
    ax.plot(np.array(oc["share"]) * 100, oc["quality"], "k:", label="oracle")
    ax.plot([0, 100], [ref["quality_weak"], ref["quality_strong"]], "k--", label="random (APGR 0.500)")
    ax.axhline(ref["quality_strong"], color="grey", lw=0.8)
    ax.axhline(ref["quality_weak"], color="grey", lw=0.8)
    _save(fig, ax, path, "share of prompts sent to the strong model (%)", title, 8)


def plot_multi(path: str, metrics: Mapping[str, Any], title: str) -> None:
    curves: Mapping[str, CurveSummary] = metrics["_curves"]
    fig, ax = _axes()
    for name, s in curves.items():
        style = "k:" if name == "oracle" else ("k--" if name == "zero_router" else "-")
        label = f"{name} (AIQ {s.aiq:.3f})"
        ax.plot(s.hull_cost, s.hull_quality, style, label=label)
        if name not in ("oracle", "zero_router"):
            ax.scatter(s.points_cost, s.points_quality, s=4, alpha=0.4)
    for mod, v in metrics["single_models"].items():
        ax.scatter([v["cost"]], [v["quality"]], marker="x", color="black")
        ax.annotate(mod, (v["cost"], v["quality"]), fontsize=6)
    ax.scatter(
        [metrics["random"]["cost"]], [metrics["random"]["quality"]], marker="s", color="red", label="random"
    )
    _save(fig, ax, path, "average cost per prompt", title, 7)


def _fmt(m: Mapping[str, Any] | None, pct: bool = False) -> str:
    if not m or m.get("value") is None:
        return "n/a"
    k = 100.0 if pct else 1.0
    unit = "%" if pct else ""
    s = f"{m['value'] * k:.1f}{unit}" if pct else f"{m['value']:.3f}"
    ci = m.get("ci95")
    if ci and ci[0] is not None:
        s += f" [{ci[0] * k:.1f}, {ci[1] * k:.1f}]" if pct else f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    return s


def pair_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    lines = [f"{'router':<16} {'APGR [95% CI]':<26} {'CPT20':<22} {'CPT50':<22} {'CPT80':<22}"]
    for name, r in results.items():
        cpt = r["cpt"]
        lines.append(
            f"{name:<16} {_fmt(r['apgr']):<26} {_fmt(cpt.get('20'), True):<22} "
            f"{_fmt(cpt.get('50'), True):<22} {_fmt(cpt.get('80'), True):<22}"
        )
    return "\n".join(lines)


def multi_table(metrics: Mapping[str, Any]) -> str:
    lines = [
        f"{'router':<16} {'AIQ [95% CI]':<26} {'best quality':<26} {'dominates':<10} {'cost to best single'}"
    ]
    for name, r in metrics["routers"].items():
        frac = r["cost_fraction_to_best_single_quality"]
        lines.append(
            f"{name:<16} {_fmt(r['aiq']):<26} {_fmt(r['best_quality']):<26} "
            f"{'yes' if r['dominates_every_single_model'] else 'no':<10} "
            f"{'never' if frac is None else f'{frac * 100:.1f}%'}"
        )
    b = metrics["best_single"]
    lines.append(
        f"{'zero_router':<16} {metrics['zero_router']['aiq']:.3f}   "
        f"oracle AIQ {metrics['oracle']['aiq']:.3f}, "
        f"best single {b['model']} quality {b['quality']:.3f} at cost {b['cost']:.3g}"
    )
    return "\n".join(lines)
