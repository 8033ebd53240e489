"""The savings report's audit sections: measured quality on the audit sample, its sampling caveat, the
reliability diagram of strong_win_prob and the recalibrated estimate; the warning when there is no audit.

Headline figures carry ``data-metric``/``data-value`` attributes with the exact floats of summary.json.
"""

from __future__ import annotations

import html
import math
from typing import Any

from jobs.report_html import new_figure as fig
from jobs.report_html import pct
from jobs.report_html import png_data_uri as png

_NAMES = {
    "quality_routed": "as routed",
    "quality_all_strong": "all to the strong model",
    "quality_all_weak": "all to the weak model",
    "pgr": "PGR (quality retained)",
}


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _v(metric: str, value: float | None, shown: str) -> str:
    v = float("nan") if value is None else float(value)
    return f'<span data-metric="{metric}" data-value="{v!r}">{_esc(shown)}</span>'


def ci_text(ci: list[float] | None, metric: str | None = None) -> str:
    if not ci:
        return "n/a"
    if metric is None:
        return f"{pct(ci[0])} .. {pct(ci[1])}"
    return f"{_v(metric + '_ci_low', ci[0], pct(ci[0]))} .. {_v(metric + '_ci_high', ci[1], pct(ci[1]))}"


def sampling_note(details: dict[str, Any]) -> str:
    s = details["sampling"]
    counts = ", ".join(f"{k}: {v:,}" for k, v in s["counts"].items())
    if s["random"]:
        return (
            '<p class="ok" data-audit-sampling="random"><b>Random audit sample</b> (unbiased): the measured '
            f"figures estimate the quality of all routed traffic ({counts}).</p>"
        )
    return (
        f'<p class="warn" data-audit-sampling="{_esc(s["strategy"])}"><b>Audit sample not known to be random'
        f"</b> ({_esc(counts)}): requests chosen by strata, by informativeness or by an unknown rule are not "
        "representative of the traffic, so the measured figures describe the audited requests and may be "
        "biased for the rest. For an unbiased figure, audit a random sample "
        "(<code>batch-router label sample --strategy random ...</code>), or state how an existing file was "
        "drawn with <code>--audit-sampling random</code> when it was.</p>"
    )


def no_audit_warning(summary: dict[str, Any]) -> str:
    warning = summary.get("audit_details", {}).get("warning", "")
    return f'<p class="warn" data-warning="uncalibrated"><b>Uncalibrated estimate.</b> {_esc(warning)}</p>'


