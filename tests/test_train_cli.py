"""``batch-router train`` end to end on tiny generated data, and its one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import jobs.train_cmd  # noqa: F401  (registers the command)
from jobs.app import EXIT_BAD_INPUT, app

TOPICS = ["algebra", "poetry", "chemistry", "cooking", "history", "football", "geology", "music"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("train_data")
    rng = np.random.default_rng(0)
    prompts = [f"Question {i} about {TOPICS[i % len(TOPICS)]}: explain item {i}." for i in range(64)]
    hard = np.array([i % 2 == 0 for i in range(64)])  # even topics: only the big model is right
    wide = pd.DataFrame(
        {
            "prompt": prompts,
            "subject": [TOPICS[i % len(TOPICS)] for i in range(64)],
            "big-model": rng.random(64) < 0.9,
            "small-model": np.where(hard, rng.random(64) < 0.2, rng.random(64) < 0.85),
        }
    )
    wide.to_parquet(d / "wide.parquet")
    battles = pd.DataFrame(
        {
            "prompt": [f"Chat prompt {i} on {TOPICS[i % 8]}" for i in range(30)],
            "model_a": ["big_model_v1"] * 30,
            "model_b": ["small-model"] * 30,
            "winner": rng.choice(["model_a", "model_b", "tie"], 30).tolist(),
        }
    )
    battles.to_parquet(d / "battles.parquet")
    pd.DataFrame({"prompt": ["ok", ""], "a": [1.0, 0.0], "b": [0.0, 1.0]}).to_parquet(d / "empty.parquet")
    nested = pd.DataFrame({"prompt": [[[1, 2]], [[3]]], "a": [1.0, 0.0], "b": [0.0, 1.0]})
    nested.to_parquet(d / "nested.parquet")
    return d


def run(args: list[str]):
    return CliRunner().invoke(app, ["train", *args])


def test_train_pair_router_end_to_end(data_dir, tmp_path):
    out = tmp_path / "router"
    res = run(
        [
            "--data", str(data_dir / "wide.parquet"),
            "--data", str(data_dir / "battles.parquet"),
            "--alias", "big_model_v1=big-model",
            "--strong", "big-model", "--weak", "small-model",
            "--scorers", "sw,mf", "--out", str(out), "--threads", "2",
        ]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "prompts/s" in res.output  # embedding progress with rate
    # said before the first chunk is done, which on CPU is a minute or two for a large file
    n = len(pd.read_parquet(data_dir / "wide.parquet")) + len(pd.read_parquet(data_dir / "battles.parquet"))
    assert res.output.index(f"embedding {n} prompts\n") < res.output.index(f"embedded {n}/{n} prompts")
    assert "source" in res.output and "battles" in res.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["strong"] == "big-model" and man["models"] == ["big-model", "small-model"]
    # two sources: the stack also reads their mix, to remove their base rates (scorers/source_mix.py)
    assert [s["name"] for s in man["scorers"]] == ["sw", "mf", "source_mix"]
    assert set(man["source_weights"]) == {"wide", "battles"}
    assert man["embedder_id"].startswith("all-MiniLM-L6-v2")
    assert man["known_prompts"]["count"] > 0 and "known prompts: observed outcomes of" in res.output
    assert man["stack_folds"] == 5 and "cross-fitted over 5 folds" in res.output
    # what evaluate's baseline needs to read the same files the same way
    assert man["aliases"] == {"big_model_v1": "big-model"} and man["data_formats"] is None

    from router_core.embedder import MiniLMEmbedder
    from router_core.router import Router

    emb = MiniLMEmbedder()
    router = Router.load(str(out), embedder_id=emb.id)
    scores = router.score(emb.encode(["Question 2 about poetry: explain item 2.", "hello"]))
    assert set(scores) == {"score_sw", "score_mf", "score_source_mix", "strong_win_prob"}
    assert scores["strong_win_prob"].shape == (2,)


def test_train_n_model_router(data_dir, tmp_path):
    out = tmp_path / "nmodel"
    res = run(
        [
            "--data",
            str(data_dir / "wide.parquet"),
            "--scorers",
            "sw,shape",
            "--out",
            str(out),
            "--max-train",
            "50",
            "--no-known-prompts",
            "--no-joint-stack",
        ]
    )
    assert res.exit_code == 0, res.output
    assert "subsampled to 50 prompts" in res.output and "known prompts" not in res.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["strong"] is None and man["models"] == ["big-model", "small-model"]
    assert man["metrics"]["default_score"] == "linear_stack"
    assert "known_prompts" not in man and not (out / "known_prompts.npz").exists()
    # The optional shape scorer is accepted, saved and loaded back (it reads the texts).
    from router_core.router import Router

    router = Router.load(str(out))
    assert router.scorer_names == ["sw", "shape"] and router.needs_text
    q = router.score(np.zeros((2, 384), np.float32), ["a short one", "a much longer question 12 34 56 " * 9])
    assert q["predicted_quality"].shape == (2, 2)


def test_holdout_leaves_out_exactly_the_prompts_evaluate_tests_on(data_dir, tmp_path):
    from router_core.training_data import load_training_data, split_prompts

    out = tmp_path / "held"
    res = run(
        ["--data", str(data_dir / "wide.parquet"), "--strong", "big-model", "--weak", "small-model",
         "--scorers", "knn", "--holdout", "0.3", "--out", str(out)]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    prompts = load_training_data([str(data_dir / "wide.parquet")]).prompts
    held = split_prompts(prompts, 0.3, salt="holdout")  # the rule evaluate --holdout 0.3 applies
    assert 0 < held.sum() < len(prompts)
    man = json.loads((out / "manifest.json").read_text())
    assert man["prompts"] == int((~held).sum())
    assert man["holdout"] == {"frac": 0.3, "salt": "holdout"}
    assert man["data_files"] == [str(data_dir / "wide.parquet")]
    assert f"held out {int(held.sum())} prompts" in res.output


def test_no_source_mix_keeps_the_sources_base_rates(data_dir, tmp_path):
    out = tmp_path / "nomix"
    res = run(
        ["--data", str(data_dir / "wide.parquet"), "--data", str(data_dir / "battles.parquet"),
         "--alias", "big_model_v1=big-model", "--strong", "big-model", "--weak", "small-model",
         "--scorers", "knn", "--no-source-mix", "--out", str(out)]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    man = json.loads((out / "manifest.json").read_text())
    assert [s["name"] for s in man["scorers"]] == ["knn"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "nope.parquet", "--out", "x"], "training data file not found"),
        (["--data", "{d}/wide.parquet", "--strong", "big-model", "--out", "x"], "both --strong and --weak"),
        (["--data", "{d}/wide.parquet", "--strong", "gpt-9", "--weak", "small-model", "--out", "x"],
         "model 'gpt-9' is not in the training data; present: ['big-model', 'small-model']"),
        (["--data", "{d}/wide.parquet", "--scorers", "sw,xgb", "--out", "x"], "unknown scorer(s) ['xgb']"),
        (["--data", "{d}/wide.parquet", "--scorers", "sw,source_mix", "--out", "x"], "added by train itself"),
        (["--data", "{d}/wide.parquet", "--alias", "nonsense", "--out", "x"], "--alias must look like"),
        (["--data", "{d}/wide.parquet", "--models", "big-model,nobody", "--out", "x"], "not in the training"),
        # a typo, or another source's spelling, is named
        (["--data", "{d}/wide.parquet", "--strong", "big-modle", "--weak", "small-model", "--out", "x"],
         "model 'big-modle' is not in the training data (did you mean 'big-model'?); present:"),
        (["--data", "{d}/wide.parquet", "--models", "Big_Model,small_model,nobody", "--out", "x"],
         "(did you mean 'big-model' for 'Big_Model', 'small-model' for 'small_model'?); models present:"),
        (["--data", "{d}/empty.parquet", "--out", "x"], "1 row(s) with an empty or missing prompt"),
        (["--data", "{d}/wide.parquet", "--format", "battles", "--out", "x"], "needs column(s)"),
        (["--data", "{d}/wide.parquet"], "no output directory"),
        (["--data", "{d}/wide.parquet", "--holdout", "1.5", "--out", "x"], "--holdout: Input should be less"),
        (["--data", "{d}/wide.parquet", "--messages-policy", "last", "--out", "x"], "--messages-policy:"),
        (["--data", "{d}/wide.parquet", "--embedder", "glove", "--out", "x"], "--embedder: Input should be"),
        (["--data", "{d}/wide.parquet", "--stack-folds", "0", "--out", "x"], "--stack-folds: Input should"),
        (["--data", "{d}/nested.parquet", "--out", "x"], "a list prompt must hold strings or"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2(data_dir, tmp_path, args, message):
    args = [str(tmp_path / "o") if a == "x" else a.replace("{d}", str(data_dir)) for a in args]
    res = run(args)
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert len([ln for ln in res.output.splitlines() if ln.startswith("error:")]) == 1


def test_options_are_checked_once_and_name_the_flag_or_config_key(data_dir, tmp_path):
    """A bad value is one error line that says where it came from: the config file's key, or the flag that
    overrides it (the flag wins over the file)."""
    cfg = tmp_path / "train.yaml"
    cfg.write_text("train:\n  valid_frac: 1.5\n")
    res = run(["--config", str(cfg), "--data", str(data_dir / "wide.parquet"), "--out", str(tmp_path / "r")])
    assert res.exit_code == EXIT_BAD_INPUT
    assert "error: invalid configuration: valid_frac: Input should be less than 1 (got 1.5)" in res.output
    cfg.write_text("train:\n  max_train: 10\n  strong: big-model\n")
    common = ["--config", str(cfg), "--data", str(data_dir / "wide.parquet"), "--out", str(tmp_path / "r")]
    res = run([*common, "--max-train", "0"])
    assert res.exit_code == EXIT_BAD_INPUT
    assert "error: --max-train: Input should be greater than 0 (got 0)" in res.output
    res = run(common)
    assert res.exit_code == EXIT_BAD_INPUT and "give both --strong and --weak" in res.output
    assert len([ln for ln in res.output.splitlines() if ln.startswith("error:")]) == 1


def test_refuses_to_overwrite_foreign_directory(data_dir, tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    res = run(["--data", str(data_dir / "wide.parquet"), "--scorers", "sw", "--out", str(tmp_path)])
    assert res.exit_code == EXIT_BAD_INPUT and "refusing to overwrite" in res.output
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_a_router_in_out_is_replaced_and_the_run_says_so(data_dir, tmp_path):
    args = ["--data", str(data_dir / "wide.parquet"), "--scorers", "knn", "--out", str(tmp_path / "r")]
    first = run(args)
    assert first.exit_code == 0 and "holds a router" not in first.output
    second = run([*args, "--seed", "1"])
    assert second.exit_code == 0, second.output
    said = f"--out {tmp_path / 'r'} holds a router: the new one replaces it when training ends"
    assert said in second.output
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["seed"] == 1


def test_refuses_to_overwrite_a_route_output_or_a_file(data_dir, tmp_path):
    # A route run's --out has a manifest.json too: it is not a router, and its labels must survive.
    route_out = tmp_path / "routing"
    (route_out / "labels").mkdir(parents=True)
    (route_out / "manifest.json").write_text(json.dumps({"router": {}, "counts": {}}))
    res = run(["--data", str(data_dir / "wide.parquet"), "--scorers", "sw", "--out", str(route_out)])
    assert res.exit_code == EXIT_BAD_INPUT and "refusing to overwrite" in res.output
    assert (route_out / "labels").is_dir()
    a_file = tmp_path / "notes.csv"
    a_file.write_text("keep")
    res = run(["--data", str(data_dir / "wide.parquet"), "--scorers", "sw", "--out", str(a_file)])
    assert res.exit_code == EXIT_BAD_INPUT and f"--out {a_file} is a file" in res.output
    assert "Traceback" not in res.output and a_file.read_text() == "keep"


def test_help_explains_every_option():
    res = CliRunner().invoke(app, ["train", "--help"], terminal_width=200)
    assert res.exit_code == 0
    for opt in ("--data", "--strong", "--weak", "--models", "--scorers", "--format", "--alias",
                "--prompt-column", "--seed", "--max-train", "--config", "--out", "--holdout",
                "--holdout-salt", "--stack-folds", "--valid-frac", "--no-joint-stack",
                "--target-data", "--no-source-mix"):  # fmt: skip
        assert opt in res.output
    assert "Your own labelled traffic" in res.output


def test_config_file_train_section(data_dir, tmp_path):
    cfg = tmp_path / "train.yaml"
    cfg.write_text(
        f"train:\n  data: ['{data_dir / 'wide.parquet'}']\n  scorers: [knn]\n  seed: 3\n  stack_folds: 1\n"
        "embedder:\n  batch_size: 16\n"
    )
    res = run(["--config", str(cfg), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert [s["name"] for s in man["scorers"]] == ["knn"] and man["seed"] == 3
    assert man["stack_folds"] == 1 and "one held-out fold" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  scorer: [sw]\n")
    res = run(["--config", str(bad), "--out", str(tmp_path / "r2")])
    assert res.exit_code == EXIT_BAD_INPUT and "invalid configuration" in res.output


def test_int8_embedder_router_trains_and_evaluates(data_dir, tmp_path):
    """`--embedder minilm_int8`: the router records the int8 embedder and evaluate rebuilds it from the id."""
    out = tmp_path / "r8"
    res = run(["--data", str(data_dir / "wide.parquet"), "--embedder", "minilm_int8", "--scorers", "knn",
               "--strong", "big-model", "--weak", "small-model", "--out", str(out),
               "--threads", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    man = json.loads((out / "manifest.json").read_text())
    assert "/onnx-" in man["embedder_id"]
    from jobs.cli import app as cli  # every command registered, evaluate included

    ev = CliRunner().invoke(
        cli, ["evaluate", "--router", str(out), "--data", str(data_dir / "wide.parquet"), "--no-baseline",
              "--bootstrap", "0", "--out", str(tmp_path / "ev")],
    )  # fmt: skip
    assert ev.exit_code == 0, ev.output
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["n_prompts"] == 64


def test_embedding_cache_embeds_each_prompt_once(tmp_path):
    from jobs.local_embedding import cached_encode

    calls: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[len(t), t.count("a")] for t in texts], dtype=np.float32)

    first = cached_encode(encode, "emb/v1", ["aa", "b", "aa"], str(tmp_path), lambda s: None)
    again = cached_encode(encode, "emb/v1", ["b", "ccc", "aa"], str(tmp_path), lambda s: None)
    assert calls == [["aa", "b"], ["ccc"]]  # duplicates and cached prompts are not re-embedded
    np.testing.assert_array_equal(first, [[2, 2], [1, 0], [2, 2]])
    np.testing.assert_array_equal(again, [[1, 0], [3, 0], [2, 2]])
    other = cached_encode(encode, "emb/v2", ["b"], str(tmp_path), lambda s: None)  # another embedder
    assert calls[-1] == ["b"] and other.shape == (1, 2)
    assert all(p.suffix == ".npz" for p in tmp_path.iterdir())


def test_embedder_that_cannot_load_is_one_line_error(data_dir, tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("embedder:\n  api_key_env: BATCH_ROUTER_TEST_UNSET_KEY\n")
    monkeypatch.delenv("BATCH_ROUTER_TEST_UNSET_KEY", raising=False)
    res = run(["--data", str(data_dir / "wide.parquet"), "--embedder", "openai", "--config", str(cfg),
               "--out", str(tmp_path / "r")])  # fmt: skip
    assert res.exit_code == EXIT_BAD_INPUT and "BATCH_ROUTER_TEST_UNSET_KEY is not set" in res.output
    monkeypatch.setenv("BATCH_ROUTER_CACHE", str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("not a directory")
    res = run(["--data", str(data_dir / "wide.parquet"), "--embedder", "minilm_int8",
               "--out", str(tmp_path / "r")])  # fmt: skip
    assert res.exit_code == EXIT_BAD_INPUT and "set BATCH_ROUTER_CACHE to a writable directory" in res.output
    assert "Traceback" not in res.output


@pytest.fixture(scope="module")
def target_dir(tmp_path_factory) -> Path:
    """The user's own traffic, as `label ingest` writes it (battles, JSON Lines) and as a pandas export."""
    d = tmp_path_factory.mktemp("target_data")
    rng = np.random.default_rng(1)
    mine = pd.DataFrame(
        {
            "prompt": [f"Word problem {i}: Tom has {i} apples and buys {i + 3} more." for i in range(20)],
            "model_a": ["big-model", "small-model"] * 10,
            "model_b": ["small-model", "big-model"] * 10,
            "winner": rng.choice(["model_a", "model_b", "tie"], 20).tolist(),
        }
    )
    mine.to_json(d / "mine.jsonl", orient="records", lines=True)
    other_pair = mine.assign(model_b="other-model", model_a="big-model")
    other_pair.to_json(d / "other_pair.jsonl", orient="records", lines=True)
    pd.DataFrame({"prompt": ["Tom has 3 apples", "Ann has 2 pears"], "x-model": [1.0, 0.0],
                  "y-model": [0.0, 1.0]}).to_csv(d / "other_models.csv", index=False)  # fmt: skip
    return d


