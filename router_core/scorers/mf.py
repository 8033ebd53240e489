"""Matrix-factorisation scorer (RouteLLM's "mf"), for any list of models.

quality q[p, m] = w^T (v_m * (P e_p)) + b_m: v_m a learned model vector, P a projection of the prompt
embedding e_p, b_m a per-model prior. Trained on battles with the BT loss BCE(sigmoid(q_a - q_b), outcome)
(ties are 0.5 targets, battles weighted), which is symmetric in a/b by construction. Early stopping on
a prompt-level hash split of the training prompts. On small data the batch shrinks so that every epoch
still takes ``min_steps_per_epoch`` optimiser steps: with one 2,048-battle batch per epoch a few hundred
battles got a few dozen steps, and the scorer stayed close to its random initialisation (held-out APGR
below 0.5 on some splits, docs/routers.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from router_core.scorers.base import ScoreKind, ScorerBase
from router_core.training_data import split_prompts


def _module(n_models: int, in_dim: int, dim: int, generator):
    """The MF network to train, initialised from ``generator`` (the draws, in order, of the default
    ``nn.Linear`` / ``nn.Embedding`` initialisation) instead of torch's global RNG."""
    import math

    import torch
    from torch import nn

    class MF(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.utils.skip_init(nn.Linear, in_dim, dim, bias=False)
            self.model_vec = nn.utils.skip_init(nn.Embedding, n_models, dim)
            self.head = nn.utils.skip_init(nn.Linear, dim, 1, bias=False)
            self.model_bias = nn.utils.skip_init(nn.Embedding, n_models, 1)

        def forward(self, e: torch.Tensor) -> torch.Tensor:  # [n, in_dim] -> [n, M]
            h = self.proj(e)  # [n, d]
            inter = h[:, None, :] * self.model_vec.weight[None, :, :]  # [n, M, d]
            return self.head(inter)[..., 0] + self.model_bias.weight[:, 0][None, :]

    net = MF()
    with torch.no_grad():
        nn.init.kaiming_uniform_(net.proj.weight, a=math.sqrt(5), generator=generator)
        nn.init.normal_(net.model_vec.weight, generator=generator)
        nn.init.kaiming_uniform_(net.head.weight, a=math.sqrt(5), generator=generator)
        nn.init.normal_(net.model_bias.weight, generator=generator)  # drawn, then zeroed, as nn does
        nn.init.zeros_(net.model_bias.weight)
    return net


class MFScorer(ScorerBase):
    name: ClassVar[str] = "mf"
    output: ClassVar[ScoreKind] = "rating"
    needs_text: ClassVar[bool] = False
    seed_param: ClassVar[str | None] = "seed"  # train_router's seed goes here

    def __init__(
        self,
        dim: int = 64,
        lr: float = 3e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 2048,
        max_epochs: int = 60,
        patience: int = 4,
        valid_frac: float = 0.1,
        min_steps_per_epoch: int = 16,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self.dim = dim
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.valid_frac = valid_frac
        self.min_steps_per_epoch = min_steps_per_epoch
        self.seed = seed
        self.verbose = verbose

    def fit(self, data: Any, embeddings: np.ndarray) -> MFScorer:
        import torch

        if data.n_battles == 0:
            raise ValueError("mf: no battles to train on")
        self.models_ = list(data.models)
        emb = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
        net = _module(len(self.models_), emb.shape[1], self.dim, torch.Generator().manual_seed(self.seed))
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)

        valid_prompt = split_prompts(data.prompts, self.valid_frac, salt="mf-early-stop")
        is_valid = valid_prompt[data.battle_prompt]
        if is_valid.all() or not is_valid.any():  # tiny data: no usable split, train on everything
            is_valid = np.zeros(data.n_battles, dtype=bool)
        tensors = [
            torch.from_numpy(np.asarray(x))
            for x in (
                data.battle_prompt,
                data.battle_a,
                data.battle_b,
                data.battle_outcome,
                data.battle_weight,
            )
        ]
        tr = torch.from_numpy(np.flatnonzero(~is_valid))
        va = torch.from_numpy(np.flatnonzero(is_valid))
        gen = torch.Generator().manual_seed(self.seed)
        batch = min(self.batch_size, max(64, len(tr) // max(self.min_steps_per_epoch, 1)))

        def loss_on(idx: torch.Tensor) -> torch.Tensor:
            p, a, b, o, w = (t[idx] for t in tensors)
            q = net(emb[p])
            diff = q.gather(1, a[:, None])[:, 0] - q.gather(1, b[:, None])[:, 0]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(diff, o, reduction="none")
            return (loss * w).sum() / w.sum().clamp(min=1e-12)

        best, best_state, bad, self.history_ = float("inf"), None, 0, []
        for epoch in range(self.max_epochs):
            net.train()
            for chunk in tr[torch.randperm(len(tr), generator=gen)].split(batch):
                opt.zero_grad()
                loss_on(chunk).backward()
                opt.step()
            if len(va) == 0:
                continue
            net.eval()
            with torch.no_grad():
                v = float(loss_on(va))
            self.history_.append(v)
            if self.verbose:
                print(f"  mf epoch {epoch + 1}: valid BT loss {v:.4f}", flush=True)
            if v < best - 1e-5:
                best, bad = v, 0
                best_state = {k: t.clone() for k, t in net.state_dict().items()}
            else:
                bad += 1
                if bad >= self.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        self.valid_loss_ = best if best_state is not None else None
        self.weights_ = {k: t.detach().numpy().copy() for k, t in net.state_dict().items()}
        return self

    def score(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """The network's forward pass in numpy: scoring needs no torch, whose import (with the
        ``torch._dynamo`` that building the module pulls in) would take about 2 s of every Spark
        worker's start."""
        w = self.weights_
        # head(h * v_m) = h . (v_m * head): one [d, M] matrix for all models
        per_model = (w["model_vec.weight"] * w["head.weight"][0][None, :]).T
        e = np.asarray(embeddings, dtype=np.float32)
        out = (e @ w["proj.weight"].T) @ per_model + w["model_bias.weight"][:, 0][None, :]
        return out.astype(np.float32, copy=False)

    def _json_state(self) -> dict[str, Any]:
        return {"in_dim": int(self.weights_["proj.weight"].shape[1])}

    def _manifest_facts(self) -> dict[str, Any]:
        return {"valid_loss": self.valid_loss_}

    def _save_state(self, directory: str) -> None:
        from safetensors.numpy import save_file

        save_file(
            {k: np.ascontiguousarray(v) for k, v in self.weights_.items()},
            os.path.join(directory, "mf.safetensors"),
        )

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        from safetensors.numpy import load_file

        weights = load_file(os.path.join(directory, "mf.safetensors"))
        shapes = {k: v.shape for k, v in weights.items()}
        expected = {
            "proj.weight": (self.dim, meta["in_dim"]),
            "model_vec.weight": (len(self.models_), self.dim),
            "head.weight": (1, self.dim),
            "model_bias.weight": (len(self.models_), 1),
        }
        if shapes != expected:
            raise ValueError(f"mf.safetensors holds {shapes}, the manifest describes {expected}")
        self.weights_ = weights
        self.valid_loss_ = params.get("valid_loss")
