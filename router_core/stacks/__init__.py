"""Stacks: what turns the base scorers' outputs into a router's default score (not scorers themselves).

- ``PairStack`` (pair routers): P(strong beats weak) from each scorer's pair probability.
- ``QualityStack`` (N models): per-model linear stack and per-scorer calibration.
- ``JointStack`` (N models): one small network over every model's scorer features and the embedding.
"""

from router_core.stacks.joint import JointStack
from router_core.stacks.logistic import fit_soft_logistic, logit
from router_core.stacks.pair import PairStack
from router_core.stacks.quality import QualityStack, quality_features

__all__ = ["JointStack", "PairStack", "QualityStack", "fit_soft_logistic", "logit", "quality_features"]
