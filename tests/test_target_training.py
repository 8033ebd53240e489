"""Training with target data (``train_router(target_sources=...)``): the target scorers, the stack fitted
for the target prompts, the learning-curve estimate, and persistence."""

from __future__ import annotations

import numpy as np
import pytest

from router_core.evaluation import pair_metrics
from router_core.router import Router
from router_core.scorers.target import TargetKNNScorer, TargetShapeScorer, target_rows
from router_core.training import train_router
from router_core.training_data import TrainingSet

MODELS = ["strong", "weak"]


def _domain(n: int, centre: np.ndarray, rule: np.ndarray, rng: np.random.Generator, tag: str):
    """Prompts around ``centre``; strong beats weak where emb . rule > 0, else they tie (both right)."""
    emb = centre + 0.6 * rng.normal(size=(n, len(centre)))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    strong_needed = (emb - centre) @ rule > 0
    scores = np.c_[np.ones(n), np.where(strong_needed, 0.0, 1.0)]  # columns: strong, weak
    texts = [f"{tag} prompt {i} " + "word " * int(rng.integers(1, 30)) for i in range(n)]
    return emb.astype(np.float32), scores.astype(np.float32), texts


def _training_set(parts: list[tuple[np.ndarray, np.ndarray, list[str]]], sources: list[str]) -> tuple:
    """One TrainingSet of per-model scores (battles derived from them), one source per part."""
    emb = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    texts = [t for p in parts for t in p[2]]
    src = np.concatenate([np.full(len(p[2]), i) for i, p in enumerate(parts)])
    qa = np.arange(len(texts))
    outcome = np.where(scores[:, 0] > scores[:, 1], 1.0, np.where(scores[:, 0] < scores[:, 1], 0.0, 0.5))
    ts = TrainingSet(
        prompts=texts, models=MODELS, scores=scores, battle_prompt=qa.astype(np.int64),
        battle_a=np.zeros(len(qa), np.int64), battle_b=np.ones(len(qa), np.int64),
        battle_outcome=outcome.astype(np.float32), battle_weight=np.ones(len(qa), np.float32),
        battle_source=src.astype(np.int64), prompt_source=src.astype(np.int64), sources=sources,
    )  # fmt: skip
    return ts, emb


@pytest.fixture(scope="module")
def domains():
    rng = np.random.default_rng(0)
    dim = 16
    g_centre, t_centre = np.eye(dim)[0], np.eye(dim)[1]
    rule = np.eye(dim)[2]
    generic = _domain(1500, g_centre, rule, rng, "generic")
    target = _domain(200, t_centre, -rule, rng, "target")  # the opposite rule: generic data misleads
    test = _domain(400, t_centre, -rule, rng, "target-test")
    return generic, target, test


def _test_apgr(router: Router, test) -> float:
    emb, scores, texts = test
    p = router.score(emb, texts)["strong_win_prob"]
    return pair_metrics(scores[:, 0], scores[:, 1], np.asarray(p), n_boot=0)["apgr"]["value"]


KW = {"scorers": ("sw", "knn"), "log": lambda s: None}


def test_target_data_routes_the_target_domain_better_than_pooling(domains):
    generic, target, test = domains
    ts, emb = _training_set([generic, target], ["generic", "mine"])
    pooled = train_router(ts, emb, "e", "strong", "weak", **KW)
    adapted = train_router(ts, emb, "e", "strong", "weak", target_sources=["mine"], **KW)
    assert "target_linear" in adapted.scorers and "target_knn" not in adapted.scorers
    assert "target_linear" not in pooled.scorers
    a_pooled, a_adapted = _test_apgr(pooled, test), _test_apgr(adapted, test)
    assert a_adapted > 0.6, a_adapted
    assert a_adapted > a_pooled + 0.05, (a_adapted, a_pooled)
    assert adapted.manifest["target_sources"] == ["mine"]