def test_target_data_is_recorded_and_kept_by_max_train(data_dir, target_dir, tmp_path):
    out = tmp_path / "r"
    res = run(
        ["--data", str(data_dir / "wide.parquet"), "--target-data", str(target_dir / "mine.jsonl"),
         "--strong", "big-model", "--weak", "small-model", "--scorers", "knn", "--max-train", "30",
         "--out", str(out), "--threads", "1"]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["sources"] == ["wide", "mine"] and man["target_sources"] == ["mine"]
    assert man["target_data_files"] == [str(target_dir / "mine.jsonl")]
    assert man["data_files"] == [str(data_dir / "wide.parquet"), str(target_dir / "mine.jsonl")]
    # --max-train 30 keeps all 20 target prompts (20 battles) and fills the rest from --data
    assert man["prompts"] == 30 and man["battles_per_source"]["mine"] == 20
    assert "(target data)" in next(ln for ln in res.output.splitlines() if ln.startswith("mine "))
    # the reference for route's label_similarity: training prompts against their nearest other one
    coverage = man["label_similarity"]
    assert coverage["index"] == "knn" and coverage["training_nearest_other"]["count"] == 30
    assert "label similarity of the training prompts" in res.output
    # what the router knows about the target domain: its out-of-fold estimate on the 20 target prompts
    assert man["metrics"]["target_curve"]["target_prompts"] == 20
    assert "target domain: 20 labelled prompts; estimated APGR on them" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "{d}/wide.parquet", "--target-data", "{d}/wide.parquet"],
         "wide.parquet is given both as --data and as --target-data"),
        (["--data", "{d}/wide.parquet", "--target-data", "{t}/other_models.csv", "--models",
          "big-model,small-model"], "other_models.csv: no prompt left"),
        (["--data", "{d}/wide.parquet", "--target-data", "{t}/other_pair.jsonl", "--strong", "big-model",
          "--weak", "small-model"],
         "other_pair.jsonl: no labels for big-model vs small-model; its labels are for big-model, "
         "other-model"),
        (["--data", "{d}/wide.parquet", "--target-data", "{t}/mine.jsonl", "--format", "wide", "--format",
          "battles", "--format", "wide"], "--format given 3 times for 1 --data + 1 --target-data files"),
        (["--data", "{d}/wide.parquet", "--target-data", "{t}/absent.jsonl"], "training data file not found"),
    ],
)  # fmt: skip
def test_target_data_errors_are_one_line_exit_2(data_dir, target_dir, tmp_path, args, message):
    args = [a.replace("{d}", str(data_dir)).replace("{t}", str(target_dir)) for a in args]
    res = run([*args, "--scorers", "knn", "--out", str(tmp_path / "o")])
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert len([ln for ln in res.output.splitlines() if ln.startswith("error:")]) == 1


