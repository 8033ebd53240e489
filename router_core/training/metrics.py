"""Out-of-fold metrics recorded in the manifest at training time, and the stack's own cross-fit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from router_core.evaluation import decisive_auc
from router_core.outcomes import strong_win_label
from router_core.training.source_weights import battle_log_loss


def pair_fit_metrics(p: np.ndarray, q_s: np.ndarray, q_w: np.ndarray) -> dict[str, Any]:
    """Log loss and AUC of P(strong beats weak) against the pair target, and APGR / CPT(50%)."""
    from router_core.evaluation import pair_metrics

    target = strong_win_label(q_s, q_w)
    out: dict[str, Any] = {"log_loss": battle_log_loss(p, target), "auc": decisive_auc(p, target)}
    try:
        m = pair_metrics(q_s, q_w, p, n_boot=0)
        out["apgr"] = m["apgr"]["value"] if isinstance(m["apgr"], dict) else m["apgr"]
        out["cpt50"] = m["cpt"]["50"]["value"] if isinstance(m["cpt"]["50"], dict) else m["cpt"]["50"]
    except ValueError:
        pass
    return out


def chosen_scores(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per row, the true score of the model ``pred`` ranks first (routing at an unlimited budget)."""
    return true[np.arange(len(true)), np.argmax(pred, axis=1)]


def quality_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Mean true score of the argmax model (quality at unlimited budget) and Brier/MSE of the estimate."""
    return {
        "argmax_quality": float(chosen_scores(pred, true).mean()),
        "mse": float(np.mean((pred - true) ** 2)),
    }


def cross_fit(n: int, k: int, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Out-of-fold predictions of a stack (so its reported metric is not in-sample)."""
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
