"""The source mix (``router_core.scorers.source_mix``) and the pair stack's offsets: sources' base rates
removed from the scorers of a router trained on several sources."""

from __future__ import annotations

import numpy as np
import pytest

from router_core.router import Router
from router_core.scorers.base import sigmoid
from router_core.scorers.source_mix import SourceMixScorer, source_base_logits
from router_core.stacks import PairStack
from router_core.stacks.logistic import logit
from router_core.training import train_router
from router_core.training_data import TrainingSet

MODELS = ["strong", "weak"]


def two_sources(n: int = 120, dim: int = 8, seed: int = 0) -> tuple[TrainingSet, np.ndarray]:
    """Source ``battles`` near axis 0, where strong wins 90% of battles; source ``exam`` near axis 1,
    correctness where strong is needed on the prompts with a positive coordinate 2 (pair target 1) and
    both are right elsewhere (0.5)."""
    rng = np.random.default_rng(seed)
    emb = np.vstack(
        [np.eye(dim)[0] + 0.3 * rng.normal(size=(n, dim)), np.eye(dim)[1] + 0.3 * rng.normal(size=(n, dim))]
    )
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    src = np.repeat([0, 1], n)
    strong_wins = np.where(rng.random(n) < 0.9, 1.0, 0.0)
    needs_strong = emb[n:, 2] > 0
    exam = np.c_[np.ones(n), np.where(needs_strong, 0.0, 1.0)]
    scores = np.vstack([np.full((n, 2), np.nan), exam]).astype(np.float32)
    outcome = np.r_[strong_wins, np.where(needs_strong, 1.0, 0.5)].astype(np.float32)
    qa = np.arange(2 * n)
    ts = TrainingSet(
        prompts=[f"{'battle' if s == 0 else 'exam'} prompt {i}" for i, s in enumerate(src)], models=MODELS,
        scores=scores, battle_prompt=qa.astype(np.int64), battle_a=np.zeros(2 * n, np.int64),
        battle_b=np.ones(2 * n, np.int64), battle_outcome=outcome, battle_weight=np.ones(2 * n, np.float32),
        battle_source=src.astype(np.int64), prompt_source=src.astype(np.int64), sources=["battles", "exam"],
    )  # fmt: skip
    return ts, emb


def test_each_source_has_the_logit_of_its_mean_pair_target():
    ts, emb = two_sources()
    base = source_base_logits(ts, "strong", "weak")
    wins = ts.battle_outcome[ts.battle_source == 0].mean()
    exam = np.where(emb[ts.prompt_source == 1, 2] > 0, 1.0, 0.5).mean()
    np.testing.assert_allclose(base, logit(np.array([wins, exam])), rtol=1e-6)


def test_a_prompt_gets_the_base_rate_of_the_sources_near_it(tmp_path):
    ts, emb = two_sources()
    sc = SourceMixScorer(strong="strong", weak="weak").fit(ts, emb)
    base = source_base_logits(ts, "strong", "weak")
    q = np.eye(8, dtype=np.float32)[:2]
    got = logit(sc.win_prob(q, None, "strong", "weak"))
    np.testing.assert_allclose(got, base, atol=0.05)
    params = sc.save(str(tmp_path / "mix"))
    back = SourceMixScorer.load(str(tmp_path / "mix"), params)
    np.testing.assert_array_equal(
        back.win_prob(q, None, "strong", "weak"), sc.win_prob(q, None, "strong", "weak")
    )
    with pytest.raises(ValueError, match="fitted for strong vs weak"):
        sc.win_prob(q, None, "weak", "strong")
    with pytest.raises(ValueError, match="pair probability only"):
        sc.score(q)


def test_the_stack_removes_what_the_offset_predicts_from_each_scorer():
    rng = np.random.default_rng(1)
    n = 4000
    signal, offset = rng.normal(size=n), rng.normal(size=n)
    target = np.where(rng.random(n) < sigmoid(signal), 1.0, 0.0)
    probs = {
        "a": sigmoid(signal + 2.0 * offset + 0.3 * rng.normal(size=n)),
        "b": sigmoid(signal + 3.0 * offset + 0.3 * rng.normal(size=n)),
        "mix": sigmoid(offset),
    }
    plain = PairStack().fit({k: probs[k] for k in ("a", "b")}, target)
    stack = PairStack(offsets=["mix"]).fit(probs, target)
    assert stack.scorers_ == ["a", "b", "mix"] and stack.coef_[2] < 0
    # the same prompts with the offset moved: the plain mean follows it, the offset stack does not
    moved = {k: sigmoid(logit(v) + (2.0 if k == "a" else 3.0 if k == "b" else 0.0)) for k, v in probs.items()}
    moved["mix"] = sigmoid(offset + 1.0)
    shift = lambda st, ps: np.mean(logit(st.predict(ps)) - logit(st.predict(probs)))  # noqa: E731
    assert abs(shift(stack, moved)) < 0.05 * abs(shift(plain, {k: moved[k] for k in ("a", "b")}))
    order = np.corrcoef(logit(stack.predict(probs)), signal)[0, 1]
    assert order > np.corrcoef(logit(plain.predict(probs)), signal)[0, 1] + 0.2


