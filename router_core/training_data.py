"""Routing training data: any mix of pairwise battles and per-model scores, as one ``TrainingSet``.

Accepted source formats (auto-detected per file, or forced):
- ``battles``: ``prompt, model_a, model_b, winner`` (winner in model_a / model_b / tie / tie (bothbad))
- ``wide``: a prompt column plus one bool/numeric column per model (text columns and numeric identifier
  columns such as ``question_id``, ``id`` or ``turn`` are ignored, with a warning naming the latter)
- ``long``: ``prompt, model, score``
- ``struct``: a prompt column plus one struct/map column of per-model scores

Per-model scores become battles (higher score wins, equal is a tie) so BT / MF scorers see one kind of
evidence; the scores themselves are kept too (``TrainingSet.scores``) for kNN / calibration.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from router_core.text import (
    DEFAULT_MESSAGES_POLICY,
    MessagesPolicy,
    normalize_prompt,
    prompt_hash,
    prompt_text,
)
from router_core.training_files import (
    TrainingFileError,
    as_scores,
    has_one_hot_winners,
    is_filled,
    is_text_column,
    list_literal_prompts,
    read_table,
    winner_from_one_hot,
)

FORMATS = ("battles", "wide", "long", "struct")
# ``turns`` (MT-bench) and ``messages`` (OpenAI chat) hold lists that reduce to text by the messages policy.
PROMPT_COLUMNS = ("prompt", "question", "instruction", "text", "turns", "messages")
# Numeric columns that describe a row rather than score a model (wide format); also any name ending "_id".
ID_COLUMNS = frozenset({"id", "idx", "index", "row", "turn", "turn_id", "uid", "qid", "__index_level_0__"})
WINNER_OUTCOME = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
# Text columns of a wide file that hold a question's answer, not a model's score, even when the answer is
# yes / no or true / false (a spreadsheet's per-model cells of that kind are scores).
ANSWER_COLUMNS = frozenset({"answer", "label", "target", "reference", "gold", "ground_truth", "expected",
                            "correct_answer", "solution", "reference_answer"})  # fmt: skip


def close_names(name: str, present: Sequence[str]) -> list[str]:
    """Names of ``present`` that ``name`` is a typo or another spelling of (case, '-', '_', '/')."""
    import difflib
    import re

    def key(s: str) -> str:
        return re.sub(r"[^a-z0-9]", "", s.lower())

    by_key = {key(p): p for p in present}
    return [by_key[k] for k in difflib.get_close_matches(key(name), list(by_key), n=2, cutoff=0.85)]


def did_you_mean(names: Sequence[str], present: Sequence[str]) -> str:
    """' (did you mean 'x'?)' for the names of ``names`` close to one in ``present``, else ''."""
    hints = [
        " or ".join(repr(c) for c in close) + (f" for '{n}'" if len(names) > 1 else "")
        for n in names
        if (close := close_names(n, present))
    ]
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


class TrainingDataError(ValueError):
    """Bad training input; the message is meant to be shown to the user as is."""


@dataclass
class TrainingSet:
    prompts: list[str]  # distinct prompts, normalised with router_core.text.normalize_prompt
    models: list[str]  # sorted canonical model names
    scores: np.ndarray  # float32 [n_prompts, n_models]; NaN where unknown (battle-only prompts)
    battle_prompt: np.ndarray  # int64 [n_battles] index into prompts
    battle_a: np.ndarray  # int64 model index
    battle_b: np.ndarray  # int64 model index
    battle_outcome: np.ndarray  # float32: 1.0 a wins, 0.0 b wins, 0.5 tie
    battle_weight: np.ndarray  # float32 (source weight; 1.0 by default)
    battle_source: np.ndarray  # int64 index into sources
    prompt_source: np.ndarray  # int64 [n_prompts] index into sources (first source that had it)
    sources: list[str]

    @property
    def n_battles(self) -> int:
        return int(self.battle_prompt.shape[0])

    def _battles_where(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "battle_prompt": self.battle_prompt[keep],
            "battle_a": self.battle_a[keep],
            "battle_b": self.battle_b[keep],
            "battle_outcome": self.battle_outcome[keep],
            "battle_weight": self.battle_weight[keep],
            "battle_source": self.battle_source[keep],
        }

    def subset(self, prompt_idx: Sequence[int] | np.ndarray) -> TrainingSet:
        """Keep those prompts (in the given order) and their battles, re-indexed."""
        idx = np.asarray(prompt_idx, dtype=np.int64)
        remap = np.full(len(self.prompts), -1, dtype=np.int64)
        remap[idx] = np.arange(len(idx))
        keep = remap[self.battle_prompt] >= 0
        b = self._battles_where(keep)
        b["battle_prompt"] = remap[b["battle_prompt"]]
        return TrainingSet(
            prompts=[self.prompts[i] for i in idx],
            models=list(self.models),
            scores=self.scores[idx],
            prompt_source=self.prompt_source[idx],
            sources=list(self.sources),
            **b,
        )

    def pair(self, strong: str, weak: str) -> TrainingSet:
        """Restrict to two models (sorted order, like every TrainingSet); prompts are kept."""
        for m in (strong, weak):
            if m not in self.models:
                hint = did_you_mean([m], self.models)
                raise TrainingDataError(
                    f"model '{m}' is not in the training data{hint}; present: {self.models}"
                )
        if strong == weak:
            raise TrainingDataError("strong and weak model must differ")
        return self.restrict_models([strong, weak])

    def restrict_models(self, models: Sequence[str]) -> TrainingSet:
        new = sorted(set(models))
        old_idx = np.array([self.models.index(m) for m in new], dtype=np.int64)
        remap = np.full(len(self.models), -1, dtype=np.int64)
        remap[old_idx] = np.arange(len(new))
        keep = (remap[self.battle_a] >= 0) & (remap[self.battle_b] >= 0)
        b = self._battles_where(keep)
        b["battle_a"] = remap[b["battle_a"]]
        b["battle_b"] = remap[b["battle_b"]]
        return TrainingSet(
            prompts=list(self.prompts),
            models=new,
            scores=self.scores[:, old_idx],
            prompt_source=self.prompt_source.copy(),
            sources=list(self.sources),
            **b,
        )

    def with_weights(self, source_weights: Mapping[str, float]) -> TrainingSet:
        """Same data with every battle weight multiplied by its source weight (unlisted sources: 1.0)."""
        per_source = np.array([source_weights.get(s, 1.0) for s in self.sources], dtype=np.float32)
        out = TrainingSet(**{f.name: getattr(self, f.name) for f in fields(self)})
        out.battle_weight = (self.battle_weight * per_source[self.battle_source]).astype(np.float32)
        return out

    def prompt_weights(self) -> np.ndarray:
        """Weight of each prompt: its source's weight, which that source's battles carry
        (``with_weights``); 1 for a source without battles."""
        src = np.asarray(self.battle_source, np.int64)
        per_source = np.ones(len(self.sources), np.float32)
        if len(src):
            top = np.zeros(len(self.sources), np.float32)
            np.maximum.at(top, src, np.asarray(self.battle_weight, np.float32))
            has = np.bincount(src, minlength=len(self.sources)) > 0
            per_source[has] = top[has]
        return per_source[np.asarray(self.prompt_source, np.int64)]

    def prompts_of_sources(self, sources: Sequence[str]) -> np.ndarray:
        """Boolean mask of the prompts these sources have evidence on: the prompts they own
        (``prompt_source``, the first source that had the text) and those of their battles."""
        ids = [self.sources.index(s) for s in sources]
        mask = np.isin(self.prompt_source, ids)
        mask[self.battle_prompt[np.isin(self.battle_source, ids)]] = True
        return mask

    def source_label_count(self, source: str, strong: str | None = None, weak: str | None = None) -> int:
        """Labels one source gives a router of this set's models: its battles between ``strong`` and
        ``weak`` (score pairs included) for a pair; for N models, its battles plus the known per-model
        scores of the prompts it owns."""
        si = self.sources.index(source)
        own = self.battle_source == si
        if strong is not None and weak is not None:
            s, w = self.models.index(strong), self.models.index(weak)
            a, b = self.battle_a[own], self.battle_b[own]
            return int((((a == s) & (b == w)) | ((a == w) & (b == s))).sum())
        scored = int((~np.isnan(self.scores[self.prompt_source == si])).sum())
        return int(own.sum()) + scored

    def source_models(self, source: str) -> list[str]:
        """The models that appear in one source's battles (score pairs included)."""
        own = self.battle_source == self.sources.index(source)
        idx = np.unique(np.concatenate([self.battle_a[own], self.battle_b[own]]))
        return [self.models[i] for i in idx]

    def content_hash(self) -> str:
        h = hashlib.sha256()
        for p in self.prompts:
            h.update(prompt_hash(p).encode())
        h.update("\x1f".join(self.models).encode())
        h.update("\x1f".join(self.sources).encode())
        for name in (
            "scores",
            "battle_prompt",
            "battle_a",
            "battle_b",
            "battle_outcome",
            "battle_weight",
            "battle_source",
            "prompt_source",
        ):
            h.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        return h.hexdigest()


