"""Which model each request goes to: the routed models of a router, the policy a run asks for, and the
decision over a whole scored batch (pure numpy; the route job calls it on the driver)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from router_core import policies

PAIR_POLICIES = ("strong_share", "budget_usd", "threshold")
MULTI_POLICIES = ("cost_weight", "budget_usd", "quality_target")


@dataclass(frozen=True)
class RoutePolicy:
    kind: str  # one of PAIR_POLICIES / MULTI_POLICIES
    value: float


def route_models(router: Any) -> list[str]:
    """The models requests can be routed to: a pair router's strong and weak model (even when it was
    trained on more), else every model of an N-model router, in ``router.models`` order."""
    if router.strong is not None:
        return [router.strong, router.weak]
    return list(router.models)


def _flag(kind: str) -> str:
    return "--" + kind.replace("_", "-")


def resolve_policy(router: Any, policy: RoutePolicy | None) -> RoutePolicy:
    """The policy to route with (strong share 0.5 for a pair router when none is given); PolicyError
    when it does not apply to this router or its value is out of range."""
    pair = router.strong is not None
    if policy is None:
        if pair:
            return RoutePolicy("strong_share", 0.5)
        raise policies.PolicyError(
            f"router has {len(router.models)} models: give --cost-weight, --budget-usd or --quality-target"
        )
    allowed = PAIR_POLICIES if pair else MULTI_POLICIES
    if policy.kind not in allowed:
        kind = "pair" if pair else f"{len(router.models)}-model"
        flags = ", ".join(_flag(k) for k in allowed)
        raise policies.PolicyError(f"{_flag(policy.kind)} does not apply to a {kind} router (use {flags})")
    if math.isnan(policy.value):  # compares false with every bound: a NaN budget would send all strong
        raise policies.PolicyError(f"{_flag(policy.kind)} must be a number, got {policy.value}")
    if policy.kind in ("strong_share", "threshold") and not 0.0 <= policy.value <= 1.0:
        raise policies.PolicyError(f"{_flag(policy.kind)} must be in [0, 1], got {policy.value}")
    if policy.kind in ("budget_usd", "cost_weight") and policy.value < 0:
        raise policies.PolicyError(f"{_flag(policy.kind)} must be >= 0, got {policy.value}")
    return policy


def decide(
    router: Any, policy: RoutePolicy, scores: np.ndarray, tiebreak: np.ndarray, cost: np.ndarray
) -> np.ndarray:
    """Model index (into route_models(router)) per request. ``scores``: strong_win_prob [n] for a pair
    router, predicted quality [n, M] (route_models order) for an N-model router; ``cost`` [n, M] USD."""
    models = route_models(router)
    if router.strong is not None:
        s, w = models.index(router.strong), models.index(router.weak)
        score = np.asarray(scores, dtype=np.float64)
        if policy.kind == "strong_share":
            strong = policies.route_strong_share(score, policy.value, tiebreak)
        elif policy.kind == "threshold":
            strong = policies.route_threshold(score, policy.value)
        else:
            strong = policies.route_budget(score, cost[:, s], cost[:, w], policy.value, tiebreak)
        return np.where(strong, s, w)
    pq = np.asarray(scores, dtype=np.float64).reshape(-1, len(models))
    if policy.kind == "cost_weight":
        return policies.route_cost_weight(pq, cost, policy.value, models)
    if policy.kind == "quality_target":
        return policies.route_quality_target(pq, cost, policy.value, models)
    return policies.route_budget_multi(pq, cost, policy.value, models, tiebreak)[0]


def unbound_budget_note(
    router: Any, policy: RoutePolicy, scores: np.ndarray, cost: np.ndarray, idx: np.ndarray
) -> str | None:
    """A note when ``--budget-usd`` does not bind: every request already goes where a larger budget
    would send it (pair: the strong model; N models: its best predicted model), so nothing was traded."""
    if policy.kind != "budget_usd" or not len(idx):
        return None
    models = route_models(router)
    if router.strong is not None:
        best, where = np.full(len(idx), models.index(router.strong)), f"the strong model ({router.strong})"
    else:
        # The unlimited-budget routes: ties in predicted quality go to the cheaper model, as they do there.
        best = policies.route_cost_weight(
            np.asarray(scores, np.float64).reshape(-1, len(models)), cost, 0.0, models
        )
        where = "its best predicted model"
    if not np.array_equal(idx, best):
        return None
    spent = float(cost[np.arange(len(idx)), idx].sum())
    return (
        f"--budget-usd {policy.value:g} does not bind: every request goes to {where} for ${spent:.4f}; "
        "a budget below that makes the router choose"
    )


def cheapest_cost_floor(
    prices: Any, models: list[str], prompt_tokens: float, completion_tokens: float, without_completion: int
) -> float:
    """USD below which no routing of a batch fits, from its totals before any request is scored: the
    logged prompt tokens at the lowest input price, the logged completion tokens at the lowest output
    price, and for each request without a completion count the cheapest of the models' assumed answers.
    Prompt tokens still to be counted from the text count as none, so the floor is at most the exact
    cheapest cost that ``decide`` checks a budget against."""
    from router_core.tokens import completion_tokens_default

    m = len(models)
    per_input = prices.cost_matrix(np.ones(1), np.zeros((1, m)), models)[0]
    per_output = prices.cost_matrix(np.zeros(1), np.ones((1, m)), models)[0]
    assumed = np.array([completion_tokens_default(model, prices) for model in models], dtype=np.float64)
    return float(
        prompt_tokens * per_input.min()
        + completion_tokens * per_output.min()
        + without_completion * (assumed * per_output).min()
    )
