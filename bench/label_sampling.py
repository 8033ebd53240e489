"""How many labels, and which? Simulates the labelling loop on the shared data, with ground-truth labels
standing in for the judge's verdicts.

For each held-out target domain: a starting pair router is trained on the other domains; the target domain
is split (by prompt hash) into a pool the labels come from and a test part; ``label sample``'s own
selection code (``jobs.label_sample.choose``) picks ``budget`` pool prompts with each strategy; the router
is retrained on the other domains plus those labelled prompts and scored on the test part (APGR). Every
strategy runs with the same seeds (for ``random`` the sample, for ``informative`` its k-means), and every
run is scored on the same bootstrap resamples of the test part, so the difference informative - random
gets a 95% CI that holds both the test sample's and the seeds' variation.

    .venv/bin/python bench/label_sampling.py --out /tmp/label_sampling.json  # figures: docs/routers.md

Embeddings (bundled MiniLM) are computed once into an npz cache (``--embed-cache``), which the sampling
code reads too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from domains import (  # noqa: E402
    MMLU_NARROW,
    SHARED,
    Domain,
    HelpFormatter,
    add_split_options,
    embed_domains,
    llmrouter_domains,
    pair_domains,
)

BUDGETS = (25, 50, 100, 200, 400)
STRATEGIES = ("informative", "random")
TEST_SALT = "label-sampling-bench"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def fit(d: Domain, rows: np.ndarray, emb: np.ndarray, embedder_id: str, a: argparse.Namespace):
    from router_core.training import train_router

    rows = np.sort(rows)
    return train_router(
        d.data.subset(rows), emb[rows], embedder_id, d.strong, d.weak, scorers=a.scorers, seed=0,
        stack_folds=a.stack_folds, weight_sources=a.weight_sources, log=lambda m: None,
    )  # fmt: skip


def choose_labels(d: Domain, router, strategy: str, budget: int, seed: int, cache: str) -> np.ndarray:
    """Pool rows picked by ``label sample --strategy S --n budget --seed seed`` (default threshold)."""
    from jobs.label_sample import SampleOptions, choose

    cands = pd.DataFrame(
        {"request_id": [str(i) for i in d.pool], "text": [d.data.prompts[i] for i in d.pool]}
    )
    opts = SampleOptions(
        logs="", router=None, n=budget, out="", strategy=strategy, seed=seed, embed_cache=cache
    )
    picks, _ = choose(cands, opts, router)
    return d.pool[[p.index for p in picks]]


def test_apgr(d: Domain, router, emb: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """APGR on the test part: [0] the point estimate, [1:] one per bootstrap resample (rows of weights)."""
    from router_core.evaluation import apgr_from_curve, pair_curves
    from router_core.outcomes import pair_outcomes

    t = pair_outcomes(d.data.subset(d.test), d.strong, d.weak)
    rows = d.test[t.prompt_idx]
    score = np.asarray(
        router.score(emb[rows], [d.data.prompts[i] for i in rows])["strong_win_prob"], np.float64
    )
    w = np.vstack([np.ones((1, len(rows))), weights])
    share, _, pgr = pair_curves(t.q_strong, t.q_weak, score, w)
    return apgr_from_curve(share, pgr)


def run_domain(d: Domain, emb: np.ndarray, embedder_id: str, a: argparse.Namespace) -> dict:
    from router_core.evaluation import bootstrap_weights
    from router_core.outcomes import pair_outcomes

    n_test = len(pair_outcomes(d.data.subset(d.test), d.strong, d.weak).prompt_idx)
    weights = bootstrap_weights(n_test, a.n_boot, np.random.default_rng(a.seed))
    t0 = time.time()
    start = fit(d, d.source, emb, embedder_id, a)
    res = {"domain": d.name, "strong": d.strong, "weak": d.weak, "source_prompts": len(d.source),
           "pool_prompts": len(d.pool), "test_prompts": n_test,
           "start_apgr": float(test_apgr(d, start, emb, weights)[0]), "budgets": {}}  # fmt: skip
    log(f"{d.name}: {len(d.source):,} source, {len(d.pool):,} pool, {n_test:,} test prompts; starting APGR "
        f"{res['start_apgr']:.3f} ({time.time() - t0:.0f}s)")  # fmt: skip
    for budget in [b for b in a.budgets if b <= len(d.pool)]:
        runs = {s: np.zeros((len(a.seeds), a.n_boot + 1)) for s in STRATEGIES}
        for s in STRATEGIES:
            for j, seed in enumerate(a.seeds):
                picked = choose_labels(d, start, s, budget, seed, a.embed_cache)
                router = fit(d, np.r_[d.source, picked], emb, embedder_id, a)
                runs[s][j] = test_apgr(d, router, emb, weights)
        res["budgets"][budget] = runs
        inf, rnd = runs["informative"][:, 0].mean(), runs["random"][:, 0].mean()
        log(f"{d.name} budget {budget}: informative {inf:.3f}, random {rnd:.3f} ({time.time() - t0:.0f}s)")
    return res


def _delta_boot(runs: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """informative - random per test-set resample, with the seeds resampled too (two-level bootstrap)."""
    inf, rnd = runs["informative"][:, 1:], runs["random"][:, 1:]
    n_seed, n_boot = inf.shape
    si, ri = rng.integers(n_seed, size=(n_boot, n_seed)), rng.integers(n_seed, size=(n_boot, n_seed))
    cols = np.arange(n_boot)[:, None]
    return inf[si, cols].mean(axis=1) - rnd[ri, cols].mean(axis=1)


def _ci(x: np.ndarray) -> list[float]:
    return [round(float(np.percentile(x, 2.5)), 4), round(float(np.percentile(x, 97.5)), 4)]


def summarise(results: list[dict], seed: int) -> dict:
    """Per cell, per budget (mean over the domains that have it) and overall (mean over all cells)."""
    rng = np.random.default_rng(seed + 1)
    cells, by_budget = [], {}
    for r in results:
        for budget, runs in r["budgets"].items():
            boot = _delta_boot(runs, rng)
            cell = {"domain": r["domain"], "budget": budget, "delta_boot": boot}
            for s in STRATEGIES:
                cell[s] = round(float(runs[s][:, 0].mean()), 4)
                cell[f"{s}_ci95"] = _ci(runs[s][:, 1:].mean(axis=0))
                cell[f"{s}_seeds"] = [round(float(v), 4) for v in runs[s][:, 0]]
            cell["delta"] = round(cell["informative"] - cell["random"], 4)
            cell["delta_ci95"] = _ci(boot)
            cells.append(cell)
            by_budget.setdefault(budget, []).append(cell)
    budgets = {}
    for budget, cs in sorted(by_budget.items()):
        boot = np.mean([c["delta_boot"] for c in cs], axis=0)
        budgets[budget] = {"domains": len(cs), "delta": round(float(np.mean([c["delta"] for c in cs])), 4),
                           "delta_ci95": _ci(boot)}  # fmt: skip
    if not cells:
        raise SystemExit("error: no budget fits any pool (--budgets larger than every target pool)")
    overall_boot = np.mean([c["delta_boot"] for c in cells], axis=0)
    overall = {"cells": len(cells), "delta": round(float(np.mean([c["delta"] for c in cells])), 4),
               "delta_ci95": _ci(overall_boot)}  # fmt: skip
    every = all(b["delta"] >= 0 for b in budgets.values())
    verdict = every and overall["delta_ci95"][0] > 0
    for c in cells:
        del c["delta_boot"]
    return {"cells": cells, "budgets": budgets, "overall": overall,
            "informative_never_worse": every, "informative_better_on_average": overall["delta_ci95"][0] > 0,
            "keep_informative_default": verdict}  # fmt: skip


def table(results: list[dict], summary: dict) -> str:
    lines = ["| target domain (pool / test) | start | budget | informative [95% CI] | random [95% CI] "
             "| informative - random [95% CI] |", "|---|---|---|---|---|---|"]  # fmt: skip
    start = {r["domain"]: (r["start_apgr"], r["pool_prompts"], r["test_prompts"]) for r in results}
    for c in summary["cells"]:
        s, pool, test = start[c["domain"]]
        lines.append(
            f"| {c['domain']} ({pool:,} / {test:,}) | {s:.3f} | {c['budget']} "
            f"| {c['informative']:.3f} [{c['informative_ci95'][0]:.3f}, {c['informative_ci95'][1]:.3f}] "
            f"| {c['random']:.3f} [{c['random_ci95'][0]:.3f}, {c['random_ci95'][1]:.3f}] "
            f"| {c['delta']:+.3f} [{c['delta_ci95'][0]:+.3f}, {c['delta_ci95'][1]:+.3f}] |"
        )
    for b, v in summary["budgets"].items():
        lines.append(f"| mean of {v['domains']} domains | | {b} | | | {v['delta']:+.3f} "
                     f"[{v['delta_ci95'][0]:+.3f}, {v['delta_ci95'][1]:+.3f}] |")  # fmt: skip
    o = summary["overall"]
    lines.append(f"| mean of all {o['cells']} cells | | all | | | {o['delta']:+.3f} "
                 f"[{o['delta_ci95'][0]:+.3f}, {o['delta_ci95'][1]:+.3f}] |")  # fmt: skip
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--out", default="/tmp/label_sampling.json", help="JSON results file")
    p.add_argument("--domains", default="mmlu-math,mmlu-law-ethics,alpaca-eval,llmrouter",
                   help="target domains: MMLU subject groups (mmlu-math, mmlu-law-ethics), alpaca-eval, "
                        "llmrouter (its clusters given by --llmrouter-clusters)")  # fmt: skip
    p.add_argument(
        "--llmrouter-clusters", default="0,1", help="LLMRouter cluster_ids held out, comma-separated"
    )
    p.add_argument(
        "--budgets", default=",".join(map(str, BUDGETS)), help="label budgets (skipped when above the pool)"
    )
    p.add_argument("--seeds", default="0,1,2", help="seeds of each strategy (random sample / k-means)")
    p.add_argument("--scorers", default="sw,mf", help="scorers of the router (cheap ones: no bert)")
    p.add_argument(
        "--stack-folds", type=int, default=1, help="train_router stack_folds (1: one held-out fold)"
    )
    p.add_argument("--weight-sources", action="store_true", help="fit source weights (off: equal weights)")
    add_split_options(p, source_max=1500, n_boot=1000)
    a = p.parse_args(argv)
    a.budgets = sorted(int(x) for x in a.budgets.split(","))
    a.seeds = [int(x) for x in a.seeds.split(",")]
    a.scorers = [x.strip() for x in a.scorers.split(",") if x.strip()]
    a.domains = [x.strip() for x in a.domains.split(",") if x.strip()]
    a.llmrouter_clusters = [int(x) for x in a.llmrouter_clusters.split(",")]
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if not (SHARED / "mmlu_dev.parquet").exists():
        print(f"error: the shared data is not at {SHARED} (mmlu_dev.parquet missing)", file=sys.stderr)
        return 2
    cap = a.source_max or None
    pairs = pair_domains(MMLU_NARROW, a.test_frac, cap, a.seed, TEST_SALT)
    domains = [d for d in pairs if d.name in a.domains]
    if "llmrouter" in a.domains:
        clusters = [str(c) for c in a.llmrouter_clusters]
        domains += llmrouter_domains(clusters, a.test_frac, cap, a.seed, TEST_SALT, by="cluster", pair=None)
    if not domains:
        print(f"no known domain in --domains {','.join(a.domains)}", file=sys.stderr)
        return 2
    from router_core.embedder import load_embedder

    t0, embedder = time.time(), load_embedder("minilm", threads=a.threads)
    embs = embed_domains(domains, a.embed_cache, embedder, log)
    results = []
    for d in domains:  # results are written after each domain: a long run stopped early keeps them
        results.append(run_domain(d, embs[id(d.data)], embedder.id, a))
        summary = write_results(a, results)
    print(table(results, summary))
    print(
        f"informative never worse than random per budget: {summary['informative_never_worse']}; better on "
        f"average (95% CI above 0): {summary['informative_better_on_average']} ({time.time() - t0:.0f}s)"
    )
    return 0


def write_results(a: argparse.Namespace, results: list[dict]) -> dict:
    summary = summarise(results, a.seed)
    domains = [
        {
            **r,
            "budgets": {
                b: {s: runs[s][:, 0].tolist() for s in STRATEGIES} for b, runs in r["budgets"].items()
            },
        }
        for r in results
    ]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"args": vars(a), "domains": domains, "summary": summary}, indent=1))
    log(f"wrote {a.out} ({len(results)} domains)")
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
