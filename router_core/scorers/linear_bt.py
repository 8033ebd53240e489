"""A linear Bradley-Terry model on per-prompt features, shared by the text-feature scorers (lex, shape).

quality q[p, m] = x_p . W[:, m] + b_m, trained on battles (score-derived ones included) with the BT loss
BCE(sigmoid(q_a - q_b), outcome), ties 0.5, battles weighted, plus an L2 prior 1/(2c) |W|^2; full-batch
L-BFGS, so the fit is deterministic. Symmetric in a/b by construction (swapping a and b and flipping the
outcome leaves every term unchanged).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from router_core.scorers.base import sigmoid

B_L2 = 1e-6  # tiny prior on the per-model offsets: they are identified only up to a constant


def fit_linear_bt(x: Any, data: Any, c: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, int]:
    """x: [n_prompts, d] dense array or scipy sparse matrix (row i = ``data.prompts[i]``).
    Returns (W [d, M] float32, b [M] float32, L-BFGS iterations)."""
    from scipy.optimize import minimize

    m = len(data.models)
    x = x.astype(np.float64)
    xt = x.T.tocsr() if hasattr(x, "tocsr") else np.ascontiguousarray(x.T)
    n, v = x.shape
    p = np.asarray(data.battle_prompt, np.int64)
    ia = p * m + np.asarray(data.battle_a, np.int64)
    ib = p * m + np.asarray(data.battle_b, np.int64)
    o = np.asarray(data.battle_outcome, np.float64)
    w = np.asarray(data.battle_weight, np.float64)
    inv_c = 1.0 / c

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        wm, b = theta[: v * m].reshape(v, m), theta[v * m :]
        q = np.asarray(x @ wm + b).ravel()
        d = q[ia] - q[ib]
        # BCE with logits, stable: log(1 + e^d) - o * d
        loss = float(np.sum(w * (np.logaddexp(0.0, d) - o * d)))
        g_d = w * (sigmoid(d).astype(np.float64) - o)
        g_q = (np.bincount(ia, g_d, n * m) - np.bincount(ib, g_d, n * m)).reshape(n, m)
        g_w = xt @ g_q + inv_c * wm
        g_b = g_q.sum(axis=0) + B_L2 * b
        loss += 0.5 * inv_c * float(np.sum(wm * wm)) + 0.5 * B_L2 * float(b @ b)
        return loss, np.concatenate([np.asarray(g_w).ravel(), g_b])

    res = minimize(loss_grad, np.zeros(v * m + m), jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    coef = res.x[: v * m].reshape(v, m).astype(np.float32)
    return coef, res.x[v * m :].astype(np.float32), int(res.nit)
