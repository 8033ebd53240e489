"""Logistic pieces the stacks share: a clipped logit and logistic regression with soft targets.

All fitted state is plain arrays (stored in npz), never pickled estimators.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-4


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    return np.log(p / (1.0 - p))


def fit_soft_logistic(
    x: np.ndarray, y: np.ndarray, c: float = 1.0, sample_weight=None
) -> tuple[np.ndarray, float]:
    """Logistic regression with targets in [0, 1]: each row enters as a positive with weight y and a
    negative with weight 1 - y (the same likelihood as BCE with soft labels). Returns (coef, intercept)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, dtype=np.float64)
    y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    xx = np.vstack([x, x])
    yy = np.r_[np.ones(len(y)), np.zeros(len(y))]
    ww = np.r_[sw * y, sw * (1.0 - y)]
    keep = ww > 0
    if len(np.unique(yy[keep])) < 2:  # one class only: constant predictor
        p = float(np.clip(yy[keep].mean() if keep.any() else 0.5, EPS, 1 - EPS))
        return np.zeros(x.shape[1]), float(np.log(p / (1 - p)))
    lr = LogisticRegression(C=c, max_iter=2000, tol=1e-8)
    lr.fit(xx[keep], yy[keep], sample_weight=ww[keep])
    return lr.coef_[0].copy(), float(lr.intercept_[0])


def fit_logistic_towards(
    x: np.ndarray, y: np.ndarray, mean: np.ndarray, strength: float
) -> tuple[np.ndarray, float]:
    """Logistic regression with targets in [0, 1] and a Gaussian prior on the coefficients centred on
    ``mean``: minimises the soft log-loss plus strength / 2 x |coef - mean|^2 (the intercept is free).
    With few rows the prior decides, with many the rows do. Returns (coef, intercept)."""
    from scipy.optimize import minimize
    from scipy.special import expit  # no overflow warning at large |z|

    x = np.asarray(x, dtype=np.float64)
    y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
    mean = np.asarray(mean, dtype=np.float64)

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        z = x @ w + b
        g = expit(z) - y
        loss = float(np.sum(np.logaddexp(0.0, z) - y * z)) + 0.5 * strength * float((w - mean) @ (w - mean))
        return loss, np.r_[x.T @ g + strength * (w - mean), g.sum()]

    res = minimize(loss_grad, np.r_[mean, 0.0], jac=True, method="L-BFGS-B")
    return res.x[:-1].copy(), float(res.x[-1])
