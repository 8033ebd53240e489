"""``batch-router evaluate``: score held-out data with a trained router, every base scorer and a TF-IDF
baseline; write metrics.json, a plot and a table (pair: APGR / CPT, N models: quality vs cost, AIQ)."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jobs.app import app
from jobs.cli_options import messages_policy_error, name_list
from jobs.errors import exit_on_bad_input, fail, flag_names, options_error
from router_core.outcomes import pair_names_error
from router_core.text import DEFAULT_MESSAGES_POLICY, MessagesPolicy

if TYPE_CHECKING:
    from router_core.training_data import TrainingSet

COST_NOTE = (
    "cost per prompt = input price + output price (USD per 1M tokens) of the chosen model: token counts "
    "are unknown in this data, as in LLMRouter"
)


class EvaluateOptions(BaseModel):
    """Everything ``evaluate`` runs with (the command's flags)."""

    model_config = ConfigDict(extra="forbid")

    router: str
    data: list[str]
    format: list[str] = Field(default_factory=list)
    out: str
    strong: str | None = None
    weak: str | None = None
    baseline_train: list[str] | None = None
    no_baseline: bool = False
    holdout: float | None = Field(None, gt=0.0, lt=1.0)
    holdout_salt: str = "holdout"
    bootstrap: int = Field(1000, ge=0)
    seed: int = 0
    prices: str | None = None
    torch_threads: int | None = None
    chunk: int = Field(1024, gt=0)
    embed_cache: str | None = None
    prompt_column: str | None = None
    messages_policy: MessagesPolicy | None = None
    unseen_only: bool = False

    @model_validator(mode="after")
    def _pair(self) -> EvaluateOptions:
        if (problem := pair_names_error(self.strong, self.weak)) is not None:
            raise ValueError(problem)
        if self.format and len(self.format) not in (1, len(self.data)):
            raise ValueError(
                f"--format given {len(self.format)} times for {len(self.data)} --data files "
                "(give it once, or once per --data file)"
            )
        return self

    @property
    def formats(self) -> list[str] | None:
        """One format per --data file (None: detect)."""
        return (self.format * len(self.data) if len(self.format) == 1 else list(self.format)) or None


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _embed(texts: Sequence[str], embedder_id: str, opts: EvaluateOptions) -> np.ndarray:
    from jobs.local_embedding import embed_like_router

    return embed_like_router(embedder_id, texts, opts.embed_cache, _log, opts.chunk, opts.torch_threads)


def _chunked(fn, n: int, chunk: int, what: str) -> list[Any]:
    parts, t0 = [], time.perf_counter()
    for s in range(0, n, chunk):
        parts.append(fn(slice(s, min(s + chunk, n))))
        done = min(s + chunk, n)
        _log(f"{what} {done:,}/{n:,} prompts ({done / (time.perf_counter() - t0):.0f}/s)")
    return parts


def _baseline_files(
    router_manifest: dict[str, Any], given: list[str] | None
) -> tuple[list[str], list | None]:
    """The baseline's training files and their formats (None: detect): ``given``, else the files the router
    was trained on that still exist, read with the formats train was told."""
    if given:
        return given, None
    recorded = list(router_manifest.get("data_files") or [])
    formats = router_manifest.get("data_formats") or [None] * len(recorded)
    if not recorded:  # older manifests: the --data values of the recorded train command
        words = shlex.split(router_manifest.get("train_command", ""))
        recorded = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--data"]
        recorded += [w.split("=", 1)[1] for w in words if w.startswith("--data=")]
        formats = [None] * len(recorded)
    kept = [(p, f) for p, f in zip(recorded, formats, strict=False) if os.path.exists(p)]
    return [p for p, _ in kept], [f for _, f in kept]


def _load(
    paths: list[str],
    what: str,
    prompt_column: str | None,
    messages_policy: str,
    formats: list | None = None,
    aliases: dict[str, str] | None = None,
):
    from router_core.training_data import TrainingDataError, load_training_data

    try:
        return load_training_data(
            paths, formats, aliases, prompt_column=prompt_column, messages_policy=messages_policy
        )
    except TrainingDataError as exc:
        fail(f"{what}: {exc}")


def _holdout_mask(prompts: Sequence[str], frac: float | None, salt: str) -> np.ndarray:
    from router_core.training_data import split_prompts

    if frac is None:
        return np.ones(len(prompts), dtype=bool)
    return split_prompts(prompts, frac, salt=salt)


def _write(out: str, name: str, obj: dict[str, Any]) -> str:
    path = os.path.join(out, name)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
    return path


# --------------------------------------------------------------------------------------------- pair


def _pair_targets(
    router, data, s_data: str, w_data: str, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(prompt indices, strong quality, weak quality, outcome kind) of the evaluated prompts, checked to
    define a PGR before anything is embedded."""
    from router_core.evaluation import PGR_MIN_GAP
    from router_core.outcomes import pair_outcomes

    try:
        tg = pair_outcomes(data, s_data, w_data)
    except ValueError as exc:
        hint = ""
        if router.is_pair and any(m not in data.models for m in (s_data, w_data)):
            # the usual cause: the evaluation data names the router's models otherwise
            hint = "; name the router's strong and weak models as the data does with --strong and --weak"
        fail(f"{exc}{hint}")
    keep = mask[tg.prompt_idx]
    idx, q_s, q_w = tg.prompt_idx[keep], tg.q_strong[keep], tg.q_weak[keep]
    if len(idx) < 2:
        fail(f"only {len(idx)} evaluation prompt(s) with outcomes for '{s_data}' vs '{w_data}'")
    # pair_metrics' condition
    if abs(float(q_s.mean() - q_w.mean())) <= PGR_MIN_GAP:
        fail(
            f"'{s_data}' and '{w_data}' have the same mean quality on these {len(idx):,} prompts: PGR, the "
            "share of the strong model's gain that routing keeps, is undefined"
        )
    return idx, q_s, q_w, tg.kind


def _pair_scores(
    router, emb: np.ndarray, texts: list[str], s_data: str, w_data: str, chunk: int
) -> dict[str, np.ndarray]:
    """Per-prompt routing score of the router's default ensemble and of each base scorer: higher means
    the strong model is more needed."""
    if not router.is_pair:  # an N-model router asked about one pair: rank by predicted quality gap
        preds = _multi_predictions(router, emb, texts, chunk)
        i_s, i_w = router.models.index(s_data), router.models.index(w_data)
        return {k: v[:, i_s] - v[:, i_w] for k, v in preds.items()}
    from router_core.scorers.llm_client import LLMScorerError

    try:
        parts = _chunked(lambda sl: router.score(emb[sl], texts[sl]), len(texts), chunk, "scored")
    except LLMScorerError as exc:  # the llm scorer's endpoint: key, model, retries exhausted
        fail(str(exc))
    outs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    scores = {k.removeprefix("score_"): v for k, v in outs.items() if k.startswith("score_")}
    scores["ensemble"] = outs["strong_win_prob"]
    return scores


def _evaluate_pair(
    router,
    data,
    s_data: str,
    w_data: str,
    base_data,
    opts: EvaluateOptions,
    mask: np.ndarray,
    files: list[str],
) -> dict[str, Any]:
    from router_core.baseline import pair_baseline_scores
    from router_core.evaluation import pair_metrics, pair_reference, pair_table, plot_pair

    idx, q_s, q_w, kind = _pair_targets(router, data, s_data, w_data, mask)
    texts = [data.prompts[i] for i in idx]
    _log(f"pair evaluation: {s_data} (strong) vs {w_data} (weak) on {len(idx):,} prompts "
         f"(outcomes from {kind})")  # fmt: skip
    emb = _embed(texts, router.embedder_id, opts)
    scores = _pair_scores(router, emb, texts, s_data, w_data, opts.chunk)

    baseline_info = _add_baseline(
        scores, base_data, files, lambda d: pair_baseline_scores(d, s_data, w_data, texts, opts.seed)
    )

    results = {
        name: pair_metrics(q_s, q_w, sc, n_boot=opts.bootstrap, seed=opts.seed) for name, sc in scores.items()
    }
    ref = pair_reference(q_s, q_w, n_boot=opts.bootstrap, seed=opts.seed)
    plot = os.path.join(opts.out, "pair_quality_vs_strong_share.png")
    plot_pair(plot, results, ref, f"{s_data} vs {w_data} ({len(idx):,} prompts)")
    typer.echo(pair_table({**results, "oracle": ref["oracle"], "random": ref["random"]}))
    typer.echo(
        f"quality: strong only {ref['quality_strong']:.4f}, weak only {ref['quality_weak']:.4f} "
        f"(n={len(idx):,}, bootstrap={opts.bootstrap})"
    )
    return {
        "mode": "pair",
        "strong": s_data,
        "weak": w_data,
        "targets": kind,
        "n_prompts": int(len(idx)),
        "reference": ref,
        "routers": results,
        "baseline": baseline_info,
        "plot": os.path.basename(plot),
    }


# ----------------------------------------------------------------------------------------- N models


def _multi_predictions(router, emb: np.ndarray, texts: list[str], chunk: int) -> dict[str, np.ndarray]:
    """Per-model predicted quality [n, M] of the default ensemble and of each calibrated base scorer (and
    of the linear stack, when the joint stack is the default)."""
    from router_core.stacks import QualityStack

    if not isinstance(router.stack, QualityStack):
        fail("this N-model router has no quality stack to predict per-model quality")
    parts = _chunked(
        lambda sl: router.per_model_quality(emb[sl], texts[sl], linear_stack=True),
        len(texts),
        chunk,
        "scored",
    )
    return {k: np.concatenate([p[k] for p in parts]).astype(np.float64) for k in parts[0]}


def _costs(models: list[str], prices_file: str | None) -> np.ndarray:
    from router_core.pricing import PriceFileError, read_price_file

    if not prices_file:
        fail("N-model evaluation needs --prices FILE (JSON/YAML: model -> {input_price, output_price})")
    try:
        prices, _ = read_price_file(prices_file)
    except PriceFileError as exc:
        fail(str(exc))
    missing = [m for m in models if m not in prices]
    if missing:
        fail(f"no price for model(s) {missing} in {prices_file}")
    return np.array([prices[m].input_per_mtok + prices[m].output_per_mtok for m in models], dtype=np.float64)


def _add_baseline(
    scores: dict[str, np.ndarray],
    base_data: TrainingSet | None,
    files: list[str],
    fit: Callable[[Any], tuple[np.ndarray | None, dict[str, Any]]],
) -> dict[str, Any]:
    """The TF-IDF baseline fitted by ``fit`` on ``base_data`` joins ``scores`` as ``tfidf_baseline``
    (when it could be trained); returns what metrics.json records of it."""
    if base_data is None:
        return {"trained": False}
    baseline, info = fit(base_data)
    _log_baseline(info, files)
    if baseline is not None:
        scores["tfidf_baseline"] = baseline
    return info


def _log_baseline(info: dict[str, Any], files: list[str]) -> None:
    """The log line of the TF-IDF baseline; a trained one records the files it learnt from."""
    if not info["trained"]:
        _log(f"TF-IDF baseline skipped: {info['reason']}")
        return
    info["files"] = files
    overlap = info.get("excluded_overlap")
    dropped = f" ({overlap} overlapping dropped)" if overlap is not None else ""
    _log(f"TF-IDF baseline trained on {info['train_prompts']:,} prompts{dropped}")


def _evaluate_multi(
    router, data, base_data, opts: EvaluateOptions, mask: np.ndarray, files: list[str]
) -> dict[str, Any]:
    from router_core.baseline import multi_baseline_scores
    from router_core.evaluation import multi_metrics, multi_table, plot_multi
    from router_core.outcomes import model_outcomes

    models = list(router.models)
    try:  # data for other models is the first thing to fix, before any price
        idx, true_q = model_outcomes(data, models)
    except ValueError as exc:
        fail(str(exc))
    cost_per_model = _costs(models, opts.prices)
    keep = mask[idx]
    idx, true_q = idx[keep], true_q[keep]
    if len(idx) < 2:
        fail(f"only {len(idx)} evaluation prompt(s) scored on every router model")
    texts = [data.prompts[i] for i in idx]
    _log(f"N-model evaluation: {len(models)} models on {len(idx):,} prompts; {COST_NOTE}")
    emb = _embed(texts, router.embedder_id, opts)
    preds = _multi_predictions(router, emb, texts, opts.chunk)

    baseline_info = _add_baseline(
        preds, base_data, files, lambda d: multi_baseline_scores(d, models, texts, opts.seed)
    )

    cost = np.tile(cost_per_model, (len(idx), 1))
    mm = multi_metrics(true_q, cost, preds, models, n_boot=opts.bootstrap, seed=opts.seed)
    plot = os.path.join(opts.out, "quality_vs_cost.png")
    plot_multi(plot, mm, f"{len(models)} models, {len(idx):,} prompts")
    typer.echo(multi_table(mm))
    typer.echo(f"note: {COST_NOTE}")
    mm.pop("_curves")
    return {
        "mode": "multi",
        "n_prompts": int(len(idx)),
        "cost_note": COST_NOTE,
        "prices_file": opts.prices,
        **mm,
        "baseline": baseline_info,
        "plot": os.path.basename(plot),
    }


# ---------------------------------------------------------------------------------------- command


@app.command()
@exit_on_bad_input
def evaluate(
    router: str = typer.Option(..., "--router", help="Router directory written by `batch-router train`."),
    data: list[str] = typer.Option(
        ...,
        "--data",
        help="Evaluation data (repeatable): battles, wide, long or struct scores (Parquet/CSV/JSON[L]); "
        "the same formats `train --data` reads.",
    ),
    fmt: list[str] | None = typer.Option(
        None,
        "--format",
        help="battles | wide | long | struct, as `train --format`: once for all --data files or once per "
        "file (default: detect). The baseline reads the router's training files with the formats train "
        "was given.",
    ),
    out: str = typer.Option(
        ...,
        "--out",
        help="Output directory: metrics.json and a PNG plot (quality vs share of strong calls for pair "
        "routers, quality vs cost for N-model routers).",
    ),
    strong: str | None = typer.Option(
        None,
        "--strong",
        help="Pair router: name of the router's strong model in the evaluation data (default: the router's "
        "own name). N-model router: evaluate this pair too, ranking prompts by predicted quality gap.",
    ),
    weak: str | None = typer.Option(None, "--weak", help="Weak model, like --strong."),
    baseline_train: list[str] | None = typer.Option(
        None,
        "--baseline-train",
        help="Training data for the TF-IDF + logistic-regression baseline (repeatable; default: the data "
        "files recorded in the router manifest, if they exist). Prompts also in the evaluation set are "
        "dropped from it.",
    ),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the TF-IDF baseline."),
    holdout: float | None = typer.Option(
        None,
        "--holdout",
        help="Evaluate only on the prompts that a hash of the text puts in this held-out fraction "
        "(router_core.training_data.split_prompts with --holdout-salt); default: every prompt.",
    ),
    holdout_salt: str = typer.Option("holdout", "--holdout-salt", help="Salt of the --holdout hash split."),
    unseen_only: bool = typer.Option(
        False,
        "--unseen-only",
        help="Leave out the evaluation prompts that are in the router's training data (same text): their "
        "routes use the outcomes observed in training (known prompts), so they are not a test of "
        "generalisation.",
    ),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", help="Bootstrap resamples of prompts for 95% CIs (0: none)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap and of the baseline."),
    prices: str | None = typer.Option(
        None,
        "--prices",
        help="N-model routers: price file, JSON/YAML model -> {input_price, output_price} in USD per 1M "
        "tokens (e.g. llmrouter_models.json). Cost per prompt = input + output price (token counts unknown).",
    ),
    torch_threads: int | None = typer.Option(
        None,
        "--threads",
        "--torch-threads",
        help="Torch CPU threads (default: torch's), as `train --threads`; --torch-threads is the same.",
    ),
    chunk: int = typer.Option(
        1024, "--chunk", help="Prompts per embedding / scoring step (progress granularity)."
    ),
    embed_cache: str | None = typer.Option(
        None,
        "--embed-cache",
        help="Embedding cache directory shared with `train --embed-cache` and `label sample --embed-cache` "
        "(npz keyed by prompt hash; the route job's --cache is a Parquet cache of its own).",
    ),
    prompt_column: str | None = typer.Option(
        None,
        "--prompt-column",
        help="Prompt column of the evaluation data (default: first of prompt, question, instruction, text, "
        "turns, messages). List cells (turns, chat messages) reduce by --messages-policy.",
    ),
    messages_policy: str | None = typer.Option(
        None,
        "--messages-policy",
        help="How list cells (MT-bench turns, chat messages) become text: all_user (the user turns joined), "
        "last_user or full. Default: the policy recorded in the router (all_user by default).",
    ),
) -> None:
    """Evaluate a trained router on held-out data against its base scorers, a TF-IDF baseline, random
    routing and the oracle. Pair routers: quality vs share of strong calls, APGR, CPT(20/50/80%).
    N-model routers: quality vs cost, AIQ, dominance over every single model."""
    given = dict(locals())  # the flags, by name: EvaluateOptions' fields
    given["format"] = given.pop("fmt") or []
    try:
        opts = EvaluateOptions.model_validate(given)
    except ValidationError as exc:
        raise options_error(exc, flag_names(EvaluateOptions.model_fields)) from None
    run_evaluate(opts)


def run_evaluate(opts: EvaluateOptions) -> dict[str, Any]:
    """The evaluate command without the CLI layer (raises BadInputError on bad input)."""
    r = _load_router(opts.router)
    if not r.is_pair and opts.strong is not None:  # checked before the N-model evaluation's minutes
        for m in (opts.strong, opts.weak):
            if m not in r.models:
                fail(f"--strong/--weak: model '{m}' is not one of the router's models {r.models}")
    policy = _messages_policy(r, opts.messages_policy)
    ev = _load(opts.data, "evaluation data", opts.prompt_column, policy, opts.formats)
    _log(f"evaluation data: {len(ev.prompts):,} prompts; models: {name_list(ev.models)}")
    mask, n_known = _evaluation_mask(r, ev.prompts, opts)
    files, formats = ([], None) if opts.no_baseline else _baseline_files(r.manifest, opts.baseline_train)
    base = None
    if files:
        base = _load(
            files, "baseline training data", r.manifest.get("prompt_column"), policy, formats,
            r.manifest.get("aliases"),
        )  # fmt: skip
        if opts.holdout is not None:  # the baseline learns only from the non-held-out side
            base = base.subset(np.flatnonzero(~_holdout_mask(base.prompts, opts.holdout, opts.holdout_salt)))
    elif not opts.no_baseline:
        _log("TF-IDF baseline skipped: no --baseline-train and no data files recorded in the router")
    os.makedirs(opts.out, exist_ok=True)
    if r.is_pair:
        res = _evaluate_pair(r, ev, opts.strong or r.strong, opts.weak or r.weak, base, opts, mask, files)
    else:
        res = _evaluate_multi(r, ev, base, opts, mask, files)
        if opts.strong is not None:
            res["pair"] = _evaluate_pair(r, ev, opts.strong, opts.weak, base, opts, mask, files)
    res.update(
        {
            "router": opts.router,
            "data": list(opts.data),
            "holdout": opts.holdout,
            "holdout_salt": opts.holdout_salt,
        }
    )
    res["known_prompts"] = {"in_evaluation_data": n_known, "left_out": opts.unseen_only}
    path = _write(opts.out, "metrics.json", res)
    typer.echo(f"wrote {path}")
    return res


def _load_router(path: str):
    from router_core.artifact import RouterLoadError
    from router_core.router import Router

    try:
        return Router.load(path)
    except RouterLoadError as exc:
        fail(str(exc))


def _messages_policy(router, given: str | None) -> str:
    """The policy to reduce list prompts with: the one given, else the one recorded in the router."""
    recorded = router.manifest.get("messages_policy", DEFAULT_MESSAGES_POLICY)
    if given is None and (policy_error := messages_policy_error(recorded)):
        fail(f"the router's recorded {policy_error}")
    policy = given or recorded
    if policy != recorded:
        _log(
            f"messages policy '{policy}' (the router was trained with '{recorded}'; its known prompts match "
            "only texts reduced the same way)"
        )
    return policy


def _evaluation_mask(router, prompts: Sequence[str], opts: EvaluateOptions) -> tuple[np.ndarray, int]:
    """(which evaluation prompts are evaluated: --holdout, --unseen-only; how many of the held-out ones
    are in the router's training data)."""
    mask = _holdout_mask(prompts, opts.holdout, opts.holdout_salt)
    n_known = router.known_count([p for p, m in zip(prompts, mask, strict=True) if m])
    if opts.unseen_only:
        if router.known is None:
            fail(
                "--unseen-only: this router keeps no table of its training prompts (trained before known "
                "prompts, or with --no-known-prompts); use --holdout with the same split as train instead"
            )
        mask &= ~(router.known.lookup(prompts) >= 0)
        _log(f"--unseen-only: left out {n_known:,} prompts that are in the router's training data")
        if not mask.any():
            fail("--unseen-only: every evaluation prompt is in the router's training data")
    elif n_known:
        _log(
            f"{n_known:,} of {int(mask.sum()):,} evaluation prompts are in the router's training data: "
            "the default score uses their observed outcomes (--unseen-only leaves them out)"
        )
    return mask, n_known
