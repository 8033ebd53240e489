"""``batch-router label sample``: choose the prompts worth labelling from logs in any format the route
job reads, and write one Batch request file per model (the bodies dispatch would send),
``sample.parquet`` (what the judge step reads) and ``manifest.json`` (strategy, n, and why each prompt
was chosen)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import JobConfig
from jobs.errors import BadInputError
from jobs.label_logs import distinct_first, read_candidates
from jobs.local_embedding import embed_like_router
from router_core.dispatch_dirs import safe_model_dir
from router_core.labeling import sampling
from router_core.labeling.batch_files import request_line, write_parts, write_text_atomic
from router_core.log_rows import request_body

SAMPLE_FILE = "sample.parquet"
MANIFEST = "manifest.json"


class LabelInputError(BadInputError):
    """Bad input for a label step: one line, exit 2."""


def log(msg: str) -> None:
    print(f"[label] {msg}", file=sys.stderr, flush=True)


@dataclass
class SampleOptions:
    logs: str
    router: str | None
    n: int
    out: str
    strategy: str = "random"
    models: list[str] | None = None
    labels: str | None = None
    strong_share: float = 0.5
    threshold: float | None = None
    seed: int = 0
    response_column: str | None = None
    reference_column: str | None = None
    chunk: int = 2048
    embed_cache: str | None = None


def _labels_dataset(labels: str, router: Any) -> tuple[Any, str]:
    """The route job's labels (its --out or labels/) and the score column this router's sample reads,
    checked before the logs are read and embedded (minutes), so a wrong path fails at once."""
    import pyarrow.dataset as pads

    col = "strong_win_prob" if router.is_pair else "predicted_quality"
    path = Path(labels) / "labels" if (Path(labels) / "labels").is_dir() else Path(labels)
    where = "give the --out of `batch-router route` run with this router, or its labels/"
    if not path.exists():
        raise LabelInputError(f"--labels {labels} not found: {where}")
    try:
        ds = pads.dataset(path, format="parquet", partitioning="hive", exclude_invalid_files=True)
    except Exception as exc:  # not Parquet, unreadable
        raise LabelInputError(f"cannot read --labels {labels}: {str(exc).splitlines()[0]}; {where}") from None
    absent = [c for c in ("request_id", col) if c not in ds.schema.names]
    if absent:
        kind = "pair" if router.is_pair else "N-model"
        raise LabelInputError(
            f"--labels {labels} has no {' or '.join(absent)} column (a {kind} router's route labels have "
            f"{col}): {where}"
        )
    return ds, col


def _label_scores(labels: str, ids: list[str], router: Any) -> np.ndarray:
    """strong_win_prob (pair) or predicted_quality rows (N models) from a route job's labels/."""
    ds, col = _labels_dataset(labels, router)
    t = ds.to_table(columns=["request_id", col])
    by_id = dict(zip(t.column("request_id").to_pylist(), t.column(col).to_pylist(), strict=True))
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise LabelInputError(f"--labels {labels}: no {col} for {len(missing)} requests (e.g. {missing[0]})")
    if router.is_pair:
        return np.asarray([by_id[i] for i in ids], dtype=np.float64)
    return np.asarray([[dict(by_id[i])[m] for m in router.models] for i in ids], dtype=np.float64)


