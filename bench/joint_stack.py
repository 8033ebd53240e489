"""Joint stack (`train`'s default for N-model routers) vs the per-model linear stack (`--no-joint-stack`),
on TRAINING data only.

    .venv/bin/python bench/joint_stack.py --embed-cache /tmp/nm/embcache

Outer 5-fold cross-validation of llmrouter_train.parquet (9 models) by a hash of the prompt text (salt
`outer`, as bench/stack_cross_fit.py): `train_router` (scorers sw, mf, knn, lex; no known prompts, so an
outer-test prompt is never looked up) is trained on four folds with each setting and scores the fifth.
AIQ, best quality and the cost to reach the best single model are computed as `batch-router evaluate`
does, on the out-of-fold predictions of all prompts and per outer fold. Settings: stack cross-fitted over
5 folds (the default) or on one held-out 20% fold (as with BERT among the scorers); linear or joint
(`train_router(joint_stack=True)` forces the joint stack on one fold, where `train` does not use it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
SETTINGS = {
    "cross-fitted, linear": dict(stack_folds=5, joint_stack=False),
    "cross-fitted, joint": dict(stack_folds=5, joint_stack=True),
    "held-out fold, linear": dict(stack_folds=1, joint_stack=False),  # the default on one fold
    "held-out fold, joint": dict(stack_folds=1, joint_stack=True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embed-cache", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="train_router seed (MF, joint stack)")
    args = ap.parse_args()

    import torch

    from bench.outer_cv import outer_predictions, report_n_model
    from jobs.local_embedding import cached_encode
    from router_core.embedder import load_embedder
    from router_core.training_data import fold_prompts, load_training_data

    torch.set_num_threads(args.threads)
    ts = load_training_data([str(DATA / "llmrouter_train.parquet")])
    embedder = load_embedder("minilm", threads=args.threads)
    emb = cached_encode(embedder.encode, embedder.id, list(ts.prompts), args.embed_cache, print)
    outer = fold_prompts(ts.prompts, 5, salt="outer")
    pred = outer_predictions(ts, emb, embedder.id, outer, SETTINGS, seed=args.seed)

    print(f"\nllmrouter_train: {len(ts.prompts):,} prompts, outer 5-fold CV, seed {args.seed}")
    report_n_model(ts, outer, pred, width=22)


if __name__ == "__main__":
    main()
