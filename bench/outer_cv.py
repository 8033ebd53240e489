"""Shared loop and report of the outer cross-validation benches (bench/stack_cross_fit.py,
bench/joint_stack.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def outer_predictions(
    ts,
    emb: np.ndarray,
    embedder_id: str,
    outer: np.ndarray,
    settings: Mapping[str, Mapping[str, Any]],
    **common,
) -> dict[str, np.ndarray]:
    """Out-of-fold default scores of each setting: for each outer fold, `train_router` (scorers sw, mf, knn,
    lex; no known prompts, so an outer-test prompt is never looked up) on the other folds with the
    setting's keyword arguments plus ``common``, scoring the held-out fold."""
    from router_core.training import train_router

    pair = common.get("strong") is not None
    width = (len(ts.prompts),) if pair else (len(ts.prompts), len(ts.models))
    pred = {k: np.full(width, np.nan) for k in settings}
    folds = np.unique(outer)
    for o in folds:
        inner, test = np.flatnonzero(outer != o), np.flatnonzero(outer == o)
        for name, kw in settings.items():
            t0 = time.perf_counter()
            r = train_router(
                ts.subset(inner),
                emb[inner],
                embedder_id,
                scorers=("sw", "mf", "knn", "lex"),
                known_prior=None,
                log=lambda m: None,
                **common,
                **kw,
            )
            out = r.score(emb[test], [ts.prompts[i] for i in test])
            pred[name][test] = out["strong_win_prob" if pair else "predicted_quality"]
            print(
                f"outer fold {o + 1}/{len(folds)}, {name}: "
                f"trained and scored in {time.perf_counter() - t0:.0f}s"
            )
    return pred


def report_n_model(ts, outer: np.ndarray, pred: Mapping[str, np.ndarray], width: int = 24) -> None:
    """Print AIQ, best quality and cost to match the best single model of each setting's out-of-fold
    predictions, pooled and per outer fold, as `batch-router evaluate` computes them (llmrouter prices)."""
    from router_core.evaluation import multi_metrics
    from router_core.pricing import read_price_file

    prices, _ = read_price_file(str(DATA / "llmrouter_models.json"))  # as `evaluate --prices` reads it
    price = [prices[m].input_per_mtok + prices[m].output_per_mtok for m in ts.models]
    cost = np.tile(price, (len(ts.prompts), 1))
    y = ts.scores.astype(np.float64)
    per_fold: dict[str, list[tuple[float, float]]] = {k: [] for k in pred}
    for o in np.unique(outer):
        s = outer == o
        mm = multi_metrics(y[s], cost[s], {k: v[s] for k, v in pred.items()}, ts.models, n_boot=0)
        for k in pred:
            r = mm["routers"][k]
            per_fold[k].append((round(r["aiq"]["value"], 4), round(r["best_quality"]["value"], 4)))
    mm = multi_metrics(y, cost, dict(pred), ts.models, n_boot=0)
    for k in pred:
        r = mm["routers"][k]
        frac = r["cost_fraction_to_best_single_quality"]
        print(
            f"{k:<{width}} AIQ {r['aiq']['value']:.4f}  best quality {r['best_quality']['value']:.4f}  "
            f"cost to best single {'never' if frac is None else f'{frac:.1%}'}"
        )
        print(f"{'':<{width}} per outer fold (AIQ, best quality): {per_fold[k]}")
