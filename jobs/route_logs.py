"""The route job: prompt logs in (Parquet, JSON Lines, OpenAI Batch input, CSV); routing labels, cost
projections and Batch-API dispatch files out.

Runnable with ``spark-submit jobs/route_logs.py --router DIR --logs F --out D ...`` and as
``batch-router route``. Stages: validate + quarantine -> normalise and hash prompts -> embed each distinct
prompt once (embedding cache) and run all scorers in the same pass -> calibrate the policy on the whole
batch (driver, numpy) -> write every output under a staging directory -> rename partitions into place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from jobs import atomic_write, route_outputs
from jobs.config import JobConfig
from jobs.dispatch_lines import DISPATCH_MODEL, dispatch_endpoint, dispatch_line
from jobs.route_setup import (
    RouteError,
    RouteOptions,
    apply_router_defaults,
    build_onnx_model,
    check_cache_dir,
    check_out_dir,
    check_scorer_keys,
    embedder_conf,
    load_router_and_prices,
    log,
)
from jobs.spark_progress import task_progress
from jobs.validate_logs import ROW_ORDER
from jobs.validate_logs import column as log_column
from router_core import scoring_cost
from router_core.batch_files import line_shape
from router_core.dispatch_dirs import safe_model_dir
from router_core.policies import PolicyError
from router_core.projections import daily_summary, map_col, request_projections
from router_core.route_decision import (
    RoutePolicy,
    cheapest_cost_floor,
    decide,
    resolve_policy,
    route_models,
    unbound_budget_note,
)
from router_core.tokens import completion_matrix, logged_or_counted
from schemas.logs import optional_column_hints

FAIL_ENV = "BATCH_ROUTER_FAIL_BEFORE_COMMIT"  # test hook: raise after staging, before any rename


@dataclass
class Calibrated:
    """Per-request numbers on the driver, rows sorted by (dt, request_id)."""

    table: pa.Table  # request_id, prompt_hash, dt, row order, scores, predicted_quality (N-model)
    prompt_tokens: np.ndarray  # [n]
    completion_tokens: np.ndarray  # [n, M]
    cost: np.ndarray  # [n, M] USD
    idx: np.ndarray  # [n] routed model index into route_models(router)
    known: np.ndarray  # [n] bool: the score leaned on outcomes observed for this prompt in training

    @property
    def rows(self) -> np.ndarray:
        return np.arange(len(self.idx))


def run_route(opts: RouteOptions, cfg: JobConfig) -> dict[str, Any]:
    """The whole job; raises RouteError / SchemaError / UnknownModelPriceError before Spark on bad input,
    OutputBusyError when another run is writing to --out."""
    from jobs.spark_session import get_spark, session_conf_restored
    from jobs.validate_logs import resolve_input

    t_start = time.time()
    info, resolved = resolve_input(opts.logs, cfg)  # SchemaError before Spark starts
    check_out_dir(opts)
    for line in optional_column_hints(info.schema.names, resolved.optional):
        log(line)
    router, prices = load_router_and_prices(opts)
    apply_router_defaults(cfg, router)
    check_scorer_keys(cfg, router)
    check_cache_dir(Path(opts.cache) if opts.cache else None)
    build_onnx_model(embedder_conf(cfg, router))
    try:
        policy = resolve_policy(router, opts.policy)
    except PolicyError as exc:
        raise RouteError(str(exc)) from None
    log(
        f"router {opts.router}: models {route_models(router)}, scorers {list(router.scorer_names)}, "
        f"policy {policy.kind}={policy.value}"
    )
    with atomic_write.exclusive(opts.out) as locked, session_conf_restored():  # OutputBusyError: --out busy
        if not locked:
            log(f"{opts.out} cannot be locked (its filesystem has no locks): run one job at a time per --out")
        spark = get_spark(cfg.spark, input_bytes=info.size_bytes)
        log(f"spark up ({cfg.spark.master}) in {time.time() - t_start:.1f}s")
        summary = RouteRun(spark, opts, cfg, router, prices, policy).run()
    summary["seconds_total"] = round(time.time() - t_start, 2)
    log(f"done in {summary['seconds_total']:.1f}s -> {opts.out}")
    return summary


class RouteRun:
    """One execution of the route job on a live SparkSession, stage by stage."""

    def __init__(
        self, spark, opts: RouteOptions, cfg: JobConfig, router, prices, policy: RoutePolicy
    ) -> None:
        self.spark, self.opts, self.cfg = spark, opts, cfg
        self.router, self.prices, self.policy = router, prices, policy
        self.models = route_models(router)
        self.out = Path(opts.out)
        self.cache_dir = Path(opts.cache) if opts.cache else self.out / "_embedding_cache"
        self.counts: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        staging = atomic_write.new_staging(self.out)
        router_name = ship_router(self.spark, Path(self.opts.router))
        v, keyed = self.validate(staging)
        try:
            if self.opts.date and not self.counts["rows_in"]:
                from jobs.validate_logs import no_rows_of_date

                shutil.rmtree(staging.parent, ignore_errors=True)  # the run's staging root: one run per --out
                raise RouteError(no_rows_of_date(self.spark, self.opts.logs, self.cfg, self.opts.date))
            self.check_budget_floor()
            scored = self.embed_and_score(keyed, router_name)
            try:
                with self.cache_append(scored):
                    cal = self.calibrate(keyed, scored, v.resolved)
                    self.write_staged(staging, keyed, v, cal)
            finally:
                scored.unpersist()
        finally:
            v.checked.unpersist()
        if os.environ.get(FAIL_ENV):
            raise RuntimeError(f"{FAIL_ENV} is set: failing after staging, before commit (test hook)")
        self.commit(staging, cal)
        summary = self.summary(cal)
        for line in scoring_cost.describe(summary.get("scoring_cost", {})):
            log(line)
        route_outputs.write_manifest(
            self.out, self.opts, self.cfg, self.router, self.policy, self.prices, summary
        )
        route_outputs.print_summary(summary, self.router)
        return summary

    # 1. validate + quarantine, normalise + hash
    def validate(self, staging: Path):
        from pyspark import StorageLevel
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        from jobs.validate_logs import undated_line, validate_logs

        t = time.time()
        checked = Observation("checked")
        v = validate_logs(
            self.spark, self.opts.logs, self.cfg, self.opts.date, prompt_key=True, observation=checked
        )
        # Every row is read and checked once: valid rows (keyed) and quarantine rows are read from here.
        v.checked.persist(StorageLevel.MEMORY_AND_DISK)
        rid = log_column(v.resolved.request_id).cast("string")
        keyed = v.valid.withColumn("request_id", rid).withColumn(
            "_br_tb",
            F.xxhash64(rid),  # deterministic tie-break, independent of input order
        )
        pt, ct = (
            _logged(v.resolved, "prompt_tokens", "long"),
            _logged(v.resolved, "completion_tokens", "double"),
        )
        media = keyed.agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.col("image_parts")).alias("images"),
            F.sum(F.col("audio_parts")).alias("audio"),
            F.sum(((F.col("image_parts") + F.col("audio_parts")) > 0).cast("int")).alias("with_media"),
            # the token totals of the budget's floor (check_budget_floor), as calibrate reads the counts
            F.sum(F.when(pt >= 0, pt)).alias("prompt_tokens"),
            F.sum(F.when(ct >= 0, ct)).alias("completion_tokens"),
            F.count(F.when(ct >= 0, 1)).alias("with_completion"),
        ).first()
        self.logged_tokens = (
            float(media["prompt_tokens"] or 0),
            float(media["completion_tokens"] or 0),
            media["n"] - media["with_completion"],
        )
        n_valid = media["n"]
        # Quarantine is written (staged) once and counted from the files, not recomputed; the first action
        # counted it (the observation), so a clean log has nothing to write and no second job over the rows.
        observed = checked.get
        self.q_counts = []
        if observed["quarantined"]:
            route_outputs.write_partitioned(v.quarantine, staging / "quarantine")
            self.q_counts = route_outputs.count_quarantine(staging / "quarantine")
        n_quar = sum(r["count"] for r in self.q_counts)
        self.counts.update(
            rows_in=n_valid + n_quar,
            valid=n_valid,
            quarantined=n_quar,
            quarantined_by_reason=route_outputs.by_reason(self.q_counts),
        )
        self.counts.update(
            log_format=v.fmt, image_parts=int(media["images"] or 0), audio_parts=int(media["audio"] or 0)
        )
        self.counts["undated_rows"] = observed.get("undated", 0)
        s = time.time() - t
        log(
            f"validate ({v.fmt}): {n_valid + n_quar} rows -> {n_valid} valid + {n_quar} quarantined in "
            f"{s:.1f}s ({(n_valid + n_quar) / max(s, 1e-9):.0f} rows/s)"
        )
        if line := undated_line(self.counts["undated_rows"], self.opts.date):
            log(line)
        if media["with_media"]:
            log(
                f"{media['with_media']} valid requests carry {self.counts['image_parts']} image and "
                f"{self.counts['audio_parts']} audio parts: routed on their text parts, sent unchanged"
            )
        return v, keyed

    def check_budget_floor(self) -> None:
        """A --budget-usd below what the valid requests cost on their cheapest models is an error before
        anything is embedded (router_core.route_decision.cheapest_cost_floor), not after."""
        if self.policy.kind != "budget_usd" or not self.counts["valid"]:
            return
        floor = cheapest_cost_floor(self.prices, self.models, *self.logged_tokens)
        if floor * (1 - 1e-9) > self.policy.value:  # the floor adds in another order than decide's total
            raise RouteError(
                f"--budget-usd {self.policy.value:g} is below the cheapest possible cost: the "
                f"{self.counts['valid']} valid requests cost at least ${floor:.4f} on the cheapest models"
            )

    # 2. each distinct prompt embedded at most once (cache first), all scorers in the same pass
    def embed_and_score(self, keyed, router_name: str):
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        from jobs.embedding_cache import read_cache
        from udfs.score_udf import make_score_fn, score_schema

        t = time.time()
        distinct = keyed.select("prompt_hash", F.col("norm_text").alias("text")).dropDuplicates(
            ["prompt_hash"]
        )
        cached, unreadable = read_cache(self.spark, self.cache_dir, self.router.embedder_id)
        for note in unreadable:
            log(f"embedding cache: {note}: left out, its prompts are embedded again (delete the file)")
        joined = self.score_tasks(distinct, cached)
        n_models = None if self.router.strong is not None else len(self.models)
        conf = embedder_conf(self.cfg, self.router)
        scored = joined.mapInArrow(
            make_score_fn(router_name, conf, use_known=not self.opts.ignore_known_prompts),
            score_schema(list(self.router.scorer_names), n_models),
        ).persist(StorageLevel.MEMORY_AND_DISK)  # computed once, read by the cache write and the join
        try:
            with task_progress(self.spark, "embed+score", log):
                stats = {r["from_cache"]: r["count"] for r in scored.groupBy("from_cache").count().collect()}
        except Exception as exc:  # noqa: BLE001 - a scorer's endpoint failing is one line, anything else re-raised
            if (line := scorer_failure(exc)) is None:
                raise
            raise RouteError(line) from None
        n_new, n_cached = stats.get(False, 0), stats.get(True, 0)
        self.counts.update(distinct_prompts=n_new + n_cached, embedded=n_new, from_cache=n_cached)
        s = time.time() - t
        log(
            f"embed+score: {self.counts['valid']} valid rows -> {n_new + n_cached} distinct prompts "
            f"({n_new} embedded, {n_cached} from cache) in {s:.1f}s ({(n_new + n_cached) / max(s, 1e-9):.0f} "
            "prompts/s)"
        )
        return scored

    @contextmanager
    def cache_append(self, scored) -> Iterator[None]:
        """Append the newly embedded prompts to the embedding cache in a Spark job of its own, while the
        body calibrates and writes (on 4,000 prompts the append took ~0.8 s, most of it waiting on the
        JVM). The outputs are committed only after the append succeeded."""
        from concurrent.futures import ThreadPoolExecutor

        from pyspark.sql import functions as F

        from jobs.embedding_cache import append_cache

        if not self.counts["embedded"]:
            yield
            return
        new = scored.where(~F.col("from_cache"))

        def append() -> float:
            t = time.time()
            append_cache(new, self.cache_dir, self.router.embedder_id, rows=self.counts["embedded"])
            return time.time() - t

        with ThreadPoolExecutor(1, thread_name_prefix="cache-append") as pool:
            done = pool.submit(append)
            try:
                yield
            except BaseException:
                if (exc := done.exception()) is not None:  # waits for the append: the body's error wins
                    log(f"the embedding cache append failed too: {exc}")
                raise
            seconds = done.result()  # a failed append fails the run before anything is committed
        log(
            f"embedding cache: {self.counts['embedded']} new vectors appended to {self.cache_dir} in "
            f"{seconds:.1f}s, beside calibrate and write"
        )

    def score_tasks(self, distinct, cached):
        """The distinct prompts (prompt_hash, text, embedding: null unless cached) as the embed+score
        tasks. An explicit task count, 4 x the default parallelism (16 on local[2]): adaptive execution
        would coalesce this small shuffle output (a few MB of text) into one partition, i.e. one core
        embedding everything.

        Without a cache every prompt is embedded, and the tasks get ranges of prompt length, longest
        first: the embedder pads each batch to its longest prompt, and a task of similar lengths pads
        little (random tasks of 500 prompts padded 19% more tokens than one sort of all 4,000); the short
        tasks fill the tail. With a cache the tasks are random: the range bounds are sampled from the
        joined rows, a second pass over the cached vectors (embed+score 3 s longer at 16,636 cached
        prompts, and as long when only the prompts to embed were ranged)."""
        from pyspark.sql import functions as F

        n = 4 * self.spark.sparkContext.defaultParallelism
        if cached is not None:
            return distinct.join(cached, "prompt_hash", "left").repartition(n)
        todo = distinct.withColumn("embedding", F.lit(None).cast("array<float>"))
        return todo.repartitionByRange(n, F.length("text").desc(), "prompt_hash")

    def decide(self, table: pa.Table, cost: np.ndarray) -> np.ndarray:
        """Model index per row of the calibration table (see router_core.route_decision.decide)."""
        if self.router.strong is not None:
            scores = table.column("strong_win_prob").to_numpy(zero_copy_only=False).astype(np.float64)
        else:
            scores = np.asarray(table.column("predicted_quality").to_pylist(), dtype=np.float64)
        try:
            idx = decide(self.router, self.policy, scores, table.column("_br_tb").to_numpy(), cost)
        except PolicyError as exc:
            raise RouteError(str(exc)) from None
        if note := unbound_budget_note(self.router, self.policy, scores, cost, idx):
            log(note)
        return idx

    # 3. calibrate the policy on the whole batch (driver: a few numbers per request)
    def calibrate(self, keyed, scored, resolved) -> Calibrated:
        t = time.time()
        table = self.request_table(keyed, scored, resolved)
        if table.num_rows != self.counts["valid"]:  # a request lost or doubled joining its prompt's scores
            raise RouteError(
                f"{table.num_rows} requests scored of {self.counts['valid']} valid ones: nothing committed"
            )
        pt_log, ct_log = _token_counts(table, "_pt_log"), _token_counts(table, "_ct_log")
        pt = logged_or_counted(pt_log, _floats(table, "counted_prompt_tokens"))
        ct = completion_matrix(ct_log, self.models, self.prices)
        self.counts["prompt_tokens_counted"] = int(np.isnan(pt_log).sum())
        self.counts["completion_tokens_estimated"] = int(np.isnan(ct_log).sum())
        cost = self.prices.cost_matrix(pt, ct, self.models)
        idx = self.decide(table, cost) if table.num_rows else np.zeros(0, dtype=np.int64)
        known_rows = self.known_prompt_rows(table)
        self.label_coverage(table)
        log(
            f"calibrate: {self.policy.kind}={self.policy.value} on {table.num_rows} requests in "
            f"{time.time() - t:.1f}s; "
            + ", ".join(f"{m}: {int((idx == i).sum())}" for i, m in enumerate(self.models))
        )
        return Calibrated(table, pt, ct, cost, idx, known_rows)

    def request_table(self, keyed, scored, resolved) -> pa.Table:
        """One row per valid request on the driver, sorted by (dt, request_id): its keys, the token counts
        the log gives (null where it gives none) and its prompt's scores."""

        rows = keyed.select(
            "request_id",
            "prompt_hash",
            "dt",
            ROW_ORDER,
            "_br_tb",
            _logged(resolved, "prompt_tokens", "long").alias("_pt_log"),
            _logged(resolved, "completion_tokens", "double").alias("_ct_log"),
        ).join(scored.drop("embedding", "from_cache"), "prompt_hash")
        return rows.toArrow().sort_by([("dt", "ascending"), ("request_id", "ascending")])

    def known_prompt_rows(self, table: pa.Table) -> np.ndarray:
        """Per row: is its prompt one the router saw in training (whose score leans on the outcomes
        observed for it)? All False without known prompts or with --ignore-known-prompts."""
        known = self.router.known
        known_rows = np.zeros(table.num_rows, dtype=bool)
        if known is not None and self.opts.ignore_known_prompts:
            self.counts["known_prompts"] = None  # not looked up
            log("known prompts: ignored (--ignore-known-prompts)")
        elif known is not None:
            row_hashes = np.asarray(table.column("prompt_hash").to_pylist(), dtype="S32")
            known_rows = known.lookup_hashes(row_hashes) >= 0
            self.counts["known_prompts"] = int(len(np.unique(row_hashes[known_rows])))
            log(
                f"known prompts: {self.counts['known_prompts']} of {len(np.unique(row_hashes))} distinct "
                f"prompts ({int(known_rows.sum())} requests, label column known_prompt) are in the router's "
                "training data and lean on their observed outcomes"
            )
        return known_rows

    def label_coverage(self, table: pa.Table) -> None:
        """Summary of the requests' label_similarity (cosine to the nearest training prompt), beside the
        training prompts' own (the router's manifest), in the log and the run's counts."""
        from router_core.label_coverage import LOW_SIMILARITY, similarity_summary

        sims = table.column("label_similarity").to_numpy(zero_copy_only=False).astype(np.float64)
        stats = self.counts["label_similarity"] = similarity_summary(sims)
        if not stats["count"]:
            if table.num_rows:
                log("label similarity: unknown (the router holds no index of its training prompts)")
            return
        ref = (self.router.manifest.get("label_similarity") or {}).get("training_nearest_other") or {}
        versus = ""
        if ref.get("count"):
            versus = f" (training prompts to their nearest other one: median {ref['median']:.2f})"
        log(
            f"label similarity (cosine to the nearest training prompt, label column label_similarity): "
            f"median {stats['median']:.2f}{versus}; {100 * stats[f'share_below_{LOW_SIMILARITY}']:.1f}% of "
            f"requests below {LOW_SIMILARITY}, where the router is guessing from generic knowledge"
        )

    # 4. every output written under the staging directory
    def write_staged(self, staging: Path, keyed, v, cal: Calibrated) -> None:
        t = time.time()
        routed = pa.array(np.asarray(self.models, dtype=object)[cal.idx].tolist(), pa.string())
        # The decided rows are on the driver, sorted by dt and request_id: written from here, no Spark job.
        route_outputs.write_table_by_day(self.labels_table(cal, routed), staging / "labels")
        route_outputs.write_table_by_day(self.projections_table(cal, routed), staging / "projections")
        daily = daily_summary(cal.table.column("dt").to_pylist(), cal.idx, cal.cost, self.models)
        route_outputs.write_table_by_day(daily, staging / "projections_daily")
        self.write_dispatch(staging, keyed, v, cal, routed)
        log(f"write (staged): labels, projections, quarantine, dispatch in {time.time() - t:.1f}s")

    def labels_table(self, cal: Calibrated, routed: pa.Array) -> pa.Table:
        table = cal.table
        labels: dict[str, Any] = {
            "request_id": table.column("request_id"),
            "prompt_hash": table.column("prompt_hash"),
            **{f"score_{s}": table.column(f"score_{s}") for s in self.router.scorer_names},
            "strong_win_prob": table.column("strong_win_prob"),
            "routed_model": routed,
            "known_prompt": pa.array(cal.known, pa.bool_()),
            "label_similarity": table.column("label_similarity"),
        }
        if self.router.strong is None:
            quality = np.asarray(table.column("predicted_quality").combine_chunks().flatten())
            labels["predicted_quality"] = map_col(self.models, quality.reshape(-1, len(self.models)))
        labels["dt"] = table.column("dt")
        return pa.table(labels)

    def projections_table(self, cal: Calibrated, routed: pa.Array) -> pa.Table:
        r = self.router
        pair = (r.strong, r.weak) if r.strong is not None else None
        return request_projections(
            cal.table, routed, cal.idx, cal.prompt_tokens, cal.completion_tokens, cal.cost, self.models, pair
        )

    def write_dispatch(self, staging: Path, keyed, v, cal: Calibrated, routed: pa.Array) -> None:
        """The Batch API lines of the valid rows (their bodies are in Spark), under the routed model."""

        self.dirs = safe_model_dir(self.models)
        sent_as = self.opts.dispatch_models  # the names the models are sent under, where not their own
        dir_of = np.asarray([self.dirs[m] for m in self.models], dtype=object)
        name_of = np.asarray([sent_as.get(m, m) for m in self.models], dtype=object)
        decisions = self.spark.createDataFrame(
            pa.table(
                {
                    ROW_ORDER: cal.table.column(ROW_ORDER),
                    DISPATCH_MODEL: pa.array(name_of[cal.idx].tolist(), pa.string()),
                    "_model_dir": pa.array(dir_of[cal.idx].tolist(), pa.string()),
                }
            )
        )
        dispatch = keyed.join(decisions, ROW_ORDER).select(
            dispatch_line(v.resolved, v.fmt).alias("value"),
            "_model_dir",
            "dt",
            dispatch_endpoint(v.resolved, v.fmt).alias("_endpoint"),
            "request_id",
        )
        route_outputs.write_dispatch(dispatch, staging / "dispatch")
        try:
            model_of_dir = {d: sent_as.get(m, m) for m, d in self.dirs.items()}
            lines = route_outputs.check_dispatch(staging / "dispatch", model_of_dir, line_shape(v.fmt))
        except route_outputs.DispatchCheckError as exc:
            raise RouteError(str(exc)) from None
        if lines != cal.table.num_rows:  # each routed request is sent exactly once, or nothing is committed
            raise RouteError(
                f"the dispatch files hold {lines} lines for {cal.table.num_rows} routed requests: nothing "
                f"was committed to {self.out}"
            )
        self.counts["dispatch_lines"] = lines

    # 5. rename partitions into place; dates this run processed are replaced, others kept
    def commit(self, staging: Path, cal: Calibrated) -> None:
        self.dates = set(cal.table.column("dt").to_pylist()) | {r["dt"] for r in self.q_counts}
        for name in route_outputs.OUTPUTS:
            atomic_write.commit_partitioned(staging / name, self.out / name, self.out, self.dates)
        route_outputs.commit_dispatch(
            staging / "dispatch", self.out / "dispatch", self.out, self.dates, self.dirs
        )
        atomic_write.finish(self.out)

    def summary(self, cal: Calibrated) -> dict[str, Any]:
        out = {
            **self.counts,
            "routed": {m: int((cal.idx == i).sum()) for i, m in enumerate(self.models)},
            "cost_routed_usd": float(cal.cost[cal.rows, cal.idx].sum()),
            "cost_by_model_usd": {m: float(cal.cost[:, i].sum()) for i, m in enumerate(self.models)},
            "dates": sorted(self.dates),
        }
        # every distinct prompt goes through each scorer once: what the paid ones cost, at training's rate
        n_prompts, n_routed = self.counts.get("distinct_prompts", 0), int(len(cal.idx))
        projected = scoring_cost.project(self.router.manifest, n_prompts, n_routed)
        if projected:
            out["scoring_cost"] = projected
        return out


