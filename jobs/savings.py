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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from jobs.config import LogsConfig
from jobs.log_table import LogTable, open_logs
from router_core.audit import AuditLabels
from router_core.audit_report import NO_AUDIT_WARNING, measure
from router_core.log_formats import LOG_FORMATS
from router_core.log_rows import NO_DAY, load_body, no_rows_dated, routed_value, row_days, text_of
from router_core.pricing import PriceTable
from router_core.savings_frame import Frame, SavingsInputError, build_frame
from router_core.savings_stats import aggregate, cost_quality_curve
from router_core.text import DEFAULT_MESSAGES_POLICY, MESSAGES_POLICIES, MessagesPolicy, normalize_prompt
from router_core.tokens import TOKENIZER_ID, count_tokens, estimated_token_lines
from schemas.logs import LogColumns, ResolvedColumns, SchemaError, optional_column_hints

NO_SEGMENT = "(none)"


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


def _routed_cells(r: ResolvedColumns, t: pa.Table) -> list[tuple[Any, str]]:
    """(cell, kind) each row routes on: the prompt, the messages, or the request body's messages."""
    n = t.num_rows
    values = t.column(r.text_column).to_pylist()
    fallback = t.column(r.messages_fallback).to_pylist() if r.messages_fallback else [None] * n
    bodies = [load_body(b)[0] for b in t.column(r.body).to_pylist()] if r.body else [None] * n
    cells = zip(values, fallback, bodies, strict=True)
    return [routed_value(r.text_source, *cell, body_fallback=r.body_fallback) for cell in cells]


def _served_models(logs: LogTable, table: pa.Table, scan) -> np.ndarray | None:
    """The model column, else the ``model`` of each request body (Batch input), else None."""
    r = logs.resolved
    if "model" in r.optional:
        return _as_str(table.column(r.optional["model"]))
    if r.body is None:
        return None
    bodies = [load_body(b)[0] for b in scan([r.body]).column(r.body).to_pylist()]
    models = [b.get("model") if b is not None else None for b in bodies]
    return np.asarray([m if isinstance(m, str) else None for m in models], dtype=object)


