"""``JointStack``: one small multi-output network over every model's scorer features and the prompt
embedding, predicting every model's score at once.

``QualityStack`` fits each model's score from that model's own scorer features. Correctness of
different models on a prompt is strongly correlated (a hard prompt is hard for all), and the base scorers
err in ways the prompt itself can reveal (e.g. kNN is trusted more on templated tasks); a shared hidden
layer over all models' features plus the embedding learns both. It is fitted like ``QualityStack`` on
out-of-fold base outputs and replaces the linear stack as the router's default score when the stack is
cross-fitted (see ``router_core.training``).

Soft targets (fractional scores) enter BCE as they are; unknown scores (NaN) are masked out of the loss.
Several seeds are averaged, each early-stopped on its own 10% of the rows. All state is plain arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class JointStack:
    """Expected score per model = lo + (hi - lo) * sigmoid(MLP([standardised features, embedding]))."""

    def __init__(
        self,
        hidden: int = 64,
        weight_decay: float = 1e-2,
        n_seeds: int = 5,
        max_epochs: int = 300,
        patience: int = 10,
        batch_size: int = 200,
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.weight_decay = weight_decay
        self.n_seeds = n_seeds
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.seed = seed

    def _raw(self, feats: Mapping[str, np.ndarray], emb: np.ndarray) -> np.ndarray:
        parts = [np.asarray(feats[s], np.float64) for s in self.scorers_] + [np.asarray(emb, np.float64)]
        return np.concatenate(parts, axis=1)

    def _inputs(self, raw: np.ndarray) -> np.ndarray:
        return ((raw - self.mean_) / self.scale_).astype(np.float32)

    def fit(
        self,
        feats: Mapping[str, np.ndarray],
        emb: np.ndarray,
        scores: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
    ) -> JointStack:
        """feats: scorer -> [n, M]; emb: [n, d]; scores: [n, M] measured (NaN = unknown)."""
        import torch

        self.scorers_ = list(feats)
        self.lo_, self.hi_ = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        raw = self._raw(feats, emb)
        self.mean_, std = raw.mean(axis=0), raw.std(axis=0)
        self.scale_ = np.where(std > 1e-9, std, 1.0)
        x = torch.from_numpy(self._inputs(raw))
        span = np.maximum(self.hi_ - self.lo_, 1e-12)
        y_np = np.clip((np.asarray(scores, np.float64) - self.lo_) / span, 0.0, 1.0)
        mask = torch.from_numpy((~np.isnan(y_np)).astype(np.float32))
        y = torch.from_numpy(np.nan_to_num(y_np, nan=0.0).astype(np.float32))
        self.nets_: list[list[np.ndarray]] = []
        for k in range(self.n_seeds):
            self.nets_.append(self._fit_one(x, y, mask, self.seed + k))
        return self

    def _fit_one(self, x, y, mask, seed: int) -> list[np.ndarray]:
        import torch

        gen = torch.Generator().manual_seed(seed)
        n, m = y.shape
        perm = torch.randperm(n, generator=gen)
        n_val = max(1, n // 10) if n >= 20 else 0
        val, trn = perm[:n_val], perm[n_val:]
        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global state
            torch.manual_seed(seed)
            net = torch.nn.Sequential(
                torch.nn.Linear(x.shape[1], self.hidden), torch.nn.ReLU(), torch.nn.Linear(self.hidden, m)
            )
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=self.weight_decay)

        def loss_of(idx) -> torch.Tensor:
            out = torch.nn.functional.binary_cross_entropy_with_logits(net(x[idx]), y[idx], reduction="none")
            return (out * mask[idx]).sum() / mask[idx].sum().clamp(min=1.0)

        best, best_state, stale = float("inf"), None, 0
        for _ in range(self.max_epochs):
            net.train()
            order = trn[torch.randperm(len(trn), generator=gen)]
            for i in range(0, len(order), self.batch_size):
                opt.zero_grad()
                loss_of(order[i : i + self.batch_size]).backward()
                opt.step()
            if n_val == 0:
                continue
            net.eval()
            with torch.no_grad():
                v = float(loss_of(val))
            if v < best - 1e-4:
                best, stale = v, 0
                best_state = [p.detach().clone() for p in net.parameters()]
            else:
                stale += 1
                if stale >= self.patience:
                    break
        params = best_state or [p.detach().clone() for p in net.parameters()]
        return [p.numpy().astype(np.float32) for p in params]  # w1 [h, d], b1, w2 [m, h], b2

    def predict(self, feats: Mapping[str, np.ndarray], emb: np.ndarray) -> np.ndarray:
        x = self._inputs(self._raw(feats, emb))
        p = np.zeros((len(x), len(self.lo_)))
        for w1, b1, w2, b2 in self.nets_:
            z = np.maximum(x @ w1.T + b1, 0.0) @ w2.T + b2
            p += 1.0 / (1.0 + np.exp(-np.clip(z.astype(np.float64), -50.0, 50.0)))  # clip: no overflow
        p /= len(self.nets_)
        return (self.lo_ + (self.hi_ - self.lo_) * p).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"j_mean": self.mean_, "j_scale": self.scale_, "j_lo": self.lo_, "j_hi": self.hi_}
        for k, net in enumerate(self.nets_):
            for i, a in enumerate(net):
                out[f"j_net{k}_{i}"] = a
        return out

    @classmethod
    def from_arrays(cls, scorers: Sequence[str], arrays: Mapping[str, np.ndarray]) -> JointStack:
        self = cls()
        self.scorers_ = list(scorers)
        self.mean_, self.scale_ = np.asarray(arrays["j_mean"]), np.asarray(arrays["j_scale"])
        self.lo_, self.hi_ = np.asarray(arrays["j_lo"]), np.asarray(arrays["j_hi"])
        self.nets_ = []
        k = 0
        while f"j_net{k}_0" in arrays:
            self.nets_.append([np.asarray(arrays[f"j_net{k}_{i}"]) for i in range(4)])
            k += 1
        self.n_seeds = len(self.nets_)
        return self
