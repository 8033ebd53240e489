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
    assert registry.OPTIONAL_SCORERS == ("bert", "shape", "llm")
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
