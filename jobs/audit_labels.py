"""Read ``savings --audit`` files: any training format (router_core.training_data), plus the two columns
the training loader does not keep: ``request_id`` (exact join to the logs) and ``sample_strategy``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from router_core.audit import SAMPLING_STRATEGIES, AuditLabels
from router_core.savings_frame import SavingsInputError
from router_core.text import DEFAULT_MESSAGES_POLICY, MessagesPolicy
from router_core.training_data import (
    TrainingDataError,
    find_prompt_column,
    load_training_data,
    normalize_prompt_cell,
)
from router_core.training_files import TrainingFileError, read_table


def _strategy(value: object, path: str) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    s = str(value).strip().lower()
    if s not in SAMPLING_STRATEGIES:
        raise SavingsInputError(
            f"{path}: sample_strategy '{value}' is not one of {', '.join(SAMPLING_STRATEGIES)}"
        )
    return s


def read_audit(
    paths: Sequence[str], sampling: str = "unknown", policy: MessagesPolicy = DEFAULT_MESSAGES_POLICY
) -> AuditLabels:
    """Audit labels from ``paths`` (later files override earlier ones on the same prompt, as in training).
    ``sampling`` is the strategy of rows without a ``sample_strategy`` value."""
    if sampling not in SAMPLING_STRATEGIES:
        raise SavingsInputError(f"--audit-sampling must be one of {', '.join(SAMPLING_STRATEGIES)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ignored id columns etc.: the join reports what matched
            data = load_training_data(list(paths), messages_policy=policy, drop_empty=True)
    except TrainingDataError as exc:
        raise SavingsInputError(f"audit labels: {exc}") from None
    index = {p: i for i, p in enumerate(data.prompts)}
    labels = AuditLabels(data=data, default_strategy=sampling, files=[str(p) for p in paths])
    with_id: set[int] = set()
    without_id: set[int] = set()
    for path in paths:
        try:
            df = read_table(path)
            pcol = find_prompt_column(df, None, path)
        except (TrainingDataError, TrainingFileError) as exc:
            raise SavingsInputError(f"audit labels: {exc}") from None
        where = f"{path}: column '{pcol}'"
        prompts = df[pcol].map(lambda x, where=where: normalize_prompt_cell(x, policy, where))
        rids = df["request_id"] if "request_id" in df.columns else pd.Series([None] * len(df))
        strategies = df["sample_strategy"] if "sample_strategy" in df.columns else [None] * len(df)
        for prompt, rid, strat in zip(prompts, rids, strategies, strict=True):
            j = index.get(prompt, -1)
            if j < 0:
                continue
            st = _strategy(strat, path)
            if rid is not None and not pd.isna(rid):
                with_id.add(j)
                labels.prompt_by_request[str(rid)] = j
                if st:
                    labels.strategy_by_request[str(rid)] = st
            else:
                without_id.add(j)
            if st:
                labels.strategy_by_prompt.setdefault(j, st)
    labels.id_only_prompts = with_id - without_id
    return labels
