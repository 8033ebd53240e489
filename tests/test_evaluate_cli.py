"""``batch-router evaluate`` end to end on small generated data (pair and N-model routers), bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jobs.cli import app
from router_core.training import train_router
from router_core.training_data import load_training_data

runner = CliRunner()
TOPICS = ["integral of a polynomial", "capital of a country", "rhyming poem about", "python list sorting"]


def _wide(path, n: int, seed: int) -> str:
    """Correctness of three models: 'big' is right on everything but poems 10% of the time; 'mid' fails
    calculus; 'small' fails calculus and code."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 4, n)
    prompts = [f"{TOPICS[k]} number {seed}-{i} {rng.integers(1000)}" for i, k in enumerate(t)]
    noise = rng.random((n, 3)) < 0.1
    big = np.ones(n, bool)
    mid = t != 0
    small = (t != 0) & (t != 3)
    df = pd.DataFrame(
        {"prompt": prompts, "big": big ^ noise[:, 0], "mid": mid ^ noise[:, 1], "small": small ^ noise[:, 2]}
    )
    df.to_parquet(path)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory, embedder):
    d = tmp_path_factory.mktemp("evaldata")
    train = _wide(d / "train.parquet", 240, 0)
    test = _wide(d / "test.parquet", 120, 1)
    data = load_training_data([train])
    emb = embedder.encode(data.prompts)
    quiet = {"log": lambda s: None, "scorers": ("sw", "knn")}
    pair = train_router(data, emb, embedder.id, strong="big", weak="small", **quiet)
    pair.manifest["train_command"] = f"batch-router train --data {train} --strong big --weak small"
    pair.save(str(d / "pair_router"))
    multi = train_router(data, emb, embedder.id, **quiet)
    multi.save(str(d / "multi_router"))
    prices = d / "prices.json"
    prices.write_text(
        json.dumps(
            {
                m: {"input_price": p, "output_price": p}
                for m, p in [("big", 1.0), ("mid", 0.4), ("small", 0.1)]
            }
        )
    )
    return {"dir": d, "train": train, "test": test, "prices": str(prices)}


def _evaluate(files, router: str, out, *extra: str, data=None):
    data = str(data or files["test"])
    cmd = ["evaluate", "--router", str(files["dir"] / router), "--data", data, "--out", str(out)]
    return runner.invoke(app, [*cmd, *extra])


def test_pair_router(files, tmp_path):
    out = tmp_path / "pair"
    # No --baseline-train: the baseline learns from the data files of the router's train command.
    res = _evaluate(files, "pair_router", out, "--bootstrap", "50")
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["mode"] == "pair" and m["strong"] == "big" and m["n_prompts"] == 120
    assert {"sw", "knn", "ensemble", "tfidf_baseline"} <= set(m["routers"])
    for r in m["routers"].values():
        lo, hi = r["apgr"]["ci95"]
        assert lo <= r["apgr"]["value"] <= hi
    # The topic signal is easy: the router must beat random routing clearly.
    assert m["routers"]["ensemble"]["apgr"]["value"] > 0.6
    assert m["baseline"]["trained"] and m["baseline"]["train_prompts"] == 240
    assert (out / "pair_quality_vs_strong_share.png").is_file()
    assert m["baseline"]["files"] == [files["train"]]
    assert (out / m["plot"]).stat().st_size > 0
    rows = {ln.split()[0]: ln.split() for ln in res.output.splitlines() if ln.strip()}
    assert rows["router"][:2] == ["router", "APGR"]
    for name in ("ensemble", "sw", "knn", "tfidf_baseline", "oracle", "random"):  # the printed table
        assert name in rows
    assert float(rows["ensemble"][1]) == pytest.approx(m["routers"]["ensemble"]["apgr"]["value"], abs=5e-4)


