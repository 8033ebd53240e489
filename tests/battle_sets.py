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