def test_learning_curve_estimate_is_recorded(domains):
    generic, target, _ = domains
    ts, emb = _training_set([generic, target], ["generic", "mine"])
    r = train_router(ts, emb, "e", "strong", "weak", target_sources=["mine"], **KW)
    curve = r.manifest["metrics"]["target_curve"]
    assert curve["target_prompts"] == 200
    lo, hi = curve["apgr_ci95"]
    assert lo <= curve["apgr"] <= hi
    assert [p["labels"] for p in curve["curve"]] == [50, 100, 200]
    assert curve["projected_gain_2x_labels"] >= 0
    # the metrics the manifest reports are the target prompts' own
    assert r.manifest["metrics"]["scorers"]["ensemble"]["apgr"] == pytest.approx(curve["apgr"], abs=1e-3)


def test_target_router_saves_and_loads(domains, tmp_path):
    generic, target, test = domains
    ts, emb = _training_set([generic, target], ["generic", "mine"])
    r = train_router(ts, emb, "e", "strong", "weak", target_sources=["mine"], **KW)
    r.save(str(tmp_path / "r"))
    back = Router.load(str(tmp_path / "r"))
    a = r.score(test[0], test[2])["strong_win_prob"]
    b = back.score(test[0], test[2])["strong_win_prob"]
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert back.scorers["target_linear"].sources == ["mine"]


def test_too_few_target_prompts_train_as_generic_data(domains):
    generic, target, _ = domains
    few = (target[0][:5], target[1][:5], target[2][:5])
    ts, emb = _training_set([generic, few], ["generic", "mine"])
    logs: list[str] = []
    r = train_router(
        ts, emb, "e", "strong", "weak", target_sources=["mine"], scorers=("sw",), log=logs.append
    )
    assert "target_linear" not in r.scorers
    assert any("trained as generic data" in m for m in logs)


def test_unknown_target_source_is_an_error(domains):
    generic, target, _ = domains
    ts, emb = _training_set([generic, target], ["generic", "mine"])
    with pytest.raises(ValueError, match="not in the training data"):
        train_router(ts, emb, "e", "strong", "weak", target_sources=["theirs"], **KW)


def test_target_scorers_see_only_target_prompts(domains):
    generic, target, _ = domains
    ts, emb = _training_set([generic, target], ["generic", "mine"])
    assert len(target_rows(ts, ["mine"])) == 200
    knn = TargetKNNScorer(sources=["mine"]).fit(ts, emb)
    assert knn.index_.ntotal == 200
    shape = TargetShapeScorer(sources=["mine"]).fit(ts, emb)
    assert shape.score(None, ["a b c"]).shape == (1, 2)
    with pytest.raises(ValueError, match="no prompts of the target sources"):
        TargetKNNScorer(sources=["nobody"]).fit(ts, emb)


def test_n_model_router_with_target_data_stacks_the_target_scorers_in_the_joint_stack():
    import dataclasses

    from tests.battle_sets import clustered_scores

    # cluster A needs 'strong', cluster B is 'weak''s: routing can beat every single model
    ts, emb, _ = clustered_scores(n=300, seed=4, p_strong=(0.9, 0.3), p_weak=(0.1, 0.9))
    mine = np.arange(len(ts.prompts)) % 5 == 0  # every fifth prompt is the user's own
    ts = dataclasses.replace(
        ts,
        sources=["synthetic", "mine"],
        prompt_source=mine.astype(np.int64),
        battle_source=mine[ts.battle_prompt].astype(np.int64),
    )
    logs: list[str] = []
    every = ("target_knn", "target_linear", "target_shape")
    r = train_router(
        ts, emb, "e", scorers=("knn",), target_sources=["mine"], target_scorers=every, log=logs.append
    )
    assert set(every) <= set(r.scorers)
    assert r.joint is not None and r.manifest["metrics"]["default_score"] == "joint_stack"
    assert set(every) <= set(r.stack.scorers_)
    q = r.score(emb[:5], ts.prompts[:5])
    assert np.asarray(q["predicted_quality"]).shape == (5, len(ts.models))
    # what the router knows about the target prompts: quality of the model it predicts best, out of fold
    curve = r.manifest["metrics"]["target_curve"]
    assert curve["metric"] == "quality" and curve["target_prompts"] == int(mine.sum())
    lo, hi = curve["quality_ci95"]
    assert lo <= curve["quality"] <= hi
    assert [p["labels"] for p in curve["curve"]] == [15, 30, 60]
    assert curve["projected_gain_2x_labels"] >= 0
    assert curve["quality"] > curve["best_single_model_quality"], curve
    assert any("target learning curve" in line for line in logs)


