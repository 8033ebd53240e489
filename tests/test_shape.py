"""Prompt-shape scorer: learns a length/arithmetic effect, is symmetric in a/b, handles N models,
round-trips without pickle, and gives clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from router_core.scorers.shape import ShapeScorer, shape_measures
from router_core.training_data import TrainingSet
from tests.battle_sets import battle_set, swap_sides, without_battles


def length_battles(n: int = 300, seed: int = 0) -> TrainingSet:
    # "big" wins long prompts full of numbers, "small" wins short ones, "mid" always ties with both.
    rng = np.random.default_rng(seed)
    prompts, p, a, b, o = [], [], [], [], []
    for i in range(n):
        long = i % 2 == 0
        words = " ".join(f"step {rng.integers(100, 999)} then" for _ in range(rng.integers(30, 60)))
        prompts.append(f"solve this problem {i}: {words}" if long else f"say hi to person {chr(97 + i % 26)}")
        big_wins = rng.random() < (0.85 if long else 0.15)
        pair = (1, 0) if i % 3 == 0 else (0, 1)  # both orientations
        p.append(i), a.append(pair[0]), b.append(pair[1])
        o.append(1.0 if (pair[0] == 0) == big_wins else 0.0)
        p.append(i), a.append(2), b.append(i % 2)
        o.append(0.5)
    return battle_set(prompts, ["big", "small", "mid"], p, a, b, o)


TEXTS = ["compute 12 + 345 * 6789 then 12 and 98765 then " * 8, "hello there"]


def test_measures():
    m = shape_measures(["ab1\n2", ""])
    np.testing.assert_allclose(m[0], [np.log1p(5), np.log1p(2), 2 / 5, np.log1p(2)])
    np.testing.assert_allclose(m[1], [0.0, 0.0, 0.0, np.log1p(1)])


def test_learns_that_long_numeric_prompts_favour_the_big_model():
    sc = ShapeScorer().fit(length_battles())
    p = sc.win_prob(None, TEXTS, "big", "small")
    assert p[0] > 0.7 and p[1] < 0.3
    assert sc.score(None, TEXTS).shape == (2, 3)  # every model gets a quality, not only a pair


def test_swapping_a_and_b_gives_same_probabilities():
    ts = length_battles(seed=1)
    swapped = swap_sides(ts)
    p1 = ShapeScorer().fit(ts).win_prob(None, TEXTS, "big", "small")
    p2 = ShapeScorer().fit(swapped).win_prob(None, TEXTS, "big", "small")
    np.testing.assert_allclose(p1, p2, atol=1e-4)


def test_save_load_roundtrip_without_pickle(tmp_path):
    sc = ShapeScorer(n_bins=4).fit(length_battles(seed=2))
    params = sc.save(str(tmp_path))
    assert sorted(f.name for f in tmp_path.iterdir()) == ["shape.json", "shape.npz"]
    back = ShapeScorer.load(str(tmp_path), params)
    np.testing.assert_allclose(sc.score(None, TEXTS), back.score(None, TEXTS), atol=1e-6)
    assert back.models_ == ["big", "small", "mid"] and back.n_bins == 4


def test_clear_errors():
    ts = length_battles(n=12)
    with pytest.raises(ValueError, match="needs the prompt texts"):
        ShapeScorer().fit(ts).score(np.zeros((1, 4), np.float32), None)
    with pytest.raises(ValueError, match="c > 0"):
        ShapeScorer(c=0).fit(ts)
    empty = without_battles(ts)
    with pytest.raises(ValueError, match="no battles"):
        ShapeScorer().fit(empty)
