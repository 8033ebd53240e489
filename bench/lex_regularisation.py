"""How strongly to regularise the lex scorer, measured on TRAINING data only (never held-out prompts).

    .venv/bin/python bench/lex_regularisation.py [--c 0.03,0.1,0.5,2]

- Pair, MMLU (`mmlu_dev.parquet`): the training side of `--holdout 0.3`, inner 25% split (salt `tune`):
  APGR / CPT50 of lex alone for each c.
- N models, LLMRouter (`llmrouter_train.parquet`): 5-fold cross-validation; lex's per-model ratings are
  calibrated per model on a second, independent 5-fold split, then AIQ and best quality are computed with
  `llmrouter_models.json` prices as in `batch-router evaluate`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))  # inner_split_signal
DATA = REPO.parent / "shared" / "data"


def pair_mmlu(cs: list[float]) -> None:
    from inner_split_signal import inner_split

    from router_core.evaluation import pair_metrics
    from router_core.scorers.lex import LexScorer
    from router_core.targets import pair_targets

    strong, weak = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
    ts, ti, vi = inner_split(str(DATA / "mmlu_dev.parquet"))
    a, b = ts.subset(ti), ts.subset(vi)
    tg = pair_targets(b, strong, weak)
    texts = [b.prompts[i] for i in tg.prompt_idx]
    for c in cs:
        p = LexScorer(c=c).fit(a).win_prob(None, texts, strong, weak)
        m = pair_metrics(tg.q_strong, tg.q_weak, np.asarray(p, np.float64), n_boot=0)
        print(
            f"MMLU inner split  c={c:<6} APGR {m['apgr']['value']:.4f}  CPT50 {m['cpt']['50']['value']:.1%}"
        )


def n_model_llmrouter(cs: list[float]) -> None:
    from router_core.evaluation import multi_metrics
    from router_core.scorers.lex import LexScorer
    from router_core.stacks import QualityStack, quality_features
    from router_core.training import score_range
    from router_core.training_data import load_training_data

    tr = load_training_data([str(DATA / "llmrouter_train.parquet")])
    y = tr.scores.astype(np.float64)
    n, m = y.shape
    prices = json.loads((DATA / "llmrouter_models.json").read_text())
    cost = np.tile([prices[k]["input_price"] + prices[k]["output_price"] for k in tr.models], (n, 1))
    fold, fold2 = np.arange(n) % 5, np.arange(n) % 5
    np.random.default_rng(0).shuffle(fold)
    np.random.default_rng(7).shuffle(fold2)
    preds = {}
    for c in cs:
        oof = np.zeros((n, m))
        for f in range(5):
            ti, vi = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            oof[vi] = LexScorer(c=c).fit(tr.subset(ti)).score(None, [tr.prompts[i] for i in vi])
        feat, cal = quality_features("rating", oof), np.zeros((n, m))
        for g in range(5):  # the router's own per-model calibration (QualityStack), cross-fitted
            fit, out = fold2 != g, fold2 == g
            stack = QualityStack().fit({"lex": feat[fit]}, y[fit], *score_range(y[fit]))
            cal[out] = stack.predict({"lex": feat[out]})
        preds[f"c={c}"] = cal
    res = multi_metrics(y, cost, preds, tr.models, n_boot=0)["routers"]
    for name, r in res.items():
        print(
            f"LLMRouter 5-fold  {name:<8} AIQ {r['aiq']['value']:.4f}  "
            f"best quality {r['best_quality']['value']:.4f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--c", default="0.03,0.1,0.5,2", help="comma-separated inverse L2 strengths")
    cs = [float(x) for x in ap.parse_args().c.split(",")]
    pair_mmlu(cs)
    n_model_llmrouter(cs)


if __name__ == "__main__":
    main()