def _logged(resolved, name: str, kind: str):
    """Spark column of the log's token count ``name`` (prompt_tokens, completion_tokens), null without one."""
    from pyspark.sql import functions as F

    return (
        log_column(resolved.optional[name]).cast(kind)
        if name in resolved.optional
        else F.lit(None).cast(kind)
    )


def _floats(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64, nulls as NaN."""
    return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)


def _token_counts(table: pa.Table, name: str) -> np.ndarray:
    """A logged token count column as float64, NaN where the log gives none or a negative one (no count:
    counted or assumed instead, never a negative cost)."""
    counts = _floats(table, name)
    counts[counts < 0] = np.nan
    return counts


def scorer_failure(exc: BaseException) -> str | None:
    """The message of a scorer's endpoint error (``LLMScorerError``: key, endpoint, model, retries
    exhausted) raised in a Spark task, without the task's traceback; None for any other failure."""
    marker = "LLMScorerError: "
    lines = [ln.split(marker, 1)[1].strip() for ln in str(exc).splitlines() if marker in ln]
    return lines[-1] if lines else None


def ship_router(spark, router_dir: Path) -> str:
    """Ship the router artefact to every executor through Spark itself (no shared filesystem assumed).

    Spark only ships directories in local mode, so the artefact goes as a zip archive that each executor
    unpacks once (``SparkContext.addArchive``); the name carries the manifest's hash, so a re-trained
    router never collides with the one a reused session already shipped.
    """
    import tempfile
    import zipfile

    digest = hashlib.sha256((router_dir / "manifest.json").read_bytes()).hexdigest()[:16]
    name = f"router-{digest}.zip"
    ship_dir = Path(tempfile.gettempdir()) / f"batch-router-{os.getuid()}"
    archive = ship_dir / name
    if not archive.exists():
        ship_dir.mkdir(parents=True, exist_ok=True)
        tmp = ship_dir / f".{name}.{os.getpid()}.tmp"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            for f in sorted(router_dir.rglob("*")):
                if f.is_file():
                    zf.write(f, f.relative_to(router_dir).as_posix())
        os.replace(tmp, archive)
    spark.sparkContext.addArchive(str(archive))
    return name


if __name__ == "__main__":  # spark-submit jobs/route_logs.py --router DIR --logs F --out D ...
    from jobs.route_cmd import app_main
    from jobs.spark_session import with_submitted_master

    sys.exit(app_main(with_submitted_master(sys.argv[1:])))
