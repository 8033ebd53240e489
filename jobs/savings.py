"""Retroactive savings: what the logged traffic cost as served vs what it would have cost as routed.

pandas/pyarrow only (no Spark needed: a few columns of millions of rows fit in memory). Usable as
``batch-router savings``, ``python -m jobs.savings`` / ``spark-submit jobs/savings.py`` (same options), and
from Python/Airflow as ``run_savings(...)``, which returns the summary dict.

Definitions (also printed in the report):
- cost as served = price(log ``model``) x (prompt_tokens, completion_tokens) of each request;
- cost as routed = price(``routed_model``) x the same prompt tokens and the logged completion tokens
  (the routed model may answer at another length: a stated caveat);
- expected PGR ("quality retained"): pair routers, p_i = strong_win_prob:
  sum_i p_i [i routed to strong] / sum_i p_i, i.e. the expected share of the prompts where the strong
  model beats the weak one that routing still sends to the strong model (1 = all-strong, 0 = all-weak).
  N-model routers, q_i = predicted_quality: sum_i (q_i[routed] - q_i[weak]) / sum_i (q_i[strong] - q_i[weak]).
  Both are the router's own estimates, not measured quality;
- 95% CIs: Poisson bootstrap over requests (each request drawn Poisson(1) times, B resamples), percentiles.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from router_core.pricing import PriceTable
from router_core.text import text_from_messages
from router_core.tokens import TOKENIZER_ID, completion_tokens_default, count_tokens
from schemas.logs import LogColumns, SchemaError, resolve_columns

NO_SEGMENT = "(none)"
NO_DAY = "(unknown)"
ALL = "*"
CSV_COLUMNS = [
    "level",
    "day",
    "segment",
    "requests",
    "unlabeled",
    "routed_strong",
    "share_strong",
    "cost_served",
    "cost_routed",
    "savings",
    "savings_pct",
    "savings_ci_low",
    "savings_ci_high",
    "savings_pct_ci_low",
    "savings_pct_ci_high",
    "quality_retained",
    "quality_ci_low",
    "quality_ci_high",
    "cost_all_strong",
    "cost_all_weak",
    "cost_unlabeled_served",
]


class SavingsInputError(ValueError):
    """Bad input for the savings job (missing path/column, unknown router models): CLI exit 2."""


def _log(msg: str) -> None:
    print(f"[savings] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------- inputs


def _dataset(path: str, what: str) -> pads.Dataset:
    if not Path(path).exists():
        raise SavingsInputError(f"{what} path not found: {path}")
    try:
        return pads.dataset(path, format="parquet", partitioning="hive")
    except Exception as exc:  # not Parquet, empty directory, ...
        raise SavingsInputError(f"cannot read Parquet {what} at {path}: {str(exc).splitlines()[0]}") from None


def _as_str(arr: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(arr, pa.string()).to_pylist(), dtype=object)


def _day_of(table: pa.Table, opt: dict[str, str]) -> np.ndarray:
    """YYYY-MM-DD per row: the dt column, else the date of ts, else NO_DAY."""
    n = table.num_rows
    day = np.full(n, None, dtype=object)
    if "ts" in opt:
        ts = table.column(opt["ts"])
        if pa.types.is_string(ts.type) or pa.types.is_large_string(ts.type):
            ts = pc.cast(pc.utf8_slice_codeunits(ts, 0, 10), pa.string())
            day = np.asarray(ts.to_pylist(), dtype=object)
        else:
            day = np.asarray(pc.strftime(ts, format="%Y-%m-%d").to_pylist(), dtype=object)
    if "dt" in opt:
        dt = _as_str(table.column(opt["dt"]))
        day = np.where(pd.isna(dt), day, dt)
    return np.where(pd.isna(day), NO_DAY, day).astype(object)


def _prompt_texts(table: pa.Table, text_col: str, source: str) -> list[str | None]:
    """The text billed as input: the prompt, or the whole chat transcript for messages."""
    values = table.column(text_col).to_pylist()
    if source == "prompt":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]
    return [text_from_messages(v, "full") if isinstance(v, list) else None for v in values]


def read_logs(path: str, columns: LogColumns, text_source: str = "auto") -> tuple[pd.DataFrame, dict]:
    """Logs as one row per request: request_id, day, segment, model, prompt_tokens, completion_tokens
    (nullable ints). Prompt tokens missing in the log are counted with the bundled tokenizer."""
    ds = _dataset(path, "logs")
    try:
        resolved = resolve_columns(ds.schema, columns, text_source)
    except SchemaError as exc:
        raise SavingsInputError(str(exc)) from None
    opt = resolved.optional
    wanted = [resolved.request_id] + [opt[k] for k in opt]
    table = ds.to_table(columns=list(dict.fromkeys(wanted)))
    n = table.num_rows
    df = pd.DataFrame(
        {
            "request_id": _as_str(table.column(resolved.request_id)),
            "day": _day_of(table, opt),
            "segment": _as_str(table.column(opt["segment"])) if "segment" in opt else NO_SEGMENT,
            "model": _as_str(table.column(opt["model"])) if "model" in opt else None,
        }
    )
    df["segment"] = df["segment"].where(df["segment"].notna(), NO_SEGMENT)
    info: dict[str, Any] = {"rows": n, "prompt_tokens_counted": 0, "completion_tokens_estimated": 0}
    for key in ("prompt_tokens", "completion_tokens"):
        if key in opt:
            df[key] = table.column(opt[key]).to_pandas().astype("Int64").to_numpy()
        else:
            df[key] = pd.array([pd.NA] * n, dtype="Int64")
    missing = df["prompt_tokens"].isna().to_numpy()
    if missing.any():
        t0 = time.time()
        _log(f"counting prompt tokens for {int(missing.sum())} rows without prompt_tokens ({TOKENIZER_ID})")
        idx = np.flatnonzero(missing)
        # Second scan for the (large) text column only when needed; scans keep the row order.
        text_table = ds.to_table(columns=[resolved.text_column]).take(pa.array(idx))
        texts = _prompt_texts(text_table, resolved.text_column, resolved.text_source)
        counts = df["prompt_tokens"].to_numpy(dtype="float64", na_value=np.nan)
        counts[idx] = count_tokens(texts)
        df["prompt_tokens"] = counts.astype(np.int64)
        info["prompt_tokens_counted"] = int(missing.sum())
        _log(f"counted in {time.time() - t0:.1f}s")
    return df, info


def read_labels(labels_dir: str) -> tuple[pd.DataFrame, dict[str, Any], str]:
    """Labels (request_id, day, routed_model, strong_win_prob?, predicted_quality?) and the manifest router
    section. ``labels_dir`` is the route job's --out dir or its labels/ subdir."""
    base = Path(labels_dir)
    lab_path = base / "labels" if (base / "labels").is_dir() else base
    manifest: dict[str, Any] = {}
    for cand in (lab_path.parent / "manifest.json", base / "manifest.json"):
        if cand.is_file():
            manifest = json.loads(cand.read_text())
            break
    ds = _dataset(str(lab_path), "labels")
    names = set(ds.schema.names)
    for need in ("request_id", "routed_model"):
        if need not in names:
            raise SavingsInputError(f"labels at {lab_path} have no '{need}' column")
    cols = [
        c for c in ("request_id", "dt", "routed_model", "strong_win_prob", "predicted_quality") if c in names
    ]
    t = ds.to_table(columns=cols)
    lab = pd.DataFrame(
        {
            "request_id": _as_str(t.column("request_id")),
            "label_day": _as_str(t.column("dt")) if "dt" in names else None,
            "routed_model": _as_str(t.column("routed_model")),
        }
    )
    if "strong_win_prob" in names:
        lab["strong_win_prob"] = t.column("strong_win_prob").to_numpy(zero_copy_only=False).astype(float)
    if "predicted_quality" in names:
        pq_values = t.column("predicted_quality").to_pylist()
        lab["predicted_quality"] = [dict(v) if v is not None else None for v in pq_values]
    return lab, manifest.get("router", {}) or {}, str(lab_path)


