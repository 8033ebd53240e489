"""The ``llm`` scorer against a real OpenAI-compatible server on 127.0.0.1 (tests/openai_server.py): the
probability from logprobs and from sampled verdicts, few-shot examples kept in the artefact, retries on
429 / 500 / timeouts, clear errors, the training pipeline with ``scorers=["sw", "llm"]`` and its recorded
cost, and the API key never written anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from router_core.router import Router
from router_core.scorers import llm_prompt
from router_core.scorers.llm import LLMScorer
from router_core.scorers.llm_client import LLMScorerError
from router_core.training import train_router
from tests.battle_sets import battle_set

KEY = "sk-llm-scorer-5be1d0"  # must never appear in any file or message
KEY_ENV = "ROUTER_LLM_TEST_KEY"
STRONG, WEAK = "strong-model", "weak-model"


@pytest.fixture()
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def pair_battles(n: int = 24):
    """Strong beats weak on HARD prompts (every third); elsewhere weak wins or ties: P(weak as good) 2/3."""
    prompts = [f"HARD proof number {i}" if i % 3 == 0 else f"easy question number {i}" for i in range(n)]
    outcome = [1.0 if i % 3 == 0 else 0.0 if i % 3 == 1 else 0.5 for i in range(n)]
    # model order: a = weak on odd prompts, so nothing may depend on which side a model is listed
    a = [0 if i % 2 == 0 else 1 for i in range(n)]
    b = [1 - x for x in a]
    o = [y if a[i] == 0 else 1.0 - y for i, y in enumerate(outcome)]
    return battle_set(prompts, [STRONG, WEAK], list(range(n)), a, b, o)


def scorer(url: str, **kw) -> LLMScorer:
    return LLMScorer(endpoint=url, model="router-judge", api_key_env=KEY_ENV, backoff_s=0.01, **kw)


def files_text(root: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


def test_probability_from_logprobs(server, key):
    fake, url = server
    sc = scorer(url).fit(pair_battles(), None)
    p = sc.win_prob(None, ["HARD new proof", "an easy one"], STRONG, WEAK)
    # the server's P(yes) is 0.1 for HARD, 0.8 otherwise, spread over the "Yes" and " yes" tokens
    np.testing.assert_allclose(p, [0.9, 0.2], atol=1e-6)
    body = fake.chat_bodies[0]
    assert body["logprobs"] is True and body["max_tokens"] == 1 and body["temperature"] == 0.0
    assert body["messages"][0]["content"] == llm_prompt.SYSTEM_PROMPT and len(body["messages"]) == 2
    u = sc.scoring_usage()
    assert (u.prompts, u.requests, u.retries, u.unparsed) == (2, 2, 0, 0)
    assert u.read_from == {"logprobs": 2}
    reported = [len(" ".join(m["content"] for m in b["messages"]).split()) for b in fake.chat_bodies]
    assert u.prompt_tokens == sum(reported) and u.completion_tokens == 2
    assert fake.api_keys == {f"Bearer {KEY}"}


def test_sampled_verdicts_when_the_server_gives_no_logprobs(server, key):
    fake, url = server
    fake.logprobs = False
    sc = scorer(url, n_samples=5).fit(pair_battles(), None)
    prior = (16 + 1) / (24 + 2)  # the pool's share of "weak as good", one pseudo-count each way
    p = sc.win_prob(None, ["HARD x", "easy y", "easy z", "GARBLED w"], STRONG, WEAK)
    expected = [1 - (0 + prior) / 6, 1 - (4 + prior) / 6, 1 - (4 + prior) / 6, 1 - prior]
    np.testing.assert_allclose(p, expected, atol=1e-6)
    u = sc.scoring_usage()
    # auto mode: the first prompt also asked for logprobs, and got none; the rest went straight to samples
    assert u.requests == 5 and sum(1 for b in fake.chat_bodies if b.get("logprobs")) == 1
    assert all(b["n"] == 5 for b in fake.chat_bodies if not b.get("logprobs"))
    assert u.read_from == {"samples": 4} and u.unparsed == 1

    strict = scorer(url, verdicts="logprobs").fit(pair_battles(), None)
    with pytest.raises(LLMScorerError, match="returned no logprobs.*llm.verdicts=samples"):
        strict.win_prob(None, ["easy"], STRONG, WEAK)


def test_few_shot_examples_are_balanced_and_survive_save_load(server, key, tmp_path):
    fake, url = server
    sc = scorer(url, k_shot=4).fit(pair_battles(), None)
    examples, _ = sc.pair_context(STRONG, WEAK)
    assert sorted(e.weak_as_good for e in examples) == [False, False, True, True]
    assert all(("HARD" in e.prompt) != e.weak_as_good for e in examples)
    before = sc.win_prob(None, ["HARD a", "easy b"], STRONG, WEAK)
    params = sc.save(str(tmp_path / "llm"))
    assert params["api_key_env"] == KEY_ENV and params["k_shot"] == 4
    loaded = LLMScorer.load(str(tmp_path / "llm"), params)
    np.testing.assert_array_equal(loaded.win_prob(None, ["HARD a", "easy b"], STRONG, WEAK), before)
    first, again = fake.chat_bodies[0], fake.chat_bodies[2]
    assert first["messages"] == again["messages"] and len(first["messages"]) == 2 + 2 * 4
    answers = [m["content"] for m in first["messages"][2:9:2]]
    assert answers == ["Yes" if e.weak_as_good else "No" for e in examples]
    assert KEY not in files_text(tmp_path)


@pytest.mark.parametrize("faults", [("429", "500"), ("timeout",), ("truncated", "500")])
def test_transient_faults_are_retried(server, key, faults):
    fake, url = server
    fake.scripted_faults = faults
    # a timeout fault answers nothing until the client gives up; a normal call is far below 2 s, even on a
    # loaded machine, so only the faults time out
    sc = scorer(url, timeout_s=2.0, concurrency=2).fit(pair_battles(), None)
    p = sc.win_prob(None, ["HARD a", "easy b", "easy c"], STRONG, WEAK)
    np.testing.assert_allclose(p, [0.9, 0.2, 0.2], atol=1e-6)
    assert sc.scoring_usage().retries == 3 * len(faults) and sc.scoring_usage().requests == 3
    assert sorted(fake.attempts.values()) == [len(faults) + 1] * 3


def test_errors_are_one_clear_line_without_the_key(server, key, monkeypatch):
    fake, url = server
    fake.scripted_faults = ("500",) * 5
    with pytest.raises(LLMScorerError, match=r"failed after 3 attempt\(s\): 500") as exc:
        scorer(url, max_retries=2).fit(pair_battles(), None).win_prob(None, ["easy"], STRONG, WEAK)
    fake.scripted_faults, fake.required_key = (), "another-key"
    with pytest.raises(LLMScorerError, match="failed after 1 attempt") as exc:
        scorer(url).fit(pair_battles(), None).win_prob(None, ["easy"], STRONG, WEAK)
    assert KEY not in str(exc.value) and "\n" not in str(exc.value)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(LLMScorerError, match=f"no API key: set the environment variable {KEY_ENV}"):
        scorer(url).fit(pair_battles(), None).win_prob(None, ["easy"], STRONG, WEAK)
    with pytest.raises(ValueError, match="verdicts must be one of auto, logprobs, samples"):
        LLMScorer(verdicts="sometimes")


def test_trains_in_a_pair_router_with_sw_and_records_its_cost(server, key, tmp_path):
    fake, url = server
    ts = pair_battles(60)
    emb = np.random.default_rng(0).normal(size=(60, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    params = {"llm": {"endpoint": url, "model": "router-judge", "api_key_env": KEY_ENV, "k_shot": 2,
                      "input_price": 0.15, "output_price": 0.6}}  # fmt: skip
    router = train_router(
        ts, emb, "e", STRONG, WEAK, scorers=["sw", "llm"], scorer_params=params, log=lambda m: None
    )
    cost = router.manifest["scoring_cost"]["llm"]
    # every training prompt scored once, out of fold; the final refit scores nothing
    assert (cost["prompts"], cost["requests"], cost["retries"]) == (60, 60, 0)
    assert cost["prompt_tokens"] == sum(
        len(" ".join(m["content"] for m in b["messages"]).split()) for b in fake.chat_bodies
    )
    assert cost["cost_usd"] == pytest.approx((cost["prompt_tokens"] * 0.15 + 60 * 0.6) / 1e6)
    assert cost["cost_per_prompt_usd"] == pytest.approx(cost["cost_usd"] / 60)
    # the server's verdicts separate HARD prompts perfectly: the llm scorer ranks them first
    assert router.manifest["metrics"]["scorers"]["llm"]["auc"] == pytest.approx(1.0)
    router.save(str(tmp_path / "router"))
    loaded = Router.load(str(tmp_path / "router"), embedder_id="e")
    texts = ["HARD new proof", "easy new question"]
    out = loaded.score(emb[:2], texts)
    np.testing.assert_allclose(out["score_llm"], [0.9, 0.2], atol=1e-6)
    assert out["strong_win_prob"][0] > out["strong_win_prob"][1]
    manifest = json.loads((tmp_path / "router" / "manifest.json").read_text())
    assert manifest["scorers"][1]["params"]["api_key_env"] == KEY_ENV
    assert KEY not in files_text(tmp_path)


def test_n_model_routers_refuse_the_llm_scorer(server, key):
    _, url = server
    with pytest.raises(ValueError, match="llm give a pair probability only"):
        train_router(pair_battles(), np.eye(24, 8, dtype=np.float32), "e", scorers=["sw", "llm"],
                     scorer_params={"llm": {"endpoint": url}}, log=lambda m: None)  # fmt: skip
    with pytest.raises(ValueError, match="pair probability only"):
        scorer(url).fit(pair_battles(), None).score(None, ["x"])
