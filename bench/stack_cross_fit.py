"""Cross-fitted stack (`--stack-folds 5`) vs one held-out fold (`--stack-folds 1`), on TRAINING data only.

    .venv/bin/python bench/stack_cross_fit.py llmrouter --embed-cache /tmp/nm/embcache
    .venv/bin/python bench/stack_cross_fit.py mmlu --embed-cache /tmp/embcache
    .venv/bin/python bench/stack_cross_fit.py alpaca --embed-cache /tmp/embcache

Outer 5-fold cross-validation by a hash of the prompt text (salt `outer`): `train_router` (scorers
sw, mf, knn, lex; no known prompts, so an outer-test prompt is never looked up) is trained on four folds
with each `stack_folds` setting and scores the fifth; the out-of-fold predictions of all prompts are then
evaluated once, plus per outer fold. N models (llmrouter_train, llmrouter_models.json prices): AIQ and
best quality as `batch-router evaluate` computes them. Pairs: AUC on decisive targets and APGR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
SETS = {
    "llmrouter": ("llmrouter_train.parquet", None, None),
    "mmlu": ("mmlu_dev.parquet", "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"),
    "alpaca": ("alpaca_eval2_battles.parquet", "gpt4_1106_preview", "gpt-3.5-turbo-1106"),
}
SETTINGS = {"one held-out fold": 1, "cross-fitted, 5 folds": 5}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", choices=sorted(SETS))
    ap.add_argument("--embed-cache", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from bench.outer_cv import outer_predictions
    from jobs.local_embedding import cached_encode
    from router_core.embedder import load_embedder
    from router_core.evaluation import pair_metrics
    from router_core.targets import pair_targets, strong_win_target
    from router_core.training_data import fold_prompts, load_training_data

    torch.set_num_threads(args.threads)
    file, strong, weak = SETS[args.data]
    ts = load_training_data([str(DATA / file)])
    embedder = load_embedder("minilm", threads=args.threads)
    emb = cached_encode(embedder.encode, embedder.id, list(ts.prompts), args.embed_cache, print)
    outer = fold_prompts(ts.prompts, 5, salt="outer")
    settings = {
        name: {"stack_folds": folds, "joint_stack": False}  # the per-model linear stack, as in session 9
        for name, folds in SETTINGS.items()
    }
    pred = outer_predictions(ts, emb, embedder.id, outer, settings, strong=strong, weak=weak)

    print(f"\n{args.data}: {len(ts.prompts):,} training prompts, outer 5-fold CV")
    if strong is None:
        from bench.outer_cv import report_n_model

        report_n_model(ts, outer, pred)
    else:
        from sklearn.metrics import roc_auc_score

        tg = pair_targets(ts, strong, weak)
        t = strong_win_target(tg.q_strong, tg.q_weak)
        decisive, fold_of = t != 0.5, outer[tg.prompt_idx]
        for k, p in pred.items():
            pr = p[tg.prompt_idx]
            m = pair_metrics(tg.q_strong, tg.q_weak, pr, n_boot=0)
            auc = roc_auc_score(t[decisive] > 0.5, pr[decisive])
            per = [
                round(
                    float(roc_auc_score(t[decisive & (fold_of == o)] > 0.5, pr[decisive & (fold_of == o)])), 4
                )
                for o in range(5)
            ]
            print(f"{k:<24} AUC {auc:.4f}  APGR {m['apgr']['value']:.4f}  per outer fold AUC {per}")


if __name__ == "__main__":
    main()
