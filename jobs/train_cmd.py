"""``batch-router train``: fit a router (pair or N-model) from battles and/or per-model scores."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

import numpy as np
import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jobs.app import app
from jobs.cli_options import name_list, parse_pairs
from jobs.errors import BadInputError, exit_on_bad_input, fail, flag_names, options_error
from router_core.embedder import EmbedderKind
from router_core.outcomes import pair_names_error
from router_core.scorers.registry import (
    DEFAULT_SCORERS,
    OFFSET_SCORERS,
    OPTIONAL_SCORERS,
    PRIOR_SCORERS,
    SCORERS,
)
from router_core.text import DEFAULT_MESSAGES_POLICY, MessagesPolicy


class TrainConfig(BaseModel):
    """The ``train:`` section of a config file (the file's other sections are the shared JobConfig)."""

    model_config = ConfigDict(extra="forbid")

    data: list[str] = Field(default_factory=list)
    target_data: list[str] = Field(default_factory=list)
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
    source_mix: bool = True
    known_prompts: bool = True
    joint_stack: bool = True
    drop_empty: bool = False
    threads: int | None = Field(None, gt=0)
    scorer_params: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("scorers")
    @classmethod
    def _known_scorers(cls, scorers: list[str]) -> list[str]:
        unknown = [s for s in scorers if s not in SCORERS]
        if unknown or not scorers:
            raise ValueError(f"unknown scorer(s) {unknown}; choose from {', '.join(SCORERS)}")
        added = [s for s in scorers if s in (*PRIOR_SCORERS, *OFFSET_SCORERS)]
        if added:
            raise ValueError(
                f"{', '.join(added)}: added by train itself where it applies, not a --scorers choice"
            )
        return scorers

    @field_validator("scorer_params")
    @classmethod
    def _known_params(cls, params: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, kwargs in params.items():
            if (problem := scorer_params_error(name, kwargs)) is not None:
                raise ValueError(problem)
        return params


def scorer_params_error(name: str, kwargs: dict[str, Any]) -> str | None:
    """Why these constructor parameters do not make a scorer ``name``; None when they do."""
    import inspect

    if name not in SCORERS:
        return f"unknown scorer '{name}' in scorer parameters; choose from {', '.join(SCORERS)}"
    known = [p for p in inspect.signature(SCORERS[name].__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        return f"scorer {name} has no parameter(s) {', '.join(unknown)} (its parameters: {', '.join(known)})"
    if (problem := _param_type_error(name, kwargs)) is not None:
        return problem
    try:
        SCORERS[name](**kwargs)
    except ValueError as exc:  # the scorer's own check names it
        return str(exc)
    except TypeError as exc:
        return f"scorer {name}: {exc}"
    return None


def _param_type_error(name: str, kwargs: dict[str, Any]) -> str | None:
    """A value of another kind than the parameter's default (a number or a flag): caught here, it
    would otherwise fail deep inside fitting with a message about the code, not the flag."""
    import inspect
    from numbers import Real

    defaults = inspect.signature(SCORERS[name].__init__).parameters
    for key, value in kwargs.items():
        default = defaults[key].default
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), "true or false"
        elif isinstance(default, Real):
            ok, kind = isinstance(value, Real) and not isinstance(value, bool), "a number"
        else:
            continue  # a text, None or a list default: the scorer's own check, if any
        if not ok:
            return f"scorer {name}: {key} must be {kind}, got {value!r}"
    return None


def parse_scorer_params(values: list[str]) -> dict[str, dict[str, Any]]:
    """``SCORER.PARAM=VALUE`` flags -> {scorer: {param: value}}; a value is read as JSON when it parses
    (4, 0.5, true, null), else kept as the string given."""
    import json

    out: dict[str, dict[str, Any]] = {}
    for v in values:
        key, sep, raw = v.partition("=")
        name, dot, param = key.strip().partition(".")
        if not (sep and dot and name and param):
            fail(f"--scorer-param must look like SCORER.PARAM=VALUE (e.g. llm.model=gpt-4o-mini), got '{v}'")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw.strip()
        out.setdefault(name, {})[param.strip()] = value
    return out


class TrainOptions(TrainConfig):
    """Everything ``train`` runs with: the config file's ``train:`` section overridden by the flags given."""

    out: str | None = None
    embed_cache: str | None = None
    embedder: EmbedderKind | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TrainOptions:
        if not self.data:
            raise ValueError("no training data: pass --data FILE (repeatable)")
        if not self.out:
            raise ValueError("no output directory: pass --out DIR")
        if (problem := pair_names_error(self.strong, self.weak)) is not None:
            raise ValueError(problem)
        if self.strong and self.models:
            raise ValueError("--models is for N-model routers; a pair router takes --strong and --weak")
        from router_core.training.pipeline import check_scorers

        check_scorers(self.scorers, self.strong)  # before minutes of embedding
        n_files = len(self.files)
        if self.format and len(self.format) not in (1, n_files):
            what = f"{len(self.data)} --data"
            if self.target_data:
                what += f" + {len(self.target_data)} --target-data"
            raise ValueError(
                f"--format given {len(self.format)} times for {what} files "
                "(give it once, or once per file in the order --data files, then --target-data files)"
            )
        if (both := _same_files(self.data, self.target_data)) is not None:
            raise ValueError(
                f"{both} is given both as --data and as --target-data: give each file once (--target-data "
                "is your own labelled traffic, --data the generic sources)"
            )
        return self

    @property
    def files(self) -> list[str]:
        """Every training file: the --data files, then the --target-data files."""
        return [*self.data, *self.target_data]

    @property
    def formats(self) -> list[str] | None:
        """One format per file of ``files`` (None: detect)."""
        return (self.format * len(self.files) if len(self.format) == 1 else list(self.format)) or None


def _same_files(data: list[str], target: list[str]) -> str | None:
    """The first --target-data file that is also a --data file (same path once resolved), if any."""
    given = {os.path.realpath(p) for p in data}
    return next((p for p in target if os.path.realpath(p) in given), None)


def _options(config: str | None, given: dict[str, Any]):
    """(TrainOptions, JobConfig): defaults < the config file < the flags given (None: not given)."""
    from jobs.config import JobConfig, read_config_file

    raw: dict[str, Any] = {}
    if config:
        try:
            raw = dict(read_config_file(config))
        except FileNotFoundError as exc:
            fail(str(exc))
        except Exception as exc:  # YAML / TOML syntax errors
            fail(f"cannot read config {config}: {' '.join(str(exc).split())}")
    section = raw.pop("train", None) or {}
    try:
        file_cfg = TrainConfig.model_validate(section)
        job_cfg = JobConfig.model_validate(raw)
    except ValidationError as exc:
        fail(f"invalid configuration: {options_error(exc)}")
    given = {k: v for k, v in given.items() if v is not None}
    if "alias" in given:
        given["alias"] = {**file_cfg.alias, **given["alias"]}
    if "scorer_params" in given:
        given["scorer_params"] = _merged_scorer_params(file_cfg, given)
    try:
        opts = TrainOptions.model_validate({**file_cfg.model_dump(exclude_unset=True), **given})
    except ValidationError as exc:
        raise options_error(exc, flag_names(TrainOptions.model_fields)) from None
    if opts.embedder is not None:
        job_cfg.embedder.kind = opts.embedder
    return opts, job_cfg


def _merged_scorer_params(file_cfg: TrainConfig, given: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config file's scorer parameters with the --scorer-param flags over them; a flag for a scorer
    that is not trained is an error (it would silently do nothing)."""
    chosen = given.get("scorers", file_cfg.scorers)
    unused = sorted(set(given["scorer_params"]) - set(chosen))
    if unused:
        fail(f"--scorer-param for {', '.join(unused)}, which is not among the scorers: {', '.join(chosen)}")
    merged = {k: dict(v) for k, v in file_cfg.scorer_params.items()}
    for name, kwargs in given["scorer_params"].items():
        merged.setdefault(name, {}).update(kwargs)
    return merged


def _split_csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _embed(
    texts: list[str], job_cfg, threads: int | None, cache_dir: str | None = None
) -> tuple[np.ndarray, str]:
    from jobs.local_embedding import embed_prompts
    from router_core.embedder import load_embedder

    try:
        embedder = load_embedder(job_cfg.embedder.kind, threads=threads, **job_cfg.embedder.kwargs())
    except (RuntimeError, OSError, ValueError) as exc:  # missing API key, unwritable model cache, ...
        fail(f"cannot load the {job_cfg.embedder.kind} embedder: {exc}")
    return embed_prompts(embedder, texts, cache_dir, typer.echo), embedder.id


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
    targets = set(man.get("target_sources") or [])
    for s in man["sources"]:
        weight = man["source_weights"].get(s, 1.0)
        mark = "  (target data)" if s in targets else ""
        typer.echo(f"{s:<36}{man['battles_per_source'][s]:>10,}{weight:>9.3g}{mark}")
    rejected = man.get("source_weighting", {}).get("not_significant") or []
    if rejected:
        top = max(rejected, key=lambda r: r["gain"])
        typer.echo(
            f"(weights kept where they are: the best other weighting {top['weights']} gained "
            f"{top['gain']:.3f} +- {top['se']:.3f} in validation 1-AUC, under the 2-SE bar)"
        )
    _coverage_line(man.get("label_similarity") or {})
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
    _target_curve_lines(man["metrics"].get("target_curve"))


def _target_curve_lines(curve: dict[str, Any] | None) -> None:
    """What the router knows about the target domain (router_core.training.target_curve): APGR for a
    pair router, the quality of the model predicted best for N models."""
    if not curve:
        return
    name = curve.get("metric", "apgr")
    what = {"apgr": "APGR", "quality": "quality of the model predicted best"}.get(name, name)
    ci = curve.get(f"{name}_ci95")
    span = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
    single = curve.get("best_single_model_quality")
    # a pair router's metrics above are the target prompts' own; an N-model router's are every prompt's
    versus = "; the metrics above are theirs"
    if single is not None:
        versus = f"; the best single model {single:.3f}"
    typer.echo(
        f"target domain: {curve['target_prompts']:,} labelled prompts; estimated {what} on them "
        f"{curve[name]:.3f}{span} (out of fold, 95% CI{versus})"
    )
    if ci and ci[1] - ci[0] > 0.4:
        typer.echo("  the interval is wide: too few target labels for a firm estimate")
    points = curve.get("curve")
    if points:
        steps = ", ".join(f"{p['labels']:,} -> {p[name]:.3f}" for p in points)
        typer.echo(
            f"  learning curve (labels -> {what}): {steps}; twice the labels would likely add "
            f"{curve['projected_gain_2x_labels']:+.3f} (fit of a - b/sqrt(n))"
        )


def _coverage_line(entry: dict[str, Any]) -> None:
    ref = entry.get("training_nearest_other") or {}
    if not ref.get("count"):
        return
    q = ref["quantiles"]
    typer.echo(
        f"label similarity of the training prompts (cosine to the nearest other one, {ref['count']:,} "
        f"sampled): median {ref['median']:.2f}, 10% below {q['p10']:.2f}; `route` writes each request's "
        "label_similarity to compare"
    )


@app.command()
@exit_on_bad_input
def train(
    data: list[str] | None = typer.Option(
        None, "--data", help="Training file (parquet/csv/json/jsonl); repeat to combine several sources."
    ),
    target_data: list[str] | None = typer.Option(
        None,
        "--target-data",
        help="Your own labelled traffic (repeatable; the formats, --alias and --prompt-column of --data): "
        "prompts of the kind the router will route, labelled for its models, typically a few hundred "
        "(`batch-router label` makes them). What training chooses on validation data (source weights, "
        "the stack, calibration) is chosen for these prompts, with the --data sources as prior "
        "knowledge; --max-train keeps them first. A file is either --data or --target-data, not both.",
    ),
    out: str | None = typer.Option(
        None,
        "--out",
        help="Output directory of the router artefact: a new or empty directory, or a router's, which is "
        "replaced (anything else is refused).",
    ),
    strong: str | None = typer.Option(None, "--strong", help="Strong model of a pair router (with --weak)."),
    weak: str | None = typer.Option(None, "--weak", help="Weak model of a pair router (with --strong)."),
    models: str | None = typer.Option(
        None, "--models", help="Comma-separated models of an N-model router (default: all in the data)."
    ),
    scorers: str | None = typer.Option(
        None,
        "--scorers",
        help=f"Comma-separated base scorers: {', '.join(DEFAULT_SCORERS)} (the default), and "
        f"{', '.join(OPTIONAL_SCORERS)} (optional, on request). bert fine-tunes MiniLM: minutes per thousand "
        "prompts on CPU.",
    ),
    scorer_param: list[str] | None = typer.Option(
        None,
        "--scorer-param",
        help="SCORER.PARAM=VALUE: a constructor parameter of one scorer (repeatable; over the config's "
        "train.scorer_params). Values are JSON when they parse (4, 0.5, true), else strings. E.g. the llm "
        "scorer: llm.endpoint=http://host:8000/v1 llm.model=NAME llm.api_key_env=VAR llm.k_shot=4 "
        "llm.input_price=0.15 llm.output_price=0.6 (USD per 1M tokens); docs/routers.md lists them.",
    ),
    fmt: list[str] | None = typer.Option(
        None,
        "--format",
        help="battles (prompt, model_a, model_b, winner: model_a | model_b | tie | tie (bothbad); or "
        "Kaggle's winner_model_a/_b/_tie) | wide (prompt and one score column per model) | long (prompt, "
        "model, score) | struct (prompt and one column of {model: score}); once for all files or once per "
        "file, the --data files then the --target-data files (default: detect per file).",
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
        None,
        "--max-train",
        help="Train on a random subsample of at most N prompts (--target-data prompts first: all of them "
        "when they fit, the other prompts filling the rest).",
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
    no_source_mix: bool = typer.Option(
        False,
        "--no-source-mix",
        help="Pair routers on several --data sources: keep the sources' base rates in the scores. By default "
        "the stack removes from each scorer what the sources of a prompt's nearest training prompts predict "
        "(a judge's 89% win rate in one source, correctness ties in another), which ranks traffic unlike "
        "the sources better (docs/routers.md).",
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
        "`evaluate` and `label sample --embed-cache`: prompts embedded once are not embedded again (the "
        "route job's --cache is a Parquet cache of its own).",
    ),
    embedder: str | None = typer.Option(
        None,
        "--embedder",
        help="minilm (the bundled MiniLM, the default: an fp32 ONNX Runtime model on CPU, torch on a GPU, "
        "the same vectors), minilm_int8 (the same weights as an int8 ONNX Runtime model: about 1.4x the "
        "rows/s of minilm in the route job on CPU, cosine ~0.99 to minilm; route and evaluate use it) or "
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
    given = {
        "data": data or None,
        "target_data": target_data or None,
        "out": out or None,
        "strong": strong or None,
        "weak": weak or None,
        "models": _split_csv(models) or None,
        "scorers": _split_csv(scorers) or None,
        "scorer_params": parse_scorer_params(scorer_param) if scorer_param else None,
        "format": fmt or None,
        "alias": parse_pairs(alias, "--alias") if alias else None,
        "prompt_column": prompt_column or None,
        "messages_policy": messages_policy or None,
        "seed": seed,
        "max_train": max_train,
        "valid_frac": valid_frac,
        "stack_folds": stack_folds,
        "holdout": holdout,
        "holdout_salt": holdout_salt,
        "weight_sources": False if no_source_weights else None,
        "source_mix": False if no_source_mix else None,
        "known_prompts": False if no_known_prompts else None,
        "joint_stack": False if no_joint_stack else None,
        "drop_empty": True if drop_empty else None,
        "threads": threads or None,
        "embed_cache": embed_cache,
        "embedder": embedder,
    }
    opts, job_cfg = _options(config, given)
    run_train(opts, job_cfg)


def _check_out(out: str, announce: bool = False) -> None:
    """Before any work: the router replaces --out as a whole, so --out must be new, empty or a router
    (a route run's --out also holds a manifest.json, and its labels must not be deleted). ``announce``:
    say that a router there will be replaced."""
    from router_core.artifact import is_router_dir

    if os.path.exists(out) and not os.path.isdir(out):
        fail(f"--out {out} is a file; give the new directory the router is written to")
    if os.path.isdir(out) and os.listdir(out) and not is_router_dir(out):
        fail(
            f"--out {out} exists, is not empty and is not a router artefact; refusing to overwrite it "
            "(give a new directory, or a router's to replace it)"
        )
    if announce and is_router_dir(out):
        typer.echo(f"--out {out} holds a router: the new one replaces it when training ends")


def run_train(opts: TrainOptions, job_cfg) -> None:
    """The train command without the CLI layer (raises BadInputError on bad input)."""
    out = str(opts.out)
    _check_out(out, announce=True)
    if opts.threads:
        import torch

        torch.set_num_threads(opts.threads)  # the process's setting, as the user asked
    ts, target_sources = _training_set(opts)
    emb, embedder_id = _embed(ts.prompts, job_cfg, opts.threads, opts.embed_cache)
    router = _fit(opts, ts, emb, embedder_id, target_sources)
    _write_router(router, out)
    _summary(router, len(ts.prompts))
    typer.echo(f"router written to {out}")


def _training_set(opts: TrainOptions):
    """(the training data as the options select it: files, models, --holdout, --max-train; the names of
    the sources that came from --target-data)."""
    from router_core.training_data import (
        TrainingDataError,
        load_training_data,
        split_prompts,
        subsample_prompts,
    )

    try:
        ts = load_training_data(
            opts.files,
            formats=opts.formats,
            aliases=opts.alias,
            prompt_column=opts.prompt_column,
            messages_policy=opts.messages_policy,
            models=opts.models or None,
            drop_empty=opts.drop_empty,
        )
        if opts.strong:
            ts.pair(opts.strong, opts.weak)  # both names exist and differ
    except TrainingDataError as exc:
        fail(str(exc))
    # load_training_data names the sources in file order: the --target-data files come last.
    targets = dict(zip(ts.sources[len(opts.data) :], opts.target_data, strict=True))
    n_target = f", {len(targets)} of them target data" if targets else ""
    typer.echo(
        f"loaded {len(ts.prompts):,} prompts, {ts.n_battles:,} battles, {len(ts.models)} models "
        f"from {len(ts.sources)} source(s){n_target}; models: {name_list(ts.models)}"
    )
    _check_targets(ts, targets, opts, "")
    if opts.holdout is not None:
        held = split_prompts(ts.prompts, opts.holdout, salt=opts.holdout_salt)
        if held.all():
            fail(f"--holdout {opts.holdout} leaves no training prompt")
        ts = ts.subset(np.flatnonzero(~held))
        typer.echo(
            f"held out {int(held.sum()):,} prompts (--holdout {opts.holdout}, salt '{opts.holdout_salt}'): "
            f"training on {len(ts.prompts):,} prompts ({ts.n_battles:,} battles)"
        )
    if opts.max_train and len(ts.prompts) > opts.max_train:
        ts = subsample_prompts(ts, opts.max_train, list(targets), opts.seed)
        typer.echo(f"subsampled to {len(ts.prompts):,} prompts ({ts.n_battles:,} battles)")
    if opts.holdout is not None:
        _check_targets(ts, targets, opts, f" after --holdout {opts.holdout}")
    return ts, list(targets)


def _check_targets(ts, targets: dict[str, str], opts: TrainOptions, when: str) -> None:
    """Each --target-data source (name -> file) must keep prompts and labels for the router's models."""
    for source, path in targets.items():
        if not ts.prompts_of_sources([source]).any():
            fail(
                f"--target-data {path}: no prompt left{when} (every row was dropped, or all its prompts "
                "have no labels for the selected models)"
            )
        if ts.source_label_count(source, opts.strong, opts.weak) == 0:
            wanted = f"{opts.strong} vs {opts.weak}" if opts.strong else f"the models {name_list(ts.models)}"
            has = name_list(ts.source_models(source)) or "no model pair"
            fail(
                f"--target-data {path}: no labels for {wanted}{when}; its labels are for {has} "
                "(--alias maps its model names onto the router's)"
            )


def _fit(opts: TrainOptions, ts, emb: np.ndarray, embedder_id: str, target_sources: list[str]):
    from router_core.training import train_router

    try:
        router = train_router(
            ts,
            emb,
            embedder_id,
            strong=opts.strong,
            weak=opts.weak,
            scorers=opts.scorers,
            scorer_params=opts.scorer_params,
            valid_frac=opts.valid_frac,
            stack_folds=opts.stack_folds,
            seed=opts.seed,
            weight_sources=opts.weight_sources,
            source_mix=opts.source_mix,
            known_prior=1.0 if opts.known_prompts else None,
            joint_stack=None if opts.joint_stack else False,
            target_sources=target_sources,
            log=lambda m: typer.echo(m),
        )
    except ValueError as exc:  # TrainingDataError, and the checks of scorers and training arguments
        raise BadInputError(f"training failed: {exc}") from None
    router.record_label_coverage(emb, seed=opts.seed)
    router.manifest["train_command"] = " ".join(["batch-router", *sys.argv[1:]])
    # evaluate trains its TF-IDF baseline on these by default: all the router learnt from
    router.manifest["data_files"] = opts.files
    router.manifest["target_data_files"] = opts.target_data
    router.manifest["data_formats"] = opts.formats  # per file of data_files; None: detected
    router.manifest["aliases"] = opts.alias
    # evaluate reads the baseline's files and the evaluation data the same way
    router.manifest["prompt_column"] = opts.prompt_column
    router.manifest["messages_policy"] = opts.messages_policy
    if opts.holdout is not None:
        router.manifest["holdout"] = {"frac": opts.holdout, "salt": opts.holdout_salt}
    return router


def _write_router(router, out: str) -> None:
    """Write next to the target, then swap, so a failed save never leaves a half-written artefact."""
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".train-", dir=parent)
    try:
        router.save(tmp)
        _check_out(out)  # again: training takes minutes, and rmtree must never take anything else
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
