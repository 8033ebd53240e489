"""The scorer registry: the example scorer of docs/routers.md ("Adding a scorer"), registered with its
one line, trains, stacks, saves and loads like the built-in ones."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from router_core.router import Router
from router_core.scorers import registry
from router_core.training import train_router
from tests.battle_sets import clustered_scores

DOC = Path(__file__).resolve().parents[1] / "docs" / "routers.md"


@pytest.fixture
def length_scorer(monkeypatch):
    """The docs' example module, importable as router_core.scorers.length, and its registry line."""
    section = DOC.read_text().split("## Adding a scorer", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    module = types.ModuleType("router_core.scorers.length")
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(registry.SCORER_PATHS, "length", "router_core.scorers.length:LengthScorer")
    monkeypatch.setitem(registry.SCORERS, "length", registry._import(registry.SCORER_PATHS["length"]))
    return module.LengthScorer


def test_registry_names_match_the_classes_and_defaults():
    assert all(cls.name == name for name, cls in registry.SCORERS.items())
    assert registry.DEFAULT_SCORERS == ("sw", "mf", "knn", "lex")
    # a scorer added as the docs say joins the optional ones, so the built-in ones are a subset
    assert {"bert", "shape", "llm"} <= set(registry.OPTIONAL_SCORERS)
    assert not set(registry.OPTIONAL_SCORERS) & set(registry.DEFAULT_SCORERS)
    with pytest.raises(ValueError, match="unknown scorer 'xgb'"):
        registry.scorer_class("xgb")


@pytest.mark.parametrize("pair", [False, True])
def test_documented_example_scorer_trains_saves_and_loads(length_scorer, tmp_path, pair):
    assert not length_scorer.in_default and "length" not in registry.DEFAULT_SCORERS
    ts, emb, _ = clustered_scores(n=200, seed=2)
    roles = ("strong", "weak") if pair else (None, None)
    router = train_router(ts, emb, "e", *roles, scorers=("knn", "length"), log=lambda s: None)
    texts = list(ts.prompts[:30])
    before = router.score(emb[:30], texts)
    assert "score_length" in before
    router.save(str(tmp_path / "r"))
    loaded = Router.load(str(tmp_path / "r"), embedder_id="e")
    assert isinstance(loaded.scorers["length"], length_scorer)
    after = loaded.score(emb[:30], texts)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)


def test_documented_example_scorer_gives_a_pair_probability(length_scorer):
    """Its per-model correctness rates become P(strong beats weak) = (1 + p_strong - p_weak) / 2."""
    ts, emb, _ = clustered_scores(n=200, seed=2)
    scorer = length_scorer(n_bins=2).fit(ts, emb)
    texts = list(ts.prompts[:20])
    q = scorer.score(emb[:20], texts)
    strong, weak = scorer.models_[0], scorer.models_[1]
    p = scorer.win_prob(emb[:20], texts, strong, weak)
    np.testing.assert_allclose(p, (1 + q[:, 0] - q[:, 1]) / 2, rtol=1e-6)
    assert ((p >= 0) & (p <= 1)).all()
