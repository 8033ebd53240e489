"""Which prompt signals rank a pair, measured on the TRAINING side only (never on held-out prompts).

    .venv/bin/python bench/inner_split_signal.py --embed-cache /tmp/embcache

Drops the ``--holdout`` share of prompts that ``train/evaluate --holdout`` test on, splits the rest again
(salt ``tune``, ``--inner`` share as the inner test) and reports the inner APGR / CPT50 of single signals
and of equal-weight means of their standardised logits (what the default ensemble does): kNN over
MiniLM embeddings, the TF-IDF + logistic-regression baseline, and the prompt-shape scorer. This is how
the ``shape`` scorer was chosen (docs/routers.md); the held-out split was not used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"


def inner_split(path: str, holdout: float = 0.3, inner: float = 0.25):
    """(training side of ``--holdout``, its inner-train indices, its inner-test indices): the split
    the training-side benches tune on (salt ``tune``), never touching the held-out prompts."""
    from router_core.training_data import load_training_data, split_prompts

    ts = load_training_data([path])
    ts = ts.subset(np.flatnonzero(~split_prompts(ts.prompts, holdout, salt="holdout")))
    test = split_prompts(ts.prompts, inner, salt="tune")
    return ts, np.flatnonzero(~test), np.flatnonzero(test)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA / "mmlu_dev.parquet"))
    ap.add_argument("--strong", default="gpt-4-1106-preview")
    ap.add_argument("--weak", default="mistralai/Mixtral-8x7B-Instruct-v0.1")
    ap.add_argument("--holdout", type=float, default=0.3, help="share held out by train/evaluate --holdout")
    ap.add_argument("--inner", type=float, default=0.25, help="inner test share of the training side")
    ap.add_argument("--embed-cache", default=None, help="embedding cache directory (as in train/evaluate)")
    args = ap.parse_args()

    from jobs.local_embedding import cached_encode
    from router_core.baseline import TfidfPairBaseline
    from router_core.embedder import load_embedder
    from router_core.evaluation import pair_metrics
    from router_core.scorers.knn import KNNScorer
    from router_core.scorers.shape import ShapeScorer
    from router_core.stacks import logit
    from router_core.targets import pair_targets

    ts, ti, vi = inner_split(args.data, args.holdout, args.inner)
    emb_model = load_embedder("minilm")
    emb = cached_encode(emb_model.encode, emb_model.id, ts.prompts, args.embed_cache, print)
    a, b = ts.subset(ti), ts.subset(vi)
    tga, tgb = pair_targets(a, args.strong, args.weak), pair_targets(b, args.strong, args.weak)
    texts_b = [b.prompts[i] for i in tgb.prompt_idx]
    probs = {
        "knn": KNNScorer().fit(a, emb[ti]).win_prob(emb[vi][tgb.prompt_idx], None, args.strong, args.weak),
        "tfidf": TfidfPairBaseline()
        .fit([a.prompts[i] for i in tga.prompt_idx], tga.q_strong, tga.q_weak)
        .score(texts_b),
        "shape": ShapeScorer().fit(a).win_prob(None, texts_b, args.strong, args.weak),
    }
    z = {k: (logit(v) - logit(v).mean()) / logit(v).std() for k, v in probs.items()}
    rows = {
        **probs,
        "knn+tfidf": z["knn"] + z["tfidf"],
        "knn+tfidf+shape": z["knn"] + z["tfidf"] + z["shape"],
    }
    print(
        f"training side {len(ts.prompts):,} prompts: "
        f"inner train {len(ti):,}, inner test {len(tgb.prompt_idx):,}"
    )
    print(f"{'signal':<18}{'APGR':>8}{'CPT50':>8}")
    for k, v in rows.items():
        m = pair_metrics(tgb.q_strong, tgb.q_weak, np.asarray(v, np.float64), n_boot=0)
        print(f"{k:<18}{m['apgr']['value']:>8.3f}{m['cpt']['50']['value']:>8.1%}")
    c = np.corrcoef([z["knn"], z["tfidf"], z["shape"]])
    print(f"correlation of standardised logits: shape/knn {c[2, 0]:.2f}, shape/tfidf {c[2, 1]:.2f}")


if __name__ == "__main__":
    main()
