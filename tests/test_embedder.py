"""Embedder interface: shape, normalisation, order, and the OpenAI-compatible backend's retries."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from router_core.embedder import OpenAIEmbedder

TEXTS = [
    "a much longer sentence about the history of the Roman empire and its roads",
    "hi",
    "",
    "What is the derivative of x^2 sin x?",
]


@pytest.mark.parametrize("name", ["embedder", "int8_embedder"])
def test_shape_norm_order_and_semantics(name, request):
    emb = request.getfixturevalue(name)
    v = emb.encode(TEXTS)
    assert v.shape == (4, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # order kept (fp32 sorts by length internally): each row equals its text embedded alone
    for i, t in enumerate(TEXTS):
        np.testing.assert_allclose(emb.encode([t])[0], v[i], atol=1e-4)
    assert emb.encode([]).shape == (0, 384)
    assert emb.id.startswith("all-MiniLM-L6-v2") and "/d384/" in emb.id
    s = emb.encode(["How do I bake bread?", "Bread baking instructions please", "Prove Fermat's theorem"])
    assert s[0] @ s[1] > s[0] @ s[2] + 0.2


def test_int8_embedder_close_to_fp32_batch_independent_and_built_once(embedder, int8_embedder):
    import os

    from router_core.onnx_embedder import OnnxMiniLMEmbedder

    texts = [*TEXTS, "Write a limerick about a cat who learns to code in Rust."]
    v = int8_embedder.encode(texts)
    cos = (v * embedder.encode(texts)).sum(axis=1)
    assert cos.min() >= 0.97 and cos.mean() >= 0.98, cos
    # bit-identical whatever else is in the call: one prompt per session run
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(int8_embedder.encode([t])[0], v[i])
    assert "/onnx-" in int8_embedder.id and int8_embedder.id != embedder.id
    # a second instance reuses the built file
    mtime = os.path.getmtime(int8_embedder.onnx_path)
    again = OnnxMiniLMEmbedder()
    assert again.onnx_path == int8_embedder.onnx_path and os.path.getmtime(again.onnx_path) == mtime
    np.testing.assert_array_equal(again.encode(texts), v)


def test_cpu_minilm_is_the_fp32_onnx_export_with_torchs_vectors_and_id(embedder, monkeypatch, capsys):
    from router_core import onnx_embedder
    from router_core.embedder import MiniLMEmbedder, load_embedder

    texts = ["hello", "", "A longer question about " + "routing prompts between models " * 60]
    onnx = load_embedder("minilm", threads=1)
    assert isinstance(onnx, onnx_embedder.OnnxMiniLMEmbedder) and onnx.id == embedder.id
    cos = (onnx.encode(texts) * embedder.encode(texts)).sum(axis=1)
    assert cos.min() > 0.99999  # the long one is truncated at 256 tokens by both tokenizers
    assert isinstance(load_embedder("minilm", backend="torch"), MiniLMEmbedder)

    def cannot_build(*args, **kwargs):  # e.g. onnxruntime's InvalidProtobuf on a damaged file
        raise ValueError("read-only cache")

    monkeypatch.setattr(onnx_embedder, "onnx_model", cannot_build)
    fallback = load_embedder("minilm", threads=1)
    assert isinstance(fallback, MiniLMEmbedder) and fallback.id == embedder.id
    assert "read-only cache" in capsys.readouterr().err


def test_embedder_for_router_ids(embedder, int8_embedder, fake_endpoint, monkeypatch):
    from router_core.embedder import embedder_for_id, embedder_kind_for_id
    from router_core.onnx_embedder import OnnxMiniLMEmbedder

    on_cpu = embedder_for_id(embedder.id)  # torch's id: on CPU its fp32 ONNX export, the same vectors
    assert isinstance(on_cpu, OnnxMiniLMEmbedder) and on_cpu.precision == "fp32" and on_cpu.id == embedder.id
    assert isinstance(embedder_for_id(int8_embedder.id), OnnxMiniLMEmbedder)
    assert embedder_kind_for_id(embedder.id) == "minilm"
    assert embedder_kind_for_id(int8_embedder.id) == "minilm_int8"
    assert embedder_kind_for_id("openai:text-embedding-3-small@api.openai.com/d1536/v1") == "openai"
    with pytest.raises(ValueError, match="does not match the installed one"):
        embedder_for_id(embedder.id.replace("@gt-", "@gt-9"))
    with pytest.raises(ValueError, match="unknown embedder id"):
        embedder_for_id("glove-6B/d300")
    # an endpoint router: the id names model, base URL (with its own slashes) and dim
    trained = OpenAIEmbedder(model="m", base_url=fake_endpoint, api_key_env="TEST_EMBED_KEY", backoff_s=0.01)
    monkeypatch.setattr(_FlakyEmbeddings, "fail_first", 0)
    trained.encode(["x"])
    again = embedder_for_id(trained.id, api_key_env="TEST_EMBED_KEY")
    assert isinstance(again, OpenAIEmbedder) and again.id == trained.id
    np.testing.assert_allclose(again.encode(["ab"]), trained.encode(["ab"]))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="OPENAI_API_KEY is not set"):
        embedder_for_id("openai:text-embedding-3-small@api.openai.com/d1536/v1")


class _FlakyEmbeddings(BaseHTTPRequestHandler):
    calls: list[int] = []
    fail_first = 2

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(len(body["input"]))
        if len(type(self).calls) <= type(self).fail_first:
            self.send_response(429 if len(type(self).calls) == 1 else 503)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "slow down"}}')
            return
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
            for i, t in enumerate(body["input"])
        ][::-1]  # out of order on purpose: the client must sort by index
        payload = {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(payload).encode())

    def log_message(self, *args):
        pass


@pytest.fixture()
def fake_endpoint(monkeypatch):
    _FlakyEmbeddings.calls = []
    srv = HTTPServer(("127.0.0.1", 0), _FlakyEmbeddings)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    monkeypatch.setenv("TEST_EMBED_KEY", "sk-test")
    yield f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()


def test_openai_backend_batches_retries_and_keeps_order(fake_endpoint):
    e = OpenAIEmbedder(
        model="m", base_url=fake_endpoint, api_key_env="TEST_EMBED_KEY", batch_size=2, backoff_s=0.01
    )
    v = e.encode(["a", "bbb", "cc"])
    assert v.shape == (3, 3)
    # 2 failures (429, 503) then batches of 2 and 1
    assert _FlakyEmbeddings.calls == [2, 2, 2, 1]
    expected = np.array([[1, 1, 0], [3, 1, 0], [2, 1, 0]], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(v, expected, atol=1e-6)
    assert e.dim == 3 and "/d3/" in e.id


def test_openai_backend_gives_up_with_clear_error(fake_endpoint):
    _FlakyEmbeddings.fail_first = 100
    try:
        e = OpenAIEmbedder(
            model="m", base_url=fake_endpoint, api_key_env="TEST_EMBED_KEY", max_retries=2, backoff_s=0.01
        )
        with pytest.raises(RuntimeError, match="failed after 3 attempts"):
            e.encode(["a"])
    finally:
        _FlakyEmbeddings.fail_first = 2


def test_openai_backend_needs_key(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(RuntimeError, match="NO_SUCH_KEY_VAR is not set"):
        OpenAIEmbedder(api_key_env="NO_SUCH_KEY_VAR")


def test_a_cpu_only_torch_wheel_has_no_cuda_to_ask_about(monkeypatch):
    """default_device() reads torch's build tag before importing torch (about 1 s in a Spark worker)."""
    import importlib.metadata
    import importlib.util

    from router_core import embedder

    def version_of(tag):
        def version(name):
            if tag is None:
                raise importlib.metadata.PackageNotFoundError(name)
            return tag

        return version

    monkeypatch.setattr(importlib.metadata, "version", version_of("2.13.0+cpu"))
    assert not embedder.torch_has_cuda() and embedder.default_device() == "cpu"
    monkeypatch.setattr(importlib.metadata, "version", version_of("2.13.0"))
    assert embedder.torch_has_cuda()  # a CUDA build: torch itself is asked
    monkeypatch.setattr(importlib.metadata, "version", version_of(None))
    assert embedder.torch_has_cuda()  # torch importable without metadata: torch is asked
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert not embedder.torch_has_cuda()  # no torch at all
