"""Savings job: hand-computed fixture, batch discount, sums per day/segment, unknown models, CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from jobs.app import EXIT_BAD_INPUT, app
from jobs.savings import run_savings
from jobs.savings_cmd import app_main  # noqa: F401  (registers the command on the app)

REPO = Path(__file__).resolve().parents[1]

PRICES = {  # USD per 1M tokens; "mid" uses the alternative key names
    "big": {"input_price": 10.0, "output_price": 30.0},
    "small": {"input_price": 1.0, "output_price": 2.0},
    "mid": {"input_per_mtok": 4.0, "output_per_mtok": 8.0},
}

# request_id: (day, segment, served model, prompt_tokens, completion_tokens, routed model, strong_win_prob)
ROWS = {
    "r1": ("2024-05-01", "A", "big", 1000, 500, "small", 0.2),
    "r2": ("2024-05-01", "B", "big", 2000, 100, "big", 0.9),
    "r3": ("2024-05-02", "A", "big", 4000, 1000, "small", 0.3),
    "r4": ("2024-05-02", "B", "mid", 500, 0, "small", 0.1),
    "r5": ("2024-05-02", "A", "big", 100, 100, None, None),  # quarantined by the route job: no label
}

# Worked out by hand from PRICES and ROWS (USD):
#   as served: r1 1000*10+500*30 = 25000e-6; r2 20000+3000 = 23000e-6; r3 40000+30000 = 70000e-6;
#              r4 500*4 = 2000e-6                       -> total 0.120
#   as routed: r1 1000*1+500*2 = 2000e-6; r2 = 23000e-6; r3 4000+2000 = 6000e-6; r4 500*1 = 500e-6
#                                                       -> total 0.0315
#   expected PGR = 0.9 / (0.2 + 0.9 + 0.3 + 0.1) = 0.6; r5 (no label) served for 100*10+100*30 = 0.004
SERVED = {"r1": 0.025, "r2": 0.023, "r3": 0.070, "r4": 0.002}
ROUTED = {"r1": 0.002, "r2": 0.023, "r3": 0.006, "r4": 0.0005}


def write_fixture(root: Path, with_tokens: bool = True, rows: dict = ROWS) -> dict[str, Path]:
    """Logs (one Parquet file), route output (labels/dt=..., manifest.json) and the price file."""
    root.mkdir(parents=True, exist_ok=True)
    ids = list(rows)
    logs = {
        "request_id": ids,
        "prompt": [f"prompt number {i} about topic {rid}" for i, rid in enumerate(ids)],
        "ts": [dt.datetime.fromisoformat(rows[r][0] + "T10:00:00+00:00") for r in ids],
        "model": [rows[r][2] for r in ids],
        "segment": [rows[r][1] for r in ids],
    }
    if with_tokens:
        logs["prompt_tokens"] = pa.array([rows[r][3] for r in ids], pa.int64())
        logs["completion_tokens"] = pa.array([rows[r][4] for r in ids], pa.int32())
    pq.write_table(pa.table(logs), root / "logs.parquet")
    route = root / "route"
    for day in sorted({v[0] for v in rows.values()}):
        part = [r for r in ids if rows[r][0] == day and rows[r][5] is not None]
        d = route / "labels" / f"dt={day}"
        d.mkdir(parents=True)
        lab = pa.table(
            {
                "request_id": part,
                "prompt_hash": [f"h{r}" for r in part],
                "score_sw": pa.array([rows[r][6] for r in part], pa.float32()),
                "strong_win_prob": pa.array([rows[r][6] for r in part], pa.float64()),
                "routed_model": [rows[r][5] for r in part],
            }
        )
        pq.write_table(lab, d / "part-0.parquet")
    manifest = {"router": {"models": ["big", "small"], "strong": "big", "weak": "small"}}
    (route / "manifest.json").write_text(json.dumps(manifest))
    prices = root / "prices.json"
    prices.write_text(json.dumps(PRICES))
    return {"logs": root / "logs.parquet", "labels": route, "prices": prices}


@pytest.fixture
def fx(tmp_path: Path) -> dict[str, Path]:
    return write_fixture(tmp_path / "in")


def _total(out: Path) -> pd.Series:
    t = pd.read_csv(out / "savings.csv")
    return t[t["level"] == "total"].iloc[0]


def test_hand_computed_savings(fx, tmp_path):
    out = tmp_path / "rep"
    summary = run_savings(
        str(fx["logs"]), str(fx["labels"]), str(out), prices=str(fx["prices"]), bootstrap=200
    )
    tot = _total(out)
    assert tot["requests"] == 4 and tot["unlabeled"] == 1 and tot["routed_strong"] == 1
    # abs=1e-15: float rounding of x/1e6 only; the values themselves are the hand-computed ones above.
    assert tot["cost_served"] == pytest.approx(0.120, abs=1e-15)
    assert tot["cost_routed"] == pytest.approx(0.0315, abs=1e-15)
    assert tot["savings"] == pytest.approx(0.0885, abs=1e-15)
    assert tot["savings_pct"] == pytest.approx(0.0885 / 0.120, abs=1e-15)
    assert tot["quality_retained"] == pytest.approx(0.6, abs=1e-15)
    assert tot["cost_unlabeled_served"] == pytest.approx(0.004, abs=1e-15)
    assert tot["cost_all_strong"] == pytest.approx(0.025 + 0.023 + 0.070 + 0.005, abs=1e-15)
    assert tot["cost_all_weak"] == pytest.approx(0.002 + 0.0022 + 0.006 + 0.0005, abs=1e-15)
    assert tot["savings_ci_low"] <= tot["savings"] <= tot["savings_ci_high"]
    assert summary["total"]["savings"] == pytest.approx(0.0885, abs=1e-15)
    assert summary["counts"]["unlabeled"] == 1
    days = pd.read_csv(out / "savings.csv").query("level == 'day'").set_index("day")
    assert days.loc["2024-05-01", "cost_served"] == pytest.approx(0.048, abs=1e-15)
    assert days.loc["2024-05-02", "cost_routed"] == pytest.approx(0.0065, abs=1e-15)
    assert days.loc["2024-05-02", "unlabeled"] == 1
    parquet = pd.read_parquet(out / "savings.parquet")
    pd.testing.assert_frame_equal(parquet, pd.read_csv(out / "savings.csv"), check_dtype=False)
    assert (out / "report.html").stat().st_size > 10_000


def test_batch_discount_halves_routed_side_only(fx, tmp_path):
    out = tmp_path / "rep"
    run_savings(
        str(fx["logs"]),
        str(fx["labels"]),
        str(out),
        prices=str(fx["prices"]),
        batch_discount=True,
        bootstrap=0,
    )
    tot = _total(out)
    assert tot["cost_served"] == pytest.approx(0.120, abs=1e-15)
    assert tot["cost_routed"] == pytest.approx(0.0315 / 2, abs=1e-15)
    assert tot["savings"] == pytest.approx(0.120 - 0.01575, abs=1e-15)
    assert pd.isna(tot["savings_ci_low"])  # --bootstrap 0: no CIs


def test_day_and_segment_breakdowns_sum_to_total(fx, tmp_path):
    out = tmp_path / "rep"
    run_savings(str(fx["logs"]), str(fx["labels"]), str(out), prices=str(fx["prices"]), bootstrap=50)
    t = pd.read_csv(out / "savings.csv")
    assert set(t["level"]) == {"day_segment", "day", "segment", "total"}
    tot = t[t["level"] == "total"].iloc[0]
    additive = [
        "requests",
        "unlabeled",
        "routed_strong",
        "cost_served",
        "cost_routed",
        "savings",
        "cost_all_strong",
        "cost_all_weak",
        "cost_unlabeled_served",
    ]
    for level in ("day_segment", "day", "segment"):
        sums = t[t["level"] == level][additive].sum()
        for col in additive:
            assert sums[col] == pytest.approx(tot[col], rel=1e-12, abs=1e-15), (level, col)
    assert len(t[t["level"] == "day_segment"]) == 4  # 2 days x 2 segments


def test_date_filter(fx, tmp_path):
    out = tmp_path / "rep"
    run_savings(
        str(fx["logs"]), str(fx["labels"]), str(out), prices=str(fx["prices"]), date="2024-05-01", bootstrap=0
    )
    tot = _total(out)
    assert tot["requests"] == 2 and tot["unlabeled"] == 0
    assert tot["cost_served"] == pytest.approx(0.048, abs=1e-15)
    assert tot["cost_routed"] == pytest.approx(0.025, abs=1e-15)


def test_missing_tokens_are_counted_and_estimated(tmp_path):
    from router_core.tokens import count_tokens

    fx = write_fixture(tmp_path / "in", with_tokens=False)
    prices = json.loads(fx["prices"].read_text())
    prices["big"]["completion_tokens"] = 1000  # the other models keep the documented default (350)
    fx["prices"].write_text(json.dumps(prices))
    out = tmp_path / "rep"
    summary = run_savings(str(fx["logs"]), str(fx["labels"]), str(out), prices=str(fx["prices"]), bootstrap=0)
    logs = pq.read_table(fx["logs"]).to_pandas().set_index("request_id")
    pt = dict(zip(logs.index, count_tokens(logs["prompt"].tolist()), strict=True))
    served = {"big": (10, 30, 1000), "mid": (4, 8, 350), "small": (1, 2, 350)}

    def cost(model: str, rid: str) -> float:
        i, o, ct = served[model]
        return (pt[rid] * i + ct * o) / 1e6

    labeled = ["r1", "r2", "r3", "r4"]
    tot = _total(out)
    assert tot["cost_served"] == pytest.approx(sum(cost(ROWS[r][2], r) for r in labeled), rel=1e-12)
    assert tot["cost_routed"] == pytest.approx(sum(cost(ROWS[r][5], r) for r in labeled), rel=1e-12)
    assert summary["counts"]["prompt_tokens_counted"] == 5
    assert summary["counts"]["completion_tokens_estimated"] == 5


def test_negative_token_counts_are_counted_and_estimated_as_missing_ones(tmp_path):
    """A negative count in the log (a logger's -1 for "unknown") is no count, as in the route job: the
    prompt's tokens are counted and the answer's assumed, never priced as a negative cost."""
    from router_core.tokens import count_tokens

    rows = dict(ROWS, r1=("2024-05-01", "A", "big", -1, 500, "small", 0.2))
    rows["r3"] = ("2024-05-02", "A", "big", 4000, -1, "small", 0.3)
    fx = write_fixture(tmp_path / "in", rows=rows)
    summary = run_savings(str(fx["logs"]), str(fx["labels"]), str(tmp_path / "rep"), prices=str(fx["prices"]),
                          bootstrap=0)  # fmt: skip
    assert summary["counts"]["prompt_tokens_counted"] == 1
    assert summary["counts"]["completion_tokens_estimated"] == 1
    pt_r1 = count_tokens([pq.read_table(fx["logs"]).to_pandas().set_index("request_id").loc["r1", "prompt"]])[
        0
    ]
    r1_served, r3_served = (pt_r1 * 10 + 500 * 30) / 1e6, (4000 * 10 + 350 * 30) / 1e6
    expected = r1_served + SERVED["r2"] + r3_served + SERVED["r4"]
    assert _total(tmp_path / "rep")["cost_served"] == pytest.approx(expected, rel=1e-12)


def test_n_model_router_quality(tmp_path):
    fx = write_fixture(tmp_path / "in")
    labels = fx["labels"] / "labels"
    q = {  # predicted quality per model; strong = big, weak = small (manifest)
        "r1": {"big": 0.9, "mid": 0.8, "small": 0.5},
        "r2": {"big": 0.7, "mid": 0.6, "small": 0.6},
        "r3": {"big": 0.8, "mid": 0.8, "small": 0.2},
        "r4": {"big": 0.5, "mid": 0.4, "small": 0.3},
    }
    routed = {"r1": "mid", "r2": "small", "r3": "mid", "r4": "big"}
    for part in labels.iterdir():
        t = pq.read_table(part / "part-0.parquet")
        ids = t.column("request_id").to_pylist()
        t = t.drop_columns(["strong_win_prob", "routed_model"])
        t = t.append_column("routed_model", pa.array([routed[r] for r in ids]))
        t = t.append_column(
            "predicted_quality", pa.array([q[r] for r in ids], pa.map_(pa.string(), pa.float64()))
        )
        pq.write_table(t, part / "part-0.parquet")
    out = tmp_path / "rep"
    run_savings(str(fx["logs"]), str(fx["labels"]), str(out), prices=str(fx["prices"]), bootstrap=0)
    tot = _total(out)
    # sum(q[routed] - q[small]) / sum(q[big] - q[small]) = (0.3 + 0 + 0.6 + 0.2) / (0.4 + 0.1 + 0.6 + 0.2)
    assert tot["quality_retained"] == pytest.approx(1.1 / 1.3, abs=1e-12)
    # routed: r1 mid 1000*4+500*8; r2 small 2000+200; r3 mid 16000+8000; r4 big 500*10
    assert tot["cost_routed"] == pytest.approx((8000 + 2200 + 24000 + 5000) / 1e6, abs=1e-15)


def test_unknown_model_exits_2_listing_all(fx, tmp_path):
    prices = json.loads(fx["prices"].read_text())
    del prices["mid"], prices["small"]
    fx["prices"].write_text(json.dumps(prices))
    res = CliRunner().invoke(
        app,
        ["savings", "--logs", str(fx["logs"]), "--labels", str(fx["labels"]), "--out", str(tmp_path / "r"),
         "--prices", str(fx["prices"])],
    )  # fmt: skip
    assert res.exit_code == EXIT_BAD_INPUT
    # "mid" only serves requests, "small" is only routed to: one message names both.
    assert "no price for 2 model(s): mid, small" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "r").exists()  # fails before writing anything


@pytest.mark.parametrize(
    "args, message",
    [
        (["--logs", "/nonexistent.parquet"], "logs path not found"),
        (["--date", "May 1"], "--date must be YYYY-MM-DD"),
        (["--prices", "/nonexistent.json"], "price file not found"),
        (["--bootstrap", "-1"], "--bootstrap must be >= 0"),
        (["--out", __file__], "--out must be a directory"),
        (["--labels", "/nonexistent"], "labels path not found"),
        (["--date", "2024-05-03"], "no rows dated 2024-05-03 in "),
        (["--date", "2024-05-03"], "its 5 rows are dated 2024-05-01 to 2024-05-02"),
    ],
)
def test_bad_input_one_line_errors(fx, tmp_path, args, message):
    base = {"--logs": str(fx["logs"]), "--labels": str(fx["labels"]), "--out": str(tmp_path / "r")}
    base["--prices"] = str(fx["prices"])
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    res = CliRunner().invoke(app, ["savings"] + [x for kv in base.items() for x in kv])
    assert res.exit_code == EXIT_BAD_INPUT
    assert message in " ".join(res.output.split()) and "Traceback" not in res.output


def test_a_router_directory_given_as_labels_says_what_labels_takes(fx, tmp_path):
    router = tmp_path / "router"
    router.mkdir()
    manifest = {"format_version": 1, "embedder_id": "e", "scorers": []}
    (router / "manifest.json").write_text(json.dumps(manifest))
    res = CliRunner().invoke(
        app, ["savings", "--logs", str(fx["logs"]), "--labels", str(router), "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == EXIT_BAD_INPUT and "Traceback" not in res.output
    flowing = " ".join(res.output.split())
    assert f"{router} is not a route run's output" in flowing
    assert "--labels takes the --out of `batch-router route`" in flowing and "0 log rows" not in flowing


def test_python_dash_m_entry_point(fx, tmp_path):
    out = tmp_path / "rep"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.savings",
            "--logs",
            str(fx["logs"]),
            "--labels",
            str(fx["labels"]),
            "--out",
            str(out),
            "--prices",
            str(fx["prices"]),
            "--bootstrap",
            "20",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[savings]" in proc.stdout
    assert _total(out)["savings"] == pytest.approx(0.0885, abs=1e-15)


def test_help_explains_every_option():
    res = CliRunner().invoke(app, ["savings", "--help"])
    assert res.exit_code == 0
    for opt in (
        "--logs",
        "--labels",
        "--out",
        "--prices",
        "--batch-discount",
        "--date",
        "--bootstrap",
        "--seed",
        "--served-model",
        "--config",
        "--audit",
        "--audit-sampling",
    ):
        assert opt in res.output


def test_hive_messages_logs_without_model_or_tokens(tmp_path):
    """Chat logs in a dt= partitioned dir, no model/token columns: --served-model + the tokenizer."""
    from router_core.tokens import count_tokens

    fx = write_fixture(tmp_path / "in")
    chats = {
        "r1": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
        "r2": [{"role": "user", "content": "Write a haiku about the sea."}],
        "r3": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "Summarise the French revolution."},
        ],
        "r4": [{"role": "user", "content": "Translate 'cat' to German."}],
    }
    msg_t = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    logs = pa.table(
        {
            "request_id": list(chats),
            "messages": pa.array(list(chats.values()), msg_t),
            "segment": ["A", "B", "A", "B"],
            "dt": [ROWS[r][0] for r in chats],
        }
    )
    pq.write_to_dataset(logs, tmp_path / "hive", partition_cols=["dt"])
    out = tmp_path / "rep"
    args = ["savings", "--logs", str(tmp_path / "hive"), "--labels", str(fx["labels"] / "labels"),
            "--out", str(out), "--prices", str(fx["prices"]), "--bootstrap", "0"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == EXIT_BAD_INPUT and "--served-model" in res.output
    res = CliRunner().invoke(app, [*args, "--served-model", "big"])
    assert res.exit_code == 0, res.output
    # The whole transcript is billed as input ("role: content" lines); completions default to 350 tokens.
    transcripts = ["\n".join(f"{m['role']}: {m['content']}" for m in c) for c in chats.values()]
    pt = count_tokens(transcripts)
    tot = _total(out)
    assert tot["requests"] == 4 and tot["unlabeled"] == 0
    assert tot["cost_served"] == pytest.approx(sum((p * 10 + 350 * 30) / 1e6 for p in pt), rel=1e-12)
    routed = {"big": (10, 30), "small": (1, 2)}
    expect = sum(
        (p * routed[ROWS[r][5]][0] + 350 * routed[ROWS[r][5]][1]) / 1e6
        for r, p in zip(chats, pt, strict=True)
    )
    assert tot["cost_routed"] == pytest.approx(expect, rel=1e-12)


def test_labels_without_probabilities_have_no_quality(fx, tmp_path):
    for part in (fx["labels"] / "labels").iterdir():
        t = pq.read_table(part / "part-0.parquet").drop_columns(["strong_win_prob"])
        pq.write_table(t, part / "part-0.parquet")
    out = tmp_path / "rep"
    summary = run_savings(
        str(fx["logs"]), str(fx["labels"]), str(out), prices=str(fx["prices"]), bootstrap=10
    )
    tot = _total(out)
    assert pd.isna(tot["quality_retained"]) and tot["savings"] == pytest.approx(0.0885, abs=1e-15)
    assert summary["router"]["mode"] == "none"
    assert "no router probabilities" in (out / "report.html").read_text()