def test_chat_prompts_with_prompt_column(files, tmp_path):
    """Evaluation data whose prompt cells are chats: the router's recorded messages policy (all user turns
    by default) drops the system and assistant turns, so the same figures as the plain-text file."""
    df = pd.read_parquet(files["test"])
    system, reply = {"role": "system", "content": "be brief"}, {"role": "assistant", "content": "sure"}
    df["chat"] = [[system, {"role": "user", "content": p}, reply] for p in df["prompt"]]
    chat_file = tmp_path / "chat.parquet"
    df.drop(columns="prompt").to_parquet(chat_file)
    common = ("--router", str(files["dir"] / "pair_router"), "--no-baseline", "--bootstrap", "0")
    plain = runner.invoke(app, ["evaluate", *common, "--data", files["test"], "--out", str(tmp_path / "a")])
    chat = runner.invoke(
        app,
        ["evaluate", *common, "--data", str(chat_file), "--prompt-column", "chat", "--out", f"{tmp_path}/b"],
    )
    assert plain.exit_code == 0 and chat.exit_code == 0, chat.output
    ma, mb = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in "ab")
    assert mb["n_prompts"] == 120
    assert mb["routers"]["ensemble"]["apgr"] == ma["routers"]["ensemble"]["apgr"]


def test_mt_bench_style_turns_found_without_options(files, tmp_path):
    """A `turns` column is found without --prompt-column, the numeric `question_id` is not taken for a
    model, and --messages-policy overrides the router's recorded policy."""
    df = pd.read_parquet(files["test"])
    df.insert(0, "question_id", np.arange(len(df)) + 81)
    df["turns"] = [[p, "Now make it shorter."] for p in df.pop("prompt")]
    mtb = tmp_path / "mtb.parquet"
    df.to_parquet(mtb)
    common = ("--router", str(files["dir"] / "pair_router"), "--no-baseline", "--bootstrap", "0")
    with pytest.warns(UserWarning, match=r"ignored column\(s\) \['question_id'\]"):
        res = runner.invoke(app, ["evaluate", *common, "--data", str(mtb), "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["n_prompts"] == 120
    # Every conversation ends in the same follow-up: one prompt is left, too few to evaluate; both said.
    with pytest.warns(UserWarning, match="120 distinct conversations reduce to 1 distinct prompts"):
        last = runner.invoke(
            app,
            [
                "evaluate",
                *common,
                "--data",
                str(mtb),
                "--messages-policy",
                "last_user",
                "--out",
                f"{tmp_path}/b",
            ],
        )
    assert last.exit_code == 2 and "only 1 evaluation prompt(s) with outcomes" in last.output


def test_multi_router_with_pair_and_holdout(files, tmp_path):
    out = tmp_path / "multi"
    res = _evaluate(
        files, "multi_router", out, "--baseline-train", files["train"], "--prices", files["prices"],
        "--bootstrap", "20", "--strong", "big", "--weak", "mid", "--holdout", "0.5", "--holdout-salt", "x",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["mode"] == "multi" and 20 < m["n_prompts"] < 100  # only the held-out half
    assert set(m["single_models"]) == {"big", "mid", "small"}
    ens = m["routers"]["ensemble"]
    assert ens["aiq"]["value"] >= m["zero_router"]["aiq"] - 0.02
    assert "tfidf_baseline" in m["routers"] and m["pair"]["weak"] == "mid"
    assert "input price + output price" in res.output


def test_an_n_model_routers_pair_of_unknown_models_fails_before_evaluating(files, tmp_path):
    out = tmp_path / "multi"
    res = _evaluate(
        files, "multi_router", out, "--prices", files["prices"], "--strong", "bigg", "--weak", "mid"
    )
    assert res.exit_code == 2, res.output
    assert "--strong/--weak: model 'bigg' is not one of the router's models" in res.output
    assert "N-model evaluation" not in res.output and not out.exists()


def test_prompts_seen_in_training_are_counted_and_can_be_left_out(files, tmp_path):
    mixed = tmp_path / "mixed.parquet"
    test = pd.read_parquet(files["test"])
    pd.concat([pd.read_parquet(files["train"]).head(30), test]).to_parquet(mixed)
    common = ["--data", str(mixed), "--no-baseline", "--prices", files["prices"], "--bootstrap", "0"]
    common += ["--router", str(files["dir"] / "multi_router")]
    res = runner.invoke(app, ["evaluate", *common, "--out", str(tmp_path / "all")])
    assert res.exit_code == 0, res.output
    assert "30 of 150 evaluation prompts are in the router's training data" in res.output
    m = json.loads((tmp_path / "all" / "metrics.json").read_text())
    assert m["n_prompts"] == 150 and m["known_prompts"] == {"in_evaluation_data": 30, "left_out": False}
    res = runner.invoke(app, ["evaluate", *common, "--out", str(tmp_path / "unseen"), "--unseen-only"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "unseen" / "metrics.json").read_text())
    assert m["n_prompts"] == len(test) and m["known_prompts"]["left_out"]

    from dataclasses import replace

    from router_core.router import Router

    replace(Router.load(str(files["dir"] / "multi_router")), known=None).save(str(tmp_path / "old"))
    res = runner.invoke(
        app,
        [
            "evaluate",
            *common,
            "--router",
            str(tmp_path / "old"),
            "--out",
            str(tmp_path / "x"),
            "--unseen-only",
        ],
    )
    assert res.exit_code == 2 and "keeps no table of its training prompts" in res.output


def test_format_flag_and_the_baseline_reads_training_files_as_train_did(files, tmp_path, embedder):
    """``--format`` for the evaluation data; the baseline reads the router's training files with the
    formats and aliases its manifest records (a file whose strong model had another name)."""
    renamed = tmp_path / "train.csv"
    pd.read_parquet(files["train"]).rename(columns={"big": "large"}).to_csv(renamed, index=False)
    data = load_training_data([str(renamed)], ["wide"], {"large": "big"})
    router = train_router(
        data, embedder.encode(data.prompts), embedder.id, strong="big", weak="small", scorers=("knn",),
        log=lambda s: None,
    )  # fmt: skip
    router.manifest.update(data_files=[str(renamed)], data_formats=["wide"], aliases={"large": "big"})
    router.save(str(tmp_path / "router"))
    test_csv = tmp_path / "test.csv"
    pd.read_parquet(files["test"]).to_csv(test_csv, index=False)
    cmd = ["evaluate", "--router", str(tmp_path / "router"), "--data", str(test_csv), "--bootstrap", "0"]
    res = runner.invoke(app, [*cmd, "--format", "wide", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["n_prompts"] == 120 and m["baseline"]["trained"] and m["baseline"]["train_prompts"] == 240
    res = runner.invoke(app, [*cmd, "--format", "wide", "--format", "wide", "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2 and "--format given 2 times for 1 --data files" in res.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bootstrap", "-1"], "--bootstrap: Input should be greater than or equal to 0 (got -1)"),
        (["--strong", "big"], "give both --strong and --weak"),
        (["--strong", "big", "--weak", "nope"], "not in the evaluation data"),
        (["--strong", "big", "--weak", "smal"], "not in the evaluation data (did you mean 'small'?)"),
        (["--holdout", "1.5"], "--holdout: Input should be less than 1 (got 1.5)"),
        (["--messages-policy", "first"], "--messages-policy: Input should be 'last_user'"),
    ],
)
def test_bad_input_exits_2(files, tmp_path, extra, message):
    res = _evaluate(files, "pair_router", tmp_path, "--no-baseline", *extra)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_missing_router_and_prices(files, tmp_path):
    res = runner.invoke(
        app, ["evaluate", "--router", str(tmp_path / "none"), "--data", files["test"], "--out", str(tmp_path)]
    )
    assert res.exit_code == 2 and "not a router artefact" in res.output
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--router",
            str(files["dir"] / "multi_router"),
            "--data",
            files["test"],
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 2 and "needs --prices" in res.output
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--router",
            str(files["dir"] / "pair_router"),
            "--data",
            str(tmp_path / "x.parquet"),
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 2 and "not found" in res.output


def test_n_model_data_of_other_models_is_named_before_prices(files, tmp_path):
    other = pd.read_parquet(files["test"]).rename(columns={"big": "large"})
    other.to_parquet(tmp_path / "other.parquet")
    res = _evaluate(files, "multi_router", tmp_path / "out", data=tmp_path / "other.parquet")
    assert res.exit_code == 2
    assert "['big'] not in the evaluation data" in res.output and "--prices" not in res.output
    pd.read_parquet(files["test"]).rename(columns={"big": "Big"}).to_parquet(tmp_path / "cased.parquet")
    res = _evaluate(files, "multi_router", tmp_path / "out", data=tmp_path / "cased.parquet")
    assert res.exit_code == 2 and "['big'] not in the evaluation data (did you mean 'Big'?)" in res.output


def test_data_naming_the_models_otherwise_says_to_use_strong_and_weak(files, tmp_path):
    renamed = tmp_path / "renamed.parquet"
    pd.read_parquet(files["test"]).rename(columns={"big": "large"}).to_parquet(renamed)
    cmd = ["evaluate", "--router", str(files["dir"] / "pair_router"), "--data", str(renamed)]
    res = runner.invoke(app, [*cmd, "--no-baseline", "--bootstrap", "0", "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and "model 'big' is not in the evaluation data" in res.output
    assert "with --strong and --weak" in res.output
    # --threads as in train; --torch-threads is the same option
    for threads in ("--threads", "--torch-threads"):
        extra = ["--strong", "large", "--weak", "small", threads, "1", "--out", str(tmp_path / threads)]
        res = runner.invoke(app, [*cmd, "--no-baseline", "--bootstrap", "0", *extra])
        assert res.exit_code == 0, res.output
        assert json.loads((tmp_path / threads / "metrics.json").read_text())["strong"] == "large"


def test_a_route_output_given_as_router_is_one_line(tmp_path, files):
    route_out = tmp_path / "routing"
    (route_out / "labels").mkdir(parents=True)
    (route_out / "manifest.json").write_text(json.dumps({"router": {}, "counts": {"rows_in": 3}}))
    cmd = ["evaluate", "--router", str(route_out), "--data", files["test"], "--out", str(tmp_path / "o")]
    res = runner.invoke(app, cmd)
    assert res.exit_code == 2 and "is not a router's manifest" in res.output
    assert "--out of `batch-router train`" in res.output and "format None" not in res.output


def test_help_explains_every_option():
    res = CliRunner().invoke(app, ["evaluate", "--help"], terminal_width=200)
    assert res.exit_code == 0
    flowing = " ".join(res.output.replace("│", " ").split())
    assert "a PNG plot (quality vs share of strong calls for pair routers, quality vs cost for" in flowing
    for opt in ("--router", "--data", "--out", "--strong", "--weak", "--baseline-train", "--no-baseline",
                "--holdout", "--holdout-salt", "--bootstrap", "--seed", "--prices", "--threads",
                "--torch-threads", "--chunk", "--embed-cache", "--format"):  # fmt: skip
        assert opt in res.output


def test_a_pair_that_ties_on_every_prompt_is_a_one_line_error(files, tmp_path):
    """Strong and weak equally good on every evaluation prompt (both right on each MMLU question of a
    small set, say): PGR divides by their quality gap, 0 here, so there is nothing to measure."""
    df = pd.read_parquet(files["test"])
    df["small"] = df["big"]
    df.to_parquet(tmp_path / "tied.parquet")
    tied = tmp_path / "tied.parquet"
    res = _evaluate(files, "pair_router", tmp_path / "out", "--no-baseline", "--bootstrap", "10", data=tied)
    assert res.exit_code == 2, res.output
    assert "same mean quality" in res.output and "Traceback" not in res.output