def _length_domain(n: int, rng: np.random.Generator, tag: str, longer_needs_strong: bool):
    """Prompts whose embeddings say nothing; the strong model is needed on the longer half (or the
    shorter half when ``longer_needs_strong`` is False)."""
    emb = rng.normal(size=(n, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    words = rng.integers(1, 200, size=n)
    needed = (words > 100) == longer_needs_strong
    scores = np.c_[np.ones(n), np.where(needed, 0.0, 1.0)].astype(np.float32)
    texts = [f"{tag} {i} " + "word " * int(w) for i, w in enumerate(words)]
    return emb, scores, texts


def test_length_prior_joins_pair_routers_with_target_data_only(domains):
    generic, target, _ = domains
    ts, emb = _training_set([generic, target], ["generic", "mine"])
    adapted = train_router(ts, emb, "e", "strong", "weak", target_sources=["mine"], **KW)
    assert "length_prior" in adapted.scorers
    assert "length_prior" not in train_router(ts, emb, "e", "strong", "weak", **KW).scorers
    off = train_router(ts, emb, "e", "strong", "weak", target_sources=["mine"], length_prior=0, **KW)
    assert "length_prior" not in off.scorers


@pytest.mark.parametrize("longer_needs_strong", [True, False])
def test_target_labels_update_the_length_prior(longer_needs_strong):
    """Where the target labels follow length, the router ranks by it; where they show the opposite, 400
    labels turn the prior's weight negative (at most -1 x its prior weight with endless labels)."""
    rng = np.random.default_rng(3)
    generic = _length_domain(600, rng, "generic", True)
    target = _length_domain(400, rng, "target", longer_needs_strong)
    test = _length_domain(300, rng, "target-test", longer_needs_strong)
    ts, emb = _training_set([generic, target], ["generic", "mine"])
    r = train_router(ts, emb, "e", "strong", "weak", target_sources=["mine"], **KW)
    j = r.stack.scorers_.index("length_prior")
    assert (r.stack.coef_[j] > 0) == longer_needs_strong
    assert _test_apgr(r, test) > (0.65 if longer_needs_strong else 0.52)


def test_prior_weights_move_with_the_evidence_of_the_labels():
    """The blend's weights start at the prior and move towards what the labels show, the more the more
    labels there are; an endless prior never moves."""
    from router_core.stacks.logistic import fit_logistic_towards
    from router_core.stacks.target_blend import INFO_PER_ROW, PRIOR_ROWS

    rng = np.random.default_rng(0)
    strength, moved = INFO_PER_ROW * PRIOR_ROWS, {}
    for n in (50, 400):
        z_len = rng.normal(size=(n, 1))
        target = (z_len[:, 0] < 0).astype(float)  # length points the other way
        moved[n] = fit_logistic_towards(z_len, target, np.array([0.2]), strength)[0][0]
        assert fit_logistic_towards(z_len, target, np.array([0.2]), 1e9)[0][0] == pytest.approx(0.2)
    assert moved[400] < moved[50] < 0.2
    assert moved[400] < 0


def test_labels_that_confirm_the_generic_stack_keep_its_weight():
    """With 400 target labels alpha gives the generic stack 40 / 440 of the prior; where the labels follow
    it and not the target scorer, the fitted blend leans on the generic stack."""
    from router_core.stacks.target_blend import fit_target_blend

    rng = np.random.default_rng(1)
    n_gen, n_tgt = 1000, 400
    is_target = np.r_[np.zeros(n_gen, bool), np.ones(n_tgt, bool)]
    signal = rng.normal(size=n_gen + n_tgt)
    target = (rng.random(n_gen + n_tgt) < 1 / (1 + np.exp(-2 * signal))).astype(float)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    probs = {"sw": sig(signal), "target_linear": sig(rng.normal(size=n_gen + n_tgt))}
    stack = fit_target_blend(probs, target, is_target, ["target_linear"], prior=40.0)
    coef = dict(zip(stack.scorers_, stack.coef_, strict=True))
    assert coef["sw"] > 5 * abs(coef["target_linear"])