def _prompt_uniform(prompts: Sequence[str], salt: str) -> np.ndarray:
    return np.array([int(prompt_hash(salt + p)[:8], 16) / 0x100000000 for p in prompts], dtype=np.float64)


def split_prompts(prompts: Sequence[str], valid_frac: float = 0.2, salt: str = "") -> np.ndarray:
    """Boolean mask, True = validation. Decided by a hash of the prompt text alone, so the same prompt
    lands on the same side in every run and every source (held-out prompts are truly unseen)."""
    if not 0.0 <= valid_frac < 1.0:
        raise ValueError(f"valid_frac must be in [0, 1), got {valid_frac}")
    return _prompt_uniform(prompts, salt) < valid_frac


def fold_prompts(prompts: Sequence[str], k: int, salt: str = "") -> np.ndarray:
    """Fold index in [0, k) per prompt, from the same hash of the text as ``split_prompts``."""
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    return np.minimum((_prompt_uniform(prompts, salt) * k).astype(np.int64), k - 1)


# ---------------------------------------------------------------- reading one source


def find_prompt_column(df: pd.DataFrame, given: str | None, path: str) -> str:
    if given:
        if given not in df.columns:
            raise TrainingDataError(f"{path}: prompt column '{given}' not found; columns: {list(df.columns)}")
        return given
    for c in PROMPT_COLUMNS:
        if c in df.columns:
            return c
    keyed = (
        " A file keyed by question_id (MT-bench judgments) needs its questions joined on it first."
        if ("question_id" in df.columns)
        else ""
    )
    raise TrainingDataError(
        f"{path}: no prompt column (looked for {', '.join(PROMPT_COLUMNS)}; use --prompt-column); "
        f"columns: {list(df.columns)}.{keyed}"
    )


