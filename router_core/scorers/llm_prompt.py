"""The ``llm`` scorer's question to a chat model, and how its answers are read as probabilities.

The chat model is asked whether the weak model's answer to a prompt would be as good as the strong
model's, and answers one word, ``Yes`` or ``No`` (docs/routers.md, "The llm scorer"). Few-shot examples
are earlier user/assistant turns with the same question about labelled training prompts.

P(weak as good) is read from the first answer token's ``top_logprobs`` (the probability mass of the
``yes`` tokens over that of the ``yes`` and ``no`` tokens), or from sampled verdicts; the scorer's pair
probability is P(strong beats weak) = 1 - P(weak as good).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SYSTEM_PROMPT = (
    "You help route user prompts between two AI assistants: a strong, expensive model and a weak, cheap "
    "model. Given a user prompt, predict whether the weak model's answer would be as good as the strong "
    "model's answer (as judged by a careful human expert). Reply with exactly one word: Yes or No."
)
QUESTION = (
    "Strong model: {strong}\nWeak model: {weak}\n\nUser prompt:\n<<<\n{prompt}\n>>>\n\n"
    "Would the weak model's answer be as good as the strong model's? Answer Yes or No."
)
TRUNCATED = "\n[... truncated]"
# Probabilities handed to the stack stay off 0 and 1 (it reads their logits).
P_MIN, P_MAX = 0.005, 0.995


@dataclass(frozen=True)
class Example:
    prompt: str
    weak_as_good: bool


def clip_prompt(prompt: str, max_chars: int) -> str:
    return prompt if len(prompt) <= max_chars else prompt[:max_chars] + TRUNCATED


def question(prompt: str, strong: str, weak: str, max_chars: int) -> str:
    return QUESTION.format(strong=strong, weak=weak, prompt=clip_prompt(prompt, max_chars))


def messages(
    prompt: str, strong: str, weak: str, examples: Sequence[Example], max_chars: int
) -> list[dict[str, str]]:
    """System prompt, one user/assistant exchange per few-shot example, then the question."""
    out = [{"role": "system", "content": SYSTEM_PROMPT}]
    for ex in examples:
        out.append({"role": "user", "content": question(ex.prompt, strong, weak, max_chars)})
        out.append({"role": "assistant", "content": "Yes" if ex.weak_as_good else "No"})
    out.append({"role": "user", "content": question(prompt, strong, weak, max_chars)})
    return out


def verdict_word(text: str | None) -> bool | None:
    """True for a yes, False for a no, None for anything else (first word, case and punctuation aside)."""
    words = (text or "").strip().split()
    if not words:
        return None
    w = words[0].strip(" .,:;!*\"'`").lower()
    return True if w == "yes" else False if w == "no" else None


def p_yes_from_top_logprobs(top: Sequence[Any]) -> float | None:
    """P(yes) among the yes/no tokens of one position's ``top_logprobs`` (objects or dicts with ``token``
    and ``logprob``); None when neither a yes nor a no token is among them."""
    mass = {True: 0.0, False: 0.0}
    for t in top:
        token = t["token"] if isinstance(t, dict) else t.token
        logprob = t["logprob"] if isinstance(t, dict) else t.logprob
        v = verdict_word(token)
        if v is not None and logprob is not None:
            mass[v] += math.exp(float(logprob))
    total = mass[True] + mass[False]
    return mass[True] / total if total > 0 else None


def p_yes_from_samples(verdicts: Sequence[bool | None], prior: float) -> float | None:
    """P(yes) from sampled verdicts, shrunk towards ``prior`` by one pseudo-verdict; None when no sample
    was a yes or a no."""
    valid = [v for v in verdicts if v is not None]
    if not valid:
        return None
    return (sum(valid) + prior) / (len(valid) + 1.0)


def strong_win_prob(p_weak_as_good: float) -> float:
    return min(P_MAX, max(P_MIN, 1.0 - p_weak_as_good))
