"""Causal-LLM scorer (RouteLLM's fourth router, zero- or few-shot over an OpenAI-compatible chat endpoint).

For each prompt a chat model is asked whether the weak model's answer would be as good as the strong
model's (``router_core.scorers.llm_prompt``); P(strong beats weak) = 1 - P(weak as good), read from the
answer token's logprobs when the server returns them, else from ``n_samples`` sampled verdicts.

``fit`` calls nothing: it keeps a pool of labelled training prompts (the first ``example_pool`` prompts of
at most ``max_example_chars`` characters in the order of a hash of their text, saved in the artefact).
When the pair is known (``win_prob``), the ``k_shot`` few-shot examples are drawn from the pool, half with
each verdict where the pool allows, and the pool's share of "weak as good" is the prior that stands in
for an unreadable verdict and shrinks sampled ones.

Pair routers only: the question is about one strong and one weak model, so ``score`` (what an N-model
router reads) raises, and ``train_router`` refuses the scorer without --strong/--weak (``pair_only``).
Every call's reported tokens are counted (``scoring_usage``): training records them with the prices
``input_price`` / ``output_price`` (USD per 1M tokens) in the router manifest, and ``route`` projects the
scorer's calls and cost per routed prompt from them.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from router_core.outcomes import pair_outcomes
from router_core.scorers import llm_prompt
from router_core.scorers.base import ScoreKind, ScorerBase
from router_core.scorers.llm_client import ChatCaller, LLMScorerError
from router_core.scoring_cost import CallUsage
from router_core.training_data import TrainingSet

Verdicts = Literal["auto", "logprobs", "samples"]
VERDICT_MODES = ("auto", "logprobs", "samples")
_POOL_ARRAYS = ("scores", "battle_prompt", "battle_a", "battle_b", "battle_outcome", "battle_weight")


def _text_rank(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class LLMScorer(ScorerBase):
    """Parameters: ``endpoint`` (base URL of an OpenAI-compatible API, e.g. http://host:8000/v1; None:
    the ``openai`` client's default), ``model``, ``api_key_env`` (the NAME of the variable holding the
    key), ``k_shot`` few-shot examples, ``verdicts`` (auto: logprobs when the server returns them, else
    samples), ``n_samples`` and ``temperature`` of sampled verdicts, ``top_logprobs``, ``concurrency``,
    ``timeout_s``, ``max_retries``, ``backoff_s``, ``max_prompt_chars`` of a prompt in the question,
    ``max_example_chars`` / ``example_pool`` of the few-shot pool, ``input_price`` / ``output_price`` in USD
    per 1M tokens (None: unknown, tokens are still counted)."""

    name: ClassVar[str] = "llm"
    output: ClassVar[ScoreKind] = "probability"
    needs_text: ClassVar[bool] = True
    in_default: ClassVar[bool] = False
    pair_only: ClassVar[bool] = True

    def __init__(
        self,
        endpoint: str | None = None,
        model: str = "gpt-4o-mini",
        api_key_env: str = "OPENAI_API_KEY",
        k_shot: int = 0,
        verdicts: Verdicts = "auto",
        n_samples: int = 5,
        temperature: float = 1.0,
        top_logprobs: int = 5,
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_prompt_chars: int = 4000,
        max_example_chars: int = 1000,
        example_pool: int = 200,
        input_price: float | None = None,
        output_price: float | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.model = model
        self.api_key_env = api_key_env
        self.k_shot = k_shot
        self.verdicts = verdicts
        self.n_samples = n_samples
        self.temperature = temperature
        self.top_logprobs = top_logprobs
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_prompt_chars = max_prompt_chars
        self.max_example_chars = max_example_chars
        self.example_pool = example_pool
        self.input_price = input_price
        self.output_price = output_price
        self._check_params()

    def _check_params(self) -> None:
        if self.verdicts not in VERDICT_MODES:
            modes = ", ".join(VERDICT_MODES)
            raise ValueError(f"llm: verdicts must be one of {modes}, got {self.verdicts!r}")
        for k in ("k_shot", "example_pool"):
            if int(getattr(self, k)) < 0:
                raise ValueError(f"llm: {k} must be >= 0, got {getattr(self, k)}")
        for k in ("n_samples", "top_logprobs", "concurrency", "max_prompt_chars", "max_example_chars"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"llm: {k} must be >= 1, got {getattr(self, k)}")
        for k in ("input_price", "output_price"):
            v = getattr(self, k)
            if v is not None and not (np.isfinite(float(v)) and float(v) >= 0):
                raise ValueError(f"llm: {k} must be a number >= 0 (USD per 1M tokens), got {v!r}")
        if not self.api_key_env:
            raise ValueError("llm: api_key_env must name the environment variable that holds the API key")

    # ------------------------------------------------------------------ fit

    def fit(self, data: Any, embeddings: np.ndarray | None = None) -> LLMScorer:
        """Keep the few-shot pool (calls nothing; embeddings are not used)."""
        self.models_ = list(data.models)
        has_target = ~np.isnan(np.asarray(data.scores, np.float64)).all(axis=1)
        has_target[np.asarray(data.battle_prompt, np.int64)] = True
        candidates = [
            i for i, p in enumerate(data.prompts) if has_target[i] and len(p) <= self.max_example_chars
        ]
        chosen = sorted(candidates, key=lambda i: _text_rank(data.prompts[i]))[: self.example_pool]
        self._set_pool(data.subset(np.asarray(chosen, dtype=np.int64)))
        return self

    def _set_pool(self, pool: TrainingSet) -> None:
        self.pool_ = pool
        self._pairs: dict[tuple[str, str], tuple[list[llm_prompt.Example], float]] = {}
        self._reset_runtime()

    def _reset_runtime(self) -> None:
        self._lock = threading.Lock()
        self._mode: str | None = None if self.verdicts == "auto" else self.verdicts
        self.usage_ = CallUsage()

    def pair_context(self, strong: str, weak: str) -> tuple[list[llm_prompt.Example], float]:
        """(few-shot examples, prior P(weak as good)) for this pair, from the pool."""
        key = (strong, weak)
        if key not in self._pairs:
            self._index(strong)  # both known to the scorer, else a KeyError naming them
            self._index(weak)
            try:
                tg = pair_outcomes(self.pool_, strong, weak)
                idx, as_good = tg.prompt_idx, tg.q_weak >= tg.q_strong
            except ValueError:  # no pool prompt has a target for this pair
                idx, as_good = np.zeros(0, np.int64), np.zeros(0, bool)
            prior = (float(as_good.sum()) + 1.0) / (len(as_good) + 2.0)
            yes, no = idx[as_good].tolist(), idx[~as_good].tolist()
            n_yes = min(len(yes), max(self.k_shot // 2, self.k_shot - len(no)))
            picked = sorted(yes[:n_yes] + no[: self.k_shot - n_yes])  # pool order: by text hash
            flag = dict(zip(idx.tolist(), as_good.tolist(), strict=True))
            examples = [llm_prompt.Example(self.pool_.prompts[i], bool(flag[i])) for i in picked]
            self._pairs[key] = (examples, prior)
        return self._pairs[key]

    # ------------------------------------------------------------------ scoring

    def score(self, embeddings: np.ndarray | None, texts: Sequence[str] | None = None) -> np.ndarray:
        raise ValueError(
            "the llm scorer gives a pair probability only: train a pair router (--strong/--weak) to use it"
        )

    def win_prob_from_scores(self, q: np.ndarray, strong: str, weak: str) -> np.ndarray:
        raise NotImplementedError("llm's pair probability comes from the chat model, not from score()")

    def win_prob(
        self, embeddings: np.ndarray | None, texts: Sequence[str] | None, strong: str, weak: str
    ) -> np.ndarray:
        """P(strong beats weak) per prompt: one chat call per prompt (plus one for the first prompt when
        an auto-mode server turns out to return no logprobs)."""
        if texts is None:
            raise ValueError("llm scorer needs the prompt texts")
        examples, prior = self.pair_context(strong, weak)
        caller = ChatCaller(
            self.endpoint,
            self.api_key_env,
            self.concurrency,
            self.timeout_s,
            self.max_retries,
            self.backoff_s,
        )
        client = caller.client() if len(texts) else None
        batch = CallUsage()

        def one(text: str) -> float:
            msgs = llm_prompt.messages(text, strong, weak, examples, self.max_prompt_chars)
            p_yes, how = self._p_weak_as_good(caller, client, msgs, prior, batch)
            caller.count(batch, prompts=1, unparsed=int(p_yes is None))
            with self._lock:
                batch.read_from[how] = batch.read_from.get(how, 0) + 1
            return llm_prompt.strong_win_prob(prior if p_yes is None else p_yes)

        texts = list(texts)
        # auto mode, server not tried yet: one prompt first, so at most one call learns it has no logprobs
        first = [one(texts[0])] if self._mode is None and texts else []
        out = np.asarray(first + caller.map(one, texts[len(first) :]), dtype=np.float32)
        with self._lock:
            self.usage_.merge(batch)
        return out

    def _p_weak_as_good(
        self, caller: ChatCaller, client: Any, msgs: list[dict[str, str]], prior: float, usage: CallUsage
    ) -> tuple[float | None, str]:
        """(P(weak as good) or None when unreadable, how it was read)."""
        if self._mode != "samples":
            top = self._ask_logprobs(caller, client, msgs, usage)
            if top is not None:
                self._mode = self._mode or "logprobs"
                return llm_prompt.p_yes_from_top_logprobs(top), "logprobs"
            if self._mode == "logprobs":
                raise LLMScorerError(
                    f"llm scorer: {self.endpoint or 'the endpoint'} returned no logprobs for model "
                    f"{self.model} (train with --scorer-param llm.verdicts=samples or auto)"
                )
            self._mode = "samples"  # auto: this server gives no logprobs; sample from now on
        body = {"model": self.model, "messages": msgs, "max_tokens": 3,
                "temperature": self.temperature, "n": self.n_samples}  # fmt: skip
        resp = caller.create(client, body, usage)
        verdicts = [
            llm_prompt.verdict_word(c.message.content if c.message else None) for c in resp.choices or []
        ]
        return llm_prompt.p_yes_from_samples(verdicts, prior), "samples"

    def _ask_logprobs(
        self, caller: ChatCaller, client: Any, msgs: list[dict[str, str]], usage: CallUsage
    ) -> list[Any] | None:
        """The first answer token's top_logprobs; None when the server returns none (or, in auto mode,
        rejects the request for asking)."""
        body = {"model": self.model, "messages": msgs, "max_tokens": 1, "temperature": 0.0,
                "logprobs": True, "top_logprobs": self.top_logprobs}  # fmt: skip
        try:
            resp = caller.create(client, body, usage)
        except LLMScorerError as exc:
            if self._mode is None and exc.status in (400, 422):
                return None
            raise
        logprobs = getattr(resp.choices[0], "logprobs", None) if resp.choices else None
        positions = getattr(logprobs, "content", None) or []
        return list(positions[0].top_logprobs or []) if positions else None

    # ------------------------------------------------------------------ cost

    def scoring_usage(self) -> CallUsage:
        """Calls and tokens of every ``win_prob`` since this scorer was fitted or loaded."""
        return self.usage_

    def scoring_prices(self) -> tuple[float | None, float | None]:
        return self.input_price, self.output_price

    # ------------------------------------------------------------------ persistence

    def _json_state(self) -> dict[str, Any]:
        return {"pool_prompts": list(self.pool_.prompts)}

    def _manifest_facts(self) -> dict[str, Any]:
        return {"pool_prompts": len(self.pool_.prompts)}

    def _save_state(self, directory: str) -> None:
        np.savez(os.path.join(directory, "llm_pool.npz"), **{k: getattr(self.pool_, k) for k in _POOL_ARRAYS})

    def _load_state(self, directory: str, meta: dict[str, Any], params: dict[str, Any]) -> None:
        with np.load(os.path.join(directory, "llm_pool.npz"), allow_pickle=False) as z:
            arrays = {k: z[k] for k in _POOL_ARRAYS}
        prompts = [str(p) for p in meta["pool_prompts"]]
        n, k = len(prompts), len(arrays["battle_prompt"])
        self._set_pool(
            TrainingSet(
                prompts=prompts,
                models=list(self.models_),
                battle_source=np.zeros(k, dtype=np.int64),
                prompt_source=np.zeros(n, dtype=np.int64),
                sources=["pool"],
                **arrays,
            )
        )
