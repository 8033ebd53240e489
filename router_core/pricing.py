"""Model prices in USD per million tokens: the pinned genai-prices snapshot plus a user override file.

Lookup order for a model name (first hit wins):
1. the override file, exact name, then case-insensitive;
2. ``provider/model`` where ``provider`` is a genai-prices provider id or alias (``openai/gpt-4o-mini``,
   ``mistralai/...`` -> mistral);
3. genai-prices' own provider inference on the full name (``gpt-4-1106-preview`` -> openai gpt-4-turbo);
4. the same inference on the part after the last ``/`` (``org/Model-Name`` -> ``Model-Name``);
5. the full name in the model lists of all providers, only when exactly one provider lists it.
Anything else is an unknown model: an override must say what it costs (we never guess a price).

Only the snapshot bundled with the installed genai-prices wheel is used: its background updater
(which downloads a newer price file) is never started, so numbers are reproducible and offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

BATCH_API_DISCOUNT = 0.5  # OpenAI Batch API: 50% off input and output tokens
DEFAULT_COMPLETION_TOKENS = 350  # used when a log row has no completion_tokens and no override says more

_INPUT_KEYS = ("input_per_mtok", "input_price")
_OUTPUT_KEYS = ("output_per_mtok", "output_price")


@dataclass(frozen=True)
class ModelPrice:
    input_per_mtok: float  # USD per 1M input tokens
    output_per_mtok: float  # USD per 1M output tokens
    source: str  # "genai-prices <version>" or the override file path
    matched: str = ""  # what the name resolved to, e.g. "openai/gpt-4-turbo" (empty for overrides)

    def cost(self, prompt_tokens: Any, completion_tokens: Any) -> Any:
        """USD of the given tokens (scalars or arrays): tokens x price per 1M tokens / 1e6."""
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6


class UnknownModelPriceError(ValueError):
    """Some models have no price; the message lists all of them and how to add one."""

    def __init__(self, models: Iterable[str]) -> None:
        self.models = sorted(set(models))
        super().__init__(
            f"no price for {len(self.models)} model(s): {', '.join(self.models)}; add them to a price file "
            "(--prices FILE, JSON/YAML: model -> {input_price, output_price} in USD per 1M tokens)"
        )


class PriceFileError(ValueError):
    """The override file cannot be read or has a bad entry."""


def genai_prices_version() -> str:
    from importlib.metadata import version

    return version("genai-prices")


def _num(entry: Mapping[str, Any], keys: tuple[str, ...], model: str, path: str) -> float:
    for k in keys:
        if k in entry and entry[k] is not None:
            try:
                v = float(entry[k])
            except (TypeError, ValueError):
                raise PriceFileError(f"{path}: model '{model}': {k}={entry[k]!r} is not a number") from None
            if not np.isfinite(v) or v < 0:
                raise PriceFileError(f"{path}: model '{model}': {k}={v} must be a finite number >= 0")
            return v
    raise PriceFileError(f"{path}: model '{model}' needs one of {', '.join(keys)} (USD per 1M tokens)")


def read_price_file(path: str) -> tuple[dict[str, ModelPrice], dict[str, int]]:
    """Parse an override file: (prices, per-model completion-token estimates)."""
    p = Path(path)
    if not p.is_file():
        raise PriceFileError(f"price file not found: {path}")
    try:
        text = p.read_text()
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PriceFileError(f"cannot parse price file {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, Mapping):
        raise PriceFileError(f"price file {path} must map model name -> {{input_price, output_price}}")
    prices: dict[str, ModelPrice] = {}
    completions: dict[str, int] = {}
    for model, entry in data.items():
        if not isinstance(entry, Mapping):
            raise PriceFileError(f"{path}: model '{model}' must map to an object, got {type(entry).__name__}")
        prices[str(model)] = ModelPrice(
            _num(entry, _INPUT_KEYS, model, path), _num(entry, _OUTPUT_KEYS, model, path), str(path)
        )
        if entry.get("completion_tokens") is not None:
            n = _num(entry, ("completion_tokens",), model, path)
            completions[str(model)] = int(round(n))
    return prices, completions


class _GenaiLookup:
    """Name -> (input, output) USD/Mtok from the bundled genai-prices snapshot (never auto-updated)."""

    def __init__(self, as_of: datetime) -> None:
        from genai_prices.data import providers
        from genai_prices.data_snapshot import DataSnapshot

        self.providers = providers
        self.snapshot = DataSnapshot(providers=providers, from_auto_update=False)
        self.as_of = as_of
        self.source = f"genai-prices {genai_prices_version()}"

    def _by_provider(self, provider_id: str, model: str):
        from genai_prices.data_snapshot import find_provider_by_id

        prov = find_provider_by_id(self.providers, provider_id)
        found = prov.find_model(model, all_providers=self.providers) if prov else None
        return (prov, found) if found else None

    def _inferred(self, model: str):
        try:
            return self.snapshot.find_provider_model(model, None, None, None)
        except LookupError:
            return None

    def _unique(self, model: str):
        hits = [(p, m) for p in self.providers if (m := p.find_model(model)) is not None]
        return hits[0] if len(hits) == 1 else None

    def find(self, name: str) -> ModelPrice | None:
        hit = None
        if "/" in name:
            prefix, rest = name.split("/", 1)
            hit = self._by_provider(prefix, rest)
        hit = hit or self._inferred(name)
        if hit is None and "/" in name:
            hit = self._inferred(name.rsplit("/", 1)[1])
        hit = hit or self._unique(name)
        if hit is None:
            return None
        provider, info = hit
        mp = info.get_prices(self.as_of)
        inp, out = getattr(mp, "input_mtok", None), getattr(mp, "output_mtok", None)
        if inp is None or out is None:  # e.g. an embedding or audio model: no token prices
            return None
        # Tiered prices (long-context surcharges): the base tier, which is what ordinary prompts pay.
        inp, out = (getattr(v, "base", v) for v in (inp, out))
        return ModelPrice(float(Decimal(inp)), float(Decimal(out)), self.source, f"{provider.id}/{info.id}")


class PriceTable:
    """Resolve model names to prices once; vectorised costs for arrays of token counts."""

    def __init__(
        self,
        overrides: Mapping[str, ModelPrice] | None = None,
        completion_tokens: Mapping[str, int] | None = None,
        batch_discount: bool = False,
        as_of: datetime | None = None,
    ) -> None:
        self.overrides = dict(overrides or {})
        self.completion_tokens = dict(completion_tokens or {})
        self.batch_discount = batch_discount
        # Noon UTC: the standard (peak) price of the run date; time-of-day discounts never apply.
        self.as_of = as_of or datetime.combine(datetime.now(UTC).date(), time(12, 0), tzinfo=UTC)
        self._lower = {k.lower(): v for k, v in self.overrides.items()}
        self._genai: _GenaiLookup | None = None
        self._cache: dict[str, ModelPrice | None] = {}

    @classmethod
    def load(
        cls, overrides: str | None = None, batch_discount: bool = False, as_of: datetime | None = None
    ) -> PriceTable:
        prices, completions = read_price_file(overrides) if overrides else ({}, {})
        return cls(prices, completions, batch_discount, as_of)

    def _resolve(self, model: str) -> ModelPrice | None:
        if model in self._cache:
            return self._cache[model]
        found = self.overrides.get(model) or self._lower.get(model.lower())
        if found is None and model:
            if self._genai is None:
                self._genai = _GenaiLookup(self.as_of)
            found = self._genai.find(model)
        if found is not None and self.batch_discount:
            found = ModelPrice(
                found.input_per_mtok * BATCH_API_DISCOUNT,
                found.output_per_mtok * BATCH_API_DISCOUNT,
                f"{found.source} (Batch API -50%)",
                found.matched,
            )
        self._cache[model] = found
        return found

    def price(self, model: str) -> ModelPrice:
        found = self._resolve(model)
        if found is None:
            raise UnknownModelPriceError([model])
        return found

    def require(self, models: Iterable[str]) -> None:
        missing = [m for m in dict.fromkeys(models) if self._resolve(m) is None]
        if missing:
            raise UnknownModelPriceError(missing)

    def cost(self, model: str, prompt_tokens: np.ndarray, completion_tokens: np.ndarray) -> np.ndarray:
        """USD for each request: tokens x price / 1e6 (float64)."""
        pt = np.asarray(prompt_tokens, dtype=np.float64)
        return self.price(model).cost(pt, np.asarray(completion_tokens, dtype=np.float64))

    def cost_matrix(
        self, prompt_tokens: np.ndarray, completion_tokens: np.ndarray, models: list[str]
    ) -> np.ndarray:
        """USD [n, M] of each request sent to each of ``models``; ``completion_tokens`` is [n, M]."""
        inp = np.array([self.price(m).input_per_mtok for m in models])
        out = np.array([self.price(m).output_per_mtok for m in models])
        pt = np.asarray(prompt_tokens, dtype=np.float64)
        return (pt[:, None] * inp[None, :] + completion_tokens * out[None, :]) / 1e6

    def cost_per_row(
        self, models: np.ndarray, prompt_tokens: np.ndarray, completion_tokens: np.ndarray
    ) -> np.ndarray:
        """USD per request when each row has its own model (one price lookup per distinct model)."""
        inv, uniq = pd.factorize(np.asarray(models, dtype=object))  # hash-based: fast on millions of rows
        uniq = [str(m) for m in uniq]
        self.require(uniq)
        inp = np.array([self.price(m).input_per_mtok for m in uniq])[inv]
        out = np.array([self.price(m).output_per_mtok for m in uniq])[inv]
        pt = np.asarray(prompt_tokens, dtype=np.float64)
        ct = np.asarray(completion_tokens, dtype=np.float64)
        return (pt * inp + ct * out) / 1e6
