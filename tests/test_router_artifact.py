"""Router training, scoring contract, artefact save/load with checksums and embedder check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit

from router_core.artifact import RouterLoadError
from router_core.router import Router
from router_core.training import train_router
from router_core.training_data import TrainingSet
from tests.battle_sets import FAST, PARAMS, clustered_scores, swap_sides


@pytest.fixture(scope="module")
def pair_router():
    ts, emb, cl = clustered_scores()
    r = train_router(ts, emb, "test-emb/v1", "strong", "weak", FAST, PARAMS, log=lambda s: None)
    return r, emb, cl


def test_pair_router_scores(pair_router):
    router, emb, cl = pair_router
    out = router.score(emb[:50])
    assert set(out) == {"score_sw", "score_mf", "score_knn", "strong_win_prob"}
    for v in out.values():
        assert v.shape == (50,) and v.dtype == np.float32 and ((v >= 0) & (v <= 1)).all()
    p = out["strong_win_prob"]
    # The strong model is needed in cluster 0 only: the default score must rank those prompts higher.
    assert p[cl[:50] == 0].mean() > p[cl[:50] == 1].mean() + 0.1
    assert router.scorer_names == list(FAST) and router.needs_text  # known prompts look texts up
    m = router.manifest["metrics"]["scorers"]
    assert set(m) == {"sw", "mf", "knn", "ensemble"} and m["ensemble"]["auc"] > 0.6


def test_save_load_roundtrip_and_manifest(pair_router, tmp_path):
    router, emb, _ = pair_router
    router.save(str(tmp_path / "r"))
    man = json.loads((tmp_path / "r" / "manifest.json").read_text())
    for key in ("format_version", "models", "embedder_id", "scorers", "training_data_hash", "source_weights"):
        assert key in man
    assert man["strong"] == "strong" and man["weak"] == "weak"
    assert all(len(h) == 64 for h in man["files"].values())
    assert not any(f.endswith((".pkl", ".pickle")) for f in man["files"])
    back = Router.load(str(tmp_path / "r"), embedder_id="test-emb/v1")
    a, b = router.score(emb[:30]), back.score(emb[:30])
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5)


def test_load_without_scorers_keeps_what_the_driver_reads(pair_router, tmp_path):
    router, emb, _ = pair_router
    router.save(str(tmp_path / "r"))
    full, light = Router.load(str(tmp_path / "r")), Router.load(str(tmp_path / "r"), scorers=False)
    assert light.scorers == {} and light.scorer_names == full.scorer_names == router.scorer_names
    assert (light.models, light.strong, light.weak, light.embedder_id) == (
        full.models, full.strong, full.weak, full.embedder_id
    )  # fmt: skip
    assert light.manifest == full.manifest and (light.known is None) == (full.known is None)
    with pytest.raises(RuntimeError, match="without its scorers"):
        light.score(emb[:3])
    (tmp_path / "r" / light.manifest["scorers"][0]["dir"]).rename(tmp_path / "moved")
    with pytest.raises(RouterLoadError, match="incomplete"):  # checksums are verified all the same
        Router.load(str(tmp_path / "r"), scorers=False)


def test_load_checks_embedder_and_checksums(pair_router, tmp_path):
    router, _, _ = pair_router
    path = tmp_path / "r"
    router.save(str(path))
    with pytest.raises(RouterLoadError, match="trained with embedder 'test-emb/v1'"):
        Router.load(str(path), embedder_id="other-embedder")
    with open(path / "ensemble.npz", "ab") as f:
        f.write(b"tampered")
    with pytest.raises(RouterLoadError, match="checksum mismatch for ensemble.npz"):
        Router.load(str(path))
    with pytest.raises(RouterLoadError, match="not a router artefact"):
        Router.load(str(tmp_path / "nothing"))


def test_n_model_router_predicts_quality_on_score_scale(tmp_path):
    ts, emb, cl = clustered_scores(seed=1)
    r = train_router(ts, emb, "test-emb/v1", scorers=FAST, scorer_params=PARAMS, log=lambda s: None)
    out = r.score(emb)
    assert "strong_win_prob" not in out
    q = out["predicted_quality"]
    assert q.shape == (len(emb), 3) and q.dtype == np.float32 and ((q >= 0) & (q <= 1)).all()
    weak = r.models.index("weak")
    # P(weak correct) is ~0.1 in cluster 0 and ~0.9 in cluster 1: calibrated estimates follow.
    assert q[cl == 0, weak].mean() < 0.35 and q[cl == 1, weak].mean() > 0.65
    assert out["score_knn"].shape == (len(emb),)
    r.save(str(tmp_path / "n"))
    back = Router.load(str(tmp_path / "n"))
    np.testing.assert_allclose(back.score(emb[:20])["predicted_quality"], q[:20], atol=1e-5)
    assert back.strong is None and back.models == ["mid", "strong", "weak"]
    assert r.joint is not None and back.joint is not None  # cross-fitted: the joint stack is the default
    assert r.manifest["metrics"]["default_score"] == "joint_stack"
    # Format 2 marks it, so that readers of format 1 refuse it instead of using only the linear stack.
    man = json.loads((tmp_path / "n" / "manifest.json").read_text())
    assert man["format_version"] == 2
    man["format_version"] = 3
    (tmp_path / "n" / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(RouterLoadError, match="format 3 is not supported"):
        Router.load(str(tmp_path / "n"))
    # A model the stack never saw scores for keeps the linear stack's estimate.
    r.stack.calibrated_[weak] = False
    feats = r.scorer_outputs(emb, None)
    np.testing.assert_array_equal(r.default_quality(feats, emb)[:, weak], r.stack.predict(feats)[:, weak])


@pytest.mark.parametrize("kw", [{"joint_stack": False}, {"stack_folds": 1}])
def test_n_model_router_without_joint_stack_uses_the_linear_stack(kw, tmp_path):
    # On one held-out fold the joint stack would see a fifth of the prompts: measured worse than linear.
    ts, emb, cl = clustered_scores(seed=1)
    r = train_router(ts, emb, "e", scorers=FAST, scorer_params=PARAMS, log=lambda s: None, **kw)
    assert r.joint is None and r.manifest["metrics"]["default_score"] == "linear_stack"
    if "stack_folds" in kw:  # still available on request (docs/routers-n-model.md, joint stack evidence)
        forced = train_router(
            ts, emb, "e", scorers=FAST, scorer_params=PARAMS, log=lambda s: None, joint_stack=True, **kw
        )
        assert forced.joint is not None
    feats = r.scorer_outputs(emb, None)
    np.testing.assert_allclose(r.score(emb)["predicted_quality"], r.stack.predict(feats), atol=1e-6)
    r.save(str(tmp_path / "n"))
    assert Router.load(str(tmp_path / "n")).joint is None
    assert json.loads((tmp_path / "n" / "manifest.json").read_text())["format_version"] == 1


def test_pair_router_does_not_depend_on_battle_orientation():
    ts, emb, _ = clustered_scores(n=200, seed=2)
    swapped = swap_sides(ts)
    kw = dict(scorers=("sw", "knn"), log=lambda s: None)
    p1 = train_router(ts, emb, "e", "strong", "weak", **kw).score(emb)["strong_win_prob"]
    p2 = train_router(swapped, emb, "e", "strong", "weak", **kw).score(emb)["strong_win_prob"]
    np.testing.assert_allclose(p1, p2, atol=1e-5)


def test_two_sources_are_weighted_and_reported():
    # Clean source: strong wins in cluster A, weak in cluster B; second source: coin flips on other prompts.
    ts, emb, _ = clustered_scores(n=300, seed=3, p_strong=(0.9, 0.1), p_weak=(0.1, 0.9))
    rng = np.random.default_rng(0)
    n = len(ts.prompts)
    noise = TrainingSet(
        prompts=ts.prompts + [p + " (noise)" for p in ts.prompts],
        models=ts.models,
        scores=np.vstack([ts.scores, np.full_like(ts.scores, np.nan)]),
        battle_prompt=np.r_[ts.battle_prompt, ts.battle_prompt + n],
        battle_a=np.r_[ts.battle_a, ts.battle_a],
        battle_b=np.r_[ts.battle_b, ts.battle_b],
        battle_outcome=np.r_[ts.battle_outcome, rng.integers(0, 2, ts.n_battles)].astype(np.float32),
        battle_weight=np.ones(2 * ts.n_battles, dtype=np.float32),
        battle_source=np.r_[np.zeros(ts.n_battles), np.ones(ts.n_battles)].astype(np.int64),
        prompt_source=np.r_[np.zeros(n), np.ones(n)].astype(np.int64),
        sources=["clean", "noise"],
    )
    emb2 = np.vstack([emb, emb])
    r = train_router(noise, emb2, "e", "strong", "weak", scorers=("sw",), log=lambda s: None)
    w = r.manifest["source_weights"]
    assert w["clean"] == 1.0 and 0.0 <= w["noise"] <= 1.0
    rep = r.manifest["source_weighting"]
    assert set(rep["alone"]) == {"clean", "noise"}
    assert rep["pooled"]["clean"] < 0.1  # 1 - AUC: the clean source ranks its own battles well
    assert abs(rep["pooled"]["noise"] - 0.5) < 0.15  # coin flips cannot be ranked


def _probe_outputs(n: int, noise_weight: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Validation (p, outcome) of a 'clean' source whose ranking degrades as another source's weight grows."""
    rng = np.random.default_rng(seed)
    outcome = (rng.random(n) < 0.5).astype(np.float64)
    signal = np.where(outcome > 0.5, 1.0, -1.0) + rng.normal(size=n)
    jitter = np.random.default_rng(seed + 1).normal(scale=4.0, size=n)
    return expit(signal + noise_weight * jitter), outcome


