"""BERT trained on mmlu_dev + AlpacaEval with the MMLU source down-weighted: what it does to each side.

    .venv/bin/python bench/bert_source_weight.py 1.0 0.1 --threads 2

For each MMLU weight, fits ``BertScorer`` (defaults, seed 0) on the training side of ``--holdout 0.3``
(names aliased as in docs/routers.md) and prints (1) the Spearman correlation of P(GPT-4 beats Mixtral)
on the held-out AlpacaEval prompts with GPT-4's mean judged advantage over all opponents and with the
pair's own judge probability (as bench/chat_prompt_signal.py), and (2) the AUC on the held-out MMLU
questions that exactly one of the two models answers correctly. About 6 minutes per weight on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+", type=float, help="MMLU source weights to try (AlpacaEval: 1).")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    import pandas as pd
    import torch
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from bench.chat_prompt_signal import targets
    from router_core.scorers.bert import BertScorer
    from router_core.text import normalize_prompt
    from router_core.training_data import load_training_data, split_prompts

    if args.threads:
        torch.set_num_threads(args.threads)
    mmlu, alpaca = str(DATA / "mmlu_dev.parquet"), str(DATA / "alpaca_eval2_battles.parquet")
    ts = load_training_data(
        [mmlu, alpaca], aliases={"gpt4_1106_preview": STRONG, "Mixtral-8x7B-Instruct-v0.1_concise": WEAK}
    )
    held = split_prompts(ts.prompts, 0.3, salt="holdout")
    train = ts.subset(np.flatnonzero(~held))
    chat, mean, pair = targets(alpaca, 0.3, "holdout")
    mm = pd.read_parquet(mmlu)
    mm["prompt"] = mm["prompt"].map(normalize_prompt)
    mm = mm[mm["prompt"].isin(set(np.array(ts.prompts)[held]))].drop_duplicates("prompt")
    diff = mm[STRONG].astype(int).to_numpy() - mm[WEAK].astype(int).to_numpy()
    dec = diff != 0
    for w in args.weights:
        bert = BertScorer(random_state=0, verbose=False).fit(train.with_weights({"mmlu_dev": w}))
        pc = bert.win_prob(None, chat, STRONG, WEAK)
        pm = bert.win_prob(None, mm["prompt"].tolist(), STRONG, WEAK)
        auc = roc_auc_score(diff[dec] > 0, pm[dec])
        print(
            f"MMLU weight {w}: chat Spearman mean {spearmanr(pc, mean).statistic:+.3f} "
            f"pair {spearmanr(pc, pair).statistic:+.3f} | MMLU AUC {auc:.3f} ({int(dec.sum())} decisive)",
            flush=True,
        )


if __name__ == "__main__":
    main()
