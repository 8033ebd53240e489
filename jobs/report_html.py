"""The savings report: ONE self-contained HTML file (inline CSS, plots as base64 PNG, no network).

Every headline number is also written as ``data-metric``/``data-value`` attributes holding the exact
float from savings.csv, so tools (and the tests) can read the report without scraping formatted text.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0}
body{background:#f4f6f9;color:#1d2733}
main{max-width:1100px;margin:0 auto;padding:28px 32px 60px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:34px 0 10px;border-bottom:2px solid #dde3ea;padding-bottom:6px}
.sub{color:#5b6b7c;font-size:13px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:14px;margin-top:22px}
.card{background:#fff;border-radius:10px;padding:16px 18px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card .k{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#5b6b7c}
.card .v{font-size:28px;font-weight:650;margin:6px 0 2px}
.card .d{font-size:12.5px;color:#5b6b7c}
.card.good{border-top:4px solid #2e9d5b}
.card.served{border-top:4px solid #c0504d}
.card.routed{border-top:4px solid #3a6fb0}
.card.quality{border-top:4px solid #8a5cc2}
figure{background:#fff;border-radius:10px;padding:12px;margin:0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
figure img{width:100%;height:auto}
figcaption{font-size:13px;color:#5b6b7c;padding:6px 4px 2px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13.5px}
table{box-shadow:0 1px 3px rgba(0,0,0,.08)}
th,td{padding:7px 10px;border-bottom:1px solid #e6eaef;text-align:right}
th{background:#eef2f6;font-weight:600}
td:first-child,th:first-child{text-align:left}
tr.total td{font-weight:650;background:#f7f9fb}
.pos{color:#23824a}
.neg{color:#b23b3b}
.warn{background:#fdecea;border-left:4px solid #c0504d;padding:10px 14px;border-radius:6px;font-size:13.5px}
.ok{background:#e8f5ec;border-left:4px solid #2e9d5b;padding:10px 14px;border-radius:6px;font-size:13.5px}
h3{font-size:15.5px;margin:20px 0 8px}
.note{background:#fff8e1;border-left:4px solid #e0b000;padding:10px 14px;border-radius:6px;font-size:13.5px}
.method{background:#fff;border-radius:10px;padding:8px 22px;font-size:14px;line-height:1.55}
code{background:#eef2f6;padding:1px 4px;border-radius:3px;font-size:12.5px}
"""


def money(x: float | None) -> str:
    """$ with thousands separators; 4 decimals under $10 so small fixtures stay readable."""
    if x is None or not math.isfinite(x):
        return "n/a"
    sign = "-" if x < 0 else ""
    return f"{sign}${abs(x):,.{4 if abs(x) < 10 else 2}f}"


def pct(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:.{digits}f}%"


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _esc(x: Any) -> str:
    return html.escape(str(x))


def png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def new_figure(w: float = 10, h: float = 4.2):
    from matplotlib.figure import Figure  # no pyplot: no global state, no display backend

    fig = Figure(figsize=(w, h))
    ax = fig.add_subplot(111)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    return fig, ax


