"""SW scorer speed: batched exact mode vs RouteLLM-style per-query logistic regression.

Same 10,000 battles and 1,000 queries for both. The per-query reference is timed on a subset of queries
and extrapolated linearly to all of them (it is one independent fit per query, so it scales linearly).

    .venv/bin/python bench/sw_speed.py [--battles 10000] [--queries 1000] [--models 10] [--ref-queries 20]

The batched time is the best of ``--repeats`` runs; the reference is one pass over ``--ref-queries`` after
one untimed warm-up query. Set OMP_NUM_THREADS / OPENBLAS_NUM_THREADS to compare at a fixed thread count.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router_core.scorers.sw import SWScorer, fit_bt_batch  # noqa: E402
from router_core.training_data import TrainingSet  # noqa: E402
from tests.test_sw import reference_ratings  # noqa: E402


def synthetic(n_battles: int, n_models: int, n_prompts: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n_prompts, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    outcome = rng.choice(np.array([0.0, 0.5, 1.0], dtype=np.float32), n_battles, p=[0.45, 0.1, 0.45])
    ts = TrainingSet(
        prompts=[f"p{i}" for i in range(n_prompts)],
        models=[f"m{i}" for i in range(n_models)],
        scores=np.full((n_prompts, n_models), np.nan, dtype=np.float32),
        battle_prompt=rng.integers(0, n_prompts, n_battles).astype(np.int64),
        battle_a=a.astype(np.int64),
        battle_b=b.astype(np.int64),
        battle_outcome=outcome,
        battle_weight=np.ones(n_battles, dtype=np.float32),
        battle_source=np.zeros(n_battles, dtype=np.int64),
        prompt_source=np.zeros(n_prompts, dtype=np.int64),
        sources=["synthetic"],
    )
    return ts, emb


def reference(ts: TrainingSet, emb: np.ndarray, query: np.ndarray, l2: float) -> np.ndarray:
    """One sklearn weighted logistic regression per query (what RouteLLM does per prompt): the tests' fit."""
    return reference_ratings(ts, emb, query, l2, tol=1e-8, max_iter=1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--battles", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--prompts", type=int, default=5_000, help="distinct training prompts")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--ref-queries", type=int, default=20, help="queries the slow reference is timed on")
    ap.add_argument("--repeats", type=int, default=3, help="batched runs; the best time is reported")
    ap.add_argument("--breakdown", action="store_true", help="also time each stage of the batched path")
    args = ap.parse_args()

    ts, emb = synthetic(args.battles, args.models, args.prompts, args.dim)
    rng = np.random.default_rng(1)
    q = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)

    sw = SWScorer(l2=1.0).fit(ts, emb)
    sw.score(q[:8])  # warm-up (BLAS threads, allocations)
    ratings, t_batched = best_time(lambda: sw.score(q), args.repeats)

    k = args.ref_queries
    reference(ts, emb, q[-1], l2=1.0)  # warm-up too (imports, first-call allocations), like the batched run
    t0 = time.perf_counter()
    refs = [reference(ts, emb, q[i], l2=1.0) for i in range(k)]
    t_ref_sub = time.perf_counter() - t0
    t_ref = t_ref_sub / k * args.queries

    def probs(r: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(r[:, None] - r[None, :])))

    max_dp = max(np.abs(probs(refs[i]) - probs(ratings[i].astype(np.float64))).max() for i in range(k))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    print(f"battles={args.battles} models={args.models} prompts={args.prompts} queries={args.queries}")
    print(
        f"batched exact SW (best of {args.repeats}): {t_batched:.3f} s "
        f"({args.queries / t_batched:,.0f} queries/s)"
    )
    print(
        f"per-query reference: {t_ref_sub:.2f} s for {k} queries -> {t_ref:.1f} s extrapolated to "
        f"{args.queries}"
    )
    print(f"speed-up: {t_ref / t_batched:,.0f}x; max |dP| vs reference on {k} queries: {max_dp:.2e}")
    if args.breakdown:
        stages = stage_times(sw, q, args.repeats)
        print(
            "batched stages (best of each): " + ", ".join(f"{n} {t * 1e3:.1f} ms" for n, t in stages.items())
        )


def best_time(fn, repeats: int):
    """(result, best wall time of ``repeats`` calls): best of N because the machine may be shared."""
    out, t = None, float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return out, t


def stage_times(sw: SWScorer, q: np.ndarray, repeats: int) -> dict[str, float]:
    """Time each step of exact-mode scoring on one batch: where the batched time goes."""
    sims, t_sim = best_time(lambda: q @ sw.embeddings_.T, repeats)
    w, t_w = best_time(lambda: sw._weights(sims.copy()), repeats)
    flat, t_c = best_time(lambda: np.asarray((sw.wins_t_ @ w.T).T), repeats)
    m = len(sw.models_)
    _, t_bt = best_time(lambda: fit_bt_batch(flat.reshape(len(q), m, m), sw.l2), repeats)
    return {"similarities": t_sim, "weights (exp)": t_w, "win counts": t_c, "BT Newton": t_bt}


if __name__ == "__main__":
    main()
