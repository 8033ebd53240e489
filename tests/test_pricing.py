"""Prices (override file + pinned genai-prices snapshot) and offline token counting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from router_core.pricing import (
    DEFAULT_COMPLETION_TOKENS,
    ModelPrice,
    PriceFileError,
    PriceTable,
    UnknownModelPriceError,
    genai_prices_version,
)
from router_core.tokens import (
    completion_or_default,
    completion_tokens_default,
    count_tokens,
    logged_or_counted,
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_genai_prices_is_the_pinned_version():
    # The expected prices below are those of this snapshot; a new version must be a deliberate bump.
    assert genai_prices_version() == "0.2.3"


@pytest.mark.parametrize(
    "name, matched, inp, out",
    [
        ("gpt-4-1106-preview", "openai/gpt-4-turbo", 10.0, 30.0),  # provider inferred from the name
        ("gpt-4o-mini", "openai/gpt-4o-mini", 0.15, 0.6),
        ("openai/gpt-4o-mini", "openai/gpt-4o-mini", 0.15, 0.6),  # explicit provider prefix
        # HF-style org prefix: "mistralai" is an alias of the mistral provider
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mistral/mixtral-8x7b", 0.7, 0.7),
        ("claude-3-5-sonnet-20241022", "anthropic/claude-3-5-sonnet", 3.0, 15.0),
    ],
)
def test_genai_prices_lookup(name, matched, inp, out):
    p = PriceTable.load().price(name)
    assert (p.input_per_mtok, p.output_per_mtok, p.matched) == (inp, out, matched)
    assert p.source == "genai-prices 0.2.3"


def test_bundled_snapshot_only_never_a_fetched_or_custom_one():
    from genai_prices import data_snapshot

    # Whatever another library in the process installs as the "current" snapshot (the auto-updater
    # does this after a download), our prices come from the data bundled in the pinned wheel.
    data_snapshot.set_custom_snapshot(data_snapshot.DataSnapshot(providers=[], from_auto_update=True))
    try:
        assert PriceTable.load().price("gpt-4o-mini").input_per_mtok == 0.15
    finally:
        data_snapshot.set_custom_snapshot(None)


def test_override_file_json_and_yaml_keys(tmp_path):
    j = tmp_path / "p.json"
    j.write_text(
        json.dumps(
            {
                "gpt-4o-mini": {"input_price": 1, "output_price": 2},
                "x": {"input_price": 0.5, "output_price": 0.25, "completion_tokens": 120, "size": "7B"},
            }
        )
    )
    t = PriceTable.load(str(j))
    assert t.price("gpt-4o-mini") == ModelPrice(1.0, 2.0, str(j))  # override beats genai-prices
    assert t.price("GPT-4o-mini").input_per_mtok == 1.0  # case-insensitive override match
    assert completion_tokens_default("x", t) == 120
    assert completion_tokens_default("gpt-4o-mini", t) == DEFAULT_COMPLETION_TOKENS
    y = tmp_path / "p.yaml"
    y.write_text("my-model:\n  input_per_mtok: 3\n  output_per_mtok: 4.5\n")
    assert PriceTable.load(str(y)).price("my-model") == ModelPrice(3.0, 4.5, str(y))


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"m": {"input_price": 1}}', "needs one of output_per_mtok, output_price"),
        ('{"m": {"input_price": "cheap", "output_price": 1}}', "is not a number"),
        ('{"m": {"input_price": -1, "output_price": 1}}', "must be a finite number >= 0"),
        ('["m"]', "must map model name"),
        ('{"m": 3}', "must map to an object"),
        ("{not json", "cannot parse price file"),
    ],
)
def test_bad_price_file(tmp_path, content, message):
    f = tmp_path / "p.json"
    f.write_text(content)
    with pytest.raises(PriceFileError, match=message):
        PriceTable.load(str(f))


def test_unknown_models_listed_together():
    t = PriceTable.load()
    with pytest.raises(UnknownModelPriceError) as exc:
        t.require(["gpt-4o", "my-private-model", "gpt4_1106_preview", "my-private-model"])
    assert exc.value.models == ["gpt4_1106_preview", "my-private-model"]
    assert "no price for 2 model(s): gpt4_1106_preview, my-private-model" in str(exc.value)
    with pytest.raises(UnknownModelPriceError, match="my-private-model"):
        t.price("my-private-model")


def test_cost_and_batch_discount(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"m": {"input_price": 2.0, "output_price": 6.0}}))
    pt, ct = np.array([1_000_000, 1000, 0]), np.array([0, 500, 250])
    # by hand: 2.0; (1000*2 + 500*6)/1e6 = 0.005; 250*6/1e6 = 0.0015
    assert PriceTable.load(str(f)).cost("m", pt, ct) == pytest.approx([2.0, 0.005, 0.0015], abs=1e-15)
    half = PriceTable.load(str(f), batch_discount=True)
    assert half.cost("m", pt, ct) == pytest.approx([1.0, 0.0025, 0.00075], abs=1e-15)
    assert half.price("m").input_per_mtok == 1.0 and "Batch API" in half.price("m").source
    assert PriceTable.load(batch_discount=True).price("gpt-4o-mini").input_per_mtok == 0.075


def test_shared_llmrouter_price_file_as_is():
    path = SHARED_DATA / "llmrouter_models.json"
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/data is optional)")
    raw = json.loads(path.read_text())
    t = PriceTable.load(str(path))
    t.require(raw)
    for model, entry in raw.items():
        assert t.price(model) == ModelPrice(
            float(entry["input_price"]), float(entry["output_price"]), str(path)
        )


def test_count_tokens_offline_batch():
    texts = ["Hello world!", "", None, "Hello world!", "The quick brown fox jumps over the lazy dog."]
    counts = count_tokens(texts)
    assert counts.dtype == np.int64
    # WordPiece, no special tokens: hello / world / ! ; the pangram is 9 words + "."
    assert counts.tolist() == [3, 0, 0, 3, 10]
    assert count_tokens([]).shape == (0,)
    long = "word " * 5000  # no truncation at the embedder's 256/512-token limit
    assert count_tokens([long])[0] == 5000
    batch = count_tokens([f"text number {i} " * (i % 7 + 1) for i in range(3000)])
    single = [count_tokens([f"text number {i} " * (i % 7 + 1)])[0] for i in (0, 1, 2999)]
    assert [batch[0], batch[1], batch[2999]] == single


def test_logged_token_counts_win_over_counted_ones_and_fill_the_gaps():
    logged = np.array([120.0, np.nan, 0.0])
    counted = np.array([7, 8, 9])
    assert logged_or_counted(logged, counted).tolist() == [120.0, 8.0, 0.0]
    t = PriceTable.load(None)
    ct = completion_or_default(np.array([40.0, np.nan]), np.array(["gpt-4o-mini", "gpt-4o-mini"]), t)
    assert ct.tolist() == [40.0, completion_tokens_default("gpt-4o-mini", t)]


def test_estimated_token_lines_say_what_was_not_logged():
    from router_core.tokens import TOKENIZER_ID, estimated_token_lines

    assert estimated_token_lines(0, 0) == []
    only_completion = estimated_token_lines(0, 5)
    assert len(only_completion) == 1 and only_completion[0].startswith("5 rows without completion_tokens")
    assert "350 tokens" in only_completion[0]
    both = estimated_token_lines(3, 5)
    assert both[0] == "3 rows without prompt_tokens: counted with " + TOKENIZER_ID
    assert estimated_token_lines(1, 0) == ["1 row without prompt_tokens: counted with " + TOKENIZER_ID]
