"""The savings report's quality side: measured figures on the audited requests, calibration of the
router's probabilities, and the statement shown when there is no audit. Pure numpy/pandas."""

from __future__ import annotations

from typing import Any

import numpy as np

from router_core.audit import AuditLabels, AuditSample, audit_details, audit_summary, match_audit
from router_core.calibration import calibration_report
from router_core.outcomes import strong_win_label
from router_core.savings_frame import Frame, SavingsInputError

LABEL_SAMPLE_COMMAND = "batch-router label sample --strategy random ..."
EXISTING_FILE_COMMAND = "batch-router savings ... --audit correctness.parquet"
NO_AUDIT_WARNING = (
    "Quality retained is the router's own, uncalibrated estimate from its probabilities, not a "
    "measurement: router probabilities are compressed around their mean, so it lands near the share sent "
    "to the strong model whatever the router is worth. Measure it on an audit sample: draw a random "
    f"sample of the logged requests to label ({LABEL_SAMPLE_COMMAND}, then batch-router label ingest) "
    "and pass the labels back with --audit; or, with a file you already have that says how good each "
    "model's answer was (per-model correctness or scores, or battles, with a prompt or request_id "
    "column), run "
    f"{EXISTING_FILE_COMMAND}."
)


def _rows(frame: Frame) -> dict[str, np.ndarray]:
    r = frame.rows
    texts = r["text"].to_numpy(dtype=object) if "text" in r else None
    return {
        "request_id": r["request_id"].to_numpy(dtype=object),
        "text": texts,
        "routed_model": r["routed_model"].to_numpy(dtype=object),
        "day": r["day"].to_numpy(dtype=object),
        "segment": r["segment"].to_numpy(dtype=object),
    }


def _calibration(frame: Frame, sample: AuditSample, n_boot: int, seed: int) -> dict[str, Any] | None:
    """Pair routers with probabilities: reliability of strong_win_prob and the recalibrated estimate."""
    if frame.info.mode != "pair":
        return None
    p_all = frame.rows["p"].to_numpy(dtype=float)
    audited = np.zeros(len(p_all), dtype=bool)
    audited[sample.row] = True
    p_a = p_all[sample.row]
    t_a = strong_win_label(sample.q[:, sample.strong], sample.q[:, sample.weak])
    ok = np.isfinite(p_a)
    rest = ~audited & np.isfinite(p_all)
    if ok.sum() < 2:
        return None
    return calibration_report(
        p_a[ok],
        t_a[ok],
        p_all[rest],
        frame.rows["is_strong"].to_numpy(dtype=bool)[rest],
        n_boot=min(n_boot, 200),
        seed=seed,
    )


def measure(frame: Frame, labels: AuditLabels, n_boot: int, seed: int) -> tuple[dict, dict]:
    """(summary.json ``audit``, ``audit_details``) for the routed requests of ``frame``."""
    info = frame.info
    if info.strong is None or info.weak is None:
        raise SavingsInputError("the audit needs the router's strong and weak model (manifest.json)")
    if info.mode == "multi" and np.isnan(labels.data.scores).all():
        raise SavingsInputError(
            "an N-model audit needs per-model scores (correctness or grades per model); battles alone give "
            "no quality per model"
        )
    try:
        sample = match_audit(labels, _rows(frame), info.models, info.strong, info.weak, info.mode != "multi")
    except ValueError as exc:
        raise SavingsInputError(str(exc)) from None
    if sample.n == 0:
        m = sample.matched
        raise SavingsInputError(
            f"no audit label matches a routed request with a measured quality for the routed model "
            f"({len(labels.data.prompts)} audit prompts; joined by request_id: {m['by_request_id']}, by "
            f"prompt text: {m['by_prompt_text']}; joined without a usable score: "
            f"{m['without_measured_quality']})"
        )
    audit = audit_summary(sample, n_boot, seed)
    details = audit_details(sample, n_boot, seed)
    details["calibration"] = _calibration(frame, sample, n_boot, seed)
    details["files"] = list(labels.files)
    details["routed_requests"] = int(len(frame.rows))
    return audit, details
