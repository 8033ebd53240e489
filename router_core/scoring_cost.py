"""What scoring itself costs when a scorer calls a paid endpoint (the ``llm`` scorer): the calls and
tokens measured while training scored its out-of-fold prompts, priced per 1M tokens, recorded in the
router manifest (``scoring_cost``), and projected onto the prompts a ``route`` run scores."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MANIFEST_KEY = "scoring_cost"


@dataclass
class CallUsage:
    """A scorer's answered requests and the tokens the endpoint reported for them."""

    prompts: int = 0  # prompts scored
    requests: int = 0  # answered chat requests (a retried request counts once)
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    unparsed: int = 0  # prompts without a readable verdict: the scorer's prior stood in
    read_from: dict[str, int] = field(default_factory=dict)  # how each prompt's probability was read

    def merge(self, other: CallUsage) -> None:
        for k in ("prompts", "requests", "retries", "prompt_tokens", "completion_tokens", "unparsed"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        for k, v in other.read_from.items():
            self.read_from[k] = self.read_from.get(k, 0) + v


def usage_record(usage: CallUsage, input_price: float | None, output_price: float | None) -> dict[str, Any]:
    """The manifest entry: totals, per-prompt means and USD (None when a price is not given)."""
    n = max(usage.prompts, 1)
    priced = input_price is not None and output_price is not None
    cost = (
        (usage.prompt_tokens * float(input_price) + usage.completion_tokens * float(output_price)) / 1e6
        if priced
        else None
    )
    return {
        **asdict(usage),
        "measured_on": "the training prompts scored out of fold",
        "requests_per_prompt": usage.requests / n,
        "prompt_tokens_per_prompt": usage.prompt_tokens / n,
        "completion_tokens_per_prompt": usage.completion_tokens / n,
        "input_price_per_mtok": input_price,
        "output_price_per_mtok": output_price,
        "cost_usd": cost,
        "cost_per_prompt_usd": None if cost is None else cost / n,
    }


def project(manifest: dict[str, Any], n_prompts: int, n_routed: int) -> dict[str, dict[str, Any]]:
    """Per paid scorer of a router: the chat requests and USD of scoring ``n_prompts`` distinct prompts
    (each is scored once however often it is routed), at the per-prompt figures measured in training,
    and that cost spread over the ``n_routed`` routed requests."""
    out = {}
    for name, rec in (manifest.get(MANIFEST_KEY) or {}).items():
        cpp = rec.get("cost_per_prompt_usd")
        cost = None if cpp is None else float(cpp) * n_prompts
        out[name] = {
            "prompts": int(n_prompts),
            "requests": round(float(rec.get("requests_per_prompt", 0.0)) * n_prompts, 1),
            "cost_per_prompt_usd": cpp,
            "cost_usd": cost,
            "cost_per_routed_request_usd": None if cost is None else cost / max(n_routed, 1),
        }
    return out


def describe(projected: dict[str, dict[str, Any]]) -> list[str]:
    """One log line per paid scorer."""
    lines = []
    for name, p in projected.items():
        cost = (
            f"${p['cost_usd']:.4f} (${p['cost_per_prompt_usd']:.6f} per prompt)"
            if p["cost_usd"] is not None
            else f"cost unknown (train with --scorer-param {name}.input_price=P and {name}.output_price=P)"
        )
        lines.append(
            f"scorer {name}: about {p['requests']:g} chat requests for {p['prompts']} distinct prompts, "
            f"projected {cost} at the per-prompt usage measured in training"
        )
    return lines
