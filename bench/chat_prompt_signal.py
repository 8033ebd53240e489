"""How well do routers rank unseen chat prompts? A less noisy target than one judge verdict per prompt.

    .venv/bin/python bench/chat_prompt_signal.py ROUTER_DIR [ROUTER_DIR ...] --embed-cache /tmp/embcache

On the AlpacaEval prompts that ``train/evaluate --holdout 0.3`` hold out, the pair's own target is one
judge verdict per prompt (GPT-4 wins 89%): APGR CIs are +-0.03 and even the oracle reaches only 0.625.
Every held-out prompt also has 57 other models' judged battles against GPT-4; their mean judge probability
of a GPT-4 win says how much GPT-4 stands out on that prompt. This prints, per router and scorer, the
Spearman correlation of P(strong beats weak) with that mean ("mean") and with the pair's own judge
probability ("pair"); 0 = no signal. The routers must be pair routers for GPT-4-1106-preview vs
Mixtral-8x7B (AlpacaEval or aliased names).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
GPT4, MIXTRAL = "gpt4_1106_preview", "Mixtral-8x7B-Instruct-v0.1_concise"


def targets(path: str, holdout: float, salt: str):
    """(held-out prompts, GPT-4's mean judged win probability over all opponents, and over Mixtral)."""
    import pandas as pd

    from router_core.text import normalize_prompt
    from router_core.training_data import split_prompts

    df = pd.read_parquet(path)
    df["prompt"] = df["prompt"].map(normalize_prompt)
    prompts = df["prompt"].unique()
    held = set(prompts[split_prompts(list(prompts), holdout, salt=salt)])
    d = df[df["prompt"].isin(held) & (df["model_b"] != GPT4)]
    mean = 1.0 - d.groupby("prompt")["p_model_b_wins"].mean()
    pair = 1.0 - d[d["model_b"] == MIXTRAL].set_index("prompt")["p_model_b_wins"]
    t = pd.concat([mean.rename("mean"), pair.rename("pair")], axis=1).dropna()
    return t.index.tolist(), t["mean"].to_numpy(), t["pair"].to_numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("routers", nargs="+", help="Pair router directories.")
    ap.add_argument("--data", default=str(DATA / "alpaca_eval2_battles.parquet"))
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--holdout-salt", default="holdout")
    ap.add_argument("--embed-cache", default=None, help="npz embedding cache shared with train/evaluate.")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    from scipy.stats import spearmanr

    from jobs.local_embedding import cached_encode
    from router_core.embedder import embedder_for_id
    from router_core.router import Router

    texts, mean, pair = targets(args.data, args.holdout, args.holdout_salt)
    rho = spearmanr(mean, pair).statistic
    print(f"{len(texts)} held-out prompts; Spearman between the mean and the pair targets {rho:+.3f}")
    for path in args.routers:
        r = Router.load(path)
        if not r.is_pair:
            sys.exit(f"{path}: not a pair router")
        emb = cached_encode(
            embedder_for_id(r.embedder_id, args.threads).encode, r.embedder_id, texts, args.embed_cache, print
        )
        out = r.score(emb, texts)
        cells = [
            f"{k.removeprefix('score_').replace('strong_win_prob', 'ensemble')} "
            f"{spearmanr(v, mean).statistic:+.3f}/{spearmanr(v, pair).statistic:+.3f}"
            for k, v in out.items()
        ]
        print(f"{path} (mean/pair): " + " | ".join(cells))


if __name__ == "__main__":
    main()
