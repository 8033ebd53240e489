"""Savings audit: measured quality on audit labels (hand-computed), CI coverage, calibration, N models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_savings import ROWS, write_fixture
from typer.testing import CliRunner

from jobs.app import EXIT_BAD_INPUT, app
from jobs.report_audit import _calibration
from jobs.savings import run_savings
from jobs.savings_cmd import app_main  # noqa: F401  (registers the command on the app)
from router_core.audit import MIN_GROUP_N, AuditSample, audit_summary, pair_figures
from router_core.calibration import calibration_report, fit_calibrator, reliability_bins

IDS = list(ROWS)
# The fixture's log prompts (tests/test_savings.py write_fixture): r1..r4 are routed, r5 is not.
PROMPTS = {rid: f"prompt number {i} about topic {rid}" for i, rid in enumerate(IDS)}


def _run(fx: dict[str, Path], out: Path, audit: list[Path], **kw) -> dict:
    return run_savings(
        str(fx["logs"]),
        str(fx["labels"]),
        str(out),
        prices=str(fx["prices"]),
        audit=[str(a) for a in audit],
        **kw,
    )


@pytest.fixture
def fx(tmp_path: Path) -> dict[str, Path]:
    return write_fixture(tmp_path / "in")


def test_hand_computed_correctness_audit(fx, tmp_path):
    # Routed (fixture): r1 small, r2 big, r3 small, r4 small. Correctness, joined by prompt text (a pandas
    # default index column comes along and is ignored).
    audit = pd.DataFrame(
        {
            "prompt": [PROMPTS[r] for r in ("r1", "r2", "r3", "r4")],
            "big": [True, True, True, False],
            "small": [True, False, False, False],
        }
    )
    path = tmp_path / "audit.csv"
    audit.to_csv(path)
    s = _run(fx, tmp_path / "rep", [path], bootstrap=200)
    a = s["audit"]
    # as routed: r1 small 1, r2 big 1, r3 small 0, r4 small 0 -> 2/4; all-big 3/4; all-small 1/4;
    # PGR = (0.5 - 0.25) / (0.75 - 0.25) = 0.5
    assert a["n"] == 4
    assert a["quality_routed"] == pytest.approx(0.5, abs=1e-12)
    assert a["quality_all_strong"] == pytest.approx(0.75, abs=1e-12)
    assert a["quality_all_weak"] == pytest.approx(0.25, abs=1e-12)
    assert a["pgr"] == pytest.approx(0.5, abs=1e-12)
    lo, hi = a["pgr_ci"]
    assert lo <= 0.5 <= hi
    assert set(a) == {"n", "pgr", "pgr_ci", "quality_routed", "quality_all_strong", "quality_all_weak",
                      "by_day", "by_segment"}  # fmt: skip
    # Two audited requests per day and per segment: too few for their own figures, and it says so.
    assert a["by_day"] == {
        "2024-05-01": {"n": 2, "reason": f"fewer than {MIN_GROUP_N} audited requests"},
        "2024-05-02": {"n": 2, "reason": f"fewer than {MIN_GROUP_N} audited requests"},
    }
    assert set(a["by_segment"]) == {"A", "B"}
    d = s["audit_details"]
    assert d["matched"]["by_prompt_text"] == 4 and d["matched"]["by_request_id"] == 0
    assert d["sampling"] == {"strategy": "unknown", "counts": {"unknown": 4}, "random": False}
    assert d["per_model"]["big"]["routed_minus_model"] == pytest.approx(-0.25, abs=1e-12)
    assert d["per_model"]["small"]["routed_minus_model"] == pytest.approx(0.25, abs=1e-12)
    # summary.json holds the same audit object
    on_disk = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert on_disk["audit"] == a
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Audit sample not known to be random" in html and 'data-warning="uncalibrated"' not in html


def test_battles_audit_joined_by_request_id_with_random_strategy(fx, tmp_path):
    # Prompt text differs from the log's: the request_id column is what joins them.
    battles = pd.DataFrame(
        {
            "request_id": ["r1", "r2", "r3", "r4"],
            "prompt": [f"audited copy of {r}" for r in ("r1", "r2", "r3", "r4")],
            "model_a": ["big", "big", "small", "big"],
            "model_b": ["small", "small", "big", "small"],
            "winner": ["tie", "model_a", "model_a", "model_a"],
            "sample_strategy": ["random"] * 4,
            # the rest of what `label ingest` writes: ignored by the audit
            "judge_model": ["gpt-4o"] * 4,
            "both_order_agreement": [True, True, False, True],
            "custom_id": [f"c{i}" for i in range(4)],
        }
    )
    path = tmp_path / "battles.jsonl"
    battles.to_json(path, orient="records", lines=True)
    s = _run(fx, tmp_path / "rep", [path], bootstrap=100)
    a, d = s["audit"], s["audit_details"]
    # q_big per request: r1 tie 0.5, r2 1, r3 0 (small won), r4 1; q_small = 1 - q_big.
    # routed: r1 small 0.5, r2 big 1, r3 small 1, r4 small 0 -> 2.5/4
    assert a["n"] == 4 and d["matched"]["by_request_id"] == 4
    assert a["quality_routed"] == pytest.approx(0.625, abs=1e-12)
    assert a["quality_all_strong"] == pytest.approx(0.625, abs=1e-12)
    assert a["quality_all_weak"] == pytest.approx(0.375, abs=1e-12)
    assert a["pgr"] == pytest.approx((0.625 - 0.375) / (0.625 - 0.375), abs=1e-12)
    assert d["label_kind"] == "battles"
    assert d["routed_win_rate"] == pytest.approx(0.625, abs=1e-12)
    assert d["sampling"]["random"] is True
    assert 'data-audit-sampling="random"' in (tmp_path / "rep" / "report.html").read_text()


def test_n_model_audit_vs_each_single_model(tmp_path):
    fx = write_fixture(tmp_path / "in")
    routed = {"r1": "mid", "r2": "small", "r3": "mid", "r4": "big"}
    for part in (fx["labels"] / "labels").iterdir():
        t = pq.read_table(part / "part-0.parquet")
        ids = t.column("request_id").to_pylist()
        t = t.drop_columns(["strong_win_prob", "routed_model"])
        t = t.append_column("routed_model", pa.array([routed[r] for r in ids]))
        pqv = [{"big": 0.8, "mid": 0.6, "small": 0.4}] * len(ids)
        t = t.append_column("predicted_quality", pa.array(pqv, pa.map_(pa.string(), pa.float64())))
        pq.write_table(t, part / "part-0.parquet")
    # Struct column of scores, the LLMRouter layout.
    scores = {
        "r1": {"big": 1.0, "mid": 1.0, "small": 0.0},
        "r2": {"big": 1.0, "mid": 0.0, "small": 1.0},
        "r3": {"big": 1.0, "mid": 0.0, "small": 0.0},
        "r4": {"big": 0.0, "mid": 1.0, "small": 0.0},
    }
    path = tmp_path / "audit.parquet"
    pd.DataFrame({"question": [PROMPTS[r] for r in scores], "scores": list(scores.values())}).to_parquet(path)
    s = _run(fx, tmp_path / "rep", [path], bootstrap=50, audit_sampling="random")
    a, d = s["audit"], s["audit_details"]
    # routed: r1 mid 1, r2 small 1, r3 mid 0, r4 big 0 -> 0.5; big 0.75, mid 0.5, small 0.25
    assert s["router"]["mode"] == "multi"
    assert a["quality_routed"] == pytest.approx(0.5, abs=1e-12)
    assert a["pgr"] == pytest.approx((0.5 - 0.25) / (0.75 - 0.25), abs=1e-12)
    per = d["per_model"]
    assert {m: per[m]["quality"] for m in per} == pytest.approx({"big": 0.75, "mid": 0.5, "small": 0.25})
    assert {m: per[m]["routed_minus_model"] for m in per} == pytest.approx(
        {"big": -0.25, "mid": 0.0, "small": 0.25}
    )
    assert {m: per[m]["routed_to"] for m in per} == {"big": 1, "mid": 2, "small": 1}
    assert d["calibration"] is None  # strong_win_prob exists for pair routers only
    assert d["sampling"]["random"] is True  # --audit-sampling random for a file without the column
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Routed choice vs each single model" in html and "<td>mid</td>" in html
    battles = tmp_path / "battles.parquet"
    pd.DataFrame({"prompt": [PROMPTS["r1"]], "model_a": ["big"], "model_b": ["small"], "winner": ["model_a"]}
                 ).to_parquet(battles)  # fmt: skip
    args = ["savings", "--logs", str(fx["logs"]), "--labels", str(fx["labels"]), "--out",
            str(tmp_path / "r2"), "--prices", str(fx["prices"]), "--audit", str(battles)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == EXIT_BAD_INPUT and "an N-model audit needs per-model scores" in res.output


def test_per_day_and_segment_where_n_allows():
    n_a, n_b = 40, 10
    rng = np.random.default_rng(0)
    n = n_a + n_b
    q = rng.integers(0, 2, size=(n, 2)).astype(float)
    routed = rng.integers(0, 2, n)
    day = np.array(["d1"] * n_a + ["d2"] * n_b, dtype=object)
    seg = np.array(["s"] * n, dtype=object)
    sample = AuditSample(["big", "small"], q, routed, 0, 1, day, seg, np.array(["random"] * n, dtype=object),
                         np.arange(n), "scores", {})  # fmt: skip
    a = audit_summary(sample, n_boot=100, seed=0)
    rq = q[np.arange(n), routed]
    sel = slice(0, n_a)
    expect = (rq[sel].mean() - q[sel, 1].mean()) / (q[sel, 0].mean() - q[sel, 1].mean())
    assert a["by_day"]["d1"]["n"] == n_a and a["by_day"]["d1"]["pgr"] == pytest.approx(expect, abs=1e-12)
    assert a["by_day"]["d2"] == {"n": n_b, "reason": f"fewer than {MIN_GROUP_N} audited requests"}
    assert a["by_segment"]["s"]["pgr"] == pytest.approx(a["pgr"], abs=1e-12)


def test_ci_coverage_on_repeated_random_audits():
    """95% CIs of measured PGR and quality as routed cover the population value at about 95%."""
    rng = np.random.default_rng(1)
    big_n, n, reps = 20_000, 300, 300
    p = rng.beta(2, 2, big_n)
    q_s = (rng.random(big_n) < 0.55 + 0.35 * p).astype(float)
    q_w = (rng.random(big_n) < 0.75 - 0.35 * p).astype(float)
    to_strong = p >= np.quantile(p, 0.6)
    rq = np.where(to_strong, q_s, q_w)
    true_pgr = (rq.mean() - q_w.mean()) / (q_s.mean() - q_w.mean())
    hits = {"pgr": 0, "quality_routed": 0}
    for _ in range(reps):
        i = rng.choice(big_n, n, replace=False)
        f = pair_figures(rq[i], q_s[i], q_w[i], 400, rng)
        hits["pgr"] += f["pgr_ci"][0] <= true_pgr <= f["pgr_ci"][1]
        hits["quality_routed"] += f["quality_routed_ci"][0] <= rq.mean() <= f["quality_routed_ci"][1]
    rates = {k: v / reps for k, v in hits.items()}
    # binomial sd of a 95% rate over 300 reps is 1.3 points: 90..99% is about +-4 sd
    for k, r in rates.items():
        assert 0.90 <= r <= 0.99, (k, rates)


def test_calibration_recovers_compressed_probabilities():
    """A router whose probabilities are squeezed towards 0.5: isotonic recalibration on a random audit
    brings the unaudited requests' expected PGR close to their true value; the raw formula is far off."""
    rng = np.random.default_rng(3)
    big_n, n_audit = 6_000, 800
    latent = rng.beta(3.0, 1.5, big_n)  # true P(strong beats weak): strong better on average
    p = 0.5 + 0.15 * (latent - 0.5)  # compressed around the mean, same order
    gain = np.where(rng.random(big_n) < latent, 1.0, -1.0)  # q_s - q_w in {-1, 1}
    t = (1 + gain) / 2
    to_strong = p >= np.quantile(p, 0.5)
    audit = rng.choice(big_n, n_audit, replace=False)
    rest = np.setdiff1d(np.arange(big_n), audit)
    rep = calibration_report(p[audit], t[audit], p[rest], to_strong[rest], n_boot=50, seed=0)
    g = 2 * latent[rest] - 1  # expected gain given the true probability
    truth = g[to_strong[rest]].sum() / g.sum()
    assert rep["method"] == "isotonic"
    assert abs(rep["pgr_unaudited"] - truth) < 0.1, (rep["pgr_unaudited"], truth)
    assert abs(rep["uncalibrated_pgr_unaudited"] - truth) > 3 * abs(rep["pgr_unaudited"] - truth)
    lo, hi = rep["pgr_unaudited_ci"]
    assert lo <= truth <= hi
    bins = rep["bins"]
    assert len(bins) == 10 and sum(b["n"] for b in bins) == n_audit
    # the observed outcome spreads far wider than the squeezed probabilities
    assert bins[-1]["observed"] - bins[0]["observed"] > 3 * (bins[-1]["p_mean"] - bins[0]["p_mean"])
    assert rep["brier_calibrated_in_sample"] < rep["brier_raw"]


