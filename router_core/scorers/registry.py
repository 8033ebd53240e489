"""The scorer registry: scorer name -> class. The CLI (``train --scorers``), the router manifest and
the stacks all read it; what a scorer's output means, whether it reads texts and whether it is trained
by default are declared on its class (``router_core.scorers.base.Scorer``).

Adding a scorer: one module with a ``ScorerBase`` subclass, and its line in ``SCORER_PATHS``
(docs/routers.md, "Adding a scorer").
"""

from __future__ import annotations

import importlib

from router_core.scorers.base import Scorer

# name -> "module:Class". The order is that of the default set and of listings; a router fits and stacks
# its scorers in the order `train --scorers` gives them.
SCORER_PATHS: dict[str, str] = {
    "sw": "router_core.scorers.sw:SWScorer",
    "mf": "router_core.scorers.mf:MFScorer",
    "knn": "router_core.scorers.knn:KNNScorer",
    "lex": "router_core.scorers.lex:LexScorer",
    "bert": "router_core.scorers.bert:BertScorer",
    "shape": "router_core.scorers.shape:ShapeScorer",
    "llm": "router_core.scorers.llm:LLMScorer",
    "target_knn": "router_core.scorers.target:TargetKNNScorer",
    "target_linear": "router_core.scorers.target:TargetLinearScorer",
    "target_shape": "router_core.scorers.target:TargetShapeScorer",
    "length_prior": "router_core.scorers.length_prior:LengthPriorScorer",
    "source_mix": "router_core.scorers.source_mix:SourceMixScorer",
}
# Fitted on the target sources only; the pipeline adds them when ``train --target-data`` gives some.
TARGET_SCORERS: tuple[str, ...] = ("target_knn", "target_linear", "target_shape")
# The ones it adds by default: target_linear alone ranked held-out domains better than the mean of all
# three (docs/routers.md, "Routing your own traffic").
DEFAULT_TARGET_SCORERS: tuple[str, ...] = ("target_linear",)
# Stack inputs with a prior weight, not learnt from battles; the pipeline adds them to pair routers trained
# with target data (router_core.scorers.length_prior).
PRIOR_SCORERS: tuple[str, ...] = ("length_prior",)
# Inputs the pair stack removes from the other scorers (``Scorer.offset``); the pipeline adds them to pair
# routers with two or more generic sources labelling the pair (router_core.scorers.source_mix).
OFFSET_SCORERS: tuple[str, ...] = ("source_mix",)


def _import(path: str) -> type[Scorer]:
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)


SCORERS: dict[str, type[Scorer]] = {name: _import(path) for name, path in SCORER_PATHS.items()}
DEFAULT_SCORERS: tuple[str, ...] = tuple(n for n, c in SCORERS.items() if c.in_default)
# Trainable on request (--scorers) but not in the default: measured without a held-out gain, or (llm) paid
# per scored prompt (docs/routers.md).
OPTIONAL_SCORERS: tuple[str, ...] = tuple(
    n
    for n, c in SCORERS.items()
    if not c.in_default and n not in (*TARGET_SCORERS, *PRIOR_SCORERS, *OFFSET_SCORERS)
)


def scorer_class(name: str) -> type[Scorer]:
    try:
        return SCORERS[name]
    except KeyError:
        raise ValueError(f"unknown scorer '{name}' (known: {', '.join(SCORERS)})") from None
