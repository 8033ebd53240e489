"""Route options resolved on the driver before Spark starts: messages policy and embedder from the router."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from jobs.cli_options import build_config
from jobs.route_logs import RouteError, apply_router_defaults

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
    assert cfg.logs.messages_policy == "last_user"


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