def _informative(cands: pd.DataFrame, opts: SampleOptions, router: Any) -> tuple[list[sampling.Pick], dict]:
    rows = distinct_first(cands["text"].tolist())
    texts = cands["text"].iloc[rows].tolist()
    log(f"informative: {len(rows):,} distinct prompts of {len(cands):,} requests; embedding them")
    emb = embed_like_router(router.embedder_id, texts, opts.embed_cache, log, opts.chunk)
    if opts.labels:
        score = _label_scores(opts.labels, cands["request_id"].iloc[rows].tolist(), router)
    else:
        t0 = time.time()
        c = opts.chunk
        out = [router.score(emb[s : s + c], texts[s : s + c]) for s in range(0, len(texts), c)]
        key = "strong_win_prob" if router.is_pair else "predicted_quality"
        score = np.concatenate([o[key] for o in out]) if out else np.zeros(0)
        log(f"scored {len(texts):,} prompts with the router in {time.time() - t0:.1f}s")
    info: dict[str, Any] = {"distinct_prompts": int(len(rows))}
    if router.is_pair:
        t = opts.threshold
        if t is None:  # the threshold the router's --strong-share policy puts on this traffic
            t = float(np.quantile(score, 1.0 - opts.strong_share)) if len(score) else 0.5
        share = None if opts.threshold is not None else opts.strong_share  # what chose the threshold
        info.update(threshold=round(float(t), 6), strong_share=share)
        unc = sampling.uncertainty_pair(score, t)
    else:
        unc = sampling.uncertainty_multi(score)
    sw = router.scorers.get("sw")
    sims = None
    if sw is not None and getattr(sw, "index_", None) is not None and len(emb):
        sims = sw.index_.search(np.ascontiguousarray(emb, dtype=np.float32), 1)[0][:, 0]
        info["novelty"] = "similarity to the nearest training prompt (the sw scorer's FAISS index)"
    else:
        info["novelty"] = "not used: the router has no sw scorer index"
    picks = sampling.sample_informative(emb, unc, opts.n, opts.seed, sims, score if router.is_pair else None)
    if len(picks) < min(opts.n, len(rows)):
        log(f"informative: {len(picks)} prompts, not {opts.n}: the others are near-duplicates (cosine >= "
            f"{sampling.DUPLICATE_SIMILARITY}) of prompts already chosen")  # fmt: skip
    return [sampling.Pick(int(rows[p.index]), p.reason, p.details) for p in picks], info


def choose(
    cands: pd.DataFrame, opts: SampleOptions, router: Any
) -> tuple[list[sampling.Pick], dict[str, Any]]:
    if opts.strategy == "informative":
        return _informative(cands, opts, router)
    if opts.strategy == "random":
        picks, info = sampling.sample_random(len(cands), opts.n, opts.seed), {}
    else:
        strata = (cands["day"] + "/" + cands["segment"]).tolist()
        picks, info = sampling.sample_stratified(strata, opts.n, opts.seed), {"strata": "day/segment"}
    _say_repeats(cands["text"].iloc[[p.index for p in picks]].tolist(), opts.strategy)
    return picks, info


def _say_repeats(texts: list[str], strategy: str) -> None:
    """A sample of requests (uniform: what an unbiased audit needs) repeats the prompts traffic repeats;
    as training labels a repeated prompt counts once, so the user is told how many labels that leaves."""
    if (distinct := len(set(texts))) < len(texts):
        log(f"{strategy}: the {len(texts):,} sampled requests hold {distinct:,} distinct prompts (the "
            "traffic repeats them); as target data each distinct prompt counts once, and `--strategy "
            "informative` samples distinct prompts")  # fmt: skip


def _request_files(out: Path, sample: pd.DataFrame, models: list[str]) -> dict[str, list[str]]:
    """One Batch request file set per model, as dispatch writes them: a logged request body is sent
    unchanged but for ``model``; a request without one is a chat completion of its messages."""
    files: dict[str, list[str]] = {}
    dirs = safe_model_dir(models)  # the route job's dispatch names: '/' -> '--', never two models in one
    for m in models:
        lines = [
            request_line(row.custom_id, request_body(_body(row.body), json.loads(row.messages), m))
            for row in sample.itertuples()
            if not (row.logged_model == m and isinstance(row.logged_response, str))
        ]
        parts = write_parts(lines, out / "batch" / dirs[m]) if lines else []
        files[m] = [p.relative_to(out).as_posix() for p in parts]
        log(f"{m}: {len(lines):,} Batch requests in {len(parts)} file(s) in {out / 'batch' / dirs[m]}")
    return files