def _decoded(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else value


def _count_missing_tokens(df: pd.DataFrame, logs: LogTable, scan, info: dict[str, Any]) -> None:
    missing = df["prompt_tokens"].isna().to_numpy()
    if not missing.any():
        return
    t0 = time.time()
    _log(f"counting prompt tokens for {int(missing.sum())} rows without prompt_tokens ({TOKENIZER_ID})")
    idx = np.flatnonzero(missing)
    # Second scan for the (large) text columns only when needed; scans keep the row order.
    cells = _routed_cells(logs.resolved, scan(logs.routed_columns).take(pa.array(idx)))
    counts = df["prompt_tokens"].to_numpy(dtype="float64", na_value=np.nan)
    # billed: the whole chat; undecodable bytes are still billed
    texts = [text_of(_decoded(v), kind, "full") for v, kind in cells]
    counts[idx] = count_tokens(texts)
    df["prompt_tokens"] = counts.astype(np.int64)
    info["prompt_tokens_counted"] = int(missing.sum())
    _log(f"counted in {time.time() - t0:.1f}s")


def read_logs(
    path: str,
    columns: LogColumns,
    text_source: str = "auto",
    text_policy: MessagesPolicy | None = None,
    log_format: str = "auto",
) -> tuple[pd.DataFrame, dict]:
    """Logs (any format the route job reads) as one row per request: request_id, day, segment, model,
    prompt_tokens, completion_tokens (nullable ints). Lines that are not JSON objects or not Batch requests,
    and CSV rows whose fields do not line up with their header, are left out (counted as unreadable_rows).
    Prompt tokens missing in the log are counted with the bundled tokenizer. With ``text_policy``
    (auditing), also ``text``: the normalised routed text."""
    if log_format not in LOG_FORMATS:
        expected = ", ".join(LOG_FORMATS)
        raise SavingsInputError(f"unknown log format '{log_format}' (expected one of {expected})")
    try:
        logs = open_logs(path, LogsConfig(format=log_format, columns=columns, text_source=text_source))
        requests = logs.requests
        keep = None if requests is None else pa.array(requests, pa.bool_())  # typed: a log may have no rows

        def scan(cols: list[str]) -> pa.Table:
            t = logs.read(cols)
            return t if keep is None else t.filter(keep)

        r = logs.resolved
        opt = r.optional
        table = scan([r.request_id, *opt.values()])
        n = table.num_rows
        df = pd.DataFrame(
            {
                "request_id": _as_str(table.column(r.request_id)),
                "day": row_days(table, opt.get("ts"), opt.get("dt")),
                "segment": _as_str(table.column(opt["segment"])) if "segment" in opt else NO_SEGMENT,
                "model": _served_models(logs, table, scan),
            }
        )
        df["segment"] = df["segment"].where(df["segment"].notna(), NO_SEGMENT)
        unreadable = 0 if requests is None else len(requests) - n
        info: dict[str, Any] = {"rows": n, "unreadable_rows": unreadable, "format": logs.info.fmt,
                                "prompt_tokens_counted": 0, "completion_tokens_estimated": 0}  # fmt: skip
        if unreadable:
            what = "not JSON objects, not Batch requests, or CSV rows whose fields do not match the header"
            _log(f"left out {unreadable} rows that are {what}")
        for line in optional_column_hints(logs.names, opt):
            _log(line)
        for key in ("prompt_tokens", "completion_tokens"):
            if key in opt:
                counts = table.column(opt[key]).to_pandas().astype("Int64")
                # a negative count is no count, as in the route job: counted or assumed instead
                df[key] = counts.mask(counts < 0).to_numpy()
            else:
                df[key] = pd.array([pd.NA] * n, dtype="Int64")
        _count_missing_tokens(df, logs, scan, info)
        if text_policy is not None:
            cells = _routed_cells(r, scan(logs.routed_columns))
            texts = [text_of(v, kind, text_policy) for v, kind in cells]
            df["text"] = [normalize_prompt(t) if t else None for t in texts]
    except SchemaError as exc:
        raise SavingsInputError(str(exc)) from None
    return df, info


def _labels_path(labels_dir: str) -> Path:
    base = Path(labels_dir)
    return base / "labels" if (base / "labels").is_dir() else base


def read_manifest(labels_dir: str) -> dict[str, Any]:
    """The route job's manifest.json next to the labels ({} when there is none)."""
    base, lab_path = Path(labels_dir), _labels_path(labels_dir)
    for cand in (lab_path.parent / "manifest.json", base / "manifest.json"):
        if cand.is_file():
            return json.loads(cand.read_text())
    return {}


def _no_labels_message(out: Path, counts: dict[str, Any]) -> str:
    """A route output without labels/: its run quarantined every row (an input the route job reads but
    whose rows it cannot route, such as a Batch file of another endpoint)."""
    reasons = ", ".join(f"{r}: {n}" for r, n in counts.get("quarantined_by_reason", {}).items())
    why = f"quarantined {reasons}; their reasons are in {out / 'quarantine'}" if reasons else "none read"
    rows = counts.get("rows_in", 0)
    return f"{out} has no labels/: its route run labelled none of its {rows} log rows ({why})"


def read_labels(labels_dir: str) -> tuple[pd.DataFrame, dict[str, Any], str]:
    """Labels (request_id, day, routed_model, strong_win_prob?, predicted_quality?) and the manifest router
    section. ``labels_dir`` is the route job's --out dir or its labels/ subdir."""
    lab_path = _labels_path(labels_dir)
    manifest = read_manifest(labels_dir)
    if lab_path == Path(labels_dir) and (lab_path / "manifest.json").is_file():
        if "counts" not in manifest:  # a router's or a label sample's manifest, not a route run's
            raise SavingsInputError(
                f"{lab_path} is not a route run's output (no labels/, and its manifest.json is not the route "
                "job's): --labels takes the --out of `batch-router route`, or its labels/"
            )
        raise SavingsInputError(_no_labels_message(lab_path, manifest.get("counts", {})))
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


# ------------------------------------------------------------------------------------------------ run


def _price_rows(
    frame: Frame, served_prices: PriceTable, routed_prices: PriceTable, batch_discount: bool
) -> list[dict[str, Any]]:
    used = sorted(
        set(frame.stats["served_models"])
        | set(frame.stats["routed_models"])
        | {m for m in (frame.info.strong, frame.info.weak) if m}
    )
    rows = []
    for m in used:
        for side, tbl in (("served", served_prices), ("routed", routed_prices)):
            if side == "routed" and not batch_discount:
                continue
            p = tbl.price(m)
            rows.append(
                {
                    "model": m,
                    "side": side,
                    "input_per_mtok": p.input_per_mtok,
                    "output_per_mtok": p.output_per_mtok,
                    "source": p.source,
                    "matched": p.matched,
                }
            )
    return rows


def _text_policy(labels: str, given: str | None) -> MessagesPolicy:
    """How chats were reduced to the routed text: as given, else as the route job recorded it."""
    if given is not None:
        return given
    recorded = (read_manifest(labels).get("config") or {}).get("logs", {}).get("messages_policy")
    return recorded if recorded in MESSAGES_POLICIES else DEFAULT_MESSAGES_POLICY


def _audit(frame: Frame, audit_labels: AuditLabels | None, bootstrap: int, seed: int) -> dict[str, Any]:
    """summary.json's audit and audit_details (None and the warning without audit labels)."""
    if audit_labels is None:
        return {"audit": None, "audit_details": {"warning": NO_AUDIT_WARNING}}
    audit, details = measure(frame, audit_labels, bootstrap, seed)
    m = details["matched"]
    pgr, ci = audit["pgr"], audit["pgr_ci"]
    shown = "n/a" if pgr is None else f"{pgr:.3f}"
    shown_ci = "n/a" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
    _log(
        f"audit: {audit['n']} audited requests (by request_id {m['by_request_id']}, by prompt text "
        f"{m['by_prompt_text']}); measured PGR {shown} (95% CI {shown_ci}); sampling "
        f"{details['sampling']['strategy']}"
    )
    return {"audit": audit, "audit_details": details}


def _write(out_dir: Path, table: pd.DataFrame, curve: pd.DataFrame | None, summary: dict) -> Path:
    from jobs.report_html import render_report

    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "savings.csv", index=False)
    table.to_parquet(out_dir / "savings.parquet", index=False)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    render_report(out_dir / "report.html", table, curve, summary)
    return out_dir


