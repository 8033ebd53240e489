"""BERT alone on the small-data proxy of ``small_data_pair.py``, for several epoch counts.

    .venv/bin/python bench/small_data_bert_epochs.py --epochs 2,6,12 --seeds 3

With ~180-220 training prompts, 2 epochs of batch 32 are about a dozen optimiser steps. This bench fits
``BertScorer(epochs=E, min_steps=0)`` (exactly E epochs; the default ``min_steps=40`` came out of this
bench) on the same 30% of the math word problems (same pairs and splits as ``small_data_pair.py``) and
prints held-out APGR per run and the mean per E. Training data only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_data_pair import DATA, is_word_problem, pair_splits  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA / "llmrouter_train.parquet"))
    ap.add_argument("--frac", type=float, default=0.3)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", default="2,6,12", help="comma-separated epoch counts")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from router_core.evaluation import pair_metrics
    from router_core.scorers.bert import BertScorer
    from router_core.targets import pair_targets
    from router_core.training_data import load_training_data

    torch.set_num_threads(args.threads)
    epochs = [int(e) for e in args.epochs.split(",")]
    ts = load_training_data([args.data])
    problems = ts.subset(np.flatnonzero([is_word_problem(q) for q in ts.prompts]))
    apgr: dict[int, list[float]] = {e: [] for e in epochs}
    for strong, weak, seed, pair, tr, te in pair_splits(problems, args.frac, args.seeds):
        train, test = pair.subset(tr), pair.subset(te)
        tg = pair_targets(test, strong, weak)
        texts = [test.prompts[i] for i in tg.prompt_idx]
        row = []
        for e in epochs:
            t0 = time.perf_counter()
            bert = BertScorer(epochs=e, min_steps=0, random_state=seed, verbose=False)
            p = bert.fit(train).win_prob(None, texts, strong, weak)
            m = pair_metrics(tg.q_strong, tg.q_weak, np.asarray(p, np.float64), n_boot=0)
            apgr[e].append(m["apgr"]["value"])
            row.append(f"epochs {e}: {apgr[e][-1]:.3f} ({time.perf_counter() - t0:.0f}s)")
        print(f"{strong} vs {weak}, split {seed}: " + ", ".join(row), flush=True)
    for e, v in apgr.items():
        print(f"epochs {e}: mean held-out APGR {np.mean(v):.3f} over {len(v)} runs")


if __name__ == "__main__":
    main()
