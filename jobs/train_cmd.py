"""``batch-router train``: fit a router (pair or N-model) from battles and/or per-model scores."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

import numpy as np
import typer
from pydantic import BaseModel, ConfigDict, Field

from jobs.app import app
from jobs.cli_options import fail, messages_policy_error, name_list, parse_pairs
from router_core.router import DEFAULT_SCORERS, OPTIONAL_SCORERS
from router_core.text import DEFAULT_MESSAGES_POLICY, MessagesPolicy


class TrainConfig(BaseModel):
    """The ``train:`` section of a config file (the file's other sections are the shared JobConfig)."""

    model_config = ConfigDict(extra="forbid")

    data: list[str] = Field(default_factory=list)
    format: list[str] = Field(default_factory=list)
    alias: dict[str, str] = Field(default_factory=dict)
    strong: str | None = None
    weak: str | None = None
    models: list[str] = Field(default_factory=list)
    scorers: list[str] = Field(default_factory=lambda: list(DEFAULT_SCORERS))
    prompt_column: str | None = None
    messages_policy: MessagesPolicy = DEFAULT_MESSAGES_POLICY
    seed: int = 0
    max_train: int | None = Field(None, gt=0)
    valid_frac: float = Field(0.2, gt=0.0, lt=1.0)
    stack_folds: int = Field(5, ge=1)
    holdout: float | None = Field(None, gt=0.0, lt=1.0)
    holdout_salt: str = "holdout"
    weight_sources: bool = True
    known_prompts: bool = True
    joint_stack: bool = True
    drop_empty: bool = False
    threads: int | None = Field(None, gt=0)
    scorer_params: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _load_configs(path: str | None):
    from jobs.config import JobConfig, _read

    raw: dict[str, Any] = {}
    if path:
        try:
            raw = dict(_read(path))
        except FileNotFoundError as exc:
            fail(str(exc))
        except Exception as exc:  # YAML / TOML syntax errors
            fail(f"cannot read config {path}: {' '.join(str(exc).split())}")
    try:
        train_cfg = TrainConfig.model_validate(raw.pop("train", None) or {})
        job_cfg = JobConfig.model_validate(raw)
    except Exception as exc:  # pydantic ValidationError: one line
        fail(f"invalid configuration: {' '.join(str(exc).split())}")
    return train_cfg, job_cfg


def _split_csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _embed(
    texts: list[str], job_cfg, threads: int | None, cache_dir: str | None = None
) -> tuple[np.ndarray, str]:
    from jobs.local_embedding import cached_encode, encode_in_chunks
    from router_core.embedder import load_embedder

    try:
        embedder = load_embedder(job_cfg.embedder.kind, threads=threads, **job_cfg.embedder.kwargs())
    except (RuntimeError, OSError, ValueError) as exc:  # missing API key, unwritable model cache, ...
        fail(f"cannot load the {job_cfg.embedder.kind} embedder: {exc}")

    def encode(batch: list[str]) -> np.ndarray:
        return encode_in_chunks(embedder.encode, batch, getattr(embedder, "dim", 0), typer.echo)

    return cached_encode(encode, embedder.id, texts, cache_dir, typer.echo), embedder.id


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _summary(router, n_prompts: int) -> None:
    man = router.manifest
    typer.echo("")
    typer.echo(f"models ({len(router.models)}): {', '.join(router.models)}")
    if router.strong:
        typer.echo(f"pair router: strong={router.strong} weak={router.weak}")
    typer.echo(f"prompts: {n_prompts:,}; training-data hash {man['training_data_hash'][:16]}")
    typer.echo(f"{'source':<36}{'battles':>10}{'weight':>9}")
    for s in man["sources"]:
        typer.echo(f"{s:<36}{man['battles_per_source'][s]:>10,}{man['source_weights'].get(s, 1.0):>9.3g}")
    rejected = man.get("source_weighting", {}).get("not_significant") or []
    if rejected:
        top = max(rejected, key=lambda r: r["gain"])
        typer.echo(
            f"(weights kept where they are: the best other weighting {top['weights']} gained "
            f"{top['gain']:.3f} +- {top['se']:.3f} in validation 1-AUC, under the 2-SE bar)"
        )
    metrics = man["metrics"].get("scorers")
    folds = man["metrics"].get("stack_folds", 1)
    where = f"cross-fitted over {folds} folds" if folds > 1 else "one held-out fold"
    if not metrics:
        n_targets = man["metrics"].get("valid_targets", 0)
        typer.echo(f"validation: only {n_targets} out-of-fold targets ({where}), no metrics")
        return
    keys = sorted({k for m in metrics.values() for k in m})
    typer.echo(
        f"validation ({man['metrics']['valid_targets']:,} prompts scored out of fold, {where}; the ensemble "
        "is out of fold too):"
    )
    typer.echo(f"{'scorer':<12}" + "".join(f"{k:>16}" for k in keys))
    for name, m in metrics.items():
        typer.echo(f"{name:<12}" + "".join(f"{_fmt(m.get(k)):>16}" for k in keys))
    if man["metrics"].get("default_score") == "joint_stack":
        typer.echo(
            "ensemble = the joint stack (one network over every model's scorer outputs and the embedding); "
            "linear_stack = the per-model stack (--no-joint-stack)"
        )


@app.command()
def train(
    data: list[str] | None = typer.Option(
        None, "--data", help="Training file (parquet/csv/json/jsonl); repeat to combine several sources."
    ),
    out: str | None = typer.Option(None, "--out", help="Output directory of the router artefact."),
    strong: str | None = typer.Option(None, "--strong", help="Strong model of a pair router (with --weak)."),
    weak: str | None = typer.Option(None, "--weak", help="Weak model of a pair router (with --strong)."),
    models: str | None = typer.Option(
        None, "--models", help="Comma-separated models of an N-model router (default: all in the data)."
    ),
    scorers: str | None = typer.Option(
        None,
        "--scorers",
        help="Comma-separated base scorers: sw, mf, knn, lex, bert (the default), and shape (optional: "
        "prompt length/digits). bert fine-tunes MiniLM: minutes per thousand prompts on CPU.",
    ),
    fmt: list[str] | None = typer.Option(
        None,
        "--format",
        help="battles | wide | long | struct; once for all files or once per --data (default: detect).",
    ),
    alias: list[str] | None = typer.Option(
        None, "--alias", help="NAME=CANONICAL: rename a model of one source to another's name (repeatable)."
    ),
    prompt_column: str | None = typer.Option(
        None,
        "--prompt-column",
        help="Prompt column (default: first of prompt, question, instruction, text, turns, messages).",
    ),
    messages_policy: str | None = typer.Option(
        None,
        "--messages-policy",
        help="Prompt cells that are lists of turns or chat messages: train on all user turns joined "
        "(all_user, the default, as `route` does with a messages column), the last user turn (last_user) "
        "or the whole transcript (full). Recorded in the router: evaluate and route apply it by default.",
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of MF/BERT training and subsampling (0)."),
    max_train: int | None = typer.Option(
        None, "--max-train", help="Train on a random subsample of at most N prompts."
    ),
    valid_frac: float | None = typer.Option(
        None,
        "--valid-frac",
        help="Share of prompts held out to weigh sources, and to fit the stack when it is not cross-fitted "
        "(0.2).",
    ),
    stack_folds: int | None = typer.Option(
        None,
        "--stack-folds",
        help="The stack and calibration are fitted on every prompt's out-of-fold scores, cross-fitted over "
        "this many folds (5; each cheap scorer is fitted once per fold, then on everything). 1, or the bert "
        "scorer (too costly to train per fold), uses one --valid-frac held-out fold instead.",
    ),
    holdout: float | None = typer.Option(
        None,
        "--holdout",
        help="Leave out the prompts that a hash of the text puts in this fraction (the same rule and salt "
        "as `evaluate --holdout`), so evaluating with the same --holdout tests on unseen prompts only.",
    ),
    holdout_salt: str | None = typer.Option(
        None, "--holdout-salt", help="Salt of the --holdout hash split (default: holdout, as in evaluate)."
    ),
    no_source_weights: bool = typer.Option(
        False, "--no-source-weights", help="Pool all sources with weight 1 instead of fitting weights."
    ),
    no_known_prompts: bool = typer.Option(
        False,
        "--no-known-prompts",
        help="Do not keep the training prompts' observed outcomes. By default a prompt routed again that is "
        "in the training data (same text) has its estimate moved halfway to what was measured for it (for a "
        "source of weight 1).",
    ),
    no_joint_stack: bool = typer.Option(
        False,
        "--no-joint-stack",
        help="N-model routers: make the default score the per-model linear stack. By default, when the stack "
        "is cross-fitted (--stack-folds >= 2 and no bert), it is a small network over every model's scorer "
        "outputs and the prompt embedding (one hidden layer, 5 seeds averaged; seconds to fit).",
    ),
    drop_empty: bool = typer.Option(
        False, "--drop-empty", help="Drop rows with empty prompts (default: such rows are an error)."
    ),
    threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's)."),
    embed_cache: str | None = typer.Option(
        None,
        "--embed-cache",
        help="Directory of an embedding cache (npz per embedder, keyed by prompt hash) shared with "
        "`evaluate --embed-cache`: prompts embedded once are not embedded again.",
    ),
    embedder: str | None = typer.Option(
        None,
        "--embedder",
        help="minilm (bundled MiniLM in torch, the default), minilm_int8 (the same weights as an int8 ONNX "
        "Runtime model: about 2x the rows/s on CPU, cosine ~0.99 to minilm; route and evaluate use it) or "
        "openai (an embeddings endpoint; see the config's embedder: section).",
    ),
    config: str | None = typer.Option(
        None, "--config", help="YAML/TOML file: a train: section (these options) plus embedder: etc."
    ),
) -> None:
    """Train a router: a pair router (--strong/--weak) or an N-model router (--models or all models).

    Embeds the training prompts with the configured embedder (bundled MiniLM by default), fits the
    base scorers and the stacked default score, prints a summary and writes the artefact to --out.
    """
    from router_core.router import train_router
    from router_core.training_data import TrainingDataError, load_training_data

    cfg, job_cfg = _load_configs(config)
    if embedder is not None:
        from router_core.embedder import EMBEDDER_KINDS

        if embedder not in EMBEDDER_KINDS:
            fail(f"--embedder must be one of {', '.join(EMBEDDER_KINDS)}, got '{embedder}'")
        job_cfg.embedder.kind = embedder
    paths = list(data or cfg.data)
    out = out or None
    if not paths:
        fail("no training data: pass --data FILE (repeatable)")
    if not out:
        fail("no output directory: pass --out DIR")
    strong = strong or cfg.strong
    weak = weak or cfg.weak
    model_list = _split_csv(models) or cfg.models
    scorer_list = _split_csv(scorers) or cfg.scorers
    if (strong is None) != (weak is None):
        fail("give both --strong and --weak (pair router) or neither (N-model router)")
    if strong and strong == weak:
        fail("--strong and --weak must differ")
    if strong and model_list:
        fail("--models is for N-model routers; a pair router takes --strong and --weak")
    known = DEFAULT_SCORERS + OPTIONAL_SCORERS
    unknown = [s for s in scorer_list if s not in known]
    if unknown or not scorer_list:
        fail(f"unknown scorer(s) {unknown}; choose from {', '.join(known)}")
    formats = list(fmt or cfg.format) or None
    if formats and len(formats) == 1:
        formats = formats * len(paths)
    if formats and len(formats) != len(paths):
        fail(f"--format given {len(formats)} times for {len(paths)} --data files (give it once or per file)")
    aliases = {**cfg.alias, **parse_pairs(alias, "--alias")}
    seed = cfg.seed if seed is None else seed
    max_train = max_train or cfg.max_train
    if max_train is not None and max_train <= 0:
        fail("--max-train must be positive")
    valid_frac = cfg.valid_frac if valid_frac is None else valid_frac
    if not 0.0 < valid_frac < 1.0:
        fail("--valid-frac must be between 0 and 1")
    stack_folds = cfg.stack_folds if stack_folds is None else stack_folds
    if stack_folds < 1:
        fail("--stack-folds must be at least 1")
    if os.path.exists(out) and os.listdir(out) and not os.path.exists(os.path.join(out, "manifest.json")):
        fail(f"--out {out} exists, is not empty and is not a router artefact; refusing to overwrite it")
    holdout = cfg.holdout if holdout is None else holdout
    if holdout is not None and not 0.0 < holdout < 1.0:
        fail("--holdout must be between 0 and 1")
    holdout_salt = cfg.holdout_salt if holdout_salt is None else holdout_salt
    threads = threads or cfg.threads
    policy = messages_policy or cfg.messages_policy
    if policy_error := messages_policy_error(policy):
        fail(policy_error)
    if threads:
        import torch

        torch.set_num_threads(threads)

    try:
        ts = load_training_data(
            paths,
            formats=formats,
            aliases=aliases,
            prompt_column=prompt_column or cfg.prompt_column,
            messages_policy=policy,
            models=model_list or None,
            drop_empty=drop_empty or cfg.drop_empty,
        )
        if strong:
            ts.pair(strong, weak)  # both names exist and differ
    except TrainingDataError as exc:
        fail(str(exc))
    typer.echo(
        f"loaded {len(ts.prompts):,} prompts, {ts.n_battles:,} battles, {len(ts.models)} models "
        f"from {len(ts.sources)} source(s); models: {name_list(ts.models)}"
    )
    if holdout is not None:
        from router_core.training_data import split_prompts

        held = split_prompts(ts.prompts, holdout, salt=holdout_salt)
        if held.all():
            fail(f"--holdout {holdout} leaves no training prompt")
        ts = ts.subset(np.flatnonzero(~held))
        typer.echo(
            f"held out {int(held.sum()):,} prompts (--holdout {holdout}, salt '{holdout_salt}'): "
            f"training on {len(ts.prompts):,} prompts ({ts.n_battles:,} battles)"
        )
    if max_train and len(ts.prompts) > max_train:
        keep = np.sort(np.random.default_rng(seed).choice(len(ts.prompts), max_train, replace=False))
        ts = ts.subset(keep)
        typer.echo(f"subsampled to {len(ts.prompts):,} prompts ({ts.n_battles:,} battles)")

    emb, embedder_id = _embed(ts.prompts, job_cfg, threads, embed_cache)
    try:
        router = train_router(
            ts,
            emb,
            embedder_id,
            strong=strong,
            weak=weak,
            scorers=scorer_list,
            scorer_params=cfg.scorer_params,
            valid_frac=valid_frac,
            stack_folds=stack_folds,
            seed=seed,
            weight_sources=cfg.weight_sources and not no_source_weights,
            known_prior=1.0 if cfg.known_prompts and not no_known_prompts else None,
            joint_stack=None if cfg.joint_stack and not no_joint_stack else False,
            log=lambda m: typer.echo(m),
        )
    except (TrainingDataError, ValueError, TypeError) as exc:
        fail(f"training failed: {exc}")
    router.manifest["train_command"] = " ".join(["batch-router", *sys.argv[1:]])
    router.manifest["data_files"] = paths  # evaluate trains its TF-IDF baseline on these by default
    # evaluate reads the baseline's files and the evaluation data the same way
    router.manifest["prompt_column"] = prompt_column or cfg.prompt_column
    router.manifest["messages_policy"] = policy
    if holdout is not None:
        router.manifest["holdout"] = {"frac": holdout, "salt": holdout_salt}

    # Write next to the target, then swap, so a failed save never leaves a half-written artefact.
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".train-", dir=parent)
    try:
        router.save(tmp)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    _summary(router, len(ts.prompts))
    typer.echo(f"router written to {out}")