def test_an_undefined_recalibrated_pgr_has_no_interval():
    """An audit on which the strong model wins exactly half the time recalibrates every request to 0.5:
    no expected gap between the models, so no PGR, and no interval that would read as one."""
    p, t = np.full(200, 0.6), np.r_[np.ones(100), np.zeros(100)]
    rep = calibration_report(p, t, np.array([0.3, 0.7]), np.array([False, True]), n_boot=20)
    assert rep["method"] == "isotonic" and rep["pgr_unaudited"] is None
    assert rep["pgr_unaudited_ci"] is None and rep["uncalibrated_pgr_unaudited"] == 0.7
    text = " ".join(_calibration(rep, {"strong": "s", "weak": "w"}))
    assert "unaudited routed requests: <span" in text and ">undefined</span> (recalibrated" in text
    assert "95% CI" not in text and "uncalibrated on the same requests: 70.0%" in text


def test_small_audit_uses_platt_and_bins_hand_computed():
    p = np.array([0.2, 0.4, 0.6, 0.8] * 10)
    t = np.array([0.0, 0.0, 1.0, 1.0] * 10)
    method, cal = fit_calibrator(p, t)
    assert method == "platt"
    c = cal(np.array([0.2, 0.8]))
    assert c[0] < 0.2 and c[1] > 0.8  # sharper than given: the outcome is deterministic in p
    bins = reliability_bins(p, t, n_bins=4)
    assert [b["p_mean"] for b in bins] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert [b["observed"] for b in bins] == [0.0, 0.0, 1.0, 1.0] and [b["n"] for b in bins] == [10] * 4