def _no_rows(logs: str, date: str | None, days: pd.Series) -> str:
    if not date or days.empty:
        return f"no log rows in {logs}"
    dated = days[days != NO_DAY]
    first, last = (None, None) if dated.empty else (dated.min(), dated.max())
    return no_rows_dated(date, logs, len(days), first, last, undated="no date")


def _priced_frame(
    logs: str,
    labels: str,
    served_prices: PriceTable,
    routed_prices: PriceTable,
    date: str | None,
    served_model: str | None,
    read_options: dict[str, Any],
) -> tuple[Frame, dict[str, Any], str]:
    """(logs joined to labels and priced, the log read's counts, the labels path read).
    ``read_options``: read_logs' columns, text_source, text_policy and log_format."""
    _log(f"reading logs {logs}")
    log_df, log_info = read_logs(logs, **read_options)
    _log(f"{log_info['rows']} log rows; reading labels {labels}")
    lab, router, lab_path = read_labels(labels)
    _log(f"{len(lab)} labels")
    frame = build_frame(log_df, lab, router, served_prices, routed_prices, date, served_model)
    if frame.stats["log_rows"] == 0:
        raise SavingsInputError(_no_rows(logs, date, log_df["day"]))
    return frame, log_info, lab_path


def _audit_labels(
    audit: list[str] | None, sampling: str, labels: str, messages_policy: MessagesPolicy | None
) -> tuple[AuditLabels | None, MessagesPolicy | None]:
    """(the audit labels, the policy that reduces the logs' chats to the text they join on); (None,
    None) without --audit, when the logs' texts need not be read."""
    from jobs.audit_labels import read_audit

    if not audit:
        return None, None
    policy = _text_policy(labels, messages_policy)  # chats reduced as the route job reduced them
    _log(f"reading audit labels {', '.join(audit)}")
    return read_audit(audit, sampling, policy), policy


def _finite_or_none(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: an undefined figure (e.g. savings_pct of a zero cost) is written as null."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}


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
    audit: list[str] | None = None,
    audit_sampling: str = "unknown",
    messages_policy: MessagesPolicy | None = None,
    log_format: str = "auto",
) -> dict[str, Any]:
    """Compute savings, write REPORT_DIR/{report.html, savings.csv, savings.parquet, summary.json};
    return the summary (the total row plus counts and the prices used). ``audit``: label files whose
    measured quality is reported on the requests they cover (``audit_sampling``: how they were chosen,
    for files without a sample_strategy column). ``log_format``: auto, parquet, jsonl, json, openai_batch,
    anthropic_batch, csv."""
    t0 = time.time()
    if bootstrap < 0:
        raise SavingsInputError(f"--bootstrap must be >= 0, got {bootstrap}")
    if Path(out).exists() and not Path(out).is_dir():
        raise SavingsInputError(f"--out must be a directory, {out} is a file")
    served_prices = PriceTable.load(prices)
    routed_prices = PriceTable.load(prices, batch_discount=batch_discount)
    audit_labels, policy = _audit_labels(audit, audit_sampling, labels, messages_policy)
    read_options = {"columns": columns or LogColumns(), "text_source": text_source, "text_policy": policy,
                    "log_format": log_format}  # fmt: skip
    frame, log_info, lab_path = _priced_frame(
        logs, labels, served_prices, routed_prices, date, served_model, read_options
    )
    _log(
        f"{frame.stats['labeled']} labeled, {frame.stats['unlabeled']} without a label; "
        f"bootstrap B={bootstrap}"
    )
    for line in estimated_token_lines(0, frame.stats["completion_tokens_estimated"]):
        _log(line)
    table = aggregate(frame, bootstrap, seed, _log)
    curve = cost_quality_curve(frame)
    total = table[table["level"] == "total"].iloc[0].to_dict()
    summary: dict[str, Any] = {
        "total": _finite_or_none(total),
        **_audit(frame, audit_labels, bootstrap, seed),
        "counts": {**log_info, **frame.stats},
        "router": {k: getattr(frame.info, k) for k in ("mode", "strong", "weak", "models")},
        "prices": _price_rows(frame, served_prices, routed_prices, batch_discount),
        "inputs": {
            "logs": logs,
            "labels": lab_path,
            "prices": prices,
            "batch_discount": batch_discount,
            "date": date,
            "bootstrap": bootstrap,
            "seed": seed,
            "tokenizer": TOKENIZER_ID,
            "audit": list(audit or []),
            "audit_sampling": audit_sampling,
        },
    }
    out_dir = _write(Path(out), table, curve, summary)
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
