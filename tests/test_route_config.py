"""Route options resolved on the driver before Spark starts: messages policy and embedder from the router."""

from __future__ import annotations

import json

import pytest

from jobs.cli_options import build_config
from jobs.route_cmd import apply_trained_messages_policy
from jobs.route_logs import RouteError, match_embedder


def test_route_uses_the_trained_messages_policy_unless_one_is_chosen(tmp_path):
    router = tmp_path / "router"
    router.mkdir()
    (router / "manifest.json").write_text(json.dumps({"messages_policy": "all_user"}))
    cfg = build_config(None, {})
    apply_trained_messages_policy(cfg, str(router))
    assert cfg.logs.messages_policy == "all_user"
    cfg = build_config(None, {"logs.messages_policy": "full"})  # --messages-policy full
    apply_trained_messages_policy(cfg, str(router))
    assert cfg.logs.messages_policy == "full"
    conf = tmp_path / "c.yaml"
    conf.write_text("logs:\n  messages_policy: last_user\n")
    cfg = build_config(str(conf), {})
    apply_trained_messages_policy(cfg, str(router))
    assert cfg.logs.messages_policy == "last_user"
    cfg = build_config(None, {})
    apply_trained_messages_policy(cfg, str(tmp_path / "missing"))  # no manifest: the default
    assert cfg.logs.messages_policy == "last_user"


INT8_ID = "all-MiniLM-L6-v2@gt-0.1.0/onnx-int8-dyn-perchannel-v1/d384/meanpool-l2/len256/v1"


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
    match_embedder(cfg, INT8_ID.replace("/onnx-int8-dyn-perchannel-v1", ""))  # agrees: kept
    assert cfg.embedder.kind == "minilm"