def test_pair_routers_on_several_sources_stack_the_source_mix(tmp_path):
    ts, emb = two_sources()
    router = train_router(
        ts, emb, "test-embedder", "strong", "weak", scorers=["knn", "mf"], log=lambda m: None
    )
    assert "source_mix" in router.scorer_names
    assert router.stack.coef_[router.stack.scorers_.index("source_mix")] != 0
    router.save(str(tmp_path / "r"))
    back = Router.load(str(tmp_path / "r"), embedder_id="test-embedder")
    np.testing.assert_allclose(
        back.score(emb)["strong_win_prob"], router.score(emb)["strong_win_prob"], atol=1e-6
    )


@pytest.mark.parametrize("case", ["one source", "turned off", "one generic source beside the target data"])
def test_no_source_mix_without_several_generic_sources(case):
    ts, emb = two_sources()
    kw: dict = {}
    if case == "one source":  # the other source is named but holds none of the prompts
        keep = np.flatnonzero(ts.prompt_source == 1)
        ts, emb = ts.subset(keep), emb[keep]
    elif case == "turned off":
        kw["source_mix"] = False
    else:
        kw["target_sources"] = ["exam"]
    router = train_router(
        ts, emb, "test-embedder", "strong", "weak", scorers=["knn"], log=lambda m: None, **kw
    )
    assert "source_mix" not in router.scorer_names


def test_with_target_data_the_generic_sources_mix_is_removed_from_the_generic_stack(tmp_path):
    ts, emb = two_sources()
    mine = np.flatnonzero(ts.prompt_source == 1)[::2]  # half of the exam prompts: the user's own traffic
    ts.prompt_source[mine] = 2
    ts.battle_source[np.isin(ts.battle_prompt, mine)] = 2
    ts.sources = ["battles", "exam", "mine"]
    router = train_router(
        ts,
        emb,
        "test-embedder",
        "strong",
        "weak",
        scorers=["knn"],
        target_sources=["mine"],
        log=lambda m: None,
    )
    mix = router.scorers["source_mix"]
    assert mix.exclude == ["mine"] and mix.index_.index.ntotal == len(ts.prompts) - len(mine)
    assert router.stack.coef_[router.stack.scorers_.index("source_mix")] != 0
    router.save(str(tmp_path / "r"))
    back = Router.load(str(tmp_path / "r"), embedder_id="test-embedder")
    texts = list(ts.prompts)
    np.testing.assert_allclose(
        back.score(emb, texts)["strong_win_prob"], router.score(emb, texts)["strong_win_prob"], atol=1e-6
    )


def test_a_constant_offset_changes_nothing():
    rng = np.random.default_rng(2)
    signal = rng.normal(size=500)
    target = np.where(rng.random(500) < sigmoid(signal), 1.0, 0.0)
    probs = {"a": sigmoid(signal + 0.3 * rng.normal(size=500)), "mix": np.full(500, 0.7, np.float32)}
    stack = PairStack(offsets=["mix"]).fit(probs, target)
    plain = PairStack().fit({"a": probs["a"]}, target)
    assert stack.coef_[1] == 0.0
    np.testing.assert_allclose(stack.predict(probs), plain.predict({"a": probs["a"]}), atol=1e-6)


def test_without_a_stack_the_plain_average_leaves_the_source_mix_out():
    ts, emb = two_sources(n=8)  # 16 prompts: too few out-of-fold targets for a stack
    router = train_router(ts, emb, "test-embedder", "strong", "weak", scorers=["knn"], log=lambda m: None)
    assert router.stack is None and "source_mix" in router.scorer_names
    out = router.score(emb)
    np.testing.assert_allclose(out["strong_win_prob"], out["score_knn"], atol=1e-6)
