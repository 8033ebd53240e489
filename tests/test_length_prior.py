"""The length prior (``router_core.scorers.length_prior``): fixed direction, fitted centre and scale."""

from __future__ import annotations

import numpy as np
import pytest

from router_core.scorers.length_prior import LengthPriorScorer
from tests.battle_sets import clustered_scores


def test_longer_prompts_get_a_higher_strong_win_probability(tmp_path):
    ts, emb, _ = clustered_scores(n=60, seed=1)
    sc = LengthPriorScorer().fit(ts, emb)
    texts = ["hi", "a question of middling length", "a long question " * 40]
    p = sc.win_prob(None, texts, "strong", "weak")
    assert p.dtype == np.float32 and (np.diff(p) > 0).all()
    params = sc.save(str(tmp_path / "lp"))
    back = LengthPriorScorer.load(str(tmp_path / "lp"), params)
    np.testing.assert_array_equal(back.win_prob(None, texts, "strong", "weak"), p)


def test_it_needs_texts_and_gives_no_n_model_score():
    ts, emb, _ = clustered_scores(n=20, seed=1)
    sc = LengthPriorScorer().fit(ts, emb)
    with pytest.raises(ValueError, match="needs the prompt texts"):
        sc.win_prob(emb, None, "strong", "weak")
    with pytest.raises(ValueError, match="pair probability only"):
        sc.score(emb, ["x"])
