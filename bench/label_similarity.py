"""label_similarity on the shared data: how close routed prompts are to a router's training prompts.

Training prompts: the --train files less the prompts that ``--holdout`` (salt ``holdout``, as
``train --holdout``) leaves out. Prints the training prompts' own nearest-other similarity (what
``train`` records in the manifest) and the ``label_similarity`` summary of each probe set: the held-out
prompts of the training files, and every ``--probe`` file (the route log's summary line, per set).

    .venv/bin/python bench/label_similarity.py --train ../shared/data/mmlu_dev.parquet \\
        --probe ../shared/data/alpaca_eval2_battles.parquet --probe ../shared/data/llmrouter_test.parquet \\
        --holdout 0.3 --threads 1 --embed-cache /tmp/embcache
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.local_embedding import embed_prompts  # noqa: E402
from router_core.embedder import load_embedder  # noqa: E402
from router_core.label_coverage import (  # noqa: E402
    LabelIndex,
    nearest_other_similarity,
    similarity_summary,
)
from router_core.training_data import load_training_data, split_prompts  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", action="append", required=True)
    ap.add_argument("--probe", action="append", default=[])
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--embed-cache", default=None)
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    embedder = load_embedder("minilm", threads=args.threads)

    def embed(texts: list[str]) -> np.ndarray:
        return embed_prompts(embedder, texts, args.embed_cache, lambda m: print(m, file=sys.stderr))

    prompts = load_training_data(args.train).prompts
    held = split_prompts(prompts, args.holdout, salt="holdout")
    emb = embed(prompts)
    train_emb = emb[~held]
    index = LabelIndex(train_emb)
    rows = {
        "training prompts (nearest other)": similarity_summary(nearest_other_similarity(train_emb)),
        "held-out prompts of --train": similarity_summary(index.similarity(emb[held])),
    }
    for path in args.probe:
        probe = embed(load_training_data([path]).prompts)
        rows[Path(path).stem] = similarity_summary(index.similarity(probe))
    print(json.dumps({"train": args.train, "train_prompts": int((~held).sum()), "sets": rows}, indent=2))


if __name__ == "__main__":
    main()
