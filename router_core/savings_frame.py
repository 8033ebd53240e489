"""Savings join and pricing: logs x routing labels -> one row of costs and quality terms per labelled request.

Pure pandas/numpy (no I/O, no Spark); ``jobs.savings`` reads the inputs and writes the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from router_core.pricing import PriceTable
from router_core.tokens import completion_or_default


class SavingsInputError(ValueError):
    """Bad input for the savings job (missing path/column, unknown router models): CLI exit 2."""


@dataclass
class RouterInfo:
    mode: str  # "pair", "multi" or "none" (no probabilities: no quality estimate)
    strong: str | None
    weak: str | None
    models: list[str] = field(default_factory=list)


def router_info(lab: pd.DataFrame, router: dict[str, Any], prices: PriceTable) -> RouterInfo:
    models = [str(m) for m in router.get("models", [])] or sorted(set(lab["routed_model"].dropna()))
    if "predicted_quality" in lab and lab["predicted_quality"].notna().any():
        mode = "multi"
        models = list(dict.fromkeys(models + list(lab["predicted_quality"].dropna().iloc[0])))
    elif "strong_win_prob" in lab and lab["strong_win_prob"].notna().any():
        mode = "pair"
    else:
        mode = "none"
    strong, weak = router.get("strong"), router.get("weak")
    if (strong is None or weak is None) and models:
        # No manifest: the most expensive model is the strong one, the cheapest the weak one.
        prices.require(models)
        by_cost = sorted(
            models, key=lambda m: prices.price(m).input_per_mtok + prices.price(m).output_per_mtok
        )
        strong, weak = strong or by_cost[-1], weak or by_cost[0]
    if mode == "pair":
        other = set(lab["routed_model"].dropna()) - {strong, weak}
        if other:
            raise SavingsInputError(
                f"labels route to {sorted(other)}, which is neither the strong ({strong}) nor the weak "
                f"({weak}) model of the router manifest"
            )
    return RouterInfo(mode, strong, weak, models)


def _quality_terms(lab: pd.DataFrame, info: RouterInfo) -> tuple[np.ndarray, np.ndarray]:
    """Per-request numerator and denominator of the expected PGR (see the module docstring)."""
    n = len(lab)
    if info.mode == "pair":
        p = lab["strong_win_prob"].to_numpy(dtype=float)
        p = np.where(np.isfinite(p), p, 0.0)
        return p * (lab["routed_model"].to_numpy() == info.strong), p
    if info.mode == "multi":
        num, den = np.zeros(n), np.zeros(n)
        for i, (q, r) in enumerate(zip(lab["predicted_quality"], lab["routed_model"], strict=True)):
            if q is None or r not in q or info.strong not in q or info.weak not in q:
                continue
            num[i] = q[r] - q[info.weak]
            den[i] = q[info.strong] - q[info.weak]
        return num, den
    return np.zeros(n), np.zeros(n)


@dataclass
class Frame:
    """Per-request numbers of the labeled rows plus counts of the unlabeled ones."""

    # request_id, day, segment, cost_served, cost_routed, cost_strong, cost_weak, num, den, is_strong, p,
    # routed_model, and text / predicted_quality when present
    rows: pd.DataFrame
    unlabeled: pd.DataFrame  # day, segment, cost_served
    info: RouterInfo
    stats: dict[str, Any]


def _join(
    logs: pd.DataFrame, lab: pd.DataFrame, date: str | None, served_model: str | None
) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    """Logs left-joined to labels on request_id: (merged rows, labeled mask, join counts)."""
    if logs["model"].isna().any():
        if served_model is None:
            raise SavingsInputError(
                "logs have no 'model' (the model that served each request) for "
                f"{int(logs['model'].isna().sum())} rows: add the column or pass --served-model"
            )
        logs = logs.assign(model=logs["model"].where(logs["model"].notna(), served_model))
    dup = logs["request_id"].notna() & logs["request_id"].duplicated(keep="first")
    lab = lab.drop_duplicates("request_id", keep="first")
    merged = logs.merge(lab, on="request_id", how="left", indicator=True)
    labeled = (merged["_merge"] == "both").to_numpy() & ~dup.to_numpy()
    if "label_day" in merged:
        merged["day"] = np.where(
            labeled & merged["label_day"].notna().to_numpy(), merged["label_day"], merged["day"]
        )
    if date:
        keep = (merged["day"] == date).to_numpy()
        merged, labeled = merged[keep].reset_index(drop=True), labeled[keep]
    stats: dict[str, Any] = {
        "log_rows": int(len(merged)),
        "labeled": int(labeled.sum()),
        "unlabeled": int((~labeled).sum()),
        "duplicate_request_ids": int(dup.sum()),
        "labels_without_log_row": int((~lab["request_id"].isin(logs["request_id"])).sum()),
    }
    return merged, labeled, stats


def build_frame(
    logs: pd.DataFrame,
    lab: pd.DataFrame,
    router: dict[str, Any],
    served_prices: PriceTable,
    routed_prices: PriceTable,
    date: str | None = None,
    served_model: str | None = None,
) -> Frame:
    """Price every log row as served and every labelled one as routed. A ``text`` column in ``logs``
    (the normalised prompt, read only when auditing) is carried into ``Frame.rows``."""
    merged, labeled, stats = _join(logs, lab, date, served_model)
    # One error listing every model without a price, served and routed alike (same override file).
    served_prices.require(
        merged["model"].unique().tolist()
        + merged.loc[labeled, "routed_model"].unique().tolist()
        + [m for m in (router.get("strong"), router.get("weak")) if m]
    )
    info = router_info(lab, router, routed_prices)

    # Completion tokens absent from the log: each side assumes its own model's typical answer length.
    ct = merged["completion_tokens"]
    missing_ct = ct.isna().to_numpy()
    stats["completion_tokens_estimated"] = int(missing_ct.sum())
    ct_log = ct.to_numpy(dtype="float64", na_value=np.nan)
    pt = merged["prompt_tokens"].to_numpy(dtype="float64")

    def completion(models: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Completion tokens of the selected rows if answered by ``models`` (one per selected row)."""
        return completion_or_default(ct_log[rows], models, served_prices)

    everything = np.ones(len(merged), dtype=bool)
    served_models = merged["model"].to_numpy(dtype=object)
    cost_served = served_prices.cost_per_row(served_models, pt, completion(served_models, everything))
    unl = merged.loc[~labeled, ["day", "segment"]].assign(cost_served=cost_served[~labeled])

    m = merged[labeled].reset_index(drop=True)
    pt_l, cs_l = pt[labeled], cost_served[labeled]
    routed = m["routed_model"].to_numpy(dtype=object)
    rows = pd.DataFrame(
        {"request_id": m["request_id"], "day": m["day"], "segment": m["segment"], "cost_served": cs_l}
    )
    rows["cost_routed"] = routed_prices.cost_per_row(routed, pt_l, completion(routed, labeled))
    for name, model in (("strong", info.strong), ("weak", info.weak)):
        if model is None:
            rows[f"cost_{name}"] = np.nan
            continue
        ct_m = completion(np.full(len(m), model, dtype=object), labeled)
        rows[f"cost_{name}"] = routed_prices.cost(model, pt_l, ct_m)
    rows["num"], rows["den"] = _quality_terms(m, info)
    rows["is_strong"] = routed == info.strong
    rows["p"] = m["strong_win_prob"].to_numpy(dtype=float) if info.mode == "pair" else np.nan
    rows["routed_model"] = routed
    for extra in ("text", "predicted_quality"):
        if extra in m:
            rows[extra] = m[extra].to_numpy(dtype=object)
    stats["routed_models"] = {str(k): int(v) for k, v in m["routed_model"].value_counts().items()}
    stats["served_models"] = {str(k): int(v) for k, v in merged["model"].value_counts().items()}
    return Frame(rows, unl, info, stats)
