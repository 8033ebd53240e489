"""MF scorer: learns prompt-dependent preferences, deterministic, symmetric in a/b, round-trips."""

from __future__ import annotations

import json

import numpy as np

from router_core.scorers.mf import MFScorer
from router_core.training_data import TrainingSet
from tests.battle_sets import battle_set, make_battles


def _x_vs_y(x_wins: np.ndarray, models: list[str]) -> TrainingSet:
    """One battle per prompt, "x" (model 0) against "y" (model 1), won by "x" where ``x_wins``."""
    n = len(x_wins)
    return battle_set([f"q{i}" for i in range(n)], models, range(n), [0] * n, [1] * n, x_wins)


def _clustered(n: int = 300, seed: int = 0) -> tuple[TrainingSet, np.ndarray]:
    # Model "x" wins on prompts near +e0, "y" near -e0: MF must pick that up from the embedding.
    rng = np.random.default_rng(seed)
    emb = rng.normal(scale=0.2, size=(n, 8)).astype(np.float32)
    side = rng.random(n) < 0.5
    emb[:, 0] += np.where(side, 1.0, -1.0)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return _x_vs_y(side, ["x", "y", "z"]), emb


def test_learns_prompt_dependent_winner():
    ts, emb = _clustered()
    mf = MFScorer(dim=8, max_epochs=80, lr=2e-2).fit(ts, emb)
    q = np.zeros((2, 8), dtype=np.float32)
    q[0, 0], q[1, 0] = 1.0, -1.0
    p = mf.win_prob(q, None, "x", "y")
    assert p[0] > 0.8 and p[1] < 0.2
    assert mf.score(q).shape == (2, 3)


def test_deterministic_with_seed_and_torch_global_rng_is_left_alone():
    import torch

    ts, emb, queries = make_battles(seed=5)
    fits = []
    for outer in (1, 2):  # whatever torch's global RNG holds, the seed decides the fit
        torch.manual_seed(outer)
        before = torch.get_rng_state()
        fits.append(MFScorer(dim=8, max_epochs=5, seed=3).fit(ts, emb).score(queries))
        assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(fits[0], fits[1])
    other = MFScorer(dim=8, max_epochs=5, seed=4).fit(ts, emb).score(queries)
    assert np.abs(other - fits[0]).max() > 1e-4


def test_swapping_a_and_b_gives_same_probabilities():
    ts, emb, queries = make_battles(seed=6)
    swapped = TrainingSet(**{**ts.__dict__})
    swapped.battle_a, swapped.battle_b = ts.battle_b.copy(), ts.battle_a.copy()
    swapped.battle_outcome = (1.0 - ts.battle_outcome).astype(np.float32)
    p1 = MFScorer(dim=8, max_epochs=5).fit(ts, emb).win_prob(queries, None, "m0", "m1")
    p2 = MFScorer(dim=8, max_epochs=5).fit(swapped, emb).win_prob(queries, None, "m0", "m1")
    np.testing.assert_allclose(p1, p2, atol=1e-5)


def test_save_load_roundtrip(tmp_path):
    ts, emb, queries = make_battles(seed=7)
    mf = MFScorer(dim=8, max_epochs=3).fit(ts, emb)
    params = mf.save(str(tmp_path))
    assert (tmp_path / "mf.safetensors").exists()
    back = MFScorer.load(str(tmp_path), params)
    np.testing.assert_allclose(mf.score(queries), back.score(queries), atol=1e-6)
    assert back.models_ == ts.models


def _weak_signal(n: int, seed: int, d: int = 384) -> tuple[TrainingSet, np.ndarray, np.ndarray]:
    # MiniLM-sized vectors where one direction carries a weak preference and 20% of verdicts are flipped.
    rng = np.random.default_rng(seed)
    side = rng.random(n) < 0.5
    emb = rng.normal(size=(n, d)).astype(np.float32) / np.sqrt(d)
    emb[:, 0] += np.where(side, 0.15, -0.15)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    outcome = np.where(rng.random(n) < 0.8, side, ~side)
    return _x_vs_y(outcome, ["x", "y"]), emb, side


def test_default_parameters_learn_from_a_few_hundred_battles():
    """Small data still gets enough optimiser steps (the batch shrinks to keep 16 steps per epoch). With
    one batch per epoch (min_steps_per_epoch=1) 300 battles left MF near its random
    initialisation: held-out AUC 0.63-0.64 here, against 0.75-0.76."""
    from sklearn.metrics import roc_auc_score

    ts, emb, _ = _weak_signal(300, seed=1)
    _, queries, side = _weak_signal(2000, seed=2)
    auc = roc_auc_score(side, MFScorer(seed=0).fit(ts, emb).win_prob(queries, None, "x", "y"))
    one_step = MFScorer(seed=0, min_steps_per_epoch=1).fit(ts, emb).win_prob(queries, None, "x", "y")
    assert auc > 0.72
    assert roc_auc_score(side, one_step) < auc - 0.05


def test_numpy_scores_are_the_training_networks():
    import torch

    from router_core.scorers.mf import _module

    ts, emb, queries = make_battles(seed=7)
    mf = MFScorer(dim=8, max_epochs=3).fit(ts, emb)
    net = _module(len(mf.models_), emb.shape[1], 8, torch.Generator())
    net.load_state_dict({k: torch.from_numpy(v) for k, v in mf.weights_.items()})
    with torch.no_grad():
        expected = net(torch.from_numpy(queries.astype(np.float32))).numpy()
    np.testing.assert_allclose(mf.score(queries), expected, atol=1e-5)


def test_a_loaded_scorer_scores_without_torch(tmp_path):
    """Spark workers load and score MF without importing torch (about 2 s of each worker's start)."""
    import subprocess
    import sys
    from pathlib import Path

    ts, emb, queries = make_battles(seed=7)
    params = MFScorer(dim=8, max_epochs=3).fit(ts, emb).save(str(tmp_path))
    np.save(tmp_path / "queries.npy", queries)
    code = (
        "import json, sys, numpy as np\n"
        "from router_core.scorers.mf import MFScorer\n"
        f"mf = MFScorer.load({str(tmp_path)!r}, json.loads({json.dumps(params)!r}))\n"
        f"assert mf.score(np.load({str(tmp_path / 'queries.npy')!r})).shape[1] == len(mf.models_)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_weights_that_do_not_match_the_manifest_are_refused(tmp_path):
    import pytest

    ts, emb, _ = make_battles(seed=7)
    params = MFScorer(dim=8, max_epochs=3).fit(ts, emb).save(str(tmp_path))
    with pytest.raises(ValueError, match="mf.safetensors holds"):
        MFScorer.load(str(tmp_path), {**params, "dim": 16})
