"""Training files as teams export them, read into the loader's columns (``router_core.training_data``).

- Files: CSV with the separator its header uses (Excel writes ";" in much of Europe), and a ``.json``
  file that holds JSON Lines (pandas ``to_json(orient="records", lines=True)`` to a ``.json`` name).
- Prompts: a column whose every text is a JSON or Python list literal of turns (Kaggle's LMSYS arena
  export, RouterBench) holds conversations, not texts that start with a bracket.
- Score cells a spreadsheet writes as text: TRUE / FALSE, yes / no, numbers, percentages, blanks.
- Kaggle's arena battles: one-hot ``winner_model_a`` / ``winner_model_b`` / ``winner_tie`` columns.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from router_core.log_formats import csv_delimiter

ONE_HOT_WINNERS = {"winner_model_a": "model_a", "winner_model_b": "model_b", "winner_tie": "tie"}
_BOOL_TEXT = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0}


class TrainingFileError(ValueError):
    """A training file that cannot be read at all."""


def read_table(path: str) -> pd.DataFrame:
    """One training file as a frame, by extension (a directory: Parquet files)."""
    p = Path(path)
    if not p.exists():
        raise TrainingFileError(f"training data file not found: {path}")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq") or p.is_dir():
            return pd.read_parquet(p)
        if suffix == ".csv":
            return pd.read_csv(p, sep=csv_delimiter(p))
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(p, lines=True)
        if suffix == ".json":
            return _read_json(p)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad-input error for the user
        raise TrainingFileError(f"cannot read {path}: {exc}") from exc
    raise TrainingFileError(f"unsupported file type '{suffix}' for {path} (parquet, csv, json, jsonl)")


def _read_json(p: Path) -> pd.DataFrame:
    try:
        return pd.read_json(p)
    except ValueError as exc:
        if "Trailing data" not in str(exc):  # one JSON document after another: JSON Lines
            raise
        return pd.read_json(p, lines=True)


def list_literal_prompts(prompts: pd.Series) -> pd.Series:
    """The column with its list literals as lists of turns, when every text in it is one; else as is."""
    texts = prompts.dropna()
    if texts.empty or not all(isinstance(t, str) and t.lstrip().startswith("[") for t in texts):
        return prompts
    parsed = [_list_literal(t) for t in texts]
    if any(v is None for v in parsed):
        return prompts
    out = prompts.astype(object).copy()
    out.loc[texts.index] = pd.Series(parsed, index=texts.index, dtype=object)
    return out


def _list_literal(text: str) -> list[str] | None:
    """A list of strings written as JSON or as a Python literal (None items dropped); None otherwise."""
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(value, list) and all(v is None or isinstance(v, str) for v in value):
            turns = [v for v in value if v is not None]
            return turns or None
        return None
    return None


def as_scores(column: pd.Series) -> tuple[pd.Series | None, list[Any]]:
    """(the column as float scores, or None when a cell is no score; when most filled cells are scores
    but some are not, up to three of those). Bool and numeric columns are scores as they are; text cells
    may be TRUE / FALSE / yes / no (any case), a number or a percentage; blanks are missing scores."""
    if not is_text_column(column):
        return column, []
    values = column.map(_score_cell)
    bad = column[values.isna() & column.map(is_filled)]
    if bad.empty and values.notna().any():
        return values.astype(np.float64), []
    if values.notna().sum() <= len(bad):  # mostly text: no score column with a few bad cells
        return None, []
    return None, list(dict.fromkeys(v if isinstance(v, str) else repr(v)[:40] for v in bad))[:3]


def is_text_column(column: pd.Series) -> bool:
    """Neither bool nor numeric: its scores, if any, are written as text."""
    return not (pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column))


def is_filled(cell: Any) -> bool:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return False
    return not (isinstance(cell, str) and not cell.strip())


def _score_cell(cell: Any) -> float | None:
    if isinstance(cell, bool | np.bool_):
        return float(cell)
    if isinstance(cell, int | float | np.number):
        return None if np.isnan(cell) else float(cell)
    if not isinstance(cell, str):
        return None
    text = cell.strip().lower()
    if text in _BOOL_TEXT:
        return _BOOL_TEXT[text]
    scale = 1.0
    if text.endswith("%"):
        text, scale = text[:-1].strip(), 0.01
    try:
        value = float(text)
    except ValueError:
        return None
    return value * scale if np.isfinite(value) else None


def has_one_hot_winners(columns: Any) -> bool:
    return set(ONE_HOT_WINNERS) <= set(columns)


def winner_from_one_hot(df: pd.DataFrame) -> pd.Series:
    """Kaggle's arena columns -> the ``winner`` values (missing where no column is set)."""
    winner = pd.Series([None] * len(df), index=df.index, dtype=object)
    for col, value in ONE_HOT_WINNERS.items():
        winner[pd.to_numeric(df[col], errors="coerce").fillna(0).to_numpy() == 1] = value
    return winner