def plot_days(days: pd.DataFrame) -> str:
    """Bars for a few days; lines with the savings shaded between them for longer periods."""
    fig, ax = new_figure()
    x = np.arange(len(days))
    served, routed, unl = (
        days[c].to_numpy(float) for c in ("cost_served", "cost_routed", "cost_unlabeled_served")
    )
    if len(days) <= 14:
        w = 0.38
        ax.bar(x - w / 2, served, w, label="as served", color="#c0504d")
        ax.bar(x + w / 2, routed, w, label="as routed", color="#3a6fb0")
        if unl.sum() > 0:
            ax.bar(x - w / 2, unl, w, bottom=served, color="#e3a3a1", label="no label, as served")
    else:
        ax.plot(x, served, color="#c0504d", lw=2, marker="o", ms=3, label="as served")
        ax.plot(x, routed, color="#3a6fb0", lw=2, marker="o", ms=3, label="as routed")
        ax.fill_between(x, routed, served, color="#2e9d5b", alpha=0.15, label="savings")
        if unl.sum() > 0:
            ax.plot(x, unl, color="#e3a3a1", lw=1.5, ls="--", label="no label, as served")
        ax.set_ylim(bottom=0)
    step = max(1, int(np.ceil(len(days) / 15)))  # at most ~15 date labels
    ax.set_xticks(
        x[::step],
        days["day"].iloc[::step],
        rotation=30 if len(days) > 6 else 0,
        ha="right" if len(days) > 6 else "center",
    )
    ax.set_ylabel("USD per day")
    ax.legend(frameon=False, ncol=4, loc="upper center", bbox_to_anchor=(0.5, 1.13))
    return png_data_uri(fig)


def plot_curve(curve: pd.DataFrame, total: dict[str, Any], audit: dict[str, Any] | None = None) -> str:
    fig, ax = new_figure(10, 4.8)
    ax.grid(axis="x", alpha=0.3)
    ax.plot(curve["cost"], curve["quality"], color="#8a5cc2", lw=2.2, label="re-rank by strong_win_prob")
    ax.plot(
        curve["cost"].iloc[[0, -1]],
        curve["quality"].iloc[[0, -1]],
        color="#999",
        ls=":",
        lw=1.4,
        label="random routing",
    )
    cost, q = _num(total["cost_routed"]), _num(total["quality_retained"])
    ax.scatter(
        [cost],
        [q],
        s=110,
        color="#2e9d5b",
        zorder=5,
        edgecolor="white",
        lw=1.5,
        label=f"chosen routing: {money(cost)}, PGR {pct(q)}",
    )
    served = _num(total["cost_served"])
    ax.axvline(served, color="#c0504d", ls="--", lw=1.3, label=f"cost as served {money(served)}")
    low, high = -0.02, 1.05
    if audit and audit.get("pgr") is not None:
        m = _num(audit["pgr"])
        lo, hi = audit["pgr_ci"] or (m, m)
        label = f"measured on the audit: PGR {pct(m)} [{pct(lo)}, {pct(hi)}]"
        ax.errorbar([cost], [m], yerr=[[m - lo], [hi - m]], fmt="D", color="#e07b00", ms=8, capsize=5,
                    zorder=6, label=label)  # fmt: skip
        low, high = min(low, max(lo, -1.0) - 0.05), max(high, min(hi, 2.0) + 0.05)
    ax.set_xlabel("projected cost (USD)")
    ax.set_ylabel("quality retained (PGR)")
    ax.set_ylim(low, high)
    ax.legend(frameon=False, loc="lower right")
    return png_data_uri(fig)


def _card(cls: str, key: str, metric: str, value: float, shown: str, detail: str) -> str:
    return (
        f'<div class="card {cls}"><div class="k">{_esc(key)}</div>'
        f'<div class="v" data-metric="{metric}" data-value="{value!r}">{_esc(shown)}</div>'
        f'<div class="d">{detail}</div></div>'
    )


def _table(df: pd.DataFrame, first: str, label_col: str, quality: bool) -> str:
    heads = [
        first,
        "requests",
        "unlabeled",
        "to strong",
        "as served",
        "as routed",
        "savings",
        "95% CI",
        "saved",
    ]
    if quality:
        heads.append("quality retained")
    out = ["<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr></thead><tbody>"]
    for _, r in df.iterrows():
        cls = ' class="total"' if r["level"] == "total" else ""
        sav = _num(r["savings"])
        cells = [
            _esc("Total" if r["level"] == "total" else r[label_col]),
            f"{int(r['requests']):,}",
            f"{int(r['unlabeled']):,}",
            pct(_num(r["share_strong"])),
            money(_num(r["cost_served"])),
            money(_num(r["cost_routed"])),
            f'<span class="{"pos" if sav >= 0 else "neg"}">{money(sav)}</span>',
            f"{money(_num(r['savings_ci_low']))} .. {money(_num(r['savings_ci_high']))}",
            pct(_num(r["savings_pct"])),
        ]
        if quality:
            cells.append(pct(_num(r["quality_retained"])))
        out.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "".join(out) + "</tbody></table>"