def test_without_audit_the_estimate_is_flagged(fx, tmp_path):
    s = run_savings(str(fx["logs"]), str(fx["labels"]), str(tmp_path / "rep"), prices=str(fx["prices"]),
                    bootstrap=0)  # fmt: skip
    assert s["audit"] is None
    assert "label sample --strategy random" in s["audit_details"]["warning"]
    html = (tmp_path / "rep" / "report.html").read_text()
    assert 'data-warning="uncalibrated"' in html and "Quality retained (uncalibrated)" in html
    assert "--audit correctness.parquet" in html  # how to audit with a file that exists today


def _cli(fx, tmp_path, *extra: str):
    args = ["savings", "--logs", str(fx["logs"]), "--labels", str(fx["labels"]), "--out", str(tmp_path / "r"),
            "--prices", str(fx["prices"]), "--bootstrap", "0", *extra]  # fmt: skip
    return CliRunner().invoke(app, args)


@pytest.mark.parametrize(
    "frame, extra, message",
    [
        (None, ["--audit", "/nonexistent.parquet"], "audit file not found"),
        ({"prompt": ["unrelated"], "big": [1], "small": [0]}, [], "no audit label matches a routed request"),
        ({"prompt": [PROMPTS["r1"]], "big": [1], "other": [0]}, [], "audit labels have no 'small'"),
        ({"prompt": [PROMPTS["r1"]], "big": [1], "small": [0], "sample_strategy": ["handpicked"]}, [],
         "sample_strategy 'handpicked' is not one of"),
        ({"prompt": [PROMPTS["r1"]], "big": [1], "small": [0]}, ["--audit-sampling", "sometimes"],
         "--audit-sampling must be one of"),
    ],
)  # fmt: skip
def test_bad_audit_input_one_line_errors(fx, tmp_path, frame, extra, message):
    if frame is not None:
        path = tmp_path / "audit.parquet"
        pd.DataFrame(frame).to_parquet(path)
        extra = ["--audit", str(path), *extra]
    res = _cli(fx, tmp_path, *extra)
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert message in res.output and "Traceback" not in res.output