def _check_logged_answers(cands: pd.DataFrame, models: list[str], column: str) -> None:
    """A logged answer stands in for the model that served it, so the logs must name that model, as one
    of ``models``: otherwise --response-column would be ignored and every model asked (and paid)."""
    served = cands["model"]
    if served.isna().all():
        raise LabelInputError(
            f"--response-column {column}: the logs do not say which model served each request (no model "
            "column; --column model=NAME names it)"
        )
    logged = cands["response"].map(lambda r: isinstance(r, str) and bool(r))
    if not (logged & served.isin(models)).any():
        found = ", ".join(sorted(set(served[logged].dropna().astype(str)))[:5]) or "none"
        raise LabelInputError(
            f"--response-column {column}: no logged answer comes from {' or '.join(models)} (served by: "
            f"{found}); name the models with --models as the logs' model column does"
        )


def _body(value: str | None) -> dict[str, Any] | None:
    return json.loads(value) if isinstance(value, str) else None


def _router_and_models(opts: SampleOptions) -> tuple[Any, list[str]]:
    """(the router, or None; the models that answer), after every check that needs no log read: a wrong
    option fails before the logs are read and embedded (minutes)."""
    from router_core.artifact import RouterLoadError
    from router_core.router import Router

    if opts.strategy not in sampling.STRATEGIES:
        raise LabelInputError(
            f"--strategy must be one of {', '.join(sampling.STRATEGIES)}, got '{opts.strategy}'"
        )
    if opts.n <= 0:
        raise LabelInputError(f"--n must be positive, got {opts.n}")
    out = Path(opts.out)
    if (out / MANIFEST).exists():
        raise LabelInputError(f"{out} already holds a sample ({MANIFEST}); choose another --out")
    router = None
    if opts.router is not None:
        try:
            router = Router.load(opts.router)
        except (RouterLoadError, OSError) as exc:
            raise LabelInputError(str(exc).splitlines()[0]) from None
    elif opts.strategy == "informative":
        raise LabelInputError(
            "--strategy informative needs --router DIR: it ranks prompts by the router's scores"
        )
    elif not opts.models:
        raise LabelInputError("which models answer? give --router DIR (its models) or --models a,b")
    if opts.labels and router is not None and opts.strategy == "informative":
        _labels_dataset(opts.labels, router)
    models = opts.models or list(router.models)
    if len(models) < 2:
        raise LabelInputError(f"labelling compares answers: give at least two models, got {models}")
    return router, models


def _sample_table(cands: pd.DataFrame, picks: list[sampling.Pick], opts: SampleOptions) -> pd.DataFrame:
    """The picked candidates as sample.parquet's rows: what `label judge` reads."""
    sample = cands.iloc[[p.index for p in picks]].reset_index(drop=True)
    sample.insert(0, "custom_id", sample["request_id"].astype(str))
    sample["prompt"] = sample.pop("text")
    sample["sample_strategy"] = opts.strategy
    sample["reason"] = [p.reason for p in picks]
    sample["logged_model"] = sample.pop("model") if opts.response_column else None
    sample["logged_response"] = sample.pop("response")
    return sample


def run_sample(opts: SampleOptions, cfg: JobConfig) -> dict[str, Any]:
    router, models = _router_and_models(opts)
    cands, skipped = read_candidates(opts.logs, cfg, opts.response_column, opts.reference_column)
    log(f"{len(cands):,} valid requests in {opts.logs}" + (f"; skipped {skipped}" if skipped else ""))
    if cands.empty:
        raise LabelInputError(f"no valid requests to sample in {opts.logs}")
    if opts.response_column:
        _check_logged_answers(cands, models, opts.response_column)
    picks, info = choose(cands, opts, router)
    sample = _sample_table(cands, picks, opts)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    files = _request_files(out, sample, models)
    sample.to_parquet(out / SAMPLE_FILE, index=False)
    manifest = {
        "strategy": opts.strategy, "n_requested": opts.n, "n": len(sample), "seed": opts.seed,
        "models": models, "router": opts.router and str(Path(opts.router).resolve()),
        "logs": str(Path(opts.logs).resolve()),
        "valid_requests": len(cands), "skipped_requests": skipped, **info, "files": files,
        "prompts": [{"custom_id": c, "reason": p.reason, **p.details}
                    for c, p in zip(sample["custom_id"], picks, strict=True)],
    }  # fmt: skip
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
    log(f"sampled {len(sample):,} of {len(cands):,} requests ({opts.strategy}); manifest {out / MANIFEST}")
    return manifest