def _method(summary: dict[str, Any]) -> str:
    inp, router, counts = summary["inputs"], summary["router"], summary["counts"]
    b = inp["bootstrap"]
    discount = (
        "The routed side is priced at OpenAI Batch API rates (50% off input and output tokens), because "
        "routed requests are dispatched through the Batch API; the as-served side stays at list price."
        if inp["batch_discount"]
        else "Both sides are priced at list (real-time API) prices."
    )
    if router["mode"] == "pair":
        quality = (
            "<b>Quality retained (expected PGR)</b> = &Sigma;<sub>i routed to strong</sub> p<sub>i</sub> / "
            "&Sigma;<sub>i</sub> p<sub>i</sub>, with p<sub>i</sub> = <code>strong_win_prob</code>, the "
            f"router's probability that <code>{_esc(router['strong'])}</code> beats "
            f"<code>{_esc(router['weak'])}</code> on request i. It is the expected share of the requests "
            "where the strong model would have won that routing still sends to it: 100% = all-strong, "
            "0% = all-weak. The curve re-ranks requests by p<sub>i</sub> and sweeps the share sent to the "
            "strong model from 0 to 100%."
        )
    elif router["mode"] == "multi":
        quality = (
            "<b>Quality retained (expected PGR)</b> = &Sigma;<sub>i</sub> (q<sub>i</sub>[routed] - "
            "q<sub>i</sub>[weak]) / &Sigma;<sub>i</sub> (q<sub>i</sub>[strong] - q<sub>i</sub>[weak]) with "
            "q<sub>i</sub> = <code>predicted_quality</code>, "
            f"strong = <code>{_esc(router['strong'])}</code>, "
            f"weak = <code>{_esc(router['weak'])}</code>: 100% = the quality of always calling the strong "
            "model, 0% = always the weak one. (The cost-quality sweep is drawn for pair routers only.)"
        )
    else:
        quality = "The labels carry no router probabilities, so no quality estimate is shown."
    return f"""<div class="method">
<p><b>Join.</b> Log rows are joined to routing labels on <code>request_id</code>. Rows without a label
(quarantined by validation, duplicates of an earlier request_id, or not routed:
{counts["unlabeled"]:,} here) are counted and shown separately, never silently dropped; they are not
part of the savings comparison.</p>
<p><b>Cost as served</b> = input price of the log's <code>model</code> &times; <code>prompt_tokens</code>
+ output price &times; <code>completion_tokens</code>. <b>Cost as routed</b> uses the price of
<code>routed_model</code> with the same prompt tokens and the logged completion tokens.
<i>Caveat:</i> the routed model may answer at a different length; the log only knows the length of the
answer that was actually served. Where the log has no token counts, prompt tokens are counted with
{_esc(inp["tokenizer"])} ({counts.get("prompt_tokens_counted", 0):,} rows) and completion tokens use a
per-model default ({counts.get("completion_tokens_estimated", 0):,} rows). {discount}</p>
<p>{quality} <i>Caveat:</i> this is the router's own estimate of quality, not a measured one.
{_audit_method(summary)}</p>
<p><b>Confidence intervals</b> (95%): Poisson bootstrap over requests, B = {b:,} resamples (each request
drawn Poisson(1) times), 2.5th and 97.5th percentiles of the resampled savings / savings share / PGR. They
cover sampling noise in which requests happened to arrive, not errors in prices or in the router's
estimates.</p>
<p><b>Prices</b> come from the pinned genai-prices snapshot and the override file
(<code>{_esc(inp["prices"] or "none")}</code>); the table below lists each one used.</p>
</div>"""