def test_the_target_curve_of_an_n_model_router_is_printed_as_quality(capsys):
    from jobs.train_cmd import _target_curve_lines

    _target_curve_lines(
        {"target_prompts": 200, "metric": "quality", "quality": 0.634, "quality_ci95": [0.58, 0.69],
         "curve": [{"labels": 50, "quality": 0.61}, {"labels": 100, "quality": 0.622},
                   {"labels": 200, "quality": 0.634}],
         "projected_gain_2x_labels": 0.011, "best_single_model_quality": 0.6}
    )  # fmt: skip
    out = capsys.readouterr().out
    assert (
        "target domain: 200 labelled prompts; estimated quality of the model predicted best on them 0.634 "
        "[0.58, 0.69] (out of fold, 95% CI; the best single model 0.600)"
    ) in out
    assert "50 -> 0.610, 100 -> 0.622, 200 -> 0.634; twice the labels would likely add +0.011" in out


def test_embedding_like_an_unknown_router_embedder_is_one_line(tmp_path):
    """evaluate and label sample embed with the router's embedder: one it names that cannot be loaded
    here is bad input, not a traceback."""
    from jobs.errors import BadInputError
    from jobs.local_embedding import embed_like_router

    with pytest.raises(BadInputError, match="cannot embed like the router: unknown embedder id 'nope'"):
        embed_like_router("nope", ["a prompt"], None, lambda m: None)
