"""Measure BERT scorer CPU training time, held-out pair quality, and inference speed vs the bare embedder.

    .venv/bin/python bench/bert_train_time.py --holdout 0.3 --threads 2 --out /tmp/bert_bench.json

``--max-train N`` bounds the run on a busy CPU; ``extrapolated_seconds_10k_prompts`` is the measured time
per prompt-epoch scaled linearly to 10,000 prompts at the same epochs (training is one pass per prompt
per epoch, so it scales linearly).

Trains ``BertScorer`` on the non-held-out prompts of a correctness / battle file (default: MMLU dev,
GPT-4 vs Mixtral), then on the held-out prompts reports APGR / CPT50 of the BERT score alone and the
prompts/s of ``BertScorer.score``, ``BertScorer.embed_and_score`` and ``MiniLMEmbedder.encode``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"


def _rate(fn, texts) -> float:
    t0 = time.perf_counter()
    fn(texts)
    return len(texts) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA / "mmlu_dev.parquet"), help="training/eval data file")
    ap.add_argument("--strong", default="gpt-4-1106-preview", help="strong model name in the data")
    ap.add_argument("--weak", default="mistralai/Mixtral-8x7B-Instruct-v0.1", help="weak model name")
    ap.add_argument("--holdout", type=float, default=0.3, help="held-out fraction (hash split; 0 = none)")
    ap.add_argument(
        "--salt", default="holdout", help="salt of the hash split (same rule as evaluate --holdout)"
    )
    ap.add_argument(
        "--max-train",
        type=int,
        default=None,
        help="train on a seeded random subsample of at most N training prompts (bounds CPU time; "
        "the time per prompt-epoch is what extrapolates)",
    )
    ap.add_argument("--epochs", type=int, default=2, help="BERT epochs")
    ap.add_argument("--trainable-layers", type=int, default=2, help="top MiniLM layers fine-tuned")
    ap.add_argument("--max-length", type=int, default=128, help="tokens per prompt")
    ap.add_argument("--lr", type=float, default=1e-4, help="learning rate of the top layers")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--device", default=None, help="torch device (default: CUDA when present, else CPU)")
    ap.add_argument("--infer-sample", type=int, default=1000, help="held-out prompts timed at inference")
    ap.add_argument("--out", default=None, help="write the result JSON here too")
    a = ap.parse_args()

    import torch

    from router_core.embedder import MiniLMEmbedder
    from router_core.evaluation import pair_metrics
    from router_core.outcomes import pair_outcomes
    from router_core.scorers.bert import BertScorer
    from router_core.training_data import load_training_data, split_prompts

    torch.set_num_threads(a.threads)
    data = load_training_data([a.data]).pair(a.strong, a.weak)
    held = split_prompts(data.prompts, a.holdout, salt=a.salt)
    train_idx = np.flatnonzero(~held)
    if a.max_train and len(train_idx) > a.max_train:
        train_idx = np.sort(np.random.default_rng(0).choice(train_idx, a.max_train, replace=False))
    train = data.subset(train_idx)
    scorer = BertScorer(
        trainable_layers=a.trainable_layers,
        max_length=a.max_length,
        epochs=a.epochs,
        lr=a.lr,
        device=a.device,
    )
    t0 = time.perf_counter()
    scorer.fit(train, None)
    fit_s = time.perf_counter() - t0
    res: dict = {
        "command": " ".join(["python", *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {a.threads}",
        "device": scorer.device_,
        "train_prompts": scorer.n_train_,
        "epochs": a.epochs,
        "trainable_layers": a.trainable_layers,
        "max_length": a.max_length,
        "fit_seconds": round(fit_s, 1),
        "train_prompt_epochs_per_s": round(scorer.n_train_ * a.epochs / fit_s, 1),
        "extrapolated_seconds_10k_prompts": round(10_000 * fit_s / scorer.n_train_),
    }
    if held.any():
        test = data.subset(np.flatnonzero(held))
        tg = pair_outcomes(test, a.strong, a.weak)
        texts = [test.prompts[i] for i in tg.prompt_idx]
        p = scorer.win_prob(None, texts, a.strong, a.weak)
        m = pair_metrics(tg.q_strong, tg.q_weak, p, n_boot=500, seed=0)
        res.update(
            held_out_prompts=len(texts),
            apgr=m["apgr"]["value"],
            apgr_ci95=m["apgr"]["ci95"],
            cpt50=m["cpt"]["50"]["value"],
            cpt50_ci95=m["cpt"]["50"]["ci95"],
        )
        sample = texts[: a.infer_sample]
        emb = MiniLMEmbedder(torch_threads=a.threads, device=a.device)
        emb.encode(sample[:32])  # warm-up
        res["infer_prompts_per_s"] = {
            "embedder_encode_len256": round(_rate(emb.encode, sample), 1),
            "bert_score": round(_rate(lambda t: scorer.score(None, t), sample), 1),
            "bert_embed_and_score": round(_rate(scorer.embed_and_score, sample), 1),
        }
    print(json.dumps(res, indent=2))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