def normalize_prompt_cell(value: Any, policy: MessagesPolicy, where: str) -> str:
    try:
        text = prompt_text(value, policy)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TrainingDataError(f"{where}: {exc}") from exc
    return "" if text is None else normalize_prompt(text)


def _is_score(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | np.number)


def _is_struct_column(s: pd.Series) -> bool:
    """A struct (dict) or map (list of (key, value) pairs) of numeric per-model scores. A list of strings,
    such as MT-bench's ``reference`` answers, is not one."""
    first = s.dropna().head(1)
    if len(first) != 1 or s.dtype != object:
        return False
    cell = first.iloc[0]
    if isinstance(cell, dict):
        return bool(cell) and all(_is_score(v) for v in cell.values())
    if isinstance(cell, list | tuple | np.ndarray):
        return len(cell) > 0 and all(
            isinstance(kv, list | tuple) and len(kv) == 2 and isinstance(kv[0], str) and _is_score(kv[1])
            for kv in cell
        )
    return False


def detect_format(df: pd.DataFrame, prompt_col: str) -> str:
    cols = set(df.columns)
    if {"model_a", "model_b"} <= cols and ("winner" in cols or has_one_hot_winners(cols)):
        return "battles"
    if {"model", "score"} <= cols:
        return "long"
    if any(_is_struct_column(df[c]) for c in df.columns if c != prompt_col):
        return "struct"
    return "wide"


