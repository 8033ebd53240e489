"""Real data: MMLU questions routed GPT-4 vs Mixtral by a router trained on other questions, audited with
the true correctness. The report's measured PGR equals one computed from the labels here, and the HTML
(rendered by headless Chromium) shows it, its CI and the reliability diagram."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from test_report_html import CHROMIUM, _Metrics, _png_pixels, chromium_base

from jobs.savings import run_savings
from router_core.policies import route_strong_share
from router_core.text import normalize_prompt
from router_core.training import train_router
from router_core.training_data import load_training_data

pytestmark = pytest.mark.slow  # trains a real router and embeds 500 questions (about a minute on 2 cores)

STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
N_TRAIN, N_ROUTED, N_AUDIT = 300, 200, 120
MAX_CHARS = 300  # short questions only: embedding is what this test spends its time on
PRICES = {
    STRONG: {"input_price": 10.0, "output_price": 30.0},
    WEAK: {"input_price": 0.7, "output_price": 0.7},
}


@pytest.fixture(scope="module")
def mmlu_report(tmp_path_factory, embedder) -> dict:
    df = pd.read_parquet(shared_file("mmlu_dev.parquet"))
    df["prompt"] = df["prompt"].map(normalize_prompt)
    df = df[df["prompt"].str.len() <= MAX_CHARS].drop_duplicates("prompt")
    df = df.sample(N_TRAIN + N_ROUTED, random_state=0).reset_index(drop=True)
    train, routed = df.iloc[:N_TRAIN], df.iloc[N_TRAIN:].reset_index(drop=True)
    d = tmp_path_factory.mktemp("mmlu_audit")
    train.to_parquet(d / "train.parquet")
    data = load_training_data([str(d / "train.parquet")])
    router = train_router(
        data,
        embedder.encode(data.prompts),
        embedder.id,
        STRONG,
        WEAK,
        scorers=("sw", "mf"),
        log=lambda s: None,
    )
    texts = routed["prompt"].tolist()
    p = router.score(embedder.encode(texts), texts)["strong_win_prob"].astype(np.float64)
    to_strong = route_strong_share(p, 0.5, np.arange(len(p)))
    ids = [f"q{i:04d}" for i in range(len(routed))]
    pd.DataFrame(
        {
            "request_id": ids,
            "prompt": texts,
            "ts": pd.Timestamp("2024-06-01T12:00:00Z"),
            "model": STRONG,
            "prompt_tokens": np.full(len(ids), 200, np.int64),
            "completion_tokens": np.full(len(ids), 5, np.int64),
        }
    ).to_parquet(d / "logs.parquet")
    lab_dir = d / "route" / "labels" / "dt=2024-06-01"
    lab_dir.mkdir(parents=True)
    pd.DataFrame(
        {"request_id": ids, "routed_model": np.where(to_strong, STRONG, WEAK), "strong_win_prob": p}
    ).to_parquet(lab_dir / "part-0.parquet")
    manifest = {"router": {"models": [STRONG, WEAK], "strong": STRONG, "weak": WEAK}}
    (d / "route" / "manifest.json").write_text(json.dumps(manifest))
    (d / "prices.json").write_text(json.dumps(PRICES))
    # A random audit sample of the routed requests, labelled with the true correctness.
    audit_rows = np.random.default_rng(1).choice(len(routed), N_AUDIT, replace=False)
    audit = routed.iloc[audit_rows].assign(sample_strategy="random")
    audit.to_parquet(d / "audit.parquet")
    out = d / "report"
    summary = run_savings(
        str(d / "logs.parquet"), str(d / "route"), str(out), prices=str(d / "prices.json"), bootstrap=500,
        audit=[str(d / "audit.parquet")],
    )  # fmt: skip
    return {"summary": summary, "out": out, "audit": audit, "to_strong": to_strong[audit_rows]}


def test_measured_pgr_equals_independent_computation(mmlu_report):
    a = mmlu_report["summary"]["audit"]
    audit, to_strong = mmlu_report["audit"], mmlu_report["to_strong"]
    gpt4, mixtral = audit[STRONG].to_numpy(float), audit[WEAK].to_numpy(float)
    routed = np.where(to_strong, gpt4, mixtral)
    pgr = (routed.mean() - mixtral.mean()) / (gpt4.mean() - mixtral.mean())
    print(
        f"MMLU audit n={a['n']}: routed {routed.mean():.4f}, GPT-4 {gpt4.mean():.4f}, Mixtral "
        f"{mixtral.mean():.4f}, measured PGR {a['pgr']:.4f} CI {a['pgr_ci']}; router's estimate "
        f"{mmlu_report['summary']['total']['quality_retained']:.4f}"
    )
    assert a["n"] == N_AUDIT
    assert a["quality_routed"] == pytest.approx(routed.mean(), abs=1e-12)
    assert a["quality_all_strong"] == pytest.approx(gpt4.mean(), abs=1e-12)
    assert a["quality_all_weak"] == pytest.approx(mixtral.mean(), abs=1e-12)
    assert a["pgr"] == pytest.approx(pgr, abs=1e-12)
    assert a["pgr_ci"][0] <= a["pgr"] <= a["pgr_ci"][1]
    # One day, one segment: each holds the whole audit, and shares the total's bootstrap draws.
    assert a["by_day"] == {"2024-06-01": {k: v for k, v in a.items() if k not in ("by_day", "by_segment")}}
    assert a["by_segment"]["(none)"] == a["by_day"]["2024-06-01"]
    d = mmlu_report["summary"]["audit_details"]
    assert d["sampling"]["random"] is True and d["matched"]["by_prompt_text"] == N_AUDIT
    cal = d["calibration"]
    assert cal["n"] == N_AUDIT and cal["n_unaudited"] == N_ROUTED - N_AUDIT
    assert sum(b["n"] for b in cal["bins"]) == N_AUDIT


@pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="/usr/bin/chromium not installed (apt-get install chromium)",
)
def test_html_shows_measured_pgr_ci_and_reliability_in_chromium(mmlu_report, tmp_path):
    page = (mmlu_report["out"] / "report.html").resolve().as_uri()
    base = chromium_base(tmp_path)
    dom = subprocess.run([*base, "--dump-dom", page], capture_output=True, text=True, timeout=120)
    parsed = _Metrics()
    parsed.feed(dom.stdout)  # the DOM as Chromium built it, not the file as written
    a = mmlu_report["summary"]["audit"]
    assert parsed.values["audit_pgr"] == a["pgr"]
    assert parsed.values["audit_pgr_ci_low"] == a["pgr_ci"][0]
    assert parsed.values["audit_pgr_ci_high"] == a["pgr_ci"][1]
    assert parsed.shown["audit_pgr"].strip() == f"{100 * a['pgr']:.1f}%"
    assert 'data-plot="reliability"' in dom.stdout and 'alt="reliability diagram"' in dom.stdout
    png = tmp_path / "report.png"
    subprocess.run([*base, f"--screenshot={png}", "--window-size=1200,2400", page], capture_output=True,
                   timeout=120)  # fmt: skip
    w, h, colours = _png_pixels(png)
    assert (w, h) == (1200, 2400) and len(colours) > 500
