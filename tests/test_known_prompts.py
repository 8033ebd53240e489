"""Known prompts: a routed prompt that is in the training data moves towards its observed outcomes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from router_core.known_prompts import KnownPrompts
from router_core.router import Router
from router_core.training import train_router
from router_core.training_data import TrainingSet
from tests.battle_sets import FAST, PARAMS, clustered_scores, swap_sides


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def n_model():
    ts, emb, _ = clustered_scores(n=300, seed=3)
    with_known = train_router(ts, emb, "test-emb/v1", scorers=FAST, scorer_params=PARAMS, log=_quiet)
    without = train_router(
        ts, emb, "test-emb/v1", scorers=FAST, scorer_params=PARAMS, known_prior=None, log=_quiet
    )
    return ts, emb, with_known, without


def test_known_prompt_moves_halfway_to_its_observed_scores(n_model):
    ts, emb, r, _ = n_model
    plain = replace(r, known=None)
    texts = list(ts.prompts[:40])
    # a training prompt routed again, with whitespace the normaliser removes, still matches
    texts[0] = "  " + texts[0].replace(" ", "  ") + "\n"
    q = r.score(emb[:40], texts)["predicted_quality"]
    q0 = plain.score(emb[:40], texts)["predicted_quality"]
    expected = (q0 + ts.scores[:40]) / 2.0  # prior 1, source weight 1
    np.testing.assert_allclose(q, expected, atol=1e-6)
    assert r.known_count(texts) == 40 and plain.known_count(texts) == 0
    assert n_model[3].known is None and n_model[3].known_count(texts) == 0


def test_unknown_prompts_and_missing_texts_keep_the_estimate(n_model):
    ts, emb, r, _ = n_model
    plain = replace(r, known=None)
    new = [f"a prompt never seen {i}" for i in range(20)]
    q = r.score(emb[:20], new)["predicted_quality"]
    np.testing.assert_array_equal(q, plain.score(emb[:20], new)["predicted_quality"])
    assert r.known_count(new) == 0
    # without texts a router whose scorers read none still scores training prompts, with no lookup
    np.testing.assert_array_equal(
        r.score(emb[:20])["predicted_quality"], plain.score(emb[:20], ts.prompts[:20])["predicted_quality"]
    )


def test_known_prompts_survive_save_and_load(n_model, tmp_path):
    ts, emb, r, plain = n_model
    r.save(str(tmp_path / "r"))
    loaded = Router.load(str(tmp_path / "r"))
    assert loaded.manifest["known_prompts"] == {"prior": 1.0, "count": len(ts.prompts)}
    texts = list(ts.prompts[:30])
    np.testing.assert_array_equal(
        loaded.score(emb[:30], texts)["predicted_quality"], r.score(emb[:30], texts)["predicted_quality"]
    )
    plain.save(str(tmp_path / "p"))
    assert Router.load(str(tmp_path / "p")).known is None
    assert "known_prompts" not in Router.load(str(tmp_path / "p")).manifest


def test_pair_known_prompt_uses_the_observed_outcome_whatever_the_side_order():
    ts, emb, _ = clustered_scores(n=300, seed=4)
    texts = list(ts.prompts[:60])
    probs = []
    for data in (ts, swap_sides(ts)):
        r = train_router(data, emb, "test-emb/v1", "strong", "weak", FAST, PARAMS, log=_quiet)
        p0 = replace(r, known=None).score(emb[:60], texts)["strong_win_prob"].astype(np.float64)
        p = r.score(emb[:60], texts)["strong_win_prob"]
        s, w = ts.models.index("strong"), ts.models.index("weak")
        observed = (1.0 + ts.scores[:60, s] - ts.scores[:60, w]) / 2.0
        np.testing.assert_allclose(p, (p0 + observed) / 2.0, atol=1e-6)
        probs.append(p)
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)


def _two_sources() -> TrainingSet:
    """Prompt 0 from source 'a' (weight 1), prompt 1 from 'b' (weight 0), prompt 2 from 'a' with one
    model unscored."""
    return TrainingSet(
        prompts=["first", "second", "third"],
        models=["m1", "m2"],
        scores=np.array([[1.0, 0.0], [1.0, 1.0], [np.nan, 1.0]], np.float32),
        battle_prompt=np.array([0, 1], np.int64),
        battle_a=np.array([0, 0], np.int64),
        battle_b=np.array([1, 1], np.int64),
        battle_outcome=np.array([1.0, 0.5], np.float32),
        battle_weight=np.array([1.0, 0.0], np.float32),
        battle_source=np.array([0, 1], np.int64),
        prompt_source=np.array([0, 1, 0], np.int64),
        sources=["a", "b"],
    )


def test_source_weight_zero_and_unscored_models_keep_the_estimate():
    kp = KnownPrompts(prior=3.0).fit(_two_sources())
    est = np.full((4, 2), 0.5)
    out = kp.blend(est, ["first", "second", "third", "fourth"])
    np.testing.assert_allclose(out[0], [(3 * 0.5 + 1) / 4, (3 * 0.5 + 0) / 4])
    np.testing.assert_allclose(out[1], [0.5, 0.5])  # source weighted 0: not kept
    np.testing.assert_allclose(out[2], [0.5, (3 * 0.5 + 1) / 4])  # m1 unscored there
    np.testing.assert_allclose(out[3], [0.5, 0.5])
    assert len(kp) == 2


def test_pair_outcome_of_scores_on_a_wider_scale_stays_a_probability():
    ts = _two_sources()
    ts.scores = np.array([[9.0, 2.0], [5.0, 5.0], [3.0, 8.0]], np.float32)
    kp = KnownPrompts().fit(ts, strong="m1", weak="m2")
    p = kp.blend(np.full(3, 0.5), ["first", "second", "third"])
    np.testing.assert_allclose(p, [0.75, 0.5, 0.25])  # higher score wins; "second": source weight 0


def test_bad_prior_is_a_clear_error():
    with pytest.raises(ValueError, match="prior must be > 0"):
        KnownPrompts(prior=0.0)
