"""Lexical (TF-IDF linear BT) scorer: learns word-level preferences, symmetric in a/b, round-trips
without pickle; and the default pair ensemble (calibrated mean of standardised logits)."""

from __future__ import annotations

import numpy as np
import pytest

from router_core.scorers.lex import LexScorer
from router_core.stacks import PairStack, logit
from router_core.training_data import TrainingSet
from tests.battle_sets import battle_set, swap_sides, without_battles

WORDS = ["integral", "derivative", "poem", "sonnet", "recipe", "history", "matrix", "novel"]


def lexical_battles(n: int = 240, seed: int = 0) -> TrainingSet:
    # Model "x" wins prompts that mention maths words, "y" the others; "z" only draws.
    rng = np.random.default_rng(seed)
    prompts, p, a, b, o = [], [], [], [], []
    for i in range(n):
        w = WORDS[i % len(WORDS)]
        prompts.append(f"please help with this {w} task number {i}")
        maths = w in ("integral", "derivative", "matrix")
        x_wins = rng.random() < (0.9 if maths else 0.1)
        pair = (0, 1) if i % 2 else (1, 0)  # both orientations
        p.append(i), a.append(pair[0]), b.append(pair[1])
        o.append(1.0 if (pair[0] == 0) == x_wins else 0.0)
        p.append(i), a.append(2), b.append(i % 2)
        o.append(0.5)
    return battle_set(prompts, ["x", "y", "z"], p, a, b, o)


def test_learns_lexical_winner():
    ts = lexical_battles()
    lex = LexScorer(c=2.0).fit(ts)
    p = lex.win_prob(None, ["compute this integral please", "write a sonnet please"], "x", "y")
    assert p[0] > 0.7 and p[1] < 0.3
    assert lex.score(None, ["a matrix"]).shape == (1, 3)


def test_swapping_a_and_b_gives_same_probabilities():
    ts = lexical_battles(seed=1)
    swapped = swap_sides(ts)
    texts = ["an integral", "a recipe", "unseen words only"]
    p1 = LexScorer().fit(ts).win_prob(None, texts, "x", "y")
    p2 = LexScorer().fit(swapped).win_prob(None, texts, "x", "y")
    np.testing.assert_allclose(p1, p2, atol=1e-4)


def test_save_load_roundtrip_without_pickle(tmp_path):
    ts = lexical_battles(seed=2)
    lex = LexScorer().fit(ts)
    params = lex.save(str(tmp_path))
    assert sorted(f.name for f in tmp_path.iterdir()) == ["lex.json", "lex.npz"]
    back = LexScorer.load(str(tmp_path), params)
    texts = ["derivative of a novel", "history of the matrix"]
    np.testing.assert_allclose(lex.score(None, texts), back.score(None, texts), atol=1e-6)
    assert back.models_ == ["x", "y", "z"]


def test_needs_texts_and_battles():
    ts = lexical_battles(n=16)
    with pytest.raises(ValueError, match="needs the prompt texts"):
        LexScorer().fit(ts).score(np.zeros((1, 4), np.float32), None)
    empty = without_battles(ts)
    with pytest.raises(ValueError, match="no battles"):
        LexScorer().fit(empty)


def test_mean_stack_ignores_uninformative_scorer_and_is_calibrated():
    rng = np.random.default_rng(0)
    n = 4000
    gap = rng.choice([-1.0, 0.0, 1.0], n, p=[0.1, 0.6, 0.3])
    target = (1.0 + gap) / 2.0
    good = 1 / (1 + np.exp(-(gap + rng.normal(scale=1.0, size=n))))
    also = 1 / (1 + np.exp(-(gap + rng.normal(scale=1.5, size=n))))
    anti = 1 / (1 + np.exp(-(-gap + rng.normal(scale=1.0, size=n))))  # ranks backwards: left out
    st = PairStack().fit({"good": good, "also": also, "anti": anti}, target)
    assert st.coef_[2] == 0.0 and st.coef_[0] > 0 and st.coef_[1] > 0
    p = st.predict({"good": good, "also": also, "anti": anti})
    assert abs(p.mean() - target.mean()) < 0.02  # calibrated on the fold
    # Equal weight on standardised logits: coefficients are inversely proportional to each spread.
    ratio = st.coef_[0] / st.coef_[1]
    assert ratio == pytest.approx(logit(also).std() / logit(good).std(), rel=1e-6)
    lr = PairStack(mode="lr").fit({"good": good, "also": also, "anti": anti}, target)
    assert (lr.coef_ >= 0).all()
    with pytest.raises(ValueError, match="mode must be"):
        PairStack(mode="max").fit({"good": good}, target)


def test_mean_stack_keeps_a_scorer_whose_slope_is_negative_only_within_noise():
    """On a small fold the sign of one scorer's slope is noise: it is dropped only when the fold shows
    it ranks backwards beyond two standard errors."""
    rng = np.random.default_rng(3)
    n = 40
    gap = rng.choice([-1.0, 0.0, 1.0], n, p=[0.2, 0.5, 0.3])
    target = (1.0 + gap) / 2.0
    good = 1 / (1 + np.exp(-(gap + rng.normal(scale=1.0, size=n))))
    noisy = 1 / (1 + np.exp(-rng.normal(size=n)))
    z = (logit(noisy) - logit(noisy).mean()) / logit(noisy).std()
    assert np.corrcoef(z, target)[0, 1] < 0  # this draw happens to rank slightly backwards on the fold
    st = PairStack().fit({"good": good, "noisy": noisy}, target)
    assert st.coef_[0] > 0 and st.coef_[1] > 0


def test_mean_stack_never_reverses_the_order_of_its_scorers():
    """A fold where the kept scorers happen to rank backwards gives a near-constant (base-rate)
    probability in the scorers' own order, never the reverse order."""
    rng = np.random.default_rng(0)
    n = 30
    target = rng.choice([0.0, 0.5, 1.0], n, p=[0.3, 0.4, 0.3])
    s1 = 1 / (1 + np.exp(-(-(target - 0.5) + rng.normal(scale=2.0, size=n))))  # backwards on this fold
    s2 = 1 / (1 + np.exp(-(-(target - 0.5) + rng.normal(scale=2.0, size=n))))
    st = PairStack().fit({"a": s1, "b": s2}, target)
    assert (st.coef_ > 0).all()
    p = st.predict({"a": s1, "b": s2})
    assert np.all(np.diff(p[np.argsort(logit(s1) / logit(s1).std() + logit(s2) / logit(s2).std())]) >= 0)
    assert abs(p.mean() - target.mean()) < 0.01
