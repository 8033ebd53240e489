"""Leave-one-domain-out learning curves of N-model routers: how well a router trained on other task
families picks among the 9 LLMRouter models on a family it was not trained on, given n labelled prompts
of that family (``train --target-data``).

For each held-out LLMRouter task family (``bench/domains.py``) and each n: n prompts are drawn from the
family's pool (one draw per seed), the N-model router is trained on the other families plus those n
(marked as target data), and AIQ (average quality of the quality-vs-cost hull over the single models'
cost range, ``router_core.evaluation``) is measured on the family's test part, each model's cost per
prompt its input + output price (``llmrouter_models.json``; token counts are unknown). References on the
same cells:

- ``generic``: the default N-model router trained on the other families only (n = 0 for every n);
- ``target-knn`` / ``target-lr``: kNN (``target_knn``'s neighbourhood) / one logistic regression per
  model on the embeddings, fitted on the n target prompts alone;
- ``tfidf``: TF-IDF + one logistic regression per model (``router_core.baseline``) on the other
  families plus the n;
- ``zero-router``: the hull of the single models (mixing them at random), what routing has to beat.

Every method is scored on the same bootstrap resamples of the test part; a cell's CI is the 2.5-97.5%
range of the seed-mean AIQ over those resamples.

    .venv/bin/python bench/transfer_protocol_multi.py --out /tmp/transfer_multi.json

Figures: docs/routers-n-model.md, "Routing your own traffic".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from domains import (  # noqa: E402
    LLMROUTER_FAMILIES,
    SHARED,
    Domain,
    HelpFormatter,
    add_split_options,
    llmrouter_domains,
)
from transfer_protocol import (  # noqa: E402
    TEST_SALT,
    add_protocol_options,
    cells_of,
    finish_protocol_args,
    learning_curve,
    means_over_domains,
    router_checks,
    run_protocol,
    table,
    train_on_rows,
)

NS = (0, 50, 100, 200, 400)
METHODS = ("router", "generic", "target-knn", "target-lr", "tfidf", "zero-router")
REFERENCES = ("generic", "target-knn", "target-lr", "tfidf", "zero-router")


def model_costs(models: list[str]) -> np.ndarray:
    """USD per prompt of each model: input + output price per 1M tokens (the shared file's prices)."""
    prices = json.loads((SHARED / "llmrouter_models.json").read_text())
    return np.array([prices[m]["input_price"] + prices[m]["output_price"] for m in models], np.float64)


def aiq_resampled(true_q: np.ndarray, cost: np.ndarray, pred: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[0] AIQ on the test part, [1:] one per bootstrap resample (rows of ``weights``)."""
    from router_core.evaluation import _sweep_points, lambda_grid, policy_choices, resampled_summaries

    pred = np.asarray(pred, np.float64)
    w = np.vstack([np.ones((1, len(true_q))), weights])
    pc, pq = _sweep_points(policy_choices(pred, cost, lambda_grid(pred, cost)), true_q, cost, w)
    return np.array([s.aiq for s in resampled_summaries(pc, pq, cost, w)])


def zero_router_resampled(true_q: np.ndarray, cost: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The same for the hull of the single models (each resample's mean cost and quality per model)."""
    from router_core.evaluation import resampled_summaries

    w = np.vstack([np.ones((1, len(true_q))), weights])
    total = w.sum(axis=1, keepdims=True)
    return np.array([s.aiq for s in resampled_summaries((w @ cost) / total, (w @ true_q) / total, cost, w)])


class Cell:
    """One (family, n, seed): its training rows and each method's predicted quality on the test part."""

    def __init__(self, d: Domain, emb: np.ndarray, picked: np.ndarray, a: argparse.Namespace) -> None:
        from router_core.outcomes import model_outcomes

        self.d, self.emb, self.picked, self.a = d, emb, picked, a
        self.models = list(d.data.models)
        idx, self.true_q = model_outcomes(d.data.subset(d.test), self.models)
        self.test_rows = d.test[idx]
        self.test_texts = [d.data.prompts[i] for i in self.test_rows]

    def router(self, rows: np.ndarray, target: np.ndarray | None) -> np.ndarray:
        r = train_on_rows(self.d, self.emb, rows, target, self.a, (None, None))
        q = r.score(self.emb[self.test_rows], self.test_texts)["predicted_quality"]
        return self._columns(np.asarray(q, np.float64), list(r.models))

    def _columns(self, q: np.ndarray, models: list[str]) -> np.ndarray:
        return q[:, [models.index(m) for m in self.models]]

    def target_knn(self) -> np.ndarray:
        from router_core.scorers.knn import KNNScorer
        from router_core.scorers.target import TargetKNNScorer

        rows = np.sort(self.picked)
        params = {k: v for k, v in TargetKNNScorer().get_params().items() if k != "sources"}
        data = self.d.data.subset(rows)
        knn = KNNScorer(**params).fit(data, self.emb[rows])
        return self._columns(np.asarray(knn.score(self.emb[self.test_rows]), np.float64), list(data.models))

    def target_lr(self) -> np.ndarray:
        from router_core.stacks.logistic import fit_soft_logistic

        rows = np.sort(self.picked)
        out = np.zeros(self.true_q.shape)
        for j, m in enumerate(self.models):
            y = self.d.data.scores[rows, self.d.data.models.index(m)]
            ok = ~np.isnan(y)
            coef, b = fit_soft_logistic(self.emb[rows][ok], y[ok])
            out[:, j] = self.emb[self.test_rows] @ coef + b
        return out

    def tfidf(self) -> np.ndarray:
        from router_core.baseline import TfidfMultiBaseline

        rows = np.sort(np.r_[self.d.source, self.picked])
        cols = [self.d.data.models.index(m) for m in self.models]
        q = self.d.data.scores[rows][:, cols].astype(np.float64)
        use = ~np.isnan(q).all(axis=1)
        texts = [self.d.data.prompts[i] for i in rows[use]]
        return np.asarray(TfidfMultiBaseline().fit(texts, q[use]).score(self.test_texts), np.float64)


def run_domain(d: Domain, emb: np.ndarray, a: argparse.Namespace) -> dict:
    """{method: {n: [seeds x (1 + n_boot)] AIQ}} for one family."""
    from router_core.evaluation import bootstrap_weights

    base = Cell(d, emb, np.zeros(0, np.int64), a)
    cost = np.tile(model_costs(base.models), (len(base.test_rows), 1))
    weights = bootstrap_weights(len(base.test_rows), a.n_boot, np.random.default_rng(a.seed))
    score = lambda pred: aiq_resampled(base.true_q, cost, pred, weights)  # noqa: E731
    generic = score(base.router(d.source, None)) if {"router", "generic"} & set(a.methods) else None
    fixed = {"generic": generic, "zero-router": zero_router_resampled(base.true_q, cost, weights)}

    def runs_of(picked: np.ndarray) -> dict:
        c = Cell(d, emb, picked, a)
        return {
            "router": lambda: score(c.router(np.r_[d.source, c.picked], c.picked)),
            "target-knn": lambda: score(c.target_knn()),
            "target-lr": lambda: score(c.target_lr()),
            "tfidf": lambda: score(c.tfidf()),
        }

    return learning_curve(d, a, fixed, generic, {"router"}, runs_of)


def summarise(results: dict[str, dict]) -> dict:
    """Per (family, n) and per n over families: each method's seed-mean AIQ with its CI, the best
    reference, and whether the default router is at least that best reference."""
    cells = cells_of(results, REFERENCES)
    means = means_over_domains(cells, METHODS)
    return {"cells": cells, "mean_over_domains": means, "checks": router_checks(cells, means, REFERENCES)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--out", default="/tmp/transfer_multi.json", help="JSON results file")
    p.add_argument("--domains", default="word-problem,passage,code", help="held-out LLMRouter task families")
    add_protocol_options(p, NS, METHODS)
    add_split_options(p, source_max=2500, n_boot=300)
    a = finish_protocol_args(p.parse_args(argv))
    a.domains = [d.removeprefix("llmrouter-") for d in a.domains]
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if not (SHARED / "llmrouter_train.parquet").exists():
        print(f"error: the shared data is not at {SHARED} (llmrouter_train.parquet missing)", file=sys.stderr)
        return 2
    unknown = [d for d in a.domains if d not in LLMROUTER_FAMILIES]
    if unknown:
        print(f"error: unknown families {unknown}; known: {', '.join(LLMROUTER_FAMILIES)}", file=sys.stderr)
        return 2
    domains = llmrouter_domains(a.domains, a.test_frac, a.source_max or None, a.seed, TEST_SALT, pair=None,
                                all_models=True)  # fmt: skip
    run_protocol(
        domains, a, run_domain, summarise, lambda s: table(s, [m for m in METHODS if m in a.methods])
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