def _figures_table(details: dict[str, Any]) -> str:
    f = details["figures"]
    rows = "".join(
        f"<tr><td>{_esc(label)}</td><td>{pct(f[k])}</td><td>{ci_text(f[k + '_ci'])}</td></tr>"
        for k, label in _NAMES.items()
    )
    if "routed_win_rate" in details:
        rows += (
            f"<tr><td>routed model's win rate (battles)</td><td>{pct(details['routed_win_rate'])}</td>"
            f"<td>{ci_text(details['routed_win_rate_ci'])}</td></tr>"
        )
    return (
        "<table><thead><tr><th>measured on the audited requests</th><th>value</th><th>95% CI</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _per_model_table(details: dict[str, Any]) -> str:
    rows = []
    for m, r in details["per_model"].items():
        rows.append(
            f"<tr><td>{_esc(m)}</td><td>{r['n']:,}</td><td>{r['routed_to']:,}</td><td>{pct(r['quality'])}"
            f"</td><td>{ci_text(r['quality_ci'])}</td><td>{_signed(r['routed_minus_model'])}</td>"
            f"<td>{_signed_ci(r['routed_minus_model_ci'])}</td></tr>"
        )
    return (
        "<table><thead><tr><th>single model</th><th>audited</th><th>routed to it</th><th>its quality</th>"
        "<th>95% CI</th><th>routed minus it</th><th>95% CI</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _signed(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:+.1f} pts"


def _signed_ci(ci: list[float] | None) -> str:
    return f"{_signed(ci[0])} .. {_signed(ci[1])}" if ci else "n/a"


def _groups_table(groups: dict[str, Any], first: str) -> str:
    rows = []
    for g, r in groups.items():
        if "reason" in r:
            rows.append(
                f'<tr><td>{_esc(g)}</td><td>{r["n"]:,}</td><td colspan="4">{_esc(r["reason"])}</td></tr>'
            )
            continue
        rows.append(
            f"<tr><td>{_esc(g)}</td><td>{r['n']:,}</td><td>{pct(r['pgr'])}</td><td>{ci_text(r['pgr_ci'])}</td>"
            f"<td>{pct(r['quality_routed'])}</td><td>{pct(r['quality_all_strong'])} / "
            f"{pct(r['quality_all_weak'])}</td></tr>"
        )
    return (
        f"<table><thead><tr><th>{first}</th><th>audited</th><th>measured PGR</th><th>95% CI</th>"
        "<th>quality as routed</th><th>all-strong / all-weak</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def plot_reliability(cal: dict[str, Any]) -> str:
    """Bins against the diagonal, zoomed to where the probabilities are (a router's crowd around their
    mean), with the fitted recalibration."""
    f, ax = fig(6.4, 4.6)
    ax.grid(axis="x", alpha=0.3)
    x = [b["p_mean"] for b in cal["bins"]]
    y = [b["observed"] for b in cal["bins"]]
    cx, cy = zip(*cal["curve"], strict=True) if cal["curve"] else ((), ())
    values = [*x, *y, *cy]
    lo, hi = max(0.0, min(values) - 0.05), min(1.0, max(values) + 0.05)
    ax.plot([lo, hi], [lo, hi], color="#999", ls=":", lw=1.4, label="perfectly calibrated")
    ax.plot(x, y, color="#8a5cc2", lw=0, marker="o", ms=7, label=f"audit bins ({cal['n']:,} requests)")
    ax.plot(cx, cy, color="#2e9d5b", lw=2, label=f"recalibration ({cal['method']})")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("strong_win_prob (router)")
    ax.set_ylabel("observed P(strong beats weak)")
    ax.legend(frameon=False, loc="upper left")
    return png(f)


def _unaudited_estimate(cal: dict[str, Any]) -> str:
    """The recalibrated expected PGR of the unaudited requests, or why there is none."""
    if not cal["n_unaudited"]:
        return "Every routed request is audited, so no model-based estimate is needed."
    head = (
        f"Recalibrated ({_esc(cal['method'])}) expected PGR of the {cal['n_unaudited']:,} unaudited routed "
        "requests: "
    )
    raw = f"uncalibrated on the same requests: {pct(cal['uncalibrated_pgr_unaudited'])}."
    if cal["pgr_unaudited"] is None:
        return (
            f"{head}{_v('calibrated_pgr_unaudited', None, 'undefined')} (recalibrated, the strong model is "
            f"expected to be exactly as good as the weak one on them: there is no gap to retain); {raw}"
        )
    return (
        f"{head}{_v('calibrated_pgr_unaudited', cal['pgr_unaudited'], pct(cal['pgr_unaudited']))} "
        f"(95% CI {ci_text(cal['pgr_unaudited_ci'])}, from refitting the calibration on resampled audits); "
        + raw
    )


def _calibration(cal: dict[str, Any], router: dict[str, Any]) -> list[str]:
    est = _unaudited_estimate(cal)
    return [
        "<h2>Calibration of strong_win_prob</h2>",
        f'<figure style="max-width:680px"><img alt="reliability diagram" data-plot="reliability" '
        f'src="{plot_reliability(cal)}">',
        "<figcaption>Audited requests in equal-count bins of the router's strong_win_prob: mean probability "
        f"against the observed share of requests where {_esc(router['strong'])} beats "
        f"{_esc(router['weak'])} (ties count one half), and the recalibration fitted to them. On the "
        "diagonal the probabilities mean what they say; bins spread wider than the probabilities mean "
        "the router is under-confident, a flat line that they carry little information.</figcaption>"
        "</figure>",
        f'<p class="method">Brier score {cal["brier_raw"]:.4f} as given, '
        f"{cal['brier_calibrated_in_sample']:.4f} after recalibration (in sample). {est}</p>",
    ]


def audit_sections(summary: dict[str, Any]) -> list[str]:
    """HTML blocks of the audit: figures, sampling caveat, per model, per day/segment, calibration."""
    audit, details = summary.get("audit"), summary.get("audit_details", {})
    if not audit:
        return []
    m = details["matched"]
    parts = [
        "<h2>Measured quality (audit sample)</h2>",
        sampling_note(details),
        f"<p>{audit['n']:,} of {details['routed_requests']:,} routed requests have audit labels "
        f"({_esc(details['label_kind'])}; joined by request_id: {m['by_request_id']:,}, by prompt text: "
        f"{m['by_prompt_text']:,}; joined without a usable score: {m['without_measured_quality']:,}).</p>",
        _figures_table(details),
        "<h3>Routed choice vs each single model</h3>",
        _per_model_table(details),
        "<h3>Per day</h3>",
        _groups_table(audit["by_day"], "day"),
        "<h3>Per segment</h3>",
        _groups_table(audit["by_segment"], "segment"),
    ]
    if details.get("calibration"):
        parts += _calibration(details["calibration"], summary["router"])
    return parts
