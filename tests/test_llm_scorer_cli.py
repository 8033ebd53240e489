"""``train --scorers sw,llm --scorer-param llm.…`` and ``route`` with that router, against the local
OpenAI-compatible server: the scoring cost recorded at training and projected per routed prompt, one-line
errors for bad --scorer-param flags, and the API key in no file and no output."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import jobs.cli  # noqa: F401  (registers every command)
from jobs.app import EXIT_BAD_INPUT, app

KEY = "sk-llm-cli-93ad1e"
KEY_ENV = "ROUTER_LLM_CLI_KEY"
STRONG, WEAK = "strong-model", "weak-model"


def battles_file(path: Path, n: int = 40) -> Path:
    prompts = [f"{'HARD proof: ' if i % 2 else ''}Task {i}: explain topic {i % 7}" for i in range(n)]
    winner = ["model_a" if i % 2 else ("tie" if i % 4 == 0 else "model_b") for i in range(n)]
    pd.DataFrame({"prompt": prompts, "model_a": STRONG, "model_b": WEAK, "winner": winner}).to_parquet(path)
    return path


def cli(*args: str):
    res = CliRunner().invoke(app, list(args), env={KEY_ENV: KEY})
    assert KEY not in res.output
    return res


def train_args(data: Path, out: Path, url: str, *extra: str) -> list[str]:
    return [
        "train", "--data", str(data), "--strong", STRONG, "--weak", WEAK, "--scorers", "sw,llm",
        "--scorer-param", f"llm.endpoint={url}", "--scorer-param", "llm.model=router-judge",
        "--scorer-param", f"llm.api_key_env={KEY_ENV}", "--scorer-param", "llm.k_shot=2",
        "--scorer-param", "llm.input_price=0.15", "--scorer-param", "llm.output_price=0.6",
        "--out", str(out), "--threads", "2", *extra,
    ]  # fmt: skip


def test_train_with_scorer_params_records_the_scoring_cost(server, tmp_path):
    fake, url = server
    data = battles_file(tmp_path / "b.parquet")
    res = cli(*train_args(data, tmp_path / "router", url, "--embed-cache", str(tmp_path / "cache")))
    assert res.exit_code == 0, res.output
    assert "llm: 40 chat requests for 40 prompts" in res.output
    man = json.loads((tmp_path / "router" / "manifest.json").read_text())
    llm = next(s for s in man["scorers"] if s["name"] == "llm")
    assert llm["params"]["endpoint"] == url and llm["params"]["k_shot"] == 2
    assert llm["params"]["input_price"] == 0.15 and llm["params"]["api_key_env"] == KEY_ENV
    cost = man["scoring_cost"]["llm"]
    assert cost["requests"] == 40 == len(fake.chat_bodies) and cost["cost_usd"] > 0
    assert cost["prompt_tokens"] == sum(
        len(" ".join(m["content"] for m in b["messages"]).split()) for b in fake.chat_bodies
    )
    text = "".join(p.read_bytes().decode("latin-1") for p in (tmp_path / "router").rglob("*") if p.is_file())
    assert KEY not in text

    # evaluate scores the prompts through the endpoint too; a wrong key there is one line, exit 2
    ev = ["evaluate", "--router", str(tmp_path / "router"), "--data", str(tmp_path / "b.parquet")]
    ev += ["--no-baseline", "--bootstrap", "0", "--embed-cache", str(tmp_path / "cache")]
    res = cli(*ev, "--out", str(tmp_path / "eval"))
    assert res.exit_code == 0, res.output
    assert len(fake.chat_bodies) == 80 and "llm" in res.output
    fake.required_key = "another-key"
    res = cli(*ev, "--out", str(tmp_path / "eval2"))
    assert res.exit_code == EXIT_BAD_INPUT and "llm scorer: chat call to" in res.output, res.output


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--scorer-param", "llm.colour=red"],
            "scorer llm has no parameter(s) colour (its parameters: endpoint,",
        ),
        (["--scorer-param", "llm=3"], "--scorer-param must look like SCORER.PARAM=VALUE"),
        (["--scorer-param", "llm.verdicts=often"], "llm: verdicts must be one of auto, logprobs, samples"),
        (["--scorer-param", "llm.k_shot=many"], "scorer llm: k_shot must be a number, got 'many'"),
        (["--scorer-param", "llm.k_shot=true"], "scorer llm: k_shot must be a number, got True"),
        (["--scorer-param", "knn.k=5"], "--scorer-param for knn, which is not among the scorers: sw, llm"),
    ],
)
def test_bad_scorer_params_are_one_line_exit_2(tmp_path, flags, message):
    args = ["train", "--data", str(battles_file(tmp_path / "b.parquet")), "--strong", STRONG, "--weak", WEAK]
    res = cli(*args, "--scorers", "sw,llm", *flags, "--out", str(tmp_path / "r"))
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert message in res.output and "Traceback" not in res.output


def test_n_model_router_with_llm_is_refused(tmp_path):
    res = cli("train", "--data", str(battles_file(tmp_path / "b.parquet")), "--scorers", "sw,llm",
              "--out", str(tmp_path / "r"))  # fmt: skip
    assert res.exit_code == EXIT_BAD_INPUT and "llm give a pair probability only" in res.output


@pytest.mark.slow
def test_route_projects_the_llm_scorer_calls_and_cost(spark, server, tmp_path, capsys, monkeypatch):
    from jobs.route_cmd import app_main

    fake, url = server
    res = cli(*train_args(battles_file(tmp_path / "b.parquet"), tmp_path / "router", url))
    assert res.exit_code == 0, res.output
    cost = json.loads((tmp_path / "router" / "manifest.json").read_text())["scoring_cost"]["llm"]
    prompts = [f"{'HARD ' if i % 3 == 0 else ''}new request {i}" for i in range(12)]
    logs = pd.DataFrame({"request_id": [f"r{i}" for i in range(14)], "prompt": prompts + prompts[:2]})
    logs.to_parquet(tmp_path / "logs.parquet")
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({STRONG: {"input_price": 10, "output_price": 30},
                                  WEAK: {"input_price": 1, "output_price": 2}}))  # fmt: skip
    args = ["--router", str(tmp_path / "router"), "--logs", str(tmp_path / "logs.parquet")]
    args += ["--out", str(tmp_path / "o"), "--prices", str(prices)]
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert app_main(args) == EXIT_BAD_INPUT
    assert f"calls an endpoint with the key in {KEY_ENV}, which is not set" in capsys.readouterr().err
    fake.required_key = KEY

    def use_key(key: str) -> None:
        monkeypatch.setenv(KEY_ENV, key)
        # the test session's Spark workers started before the key was set: hand it to them as a worker
        # environment variable (a `route` process that starts Spark after the export needs nothing)
        monkeypatch.setitem(spark.sparkContext.environment, KEY_ENV, key)

    use_key("wrong-key")  # one line, exit 2, no Spark trace
    assert app_main(args) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "llm scorer: chat call to" in err and "401" in err and "Traceback" not in err
    assert "wrong-key" not in err
    # calls of the failed run's other task can still arrive: with the wrong key they are refused, not counted
    use_key(KEY)
    n_before = len(fake.chat_bodies)
    assert app_main(args) == 0
    out = capsys.readouterr().out
    assert len(fake.chat_bodies) - n_before == 12  # each distinct prompt scored once
    projected = json.loads((tmp_path / "o" / "manifest.json").read_text())["counts"]["scoring_cost"]["llm"]
    assert projected["prompts"] == 12 and projected["requests"] == 12.0
    assert projected["cost_usd"] == pytest.approx(12 * cost["cost_per_prompt_usd"])
    assert projected["cost_per_routed_request_usd"] == pytest.approx(projected["cost_usd"] / 14)
    assert "scorer llm: about 12 chat requests for 12 distinct prompts, projected $" in out
    assert KEY not in out and KEY not in (tmp_path / "o" / "manifest.json").read_text()