def _audit_method(summary: dict[str, Any]) -> str:
    if not summary.get("audit"):
        return "No audit labels were given (<code>--audit</code>): nothing checks it against measurements."
    return (
        "<b>Measured quality</b> uses the audit labels: on each audited request the measured quality of "
        "the routed model, of the strong and of the weak model (scores as given; for battles the strong "
        "model's win rate against the weak one, ties one half, and the weak model's as its complement). "
        "Quality as routed, all-strong and all-weak are their means over the audited requests, and "
        "<b>PGR</b> = (as routed - all-weak) / (all-strong - all-weak). Their 95% CIs are Poisson "
        "bootstrap percentiles over the audited requests (same B). They are unbiased for the whole "
        "traffic only when the audit is a random sample of it."
    )


def _models_table(counts: dict[str, Any]) -> str:
    served, routed = counts.get("served_models", {}), counts.get("routed_models", {})
    rows = "".join(
        f"<tr><td>{_esc(m)}</td><td>{served.get(m, 0):,}</td><td>{routed.get(m, 0):,}</td></tr>"
        for m in sorted(set(served) | set(routed))
    )
    return (
        "<table><thead><tr><th>model</th><th>served (all log rows)</th><th>routed (labeled rows)</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _prices_table(summary: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{_esc(p['model'])}</td><td>{_esc(p['side'])}</td><td>${p['input_per_mtok']:g}</td>"
        f"<td>${p['output_per_mtok']:g}</td><td>{_esc(p['source'])}</td>"
        f"<td>{_esc(p['matched'] or '-')}</td></tr>"
        for p in summary["prices"]
    )
    return (
        "<table><thead><tr><th>model</th><th>side</th><th>input / 1M tok</th><th>output / 1M tok</th>"
        f"<th>source</th><th>matched as</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _quality_card(summary: dict[str, Any], total: dict[str, Any], quality: bool) -> str:
    """Measured PGR on the audit sample when there is one; else the router's uncalibrated estimate."""
    from jobs.report_audit import ci_text

    q = _num(total["quality_retained"])
    estimate = (
        f"router's uncalibrated estimate "
        f'<span data-metric="quality_retained" data-value="{q!r}">{_esc(pct(q))}</span>'
        if quality
        else "no router probabilities in the labels"
    )
    audit = summary.get("audit")
    if audit:
        pgr = _num(audit["pgr"])
        random = summary["audit_details"]["sampling"]["random"]
        return _card(
            "quality",
            "Quality retained (measured)",
            "audit_pgr",
            pgr,
            pct(pgr),
            f"PGR on {audit['n']:,} audited requests ({'random sample' if random else 'not a random sample'})"
            f", 95% CI {ci_text(audit['pgr_ci'], 'audit_pgr')}; {estimate}",
        )
    return _card(
        "quality",
        "Quality retained (uncalibrated)",
        "quality_retained",
        q,
        pct(q) if quality else "n/a",
        f"router's own estimate, not measured; 95% CI {pct(_num(total['quality_ci_low']))} .. "
        f"{pct(_num(total['quality_ci_high']))}"
        if quality
        else "no router probabilities in the labels",
    )


def _curve_section(curve: pd.DataFrame | None, total: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    if curve is None or len(curve) < 2:
        return []
    router, audit = summary["router"], summary.get("audit")
    measured = ", the orange diamond its PGR measured on the audit sample, with its 95% CI" if audit else ""
    return [
        "<h2>Cost vs quality</h2>",
        f'<figure><img alt="cost-quality curve" src="{plot_curve(curve, total, audit)}">',
        "<figcaption>Each point sends the requests with the highest strong_win_prob to "
        f"{_esc(router['strong'])} and the rest to {_esc(router['weak'])}, with the router's own "
        f"(uncalibrated) expected PGR; the green dot is the routing in the labels{measured}."
        "</figcaption></figure>",
    ]


def _cards(summary: dict[str, Any], total: dict[str, Any], quality: bool) -> list[str]:
    router = summary["router"]
    served, routed, sav = (_num(total[k]) for k in ("cost_served", "cost_routed", "savings"))
    cards = [
        _card(
            "served",
            "Cost as served",
            "cost_served",
            served,
            money(served),
            f"{int(total['requests']):,} routed requests",
        ),
        _card(
            "routed",
            "Cost as routed",
            "cost_routed",
            routed,
            money(routed),
            f"{pct(_num(total['share_strong']))} sent to {_esc(router['strong'] or 'strong')}",
        ),
        _card(
            "good",
            "Savings",
            "savings",
            sav,
            money(sav),
            f"{pct(_num(total['savings_pct']))} of cost as served; 95% CI "
            f'<span data-metric="savings_ci_low" data-value="{_num(total["savings_ci_low"])!r}">'
            f'{money(_num(total["savings_ci_low"]))}</span> .. <span data-metric="savings_ci_high" '
            f'data-value="{_num(total["savings_ci_high"])!r}">{money(_num(total["savings_ci_high"]))}</span>',
        ),
        _quality_card(summary, total, quality),
    ]
    return cards


def render_report(path: str | Path, table: pd.DataFrame, curve: pd.DataFrame | None, summary: dict) -> None:
    """Write the report; ``table`` is exactly what goes to savings.csv."""
    from jobs.report_audit import audit_sections, no_audit_warning

    total = table[table["level"] == "total"].iloc[0].to_dict()
    days = table[table["level"] == "day"].reset_index(drop=True)
    segs = table[table["level"] == "segment"]
    router, counts, inp = summary["router"], summary["counts"], summary["inputs"]
    quality = router["mode"] != "none"
    cards = _cards(summary, total, quality)
    span = f"{days['day'].iloc[0]} .. {days['day'].iloc[-1]}" if len(days) else "-"
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        "<title>batch-router savings report</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>Retroactive savings of routing</h1>",
        f'<div class="sub">days {_esc(span)} &middot; logs <code>{_esc(inp["logs"])}</code> &middot; labels '
        f"<code>{_esc(inp['labels'])}</code> &middot; generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</div>",
        f'<div class="cards">{"".join(cards)}</div>',
    ]
    if not summary.get("audit"):
        parts.append(no_audit_warning(summary))
    if counts["unlabeled"]:
        parts.append(
            f'<p class="note"><b>{counts["unlabeled"]:,}</b> log rows have no routing label (quarantined, '
            "duplicate request_id or not routed); they cost "
            f"<b>{money(_num(total['cost_unlabeled_served']))}</b> "
            "as served and are left out of the comparison above.</p>"
        )
    if len(days):
        parts += [
            "<h2>Cost per day</h2>",
            f'<figure><img alt="cost per day" src="{plot_days(days)}">',
            "<figcaption>As served (log model) vs as routed (routing labels), same tokens.</figcaption>"
            "</figure>",
        ]
    parts += audit_sections(summary)
    parts += _curve_section(curve, total, summary)
    parts += [
        "<h2>Per segment</h2>",
        _table(pd.concat([segs, table[table["level"] == "total"]]), "segment", "segment", quality),
    ]
    parts += [
        "<h2>Per day</h2>",
        _table(pd.concat([days, table[table["level"] == "total"]]), "day", "day", quality),
    ]
    parts += ["<h2>Requests per model</h2>", _models_table(counts)]
    parts += [
        "<h2>How these numbers were computed</h2>",
        _method(summary),
        "<h2>Prices used</h2>",
        _prices_table(summary),
        "</main></body></html>",
    ]
    Path(path).write_text("\n".join(parts), encoding="utf-8")
