"""Pairwise judge prompts and verdict parsing.

The templates are MT-bench's pairwise judge prompts (``pair-v2`` and, with a reference answer,
``pair-math-v1``; FastChat, Apache-2.0, Zheng et al. 2023), the prompts behind Chatbot Arena's and
RouteLLM's judge-labelled data. Each pair is judged twice, once in each order (``ab``: the first model is
Assistant A; ``ba``: it is Assistant B), and the two verdicts are combined in ``combine_orders``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JUDGE_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
    "assistants to the user question displayed below. You should choose the assistant that follows the "
    "user's instructions and answers the user's question better. Your evaluation should consider factors "
    "such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of their "
    "responses. Begin your evaluation by comparing the two responses and provide a short explanation. "
    "Avoid any position biases and ensure that the order in which the responses were presented does not "
    "influence your decision. Do not allow the length of the responses to influence your evaluation. Do "
    "not favor certain names of the assistants. Be as objective as possible. After providing your "
    'explanation, output your final verdict by strictly following this format: "[[A]]" if assistant A is '
    'better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)
JUDGE_SYSTEM_REFERENCE = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
    "assistants to the user question displayed below. Your evaluation should consider correctness and "
    "helpfulness. You will be given a reference answer, assistant A's answer, and assistant B's answer. "
    "Your job is to evaluate which assistant's answer is better. Begin your evaluation by comparing both "
    "assistants' answers with the reference answer. Identify and correct any mistakes. Avoid any position "
    "biases and ensure that the order in which the responses were presented does not influence your "
    "decision. Do not allow the length of the responses to influence your evaluation. Do not favor certain "
    "names of the assistants. Be as objective as possible. After providing your explanation, output your "
    'final verdict by strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if '
    'assistant B is better, and "[[C]]" for a tie.'
)
PROMPT_VERSION = "mt-bench-pair-v2"  # recorded with every judgement
REFERENCE_PROMPT_VERSION = "mt-bench-pair-math-v1"

# The last verdict token in the text is the verdict: judges sometimes restate the format first.
_VERDICT = re.compile(r"\[\[\s*(A>>B|A>B|A=B|B>A|B>>A|A|B|C|TIE)\s*\]\]", re.IGNORECASE)
_TOKEN = {"A": "A", "B": "B", "C": "tie", "TIE": "tie", "A>>B": "A", "A>B": "A", "A=B": "tie"}
_TOKEN.update({"B>A": "B", "B>>A": "B"})


def judge_messages(question: str, answer_a: str, answer_b: str, reference: str | None = None) -> list[dict]:
    """Chat messages asking the judge which of two answers is better (Assistant A is shown first)."""
    parts = [f"[User Question]\n{question}\n"]
    if reference:
        parts.append(f"[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]\n")
    parts.append(f"[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n")
    parts.append(f"[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]")
    system = JUDGE_SYSTEM_REFERENCE if reference else JUDGE_SYSTEM
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(parts)}]


def judge_body(model: str, messages: list[dict], max_tokens: int = 1024) -> dict[str, Any]:
    # temperature 0: MT-bench's setting for judges, and what makes a re-run reproducible.
    return {"model": model, "messages": messages, "temperature": 0, "max_tokens": max_tokens}


def parse_verdict(text: str | None) -> str | None:
    """'A', 'B' or 'tie' from a judge's answer; None when it holds no verdict token."""
    if not text:
        return None
    found = _VERDICT.findall(text)
    return _TOKEN[found[-1].upper().replace(" ", "")] if found else None


@dataclass(frozen=True)
class Combined:
    winner: str  # model_a / model_b / tie, in battle terms of the (model_a, model_b) pair
    agreement: bool  # both orders gave the same outcome


def order_winner(verdict: str, order: str) -> str:
    """A verdict in one order, in battle terms: in order ``ba`` Assistant A is model_b."""
    if verdict == "tie":
        return "tie"
    first = verdict == "A"
    return "model_a" if first == (order == "ab") else "model_b"


def combine_orders(verdicts: Mapping[str, str]) -> Combined:
    """Both orders' verdicts ({'ab': .., 'ba': ..}) as one battle outcome: the same winner when they
    agree, a tie when they disagree (a position-biased judge cancels out)."""
    ab, ba = order_winner(verdicts["ab"], "ab"), order_winner(verdicts["ba"], "ba")
    return Combined(ab, True) if ab == ba else Combined("tie", False)
