"""Route options resolved on the driver before Spark starts: messages policy and embedder from the router."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from jobs.cli_options import build_config
from jobs.route_setup import RouteError, apply_router_defaults

INT8_ID = "all-MiniLM-L6-v2@gt-0.1.0/onnx-int8-dyn-perchannel-v1/d384/meanpool-l2/len256/v1"
FP32_ID = INT8_ID.replace("/onnx-int8-dyn-perchannel-v1", "")


def router(embedder_id: str = FP32_ID, **manifest) -> SimpleNamespace:
    """What apply_router_defaults reads of a loaded Router."""
    return SimpleNamespace(manifest=manifest, embedder_id=embedder_id)


def match_embedder(cfg, embedder_id: str) -> None:
    apply_router_defaults(cfg, router(embedder_id))


def test_route_uses_the_trained_messages_policy_unless_one_is_chosen(tmp_path):
    trained = router(messages_policy="all_user")
    cfg = build_config(None, {})
    apply_router_defaults(cfg, trained)
    assert cfg.logs.messages_policy == "all_user"
    cfg = build_config(None, {"logs.messages_policy": "full"})  # --messages-policy full
    apply_router_defaults(cfg, trained)
    assert cfg.logs.messages_policy == "full"
    conf = tmp_path / "c.yaml"
    conf.write_text("logs:\n  messages_policy: last_user\n")
    cfg = build_config(str(conf), {})
    apply_router_defaults(cfg, trained)
    assert cfg.logs.messages_policy == "last_user"
    cfg = build_config(None, {})
    apply_router_defaults(cfg, router())  # a router from before the policy was recorded: the default
    assert cfg.logs.messages_policy == "all_user"


def test_route_embeds_with_the_routers_embedder_kind(tmp_path):
    cfg = build_config(None, {})
    match_embedder(cfg, INT8_ID)  # no embedder.kind configured: take the router's
    assert cfg.embedder.kind == "minilm_int8" and cfg.embedder.kwargs() == {"max_length": 256}
    conf = tmp_path / "c.yaml"
    conf.write_text("embedder:\n  kind: minilm\n")
    cfg = build_config(str(conf), {})
    with pytest.raises(RouteError, match="cannot reproduce the router's embeddings"):
        match_embedder(cfg, INT8_ID)
    cfg = build_config(str(conf), {})
    match_embedder(cfg, FP32_ID)  # agrees: kept
    assert cfg.embedder.kind == "minilm"


def test_route_takes_the_routers_embedder_settings_the_config_leaves_open(tmp_path):
    short = FP32_ID.replace("/len256/", "/len128/")
    cfg = build_config(None, {})
    match_embedder(cfg, short)  # a router trained with max_length 128 embeds its prompts at 128 tokens
    assert (cfg.embedder.kind, cfg.embedder.max_length) == ("minilm", 128)
    conf = tmp_path / "c.yaml"
    conf.write_text("embedder:\n  max_length: 256\n")
    with pytest.raises(RouteError, match=r"embedder.max_length 256 cannot reproduce .* max_length 128"):
        match_embedder(build_config(str(conf), {}), short)


ENDPOINT_ID = "openai:my-embed@http://10.0.0.5:8000/v1/d768/v1"


def test_endpoint_router_gets_its_model_and_url_and_needs_the_key_on_a_local_master(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cfg = build_config(None, {})
    match_embedder(cfg, ENDPOINT_ID)
    e = cfg.embedder
    assert (e.kind, e.model, e.base_url) == ("openai", "my-embed", "http://10.0.0.5:8000/v1")
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(RouteError, match="OPENAI_API_KEY is not set"):
        match_embedder(build_config(None, {}), ENDPOINT_ID)
    # the key may be given to the executors only, or the master may be a cluster with its own environment
    executor_key = {"spark.extra_conf": {"spark.executorEnv.OPENAI_API_KEY": "k"}}
    match_embedder(build_config(None, executor_key), ENDPOINT_ID)
    match_embedder(build_config(None, {"spark.master": "spark://host:7077"}), ENDPOINT_ID)


def test_the_onnx_file_is_built_before_spark_and_only_int8_fails_without_it(monkeypatch, capsys):
    from jobs import route_setup
    from router_core import onnx_embedder

    built = []

    def cannot_build(max_length, precision):
        built.append(precision)
        raise RuntimeError("read-only cache")

    monkeypatch.setattr(onnx_embedder, "onnx_model", cannot_build)
    plain = SimpleNamespace(scorer_names=["sw", "mf"])
    with_bert = SimpleNamespace(scorer_names=["sw", "bert"])
    cfg = build_config(None, {})
    route_setup.build_onnx_model(route_setup.embedder_conf(cfg, plain))  # fp32: workers fall back to torch
    assert "the workers embed with torch" in capsys.readouterr().out
    assert route_setup.embedder_conf(cfg, with_bert)["backend"] == "torch"
    route_setup.build_onnx_model(route_setup.embedder_conf(cfg, with_bert))  # torch: no file
    cfg.embedder.kind = "minilm_int8"
    with pytest.raises(RouteError, match="cannot load the int8 embedder: read-only cache"):
        route_setup.build_onnx_model(route_setup.embedder_conf(cfg, plain))
    assert built == ["fp32", "int8"]


def test_the_documented_config_file_is_valid_and_complete():
    """docs/config.md's example names every key of every section, and the config classes accept it."""
    import re
    from pathlib import Path

    import yaml

    from jobs.config import JobConfig
    from jobs.train_cmd import TrainConfig

    doc = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()
    raw = yaml.safe_load(re.search(r"```yaml\n(.*?)```", doc, re.S).group(1))
    train = TrainConfig.model_validate(raw.pop("train"))
    cfg = JobConfig.model_validate(raw)
    assert train.model_fields_set == set(TrainConfig.model_fields)
    for name, section in cfg:
        documented = set(raw[name])
        fields = set(type(section).model_fields)
        assert documented == fields, (name, fields - documented)