def test_cli_audit_repeatable(fx, tmp_path):
    first = tmp_path / "a1.parquet"
    second = tmp_path / "a2.parquet"
    pd.DataFrame({"prompt": [PROMPTS["r1"], PROMPTS["r2"]], "big": [1, 1], "small": [1, 0]}).to_parquet(first)
    pd.DataFrame({"prompt": [PROMPTS["r3"]], "big": [1], "small": [0]}).to_parquet(second)
    res = _cli(fx, tmp_path, "--audit", str(first), "--audit", str(second))
    assert res.exit_code == 0, res.output
    a = json.loads((tmp_path / "r" / "summary.json").read_text())["audit"]
    # r1 small 1, r2 big 1, r3 small 0 -> 2/3; big 1; small 1/3 -> PGR (2/3 - 1/3) / (1 - 1/3) = 0.5
    assert a["n"] == 3 and a["pgr"] == pytest.approx(0.5, abs=1e-12)
    assert a["pgr_ci"] is None  # --bootstrap 0


def test_chat_logs_join_by_the_routed_text(tmp_path):
    """Chat logs: the audit's prompt is the routed text (user turns, the default messages policy)."""
    fx = write_fixture(tmp_path / "in")
    chats = {
        "r1": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is  2+2?"}],
        "r2": [{"role": "user", "content": "Write a haiku."}, {"role": "assistant", "content": "..."},
               {"role": "user", "content": "Shorter."}],
        "r3": [{"role": "user", "content": "Name a prime."}],
        "r4": [{"role": "user", "content": "Say hi."}],
    }  # fmt: skip
    msg_t = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    logs = pa.table({"request_id": list(chats), "messages": pa.array(list(chats.values()), msg_t),
                     "model": ["big"] * 4, "segment": ["A"] * 4,
                     "dt": [ROWS[r][0] for r in chats]})  # fmt: skip
    pq.write_to_dataset(logs, tmp_path / "hive", partition_cols=["dt"])
    audit = tmp_path / "audit.parquet"
    pd.DataFrame(
        {"prompt": ["What is 2+2?", "Write a haiku.\nShorter."], "big": [1, 1], "small": [1, 0]}
    ).to_parquet(audit)
    s = run_savings(str(tmp_path / "hive"), str(fx["labels"]), str(tmp_path / "rep"),
                    prices=str(fx["prices"]), bootstrap=0, audit=[str(audit)])  # fmt: skip
    a = s["audit"]
    # r1 routed small (1), r2 routed big (1): as routed 1, all-big 1, all-small 1/2 -> PGR 1
    assert a["n"] == 2 and s["audit_details"]["matched"]["by_prompt_text"] == 2
    assert a["quality_routed"] == 1.0 and a["quality_all_weak"] == 0.5 and a["pgr"] == pytest.approx(1.0)


def test_a_labelled_request_does_not_label_other_copies_of_its_text(fx, tmp_path):
    logs = pq.read_table(fx["logs"]).to_pandas()
    logs.loc[logs["request_id"] == "r2", "prompt"] = PROMPTS["r1"]  # r2 asks what r1 asked
    logs.to_parquet(fx["logs"])
    row = {"prompt": [PROMPTS["r1"]], "big": [1], "small": [0]}
    with_id, without_id = tmp_path / "with_id.parquet", tmp_path / "without_id.parquet"
    pd.DataFrame({**row, "request_id": ["r1"], "sample_strategy": ["random"]}).to_parquet(with_id)
    pd.DataFrame(row).to_parquet(without_id)
    s = _run(fx, tmp_path / "a", [with_id], bootstrap=0)
    assert s["audit"]["n"] == 1 and s["audit_details"]["matched"]["by_prompt_text"] == 0
    s = _run(fx, tmp_path / "b", [without_id], bootstrap=0)  # no request_id: every copy of the text
    assert s["audit"]["n"] == 2 and s["audit_details"]["matched"]["by_prompt_text"] == 2
