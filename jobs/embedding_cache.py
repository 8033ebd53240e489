"""Parquet embedding cache keyed by (embedder id, prompt hash): re-runs and backfills embed only new prompts.

Layout: ``<cache>/embedder=<sha256(id)[:16]>/part-<run>-<n>.parquet`` with columns ``embedder_id``,
``prompt_hash``, ``embedding`` (array<float>). New rows are written to a hidden ``_tmp-*`` directory and
each finished file is renamed into place, so readers never see a partial file; the next append deletes
the write directories of runs killed more than a day before. Two runs that embed the
same prompt concurrently may both append it: readers keep one row per hash. A file that cannot be
read is left out (its prompts are embedded again), not a failure of the run.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import time
import uuid
from pathlib import Path


def embedder_dir(cache: str | Path, embedder_id: str) -> Path:
    return Path(cache) / f"embedder={hashlib.sha256(embedder_id.encode()).hexdigest()[:16]}"


CACHE_COLUMNS = frozenset({"embedder_id", "prompt_hash", "embedding"})


def cache_files(d: Path) -> tuple[list[Path], list[str]]:
    """The cache's Parquet files Spark can read, and one note per file it cannot (a truncated or
    foreign file): those are left out, so their prompts are embedded again, not the whole run failing
    on one file (names starting with ``_`` or ``.`` are skipped, as Spark skips them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    good, bad = [], []
    for p in sorted(d.glob("*.parquet")):
        if p.name.startswith(("_", ".")):
            continue
        try:
            problem = _schema_problem(pq.read_schema(p))
        except (OSError, pa.ArrowException) as exc:
            problem = f"is not a readable Parquet file ({str(exc).splitlines()[0][:120]})"
        if problem:
            bad.append(f"{p} {problem}")
        else:
            good.append(p)
    return good, bad


def _schema_problem(schema) -> str | None:
    """Why a file of this schema is no cache file Spark reads with the others (None when it is one):
    its columns, and vectors of 32-bit floats (Spark cannot read a file of doubles as floats)."""
    import pyarrow as pa

    if missing := CACHE_COLUMNS - set(schema.names):
        return f"lacks the cache's column(s) {', '.join(sorted(missing))}"
    vectors = schema.field("embedding").type
    if not pa.types.is_list(vectors) or vectors.value_type != pa.float32():
        return f"holds embedding as {vectors}, not list<float>"
    return None


def read_cache(spark, cache: str | Path, embedder_id: str):
    """(DataFrame (prompt_hash, embedding) of this embedder's cached vectors or None when there are none,
    notes on the files left out as unreadable)."""
    from pyspark.sql import functions as F

    d = embedder_dir(cache, embedder_id)
    files, bad = cache_files(d) if d.is_dir() else ([], [])
    if not files:
        return None, bad
    df = spark.read.parquet(*map(str, files)).where(F.col("embedder_id") == embedder_id)
    return df.select("prompt_hash", "embedding").dropDuplicates(["prompt_hash"]), bad


# Vectors per appended file (~150 MB of Parquet for 384 floats): a nightly run appends one file, not
# one per task, so a year of runs leaves hundreds of files for the next read to list and open, not
# thousands.
ROWS_PER_FILE = 100_000


def append_cache(df, cache: str | Path, embedder_id: str, rows: int | None = None) -> int:
    """Append rows (prompt_hash, embedding) of ``df``; returns how many files were added. ``rows``: how
    many rows ``df`` holds, when known: the append writes ceil(rows / ROWS_PER_FILE) files."""
    from pyspark.sql import functions as F

    d = embedder_dir(cache, embedder_id)
    d.mkdir(parents=True, exist_ok=True)
    drop_abandoned_writes(d)
    run = uuid.uuid4().hex[:12]
    tmp = d / f"_tmp-{run}"
    out = df.select(F.lit(embedder_id).alias("embedder_id"), "prompt_hash", "embedding")
    if rows is not None:
        out = out.coalesce(max(1, math.ceil(rows / ROWS_PER_FILE)))
    out.write.parquet(str(tmp))
    files = sorted(tmp.glob("part-*.parquet"))
    for i, f in enumerate(files):
        os.rename(f, d / f"part-{run}-{i:05d}.parquet")
    shutil.rmtree(tmp, ignore_errors=True)
    return len(files)


# A write directory this old belongs to a run that was killed while appending: no append takes that long.
ABANDONED_AFTER_S = 24 * 3600


def drop_abandoned_writes(d: Path, now: float | None = None) -> None:
    """Delete the ``_tmp-*`` directories killed runs left in ``d`` (never read, but up to ~150 MB each);
    those of appends that may still be running (younger than ABANDONED_AFTER_S) stay."""
    now = time.time() if now is None else now
    for tmp in d.glob("_tmp-*"):
        if tmp.is_dir() and now - tmp.stat().st_mtime > ABANDONED_AFTER_S:
            shutil.rmtree(tmp, ignore_errors=True)