def test_source_weights_drop_a_source_that_hurts_ranking():
    from router_core.training.source_weights import fit_source_weights

    def evaluate(w: dict[str, float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        # The noise source's own battles are unpredictable whatever the weights (AUC ~0.5 everywhere).
        rng = np.random.default_rng(9)
        own = (rng.random(400), (rng.random(400) < 0.5).astype(np.float64))
        return {"clean": _probe_outputs(400, w["noise"] / max(w["clean"], 1e-9)), "noise": own}

    weights, report = fit_source_weights(evaluate, ["clean", "noise"])
    assert weights["clean"] == 1.0 and weights["noise"] < 1.0
    assert report["chosen"]["clean"] < report["pooled"]["clean"]


def test_source_weights_keep_pooling_when_the_gain_is_noise():
    from router_core.training.source_weights import fit_source_weights

    def evaluate(w: dict[str, float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        # 12 validation battles: a different weighting reshuffles predictions by chance only.
        seed = int(round(w["clean"] * 10 + w["noise"] * 100))
        rng = np.random.default_rng(seed)
        outcome = np.r_[np.ones(6), np.zeros(6)]
        return {"clean": (rng.random(12), outcome), "noise": (rng.random(12), outcome)}

    weights, report = fit_source_weights(evaluate, ["clean", "noise"])
    assert weights == {"clean": 1.0, "noise": 1.0}
    assert report["chosen"] == report["pooled"]


def test_bad_pair_is_rejected():
    ts, emb, _ = clustered_scores(n=50)
    with pytest.raises(ValueError, match="not in the training data"):
        train_router(ts, emb, "e", "strong", "nobody", scorers=("sw",), log=lambda s: None)
    with pytest.raises(ValueError, match="both strong and weak"):
        train_router(ts, emb, "e", "strong", None, scorers=("sw",), log=lambda s: None)


def test_source_weights_without_decisive_battles_keep_pooling():
    from router_core.training.source_weights import fit_source_weights

    def evaluate(w: dict[str, float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        # One source only ever won by one side, the other only ties: no AUC anywhere.
        rng = np.random.default_rng(0)
        return {"won": (rng.random(10), np.ones(10)), "tied": (rng.random(10), np.full(10, 0.5))}

    weights, report = fit_source_weights(evaluate, ["won", "tied"])
    assert weights == {"won": 1.0, "tied": 1.0}
    assert report["chosen"] == {} and report["objective"] is None
    json.dumps(report, allow_nan=False)  # goes into the manifest as strict JSON


def test_fold_prompts_depend_on_the_text_only():
    from router_core.training_data import fold_prompts

    prompts = [f"question {i}" for i in range(2000)]
    f = fold_prompts(prompts, 5, salt="s")
    assert f.min() == 0 and f.max() == 4 and np.bincount(f).min() > 300  # about 400 each
    np.testing.assert_array_equal(fold_prompts(prompts[::-1], 5, salt="s"), f[::-1])
    assert (fold_prompts(prompts, 5, salt="other") != f).any()
    with pytest.raises(ValueError, match="at least 2 folds"):
        fold_prompts(prompts, 1)


@pytest.mark.parametrize("pair", [False, True])
def test_stack_is_cross_fitted_on_every_prompt(pair):
    ts, emb, cl = clustered_scores(n=300, seed=4)
    names = ("strong", "weak") if pair else (None, None)
    logs: list[str] = []
    kw = dict(scorers=FAST, scorer_params=PARAMS)
    r5 = train_router(ts, emb, "e", *names, **kw, log=logs.append)
    m = r5.manifest["metrics"]
    assert r5.manifest["stack_folds"] == 5 and m["stack_folds"] == 5
    assert m["stack_prompts"] == len(ts.prompts) == m["valid_targets"]  # every prompt has a target here
    assert sum("fold 5/5" in s for s in logs) == 1
    r1 = train_router(ts, emb, "e", *names, **kw, stack_folds=1, log=lambda s: None)
    m1 = r1.manifest["metrics"]
    assert m1["stack_folds"] == 1 and m1["stack_prompts"] == m1["valid_prompts"] < len(ts.prompts) / 2
    # Both routers learn the clusters; only the stack's data differs.
    if pair:
        for r in (r5, r1):
            p = r.score(emb)["strong_win_prob"]
            assert p[cl == 0].mean() > p[cl == 1].mean() + 0.2
    else:
        weak = r5.models.index("weak")
        for r in (r5, r1):
            q = r.score(emb)["predicted_quality"][:, weak]
            assert q[cl == 0].mean() < 0.35 and q[cl == 1].mean() > 0.65
    with pytest.raises(ValueError, match="stack_folds must be at least 1"):
        train_router(ts, emb, "e", *names, **kw, stack_folds=0, log=lambda s: None)


def test_stack_inputs_are_each_folds_scores_from_the_other_folds(monkeypatch):
    from router_core.scorers.knn import KNNScorer
    from router_core.stacks import QualityStack, quality_features
    from router_core.training import VALID_SALT
    from router_core.training_data import fold_prompts

    seen = {}
    real_fit = QualityStack.fit

    def capture(self, feats, scores, lo, hi, weight=None):
        if not seen:  # the stack itself; later calls are the cross-fit of its reported metric
            seen.update(feats=dict(feats), scores=scores.copy())
        return real_fit(self, feats, scores, lo, hi)

    monkeypatch.setattr(QualityStack, "fit", capture)
    ts, emb, _ = clustered_scores(n=200, seed=6)
    train_router(ts, emb, "e", scorers=("knn",), log=lambda s: None)
    fold = fold_prompts(ts.prompts, 5, salt=VALID_SALT)
    expect, order = [], []
    for f in range(5):
        fit, out = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        knn = KNNScorer().fit(ts.subset(fit), emb[fit])
        expect.append(quality_features(KNNScorer.output, knn.score(emb[out])))
        order.append(out)
    np.testing.assert_allclose(seen["feats"]["knn"], np.concatenate(expect), atol=1e-6)
    np.testing.assert_array_equal(seen["scores"], ts.scores[np.concatenate(order)])


@pytest.mark.parametrize("pair", [False, True])
@pytest.mark.parametrize("n", [1, 3, 12])
def test_tiny_data_trains_with_five_stack_folds(pair, n):
    ts, emb, _ = clustered_scores(n=40, seed=7)
    ts, emb = ts.subset(np.arange(n)), emb[:n]
    names = ("strong", "weak") if pair else (None, None)
    r = train_router(ts, emb, "e", *names, scorers=("sw", "knn"), log=lambda s: None)
    if pair:  # too few out-of-fold targets: a plain average instead of a stack
        assert r.stack is None or r.manifest["metrics"]["valid_targets"] >= 20
    out = r.score(emb)["strong_win_prob" if pair else "predicted_quality"]
    assert np.isfinite(out).all() and ((out >= 0) & (out <= 1)).all()


@pytest.mark.parametrize("pair", [False, True])
def test_a_scorer_too_costly_to_refit_keeps_one_held_out_fold(monkeypatch, pair):
    from router_core.scorers import registry
    from router_core.scorers.knn import KNNScorer

    class OnceKNN(KNNScorer):  # stands in for BERT: trained once, never per fold
        refit_on_all = False

    monkeypatch.setitem(registry.SCORERS, "knn", OnceKNN)
    ts, emb, _ = clustered_scores(n=300, seed=5)
    logs: list[str] = []
    names = ("strong", "weak") if pair else (None, None)
    r = train_router(ts, emb, "e", *names, scorers=("sw", "knn"), log=logs.append)
    m = r.manifest["metrics"]
    assert m["stack_folds"] == 1 and m["stack_prompts"] == m["valid_prompts"] == m["valid_targets"]
    assert m["stack_folds_requested"] == 5 and "knn" in m["stack_fallback"]
    assert any("not cross-fitted: knn is too costly" in s for s in logs)
    assert any("keeping knn fitted on the training fold" in s for s in logs)


def _far_from(emb: np.ndarray) -> np.ndarray:
    """A unit vector pointing away from every training embedding: minus their mean direction."""
    v = -emb.mean(axis=0, keepdims=True)
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_label_similarity_is_the_nearest_training_prompt(pair_router, tmp_path):
    router, emb, _ = pair_router
    near = router.label_similarity(emb[:5] * 3.0)  # any length: the similarity is a cosine
    np.testing.assert_allclose(near, 1.0, atol=1e-5)
    far = router.label_similarity(_far_from(emb))
    assert far.shape == (1,) and far[0] < 0.5
    exact = (emb @ _far_from(emb)[0]).max()  # brute force over the training prompts
    np.testing.assert_allclose(far[0], exact, atol=1e-5)
    entry = router.record_label_coverage(emb)
    assert entry["index"] == "knn" and router.label_index is None  # the kNN scorer's index is used
    ref = entry["training_nearest_other"]
    assert ref["count"] == len(emb) and 0.5 < ref["median"] < 1.0  # clustered prompts: close neighbours
    assert ref["quantiles"]["p10"] <= ref["median"] <= ref["quantiles"]["p90"]
    router.save(str(tmp_path / "r"))
    back = Router.load(str(tmp_path / "r"))
    assert back.manifest["label_similarity"] == entry
    probe = np.vstack([emb[:3], _far_from(emb)])
    np.testing.assert_allclose(back.label_similarity(probe), router.label_similarity(probe), atol=1e-6)


def test_router_without_a_neighbour_scorer_keeps_its_own_label_index(tmp_path):
    ts, emb, _ = clustered_scores(n=120)
    router = train_router(ts, emb, "test-emb/v1", "strong", "weak", ("mf",), PARAMS, log=lambda s: None)
    assert np.isnan(router.label_similarity(emb[:2])).all()  # nothing to search yet
    assert router.record_label_coverage(emb)["index"] == "label_index"
    np.testing.assert_allclose(router.label_similarity(emb[:4]), 1.0, atol=1e-5)
    router.save(str(tmp_path / "r"))
    man = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert man["label_index"] == {"count": 120} and "label_index.npz" in man["files"]
    back = Router.load(str(tmp_path / "r"))
    probe = np.vstack([emb[:3], _far_from(emb)])
    # stored as float16: the same similarities to about 1e-3
    np.testing.assert_allclose(back.label_similarity(probe), router.label_similarity(probe), atol=2e-3)
    assert back.label_similarity(probe)[-1] < 0.5
