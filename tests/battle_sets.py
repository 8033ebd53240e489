"""Small TrainingSet builders shared by the scorer tests: battles from lists, the same battles with
model_a / model_b swapped, and a set with no battles at all."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from router_core.training_data import TrainingSet


def battle_set(
    prompts: Sequence[str], models: Sequence[str], p: Sequence[int], a: Sequence[int], b: Sequence[int], o
) -> TrainingSet:
    """One source of battles (prompt index, model a, model b, outcome for a), no per-model scores."""
    k, n = len(p), len(prompts)
    return TrainingSet(
        prompts=list(prompts),
        models=list(models),
        scores=np.full((n, len(models)), np.nan, dtype=np.float32),
        battle_prompt=np.array(p, dtype=np.int64),
        battle_a=np.array(a, dtype=np.int64),
        battle_b=np.array(b, dtype=np.int64),
        battle_outcome=np.array(o, dtype=np.float32),
        battle_weight=np.ones(k, dtype=np.float32),
        battle_source=np.zeros(k, dtype=np.int64),
        prompt_source=np.zeros(n, dtype=np.int64),
        sources=["s"],
    )


def swap_sides(ts: TrainingSet) -> TrainingSet:
    """The same battles with model_a and model_b exchanged (and outcomes flipped)."""
    out = TrainingSet(**{**ts.__dict__})
    out.battle_a, out.battle_b = ts.battle_b.copy(), ts.battle_a.copy()
    out.battle_outcome = (1.0 - ts.battle_outcome).astype(np.float32)
    return out


def without_battles(ts: TrainingSet) -> TrainingSet:
    out = TrainingSet(**{**ts.__dict__})
    for k in ("battle_prompt", "battle_a", "battle_b", "battle_source"):
        setattr(out, k, np.zeros(0, dtype=np.int64))
    out.battle_outcome = out.battle_weight = np.zeros(0, dtype=np.float32)
    return out


def make_battles(n_prompts: int = 60, n_models: int = 4, n_battles: int = 400, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n_prompts, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    skill = rng.normal(size=(dim, n_models))
    p = rng.integers(0, n_prompts, n_battles)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    diff = (emb[p] @ skill)[np.arange(n_battles), a] - (emb[p] @ skill)[np.arange(n_battles), b]
    u = rng.random(n_battles)
    pa = 1 / (1 + np.exp(-diff))
    outcome = np.where(u < 0.1, 0.5, np.where(rng.random(n_battles) < pa, 1.0, 0.0)).astype(np.float32)
    ts = TrainingSet(
        prompts=[f"prompt {i}" for i in range(n_prompts)],
        models=[f"m{i}" for i in range(n_models)],
        scores=np.full((n_prompts, n_models), np.nan, dtype=np.float32),
        battle_prompt=p.astype(np.int64),
        battle_a=a.astype(np.int64),
        battle_b=b.astype(np.int64),
        battle_outcome=outcome,
        battle_weight=rng.uniform(0.5, 1.5, n_battles).astype(np.float32),
        battle_source=np.zeros(n_battles, dtype=np.int64),
        prompt_source=np.zeros(n_prompts, dtype=np.int64),
        sources=["synthetic"],
    )
    queries = rng.normal(size=(12, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return ts, emb, queries


FAST = ("sw", "mf", "knn")
PARAMS = {"mf": {"dim": 8, "max_epochs": 15, "lr": 1e-2}}


def clustered_scores(
    n: int = 400,
    seed: int = 0,
    p_strong: tuple[float, float] = (0.9, 0.95),
    p_weak: tuple[float, float] = (0.1, 0.9),
) -> tuple[TrainingSet, np.ndarray]:
    """P(right) per cluster (A, B); by default cluster A: only 'strong' is right, cluster B: both are
    right; 'mid' is right half the time."""
    rng = np.random.default_rng(seed)
    dim = 16
    centers = rng.normal(size=(2, dim))
    cl = rng.integers(0, 2, n)
    emb = (centers[cl] + rng.normal(scale=0.3, size=(n, dim))).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    strong = (rng.random(n) < np.where(cl == 0, *p_strong)).astype(np.float32)
    weak = (rng.random(n) < np.where(cl == 0, *p_weak)).astype(np.float32)
    mid = (rng.random(n) < 0.5).astype(np.float32)
    scores = np.column_stack([mid, strong, weak])  # models sorted: mid, strong, weak
    from router_core.training_data import _score_battles

    pi = np.repeat(np.arange(n), 3)
    mi = np.tile(np.arange(3), n)
    p, a, b, o, src = _score_battles(pi, mi, scores.ravel().astype(np.float64), 0)
    ts = TrainingSet(
        prompts=[f"prompt number {i}" for i in range(n)],
        models=["mid", "strong", "weak"],
        scores=scores,
        battle_prompt=p,
        battle_a=a,
        battle_b=b,
        battle_outcome=o,
        battle_weight=np.ones(len(p), dtype=np.float32),
        battle_source=src,
        prompt_source=np.zeros(n, dtype=np.int64),
        sources=["synthetic"],
    )
    return ts, emb, cl
