"""Training a router: the pipeline (``pipeline``), pair vs N-model targets (``strategies``), per-source
weights (``source_weights``) and the metrics recorded in the manifest (``metrics``)."""

from router_core.training.pipeline import VALID_SALT, train_router
from router_core.training.strategies import MIN_STACK_ROWS, score_range

__all__ = ["MIN_STACK_ROWS", "VALID_SALT", "score_range", "train_router"]
