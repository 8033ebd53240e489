"""The bundled MiniLM on CPU three ways: torch fp32 (length-sorted batches of 64; what a GPU and BERT
routers run), the fp32 ONNX Runtime export (`minilm` on CPU, one prompt per call) and the int8 one
(`minilm_int8`, one prompt per call; padded batches of 4 and 16 shown for the choice), in prompts/s per
torch/ORT thread count, and how close each ONNX model's vectors are to torch's (cosine, and overlap of each
prompt's 10 nearest neighbours among the others).

    .venv/bin/python bench/cpu_embedders.py --n 600
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def prompt_sets(n: int) -> dict[str, list[str]]:
    """MMLU questions and AlpacaEval instructions from ../shared/data, else generated prompts."""
    sets = {}
    for name, file in (("mmlu", "mmlu_dev.parquet"), ("alpaca", "alpaca_eval2_battles.parquet")):
        p = SHARED / file
        if p.exists():
            texts = list(dict.fromkeys(pq.read_table(p, columns=["prompt"]).column("prompt").to_pylist()))
            sets[name] = texts[:n]
    if not sets:
        words = "explain the history of compute a proof write code for a poem about rivers".split()
        rng = np.random.default_rng(0)
        sets["generated"] = [" ".join(rng.choice(words, int(rng.integers(5, 80)))) for _ in range(n)]
    return sets


def timed(encode, texts: list[str]) -> tuple[np.ndarray, float]:
    encode(texts[:8])  # warm-up
    t = time.perf_counter()
    v = encode(texts)
    return v, len(texts) / (time.perf_counter() - t)


def padded_batches(model, texts: list[str], bs: int) -> np.ndarray:
    """An ONNX session on length-sorted padded batches of ``bs`` prompts (what the embedders do not do)."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.dim), np.float32)
    model.tokenizer.enable_padding()
    for s in range(0, len(texts), bs):
        idx = order[s : s + bs]
        enc = model.tokenizer.encode_batch([texts[i] for i in idx])
        feeds = {
            "input_ids": np.asarray([e.ids for e in enc], np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in enc], np.int64),
        }
        out[idx] = model.session.run(None, feeds)[0]
    model.tokenizer.no_padding()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    na = np.argsort(-(a @ a.T), axis=1)[:, 1 : k + 1]
    nb = np.argsort(-(b @ b.T), axis=1)[:, 1 : k + 1]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(na, nb, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="prompts per set (default 600)")
    ap.add_argument("--threads", default="1,2", help="thread counts to time (default 1,2)")
    ap.add_argument("--json", default=None, help="write the results here too")
    args = ap.parse_args()

    import torch

    from router_core.embedder import MiniLMEmbedder
    from router_core.onnx_embedder import OnnxMiniLMEmbedder

    results = []
    for name, texts in prompt_sets(args.n).items():
        for th in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(th)
            ref, fp32_rate = timed(MiniLMEmbedder(torch_threads=th).encode, texts)
            row = {"set": name, "n": len(texts), "threads": th, "torch_fp32_per_s": round(fp32_rate, 1)}
            onnx = OnnxMiniLMEmbedder(threads=th, precision="fp32")
            w, onnx_rate = timed(onnx.encode, texts)
            _, batch_rate = timed(lambda ts, m=onnx: padded_batches(m, ts, 64), texts)
            onnx_cos = (w * ref).sum(axis=1)
            row.update(
                onnx_fp32_per_s=round(onnx_rate, 1),
                onnx_fp32_batch64_per_s=round(batch_rate, 1),
                onnx_fp32_speedup=round(onnx_rate / fp32_rate, 2),
                onnx_fp32_cosine_min=round(float(onnx_cos.min()), 7),
            )
            int8 = OnnxMiniLMEmbedder(threads=th)
            v, row["int8_per_s"] = timed(int8.encode, texts)
            row["int8_per_s"] = round(row["int8_per_s"], 1)
            for bs in (4, 16):  # padded batches, for comparison only
                _, rate = timed(lambda ts, bs=bs, m=int8: padded_batches(m, ts, bs), texts)
                row[f"int8_batch{bs}_per_s"] = round(rate, 1)
            cos = (v * ref).sum(axis=1)
            row.update(
                speedup=round(row["int8_per_s"] / fp32_rate, 2),
                speedup_over_onnx_fp32=round(row["int8_per_s"] / onnx_rate, 2),
                cosine_mean=round(float(cos.mean()), 4),
                cosine_min=round(float(cos.min()), 4),
                top10_neighbour_overlap=round(neighbour_overlap(ref, v), 3),
            )
            print(json.dumps(row), flush=True)
            results.append(row)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