def test_one_config_file_with_a_train_section_serves_every_command(tmp_path):
    """docs/config.md's example (train: section included) is accepted by the commands that read logs;
    a misspelt key is one line naming it."""
    import re
    from pathlib import Path

    from typer.testing import CliRunner

    import jobs.cli  # noqa: F401  (registers every command)
    from jobs.app import EXIT_BAD_INPUT, app

    doc = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()
    conf = tmp_path / "batch-router.yaml"
    conf.write_text(re.search(r"```yaml\n(.*?)```", doc, re.S).group(1))
    missing = str(tmp_path / "no-logs.parquet")
    commands = [
        ["validate", "--out", str(tmp_path / "v")],
        ["savings", "--labels", str(tmp_path), "--out", str(tmp_path / "s")],
        ["label", "sample", "--n", "2", "--models", "a,b", "--out", str(tmp_path / "l")],
    ]
    for command in commands:
        res = CliRunner().invoke(app, [*command, "--config", str(conf), "--logs", missing])
        assert res.exit_code == EXIT_BAD_INPUT, (command, res.output)
        assert "logs path not found" in res.output and "invalid configuration" not in res.output, command
    conf.write_text("logs:\n  max_charz: 3\n")
    res = CliRunner().invoke(app, [*commands[0], "--config", str(conf), "--logs", missing])
    assert res.exit_code == EXIT_BAD_INPUT
    assert "error: invalid configuration: logs.max_charz: Extra inputs are not permitted" in res.output
    assert "pydantic" not in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("jobs/route_logs.py", ["--routr", "r", "--logs", "l", "--out", "o"], "No such option: --routr"),
        ("jobs/route_logs.py", ["--logs", "l", "--out", "o"], "Missing option '--router'"),
        ("jobs/route_logs.py", ["--router", "r", "--logs", "l", "--out", "o"], "logs path not found: l"),
        ("jobs/validate_logs.py", ["--logs", "l"], "Missing option '--out'"),
    ],
)
def test_spark_submit_scripts_report_usage_errors_as_the_cli_does(tmp_path, script, args, message):
    """What spark-submit runs (a cluster job, the Airflow DAG): no subcommand, and a misspelt or missing
    option is the CLI's message with exit 2, not a click traceback."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, str(repo / script), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    help_text = subprocess.run(
        [sys.executable, str(repo / script), "--help"], capture_output=True, text=True, timeout=120
    ).stdout
    assert f"Usage: {Path(script).name} [OPTIONS]" in help_text  # no subcommand to type


def test_out_or_cache_inside_the_logs_or_the_router_is_refused_before_spark(tmp_path, capsys):
    import pandas as pd

    from jobs.route_cmd import app_main

    logs = tmp_path / "logs"
    logs.mkdir()
    pd.DataFrame({"request_id": ["r1"], "prompt": ["hello"]}).to_parquet(logs / "part-0.parquet")
    router = tmp_path / "router"
    router.mkdir()
    for out, flag, why in [
        (logs, "--logs", "a later run would read the outputs as log rows"),
        (logs / "routing", "--logs", "a later run would read the outputs as log rows"),
        (router, "--router", "training that router again replaces its directory as a whole"),
    ]:
        assert app_main(["--router", str(router), "--logs", str(logs), "--out", str(out)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"error: --out {out} is inside {flag}" in err and why in err, err
    assert not (logs / "routing").exists()  # nothing written

    # the embedding cache's Parquet files inside the logs would be read as log rows by the next run
    cache = logs / "cache"
    args = [
        "--router",
        str(router),
        "--logs",
        str(logs),
        "--out",
        str(tmp_path / "out"),
        "--cache",
        str(cache),
    ]
    assert app_main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"error: --cache {cache} is inside --logs {logs} (a later run would read the cached vectors" in err
    assert not cache.exists() and not (tmp_path / "out").exists()