# ---------------------------------------------------------------------------------------- computation


@dataclass
class RouterInfo:
    mode: str  # "pair", "multi" or "none" (no probabilities: no quality estimate)
    strong: str | None
    weak: str | None
    models: list[str] = field(default_factory=list)


def _router_info(lab: pd.DataFrame, router: dict[str, Any], prices: PriceTable) -> RouterInfo:
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

    rows: pd.DataFrame  # day, segment, cost_served, cost_routed, cost_strong, cost_weak, num, den, p
    unlabeled: pd.DataFrame  # day, segment, cost_served
    info: RouterInfo
    stats: dict[str, Any]


def build_frame(
    logs: pd.DataFrame,
    lab: pd.DataFrame,
    router: dict[str, Any],
    served_prices: PriceTable,
    routed_prices: PriceTable,
    date: str | None = None,
    served_model: str | None = None,
) -> Frame:
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
    # One error listing every model without a price, served and routed alike (same override file).
    served_prices.require(
        merged["model"].unique().tolist()
        + merged.loc[labeled, "routed_model"].unique().tolist()
        + [m for m in (router.get("strong"), router.get("weak")) if m]
    )
    info = _router_info(lab, router, routed_prices)

    # Completion tokens absent from the log: each side assumes its own model's typical answer length.
    ct = merged["completion_tokens"]
    missing_ct = ct.isna().to_numpy()
    stats["completion_tokens_estimated"] = int(missing_ct.sum())
    ct_log = ct.to_numpy(dtype="float64", na_value=np.nan)
    pt = merged["prompt_tokens"].to_numpy(dtype="float64")

    def completion(models: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Completion tokens of the selected rows if answered by ``models`` (one per selected row)."""
        if not missing_ct[rows].any():
            return ct_log[rows]
        inv, uniq = pd.factorize(models)
        est = np.array([completion_tokens_default(m, served_prices) for m in uniq], dtype=float)[inv]
        return np.where(missing_ct[rows], est, ct_log[rows])

    everything = np.ones(len(merged), dtype=bool)
    served_models = merged["model"].to_numpy(dtype=object)
    cost_served = served_prices.cost_per_row(served_models, pt, completion(served_models, everything))
    unl = merged.loc[~labeled, ["day", "segment"]].assign(cost_served=cost_served[~labeled])

    m = merged[labeled].reset_index(drop=True)
    pt_l, cs_l = pt[labeled], cost_served[labeled]
    routed = m["routed_model"].to_numpy(dtype=object)
    rows = pd.DataFrame({"day": m["day"], "segment": m["segment"], "cost_served": cs_l})
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
    stats["routed_models"] = {str(k): int(v) for k, v in m["routed_model"].value_counts().items()}
    stats["served_models"] = {str(k): int(v) for k, v in merged["model"].value_counts().items()}
    return Frame(rows, unl, info, stats)


_METRICS = ("cost_served", "cost_routed", "num", "den")


def _poisson1_lut() -> np.ndarray:
    """Poisson(1) by inverse-CDF lookup at 1/65536 resolution: 10x faster than rng.poisson and the
    probabilities are within 2e-5 of exact, far below the bootstrap's own Monte-Carlo noise."""
    from math import exp, factorial

    cdf = np.cumsum([exp(-1) / factorial(k) for k in range(20)])
    return np.searchsorted(cdf, (np.arange(1 << 16) + 0.5) / (1 << 16), side="right").astype(np.float64)


_POISSON_LUT = _poisson1_lut()


def _bootstrap_cells(
    rows: pd.DataFrame, keys: list[tuple[str, str]], n_boot: int, seed: int
) -> dict[tuple[str, str], np.ndarray]:
    """Resampled sums [n_boot, 4] of _METRICS for each (day, segment) cell (Poisson(1) weights)."""
    rng = np.random.default_rng(seed)
    out: dict[tuple[str, str], np.ndarray] = {}
    if n_boot <= 0:
        return out
    grouped = rows.groupby(["day", "segment"], sort=False).indices
    vals = rows[list(_METRICS)].to_numpy(dtype=np.float64)
    chunk = max(1, 4_000_000 // n_boot)  # rows per weight matrix: ~32 MB at float64
    done, total, t0, last = 0, len(rows), time.time(), time.time()
    for key in keys:
        idx = grouped.get(key, np.zeros(0, dtype=np.int64))
        acc = np.zeros((n_boot, len(_METRICS)))
        for s in range(0, len(idx), chunk):
            part = idx[s : s + chunk]
            w = _POISSON_LUT[rng.integers(0, _POISSON_LUT.size, size=(n_boot, len(part)), dtype=np.uint16)]
            acc += w @ vals[part]
            done += len(part)
            if time.time() - last > 10:
                last = time.time()
                _log(f"bootstrap: {done}/{total} requests ({time.time() - t0:.0f}s)")
        out[key] = acc
    return out


def _ratio(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.divide(a, b)
    return np.where(np.asarray(b) != 0, r, np.nan) if isinstance(r, np.ndarray) else (r if b else np.nan)


def _ci(x: np.ndarray | None) -> tuple[float, float]:
    if x is None or len(x) == 0:
        return np.nan, np.nan
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return np.nan, np.nan
    lo, hi = np.percentile(x, [2.5, 97.5])
    return float(lo), float(hi)


_SUMS = (
    "requests",
    "unlabeled",
    "routed_strong",
    "cost_served",
    "cost_routed",
    "num",
    "den",
    "cost_strong",
    "cost_weak",
    "cost_unlabeled_served",
)


def _cell_sums(frame: Frame) -> pd.DataFrame:
    """Additive totals per (day, segment) cell; every other level is a sum of cells."""
    r = frame.rows.assign(requests=1, routed_strong=frame.rows["is_strong"].astype(int))
    cells = r.groupby(["day", "segment"])[
        ["requests", "routed_strong", "cost_served", "cost_routed", "num", "den", "cost_strong", "cost_weak"]
    ].sum()
    u = frame.unlabeled.assign(unlabeled=1).rename(columns={"cost_served": "cost_unlabeled_served"})
    ucells = u.groupby(["day", "segment"])[["unlabeled", "cost_unlabeled_served"]].sum()
    cells = cells.join(ucells, how="outer").fillna(0.0)
    return cells[list(_SUMS)].sort_index()


def _summarise(level: str, day: str, seg: str, s: pd.Series, boot: np.ndarray | None, quality: bool) -> dict:
    served, routed = float(s["cost_served"]), float(s["cost_routed"])
    rec = {
        "level": level,
        "day": day,
        "segment": seg,
        "requests": int(s["requests"]),
        "unlabeled": int(s["unlabeled"]),
        "routed_strong": int(s["routed_strong"]),
        "share_strong": _ratio(float(s["routed_strong"]), float(s["requests"])),
        "cost_served": served,
        "cost_routed": routed,
        "savings": served - routed,
        "savings_pct": _ratio(served - routed, served),
        "quality_retained": _ratio(float(s["num"]), float(s["den"])) if quality else np.nan,
        "cost_all_strong": float(s["cost_strong"]),
        "cost_all_weak": float(s["cost_weak"]),
        "cost_unlabeled_served": float(s["cost_unlabeled_served"]),
    }
    b_sav = boot[:, 0] - boot[:, 1] if boot is not None else None
    rec["savings_ci_low"], rec["savings_ci_high"] = _ci(b_sav)
    pct = _ratio(b_sav, boot[:, 0]) if boot is not None else None
    rec["savings_pct_ci_low"], rec["savings_pct_ci_high"] = _ci(pct)
    qb = _ratio(boot[:, 2], boot[:, 3]) if boot is not None and quality else None
    rec["quality_ci_low"], rec["quality_ci_high"] = _ci(qb)
    return rec


def aggregate(frame: Frame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (day, segment), per day, per segment and the total (``level`` column), with CIs."""
    cells = _cell_sums(frame)
    keys = list(cells.index)
    boot = _bootstrap_cells(frame.rows, keys, n_boot, seed) if n_boot > 0 else {}
    quality = frame.info.mode != "none"
    groups: list[tuple[str, str, str, list[tuple[str, str]]]] = [
        ("day_segment", d, s, [(d, s)]) for d, s in keys
    ]
    for d in sorted({k[0] for k in keys}):
        groups.append(("day", d, ALL, [k for k in keys if k[0] == d]))
    for sg in sorted({k[1] for k in keys}):
        groups.append(("segment", ALL, sg, [k for k in keys if k[1] == sg]))
    groups.append(("total", ALL, ALL, keys))
    pos = {k: i for i, k in enumerate(keys)}
    recs = []
    for level, d, sg, sel in groups:
        b = sum(boot[k] for k in sel) if boot else None
        recs.append(_summarise(level, d, sg, cells.iloc[[pos[k] for k in sel]].sum(), b, quality))
    return pd.DataFrame(recs)[CSV_COLUMNS]


def cost_quality_curve(frame: Frame, points: int = 201) -> pd.DataFrame | None:
    """Pair routers: sort requests by strong_win_prob, send the top share to the strong model, sweep the
    share 0..1. Returns share_strong, cost, quality (expected PGR) at ``points`` shares."""
    r = frame.rows
    if frame.info.mode != "pair" or len(r) == 0:
        return None
    order = np.argsort(-np.nan_to_num(r["p"].to_numpy(), nan=0.0), kind="stable")
    cs, cw, p = (r[c].to_numpy()[order] for c in ("cost_strong", "cost_weak", "den"))
    k = np.unique(np.round(np.linspace(0, len(r), points)).astype(int))
    cum_s, cum_w, cum_p = (np.concatenate([[0.0], np.cumsum(x)]) for x in (cs, cw, p))
    cost = cum_s[k] + (cum_w[-1] - cum_w[k])
    quality = cum_p[k] / cum_p[-1] if cum_p[-1] > 0 else np.full(len(k), np.nan)
    return pd.DataFrame({"share_strong": k / len(r), "cost": cost, "quality": quality})


# ------------------------------------------------------------------------------------------------ run


def run_savings(
    logs: str,
    labels: str,
    out: str,
    prices: str | None = None,
    batch_discount: bool = False,
    date: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    served_model: str | None = None,
    columns: LogColumns | None = None,
    text_source: str = "auto",
) -> dict[str, Any]:
    """Compute savings, write REPORT_DIR/{report.html, savings.csv, savings.parquet, summary.json};
    return the summary (the total row plus counts and the prices used)."""
    from jobs.report_html import render_report

    t0 = time.time()
    if bootstrap < 0:
        raise SavingsInputError(f"--bootstrap must be >= 0, got {bootstrap}")
    if Path(out).exists() and not Path(out).is_dir():
        raise SavingsInputError(f"--out must be a directory, {out} is a file")
    served_prices = PriceTable.load(prices)
    routed_prices = PriceTable.load(prices, batch_discount=batch_discount)
    _log(f"reading logs {logs}")
    log_df, log_info = read_logs(logs, columns or LogColumns(), text_source)
    _log(f"{log_info['rows']} log rows; reading labels {labels}")
    lab, router, lab_path = read_labels(labels)
    _log(f"{len(lab)} labels")
    frame = build_frame(log_df, lab, router, served_prices, routed_prices, date, served_model)
    if frame.stats["log_rows"] == 0:
        raise SavingsInputError(f"no log rows{' for --date ' + date if date else ''}")
    _log(
        f"{frame.stats['labeled']} labeled, {frame.stats['unlabeled']} without a label; "
        f"bootstrap B={bootstrap}"
    )
    table = aggregate(frame, bootstrap, seed)
    curve = cost_quality_curve(frame)
    total = table[table["level"] == "total"].iloc[0].to_dict()

    used = sorted(
        set(frame.stats["served_models"])
        | set(frame.stats["routed_models"])
        | {m for m in (frame.info.strong, frame.info.weak) if m}
    )
    price_rows = []
    for m in used:
        for side, tbl in (("served", served_prices), ("routed", routed_prices)):
            if side == "routed" and not batch_discount:
                continue
            p = tbl.price(m)
            price_rows.append(
                {
                    "model": m,
                    "side": side,
                    "input_per_mtok": p.input_per_mtok,
                    "output_per_mtok": p.output_per_mtok,
                    "source": p.source,
                    "matched": p.matched,
                }
            )
    summary: dict[str, Any] = {
        "total": {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in total.items()},
        "counts": {**log_info, **frame.stats},
        "router": {
            "mode": frame.info.mode,
            "strong": frame.info.strong,
            "weak": frame.info.weak,
            "models": frame.info.models,
        },
        "prices": price_rows,
        "inputs": {
            "logs": logs,
            "labels": lab_path,
            "prices": prices,
            "batch_discount": batch_discount,
            "date": date,
            "bootstrap": bootstrap,
            "seed": seed,
            "tokenizer": TOKENIZER_ID,
        },
    }
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "savings.csv", index=False)
    table.to_parquet(out_dir / "savings.parquet", index=False)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    render_report(out_dir / "report.html", table, curve, summary)
    summary["seconds"] = round(time.time() - t0, 2)
    _log(
        f"served ${total['cost_served']:.4f} -> routed ${total['cost_routed']:.4f}: savings "
        f"${total['savings']:.4f} (95% CI {total['savings_ci_low']:.4f}..{total['savings_ci_high']:.4f}); "
        f"report {out_dir / 'report.html'} ({summary['seconds']}s)"
    )
    return summary


if __name__ == "__main__":  # python -m jobs.savings ... / spark-submit jobs/savings.py ...
    from jobs.savings_cmd import app_main

    sys.exit(app_main(sys.argv[1:]))