def _require(df: pd.DataFrame, cols: Sequence[str], path: str, fmt: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise TrainingDataError(
            f"{path}: format '{fmt}' needs column(s) {missing}; columns: {list(df.columns)}"
        )


def _scores_long(df: pd.DataFrame, fmt: str, prompt_col: str, path: str) -> pd.DataFrame:
    """Any score format -> long frame (prompt, model, score)."""
    if fmt == "long":
        _require(df, [prompt_col, "model", "score"], path, fmt)
        out = df[[prompt_col, "model", "score"]].rename(columns={prompt_col: "prompt"})
    elif fmt == "wide":
        scores = _wide_scores(df, prompt_col, path)
        models = [c for c in scores.columns if c != prompt_col]
        out = scores.melt(id_vars=[prompt_col], value_vars=models, var_name="model", value_name="score")
        out = out.rename(columns={prompt_col: "prompt"})
    elif fmt == "struct":
        struct_cols = [c for c in df.columns if c != prompt_col and _is_struct_column(df[c])]
        if len(struct_cols) != 1:
            raise TrainingDataError(
                f"{path}: format 'struct' needs exactly one struct/map column of scores, found {struct_cols}"
            )
        rows = []
        for prompt, cell in zip(df[prompt_col], df[struct_cols[0]], strict=True):
            items = cell.items() if isinstance(cell, dict) else (cell or [])  # map columns arrive as pairs
            rows.extend((prompt, m, v) for m, v in items)
        out = pd.DataFrame(rows, columns=["prompt", "model", "score"])
    else:
        raise AssertionError(fmt)
    out = out.dropna(subset=["score"])
    try:
        out["score"] = out["score"].astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise TrainingDataError(f"{path}: scores must be numeric or bool ({exc})") from exc
    out["model"] = out["model"].astype(str).str.strip()
    return out


def _is_id_column(name: Any) -> bool:
    n = str(name).strip().lower()
    # "Unnamed: 0": the index pandas' to_csv writes by default
    return n in ID_COLUMNS or n.endswith("_id") or n.startswith(("__index_level_", "unnamed:"))


def _wide_scores(df: pd.DataFrame, prompt_col: str, path: str) -> pd.DataFrame:
    """The prompt and one float column per model of a wide file. A model column is one whose cells are
    all scores (``router_core.training_files.as_scores``), less identifier columns (an MT-bench export's
    ``question_id`` would otherwise become a "model" that beats every real one) and per-model fields
    named model|field (RouterBench's ``gpt-4|total_cost``). What is left out is said."""
    scores, bad, answers = {}, {}, []
    for c in df.columns:
        if c != prompt_col:
            values, bad[c] = as_scores(df[c])
            if values is not None and is_text_column(df[c]) and str(c).strip().lower() in ANSWER_COLUMNS:
                answers.append(c)  # a yes/no reference answer, not a model's score
            elif values is not None:
                scores[c] = values
    ids = [c for c in scores if _is_id_column(c)]
    fields = [c for c in scores if "|" in str(c)]
    _warn_left_out(path, ids + answers, fields, {c: v for c, v in bad.items() if v and c not in scores})
    models = [c for c in scores if c not in ids and c not in fields]
    if not models:
        text = [c for c in df.columns if c != prompt_col and c not in models]
        raise TrainingDataError(
            f"{path}: no model score column (one bool/numeric column per model); not scores: {text} "
            "(a score is a number, a bool, a percentage or true/false/yes/no text; other formats: "
            "prompt,model_a,model_b,winner or prompt,model,score)"
        )
    return pd.DataFrame({prompt_col: df[prompt_col], **{c: scores[c] for c in models}})


def _warn_left_out(path: str, ids: list, fields: list, text: dict[Any, list]) -> None:
    """Say which score-like columns are not models: identifiers and answers, per-model fields, and
    columns where a few cells are no score."""
    if ids:
        warnings.warn(
            f"{path}: ignored column(s) {ids}: identifiers or answers, not model scores (a model column "
            f"must not be named id, index, turn, Unnamed: N, *_id, or {', '.join(sorted(ANSWER_COLUMNS))})",
            stacklevel=4,
        )
    if fields:
        warnings.warn(f"{path}: ignored column(s) {fields}: per-model fields (model|field), not scores",
                      stacklevel=4)  # fmt: skip
    mostly_scores = {c: v for c, v in text.items() if "|" not in str(c)}
    if mostly_scores:
        shown = "; ".join(f"'{c}' has {v}" for c, v in mostly_scores.items())
        warnings.warn(
            f"{path}: ignored column(s) with cells that are no score, so not a model's scores: {shown} "
            "(a score is a number, a percentage, true/false or yes/no; blank cells are missing)",
            stacklevel=4,
        )


def _battles(df: pd.DataFrame, prompt_col: str, path: str) -> pd.DataFrame:
    """Battles of a battles file: winner given, or Kaggle's one-hot winner columns; rows without both
    models or a winner are dropped and counted."""
    if "winner" not in df.columns and has_one_hot_winners(df.columns):
        df = df.assign(winner=winner_from_one_hot(df))
    _require(df, [prompt_col, "model_a", "model_b", "winner"], path, "battles")
    missing = df[["model_a", "model_b", "winner"]].map(lambda v: not is_filled(v)).any(axis=1)
    if missing.any():
        warnings.warn(f"{path}: dropped {int(missing.sum()):,} battle(s) without model_a, model_b or winner",
                      stacklevel=3)  # fmt: skip
        df = df.loc[~missing]
    winners = df["winner"].astype(str).str.strip().str.lower()
    bad = sorted(set(winners[~winners.isin(list(WINNER_OUTCOME))]))
    if bad:
        raise TrainingDataError(
            f"{path}: unknown winner value(s) {bad[:10]}{' ...' if len(bad) > 10 else ''}; "
            f"expected one of {list(WINNER_OUTCOME)}"
        )
    return pd.DataFrame(
        {
            "prompt": df[prompt_col],
            "model_a": df["model_a"].astype(str).str.strip(),
            "model_b": df["model_b"].astype(str).str.strip(),
            "outcome": winners.map(WINNER_OUTCOME).astype(np.float32),
        }
    )


# ---------------------------------------------------------------- combining sources


def _source_name(path: str, taken: set[str]) -> str:
    name = Path(path).stem
    base, k = name, 2
    while name in taken:
        name, k = f"{base}#{k}", k + 1
    return name


def load_training_data(
    paths: Sequence[str],
    formats: Sequence[str | None] | str | None = None,
    aliases: Mapping[str, str] | None = None,
    prompt_column: str | None = None,
    models: Sequence[str] | None = None,
    drop_empty: bool = False,
    messages_policy: MessagesPolicy = DEFAULT_MESSAGES_POLICY,
) -> TrainingSet:
    """Read and merge training sources. ``formats`` is one format for all files or one per file (None =
    auto). ``aliases`` maps a source's model name onto the canonical one. ``models`` restricts the set.
    Prompt cells that are lists (turns or chat messages) reduce to text by ``messages_policy``, as the
    route job does (``router_core.text.prompt_text``)."""
    if not paths:
        raise TrainingDataError("no training data given (--data FILE)")
    if formats is None or isinstance(formats, str):
        formats = [formats] * len(paths)
    if len(formats) != len(paths):
        raise TrainingDataError(f"{len(formats)} formats given for {len(paths)} data files")
    aliases = dict(aliases or {})

    sources: list[str] = []
    score_frames: list[pd.DataFrame] = []
    battle_frames: list[pd.DataFrame] = []
    for si, (path, fmt) in enumerate(zip(paths, formats, strict=True)):
        if fmt is not None and fmt not in FORMATS:
            raise TrainingDataError(f"unknown format '{fmt}' (expected one of {', '.join(FORMATS)})")
        sources.append(_source_name(path, set(sources)))
        fmt, frame = _read_source(path, fmt, prompt_column, drop_empty, messages_policy)
        for col in ("model", "model_a", "model_b"):
            if col in frame:
                frame[col] = frame[col].map(lambda m: aliases.get(m, m))
        frame["source"] = si
        (battle_frames if fmt == "battles" else score_frames).append(frame)
    all_models = _model_list(score_frames, battle_frames, models)
    ts = _merge_sources(score_frames, battle_frames, all_models, sources)
    if models:
        # Prompts that only involved dropped models carry no evidence.
        used = np.zeros(len(ts.prompts), dtype=bool)
        used[ts.battle_prompt] = True
        used |= ~np.isnan(ts.scores).all(axis=1)
        if not used.all():
            ts = ts.subset(np.flatnonzero(used))
    if ts.n_battles == 0 and np.isnan(ts.scores).all():
        raise TrainingDataError("no battles or scores left between the selected models")
    if not _has_a_decisive_label(ts):
        raise TrainingDataError(
            "every label is a tie: no battle has a winner and no prompt scores its models differently, "
            "so there is nothing to learn which model to route to"
        )
    return ts


def _has_a_decisive_label(ts: TrainingSet) -> bool:
    if (ts.battle_outcome != 0.5).any():
        return True
    if not ts.scores.size:
        return False
    with warnings.catch_warnings():  # all-NaN rows: battle-only prompts
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanmax(ts.scores, axis=1) - np.nanmin(ts.scores, axis=1)
    return bool((np.nan_to_num(spread) > 0).any())


def _read_source(
    path: str, fmt: str | None, prompt_column: str | None, drop_empty: bool, messages_policy: MessagesPolicy
) -> tuple[str, pd.DataFrame]:
    """(format, long frame of scores or battles) of one training file, prompts normalised."""
    try:
        df = read_table(path)
    except TrainingFileError as exc:
        raise TrainingDataError(str(exc)) from None
    pcol = find_prompt_column(df, prompt_column, path)
    df[pcol] = list_literal_prompts(df[pcol])
    where = f"{path}: column '{pcol}'"
    norm = df[pcol].map(lambda x, where=where: normalize_prompt_cell(x, messages_policy, where))
    empty = (norm == "").to_numpy()
    if empty.any():
        if not drop_empty:
            raise TrainingDataError(
                f"{path}: {int(empty.sum())} row(s) with an empty or missing prompt "
                "(pass --drop-empty to drop them)"
            )
        warnings.warn(f"{path}: dropped {int(empty.sum())} row(s) with an empty prompt", stacklevel=3)
    df = df.loc[~empty].copy()
    lists = df[pcol].map(lambda x: isinstance(x, list | tuple | np.ndarray))
    if lists.any():
        n_raw = df[pcol][lists].map(lambda x: repr(list(x))).nunique()
        n_text = norm[~empty][lists].nunique()
        if n_text < n_raw:  # e.g. last_user on MT-bench: every "Now make it shorter." is one prompt
            warnings.warn(
                f"{path}: {n_raw:,} distinct conversations reduce to {n_text:,} distinct prompts under "
                f"messages policy '{messages_policy}'; rows with the same text are merged",
                stacklevel=3,
            )
    df[pcol] = norm[~empty]
    fmt = fmt or detect_format(df, pcol)
    frame = _battles(df, pcol, path) if fmt == "battles" else _scores_long(df, fmt, pcol, path)
    if frame.empty:
        raise TrainingDataError(f"{path}: no usable rows (format '{fmt}')")
    return fmt, frame


def _model_list(
    score_frames: list[pd.DataFrame], battle_frames: list[pd.DataFrame], models: Sequence[str] | None
) -> list[str]:
    """The models of the training set (sorted): all in the data, or the ``models`` asked for."""
    all_models = sorted(
        set().union(*[set(f["model"]) for f in score_frames])
        | set().union(*[set(f["model_a"]) | set(f["model_b"]) for f in battle_frames])
    )
    if models:
        absent = [m for m in models if m not in all_models]
        if absent:
            hint = did_you_mean(absent, all_models)
            raise TrainingDataError(
                f"model(s) {absent} not in the training data{hint}; models present: {all_models}"
            )
        all_models = sorted(set(models))
    if len(all_models) < 2:
        raise TrainingDataError(f"need at least two models in the training data, found {all_models}")
    return all_models


def _merge_sources(
    score_frames: list[pd.DataFrame],
    battle_frames: list[pd.DataFrame],
    all_models: list[str],
    sources: list[str],
) -> TrainingSet:
    """One TrainingSet from every source's frame: distinct prompts in first-seen order (the first source
    that has a prompt owns it), scores, and battles (given, and derived from scores)."""
    midx = {m: i for i, m in enumerate(all_models)}
    prompts, prompt_source = _first_seen_prompts(score_frames + battle_frames)
    scores = np.full((len(prompts), len(all_models)), np.nan, dtype=np.float32)
    parts = [_add_scores(f, midx, prompts, scores, sources) for f in score_frames]
    parts += _given_battles(battle_frames, midx, prompts)
    cat = [np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in range(5)]
    return TrainingSet(
        prompts=list(prompts),
        models=all_models,
        scores=scores,
        battle_prompt=cat[0].astype(np.int64),
        battle_a=cat[1].astype(np.int64),
        battle_b=cat[2].astype(np.int64),
        battle_outcome=cat[3].astype(np.float32),
        battle_weight=np.ones(len(cat[0]), dtype=np.float32),
        battle_source=cat[4].astype(np.int64),
        prompt_source=np.asarray(prompt_source, dtype=np.int64),
        sources=sources,
    )


# Battles as parallel arrays: prompt index, model a, model b, outcome (1 = a wins), source index
BattleArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _first_seen_prompts(frames: list[pd.DataFrame]) -> tuple[dict[str, int], list[int]]:
    """(prompt -> its index, the source owning each prompt): prompts in first-seen order over the
    sources in their order, so the first source that has a prompt owns it."""
    prompts: dict[str, int] = {}
    prompt_source: list[int] = []
    for f in sorted(frames, key=lambda f: int(f["source"].iloc[0])):
        for p in f["prompt"]:
            if p not in prompts:
                prompts[p] = len(prompts)
                prompt_source.append(int(f["source"].iloc[0]))
    return prompts, prompt_source


def _add_scores(
    f: pd.DataFrame, midx: dict[str, int], prompts: dict[str, int], scores: np.ndarray, sources: list[str]
) -> BattleArrays:
    """One source's per-model scores written into ``scores`` (a later source overrides an earlier one);
    returns the battles they imply."""
    source = int(f["source"].iloc[0])  # before the filter, which may leave no row (--models)
    f = f[f["model"].isin(midx)]
    # Duplicate (prompt, model) rows within a source are averaged.
    repeated = f.loc[f.duplicated(["prompt", "model"]), "prompt"].nunique()
    if repeated:
        warnings.warn(
            f"{sources[source]}: {repeated:,} prompt(s) appear more than once (after whitespace "
            "normalisation): their scores for each model are averaged, one training prompt each",
            stacklevel=4,
        )
    g = f.groupby(["prompt", "model"], sort=False)["score"].mean().reset_index()
    pi = g["prompt"].map(prompts).to_numpy(np.int64)
    mi = g["model"].map(midx).to_numpy(np.int64)
    scores[pi, mi] = g["score"].to_numpy(np.float32)
    return _score_battles(pi, mi, g["score"].to_numpy(np.float64), source)


def _given_battles(
    battle_frames: list[pd.DataFrame], midx: dict[str, int], prompts: dict[str, int]
) -> list[BattleArrays]:
    """The battles of each battle source between models of the set; a model against itself is dropped
    with a warning (no information)."""
    parts, n_self = [], 0
    for f in battle_frames:
        f = f[f["model_a"].isin(midx) & f["model_b"].isin(midx)]
        a = f["model_a"].map(midx).to_numpy(np.int64)
        b = f["model_b"].map(midx).to_numpy(np.int64)
        same = a == b
        n_self += int(same.sum())
        f, a, b = f[~same], a[~same], b[~same]
        pi = f["prompt"].map(prompts).to_numpy(np.int64)
        src = np.full(len(f), int(f["source"].iloc[0]) if len(f) else 0, dtype=np.int64)
        parts.append((pi, a, b, f["outcome"].to_numpy(np.float32), src))
    if n_self:
        warnings.warn(f"ignored {n_self} battle(s) of a model against itself (no information)", stacklevel=4)
    return parts


def _score_battles(pi: np.ndarray, mi: np.ndarray, score: np.ndarray, source: int) -> BattleArrays:
    """All model pairs scored on the same prompt -> battles (a = lower model index, so order-free)."""
    order = np.lexsort((mi, pi))
    pi, mi, score = pi[order], mi[order], score[order]
    starts = np.flatnonzero(np.r_[True, pi[1:] != pi[:-1]])
    ends = np.r_[starts[1:], len(pi)]
    out_p, out_a, out_b, out_o = [], [], [], []
    for s, e in zip(starts, ends, strict=True):
        k = e - s
        if k < 2:
            continue
        ia, ib = np.triu_indices(k, 1)
        sa, sb = score[s + ia], score[s + ib]
        out_p.append(np.full(len(ia), pi[s], dtype=np.int64))
        out_a.append(mi[s + ia])
        out_b.append(mi[s + ib])
        out_o.append(np.where(sa > sb, 1.0, np.where(sa < sb, 0.0, 0.5)).astype(np.float32))
    if not out_p:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, np.zeros(0, dtype=np.float32), z
    p = np.concatenate(out_p)
    return p, np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_o), np.full(len(p), source)


def subsample_prompts(ts: TrainingSet, max_train: int, target_sources: list[str], seed: int) -> TrainingSet:
    """At most ``max_train`` prompts at random, target prompts first: all of them when they fit, the
    other prompts filling the rest."""
    rng = np.random.default_rng(seed)
    is_target = ts.prompts_of_sources(target_sources)
    targets, others = np.flatnonzero(is_target), np.flatnonzero(~is_target)
    if len(targets) >= max_train:
        return ts.subset(np.sort(rng.choice(targets, max_train, replace=False)))
    keep = np.concatenate([targets, rng.choice(others, max_train - len(targets), replace=False)])
    return ts.subset(np.sort(keep))
