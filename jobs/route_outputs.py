"""Writers of the route job's outputs: staged Spark writes, dispatch-file commit, manifest, summary.

Every output is first written under ``<out>/_staging/<run>`` (see jobs.atomic_write), then renamed into
place partition by partition.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from jobs import atomic_write
from jobs.route_setup import log
from router_core.artifact import sha256_file
from router_core.batch_files import MAX_BYTES, MAX_REQUESTS, OPENAI_LINES, check_batch_file, chunk_numbers
from router_core.tokens import estimated_token_lines

DISPATCH_MAX_LINES = MAX_REQUESTS  # OpenAI Batch API: at most 50,000 requests and 200 MB per input file
OUTPUTS = ("labels", "projections", "projections_daily", "quarantine")


def by_reason(q_counts) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in q_counts:
        out[r["reason"]] = out.get(r["reason"], 0) + r["count"]
    return dict(sorted(out.items()))


def count_quarantine(path: Path) -> list[dict[str, Any]]:
    """[{dt, reason, count}] of a written quarantine/ directory (none when Spark wrote no file)."""
    import pyarrow.dataset as pads

    if not any(path.rglob("*.parquet")):
        return []
    part = pads.partitioning(pa.schema([("dt", pa.string())]), flavor="hive")
    t = pads.dataset(str(path), format="parquet", partitioning=part).to_table(columns=["dt", "reason"])
    g = t.group_by(["dt", "reason"]).aggregate([("reason", "count")])
    return [{"dt": r["dt"], "reason": r["reason"], "count": r["reason_count"]} for r in g.to_pylist()]


def write_partitioned(df, path: Path) -> None:
    """One file per dt, rows sorted by request_id: identical input gives identical files."""
    df.repartition("dt").sortWithinPartitions("request_id").write.partitionBy("dt").parquet(str(path))


# The characters Spark escapes in a partition value (ExternalCatalogUtils.escapePathName), and its name
# for a null or empty one: the driver's files sit in the directories Spark would have made.
_PATH_ESCAPED = frozenset([chr(c) for c in range(1, 32)] + list("\"#%'*/:=?\\\x7f{[]^"))
HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def partition_dir_name(key: str, value: str | None) -> str:
    if not value:
        return f"{key}={HIVE_DEFAULT_PARTITION}"
    return key + "=" + "".join(f"%{ord(c):02X}" if c in _PATH_ESCAPED else c for c in value)


def write_table_by_day(table: pa.Table, path: Path) -> None:
    """``write_partitioned`` of a table the driver holds, without a Spark job: one file per dt (the
    column dropped, as Spark does), rows in the table's order (the caller sorts by request_id)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rest = table.drop_columns(["dt"])
    dts = pc.fill_null(table.column("dt"), "")
    for day in pc.unique(dts).to_pylist():
        part = path / partition_dir_name("dt", day)
        part.mkdir(parents=True, exist_ok=True)
        rows = rest.filter(pc.equal(dts, day))
        pq.write_table(rows, part / "part-00000.snappy.parquet", compression="snappy")


def write_dispatch(dispatch, path: Path) -> None:
    """dispatch: DataFrame (value JSON line, _model_dir, dt, _endpoint, request_id) -> text files, <= 50k
    lines each; one endpoint per file, as the Batch API requires of a file's lines. Lines are in
    request_id order (the partition columns lead the sort, or the writer sorts by them alone)."""
    (
        dispatch.repartition("_model_dir", "dt")
        .sortWithinPartitions("_model_dir", "dt", "_endpoint", "request_id")
        .drop("request_id")
        .write.option("maxRecordsPerFile", DISPATCH_MAX_LINES)
        .partitionBy("_model_dir", "dt", "_endpoint")
        .text(str(path))
    )


def _part_files(ddir: Path) -> list[Path]:
    """A staged day's part files, those of chat completions first, then those of responses."""
    return [
        p for e in atomic_write.partitions(ddir) for p in sorted(e.iterdir()) if p.name.startswith("part-")
    ]


class DispatchCheckError(RuntimeError):
    """A staged dispatch file breaks the Batch API's rules: nothing is committed."""


def _split_file(path: Path, max_bytes: int) -> None:
    """Replace a staged part file over ``max_bytes`` by numbered pieces within the Batch API's limits."""
    out = None
    current = -1
    with open(path, "rb") as src:
        for k, line in chunk_numbers(src, MAX_REQUESTS, max_bytes):
            if k != current:
                if out:
                    out.close()
                out, current = open(path.with_name(f"{path.name}.{k:03d}"), "wb"), k
            out.write(line)
    if out:
        out.close()
    path.unlink()


def check_dispatch(
    staged: Path, model_of_dir: dict[str, str], shape: str = OPENAI_LINES, max_bytes: int = MAX_BYTES
) -> int:
    """Split staged dispatch files over the size limit, then read every line of every file back and
    check it against the Batch API's rules (router_core.batch_files); raise DispatchCheckError. Returns
    how many lines the files hold."""
    lines = 0
    for mdir in atomic_write.partitions(staged):
        model = model_of_dir[mdir.name.split("=", 1)[1]]
        for ddir in atomic_write.partitions(mdir):
            for p in _part_files(ddir):
                if p.stat().st_size > max_bytes:
                    _split_file(p, max_bytes)
            for p in _part_files(ddir):
                n, problems = check_batch_file(p, model, shape)
                if problems:
                    raise DispatchCheckError(
                        f"dispatch file for {model} ({ddir.name}) breaks the Batch API rules: "
                        + "; ".join(problems)
                    )
                lines += n
    return lines


def commit_dispatch(staged: Path, final: Path, out: Path, dates: set[str], dirs: dict[str, str]) -> None:
    """Spark's ``_model_dir=X/dt=D/_endpoint=E/part-*.txt`` -> ``dispatch/X/dt=D/part-00000.jsonl``
    (renumbered over the endpoints)."""
    written: set[tuple[str, str]] = set()
    for mdir in atomic_write.partitions(staged):
        model_dir = mdir.name.split("=", 1)[1]
        for ddir in atomic_write.partitions(mdir):
            for i, p in enumerate(_part_files(ddir)):
                os.rename(p, ddir / f"part-{i:05d}.jsonl")
            for endpoint in atomic_write.partitions(ddir):  # now holding only Spark's .crc side files
                shutil.rmtree(endpoint)
            for junk in ddir.iterdir():
                if junk.name.startswith("."):
                    junk.unlink()
            atomic_write.replace_dir(ddir, final / model_dir / ddir.name, out / atomic_write.TRASH)
            written.add((model_dir, ddir.name))
    # A date re-run that no longer routes anything to a model must drop that model's old files.
    if final.is_dir():
        for model_dir in final.iterdir():
            for d in dates:
                old = model_dir / f"dt={d}"
                if old.is_dir() and (model_dir.name, old.name) not in written:
                    (out / atomic_write.TRASH).mkdir(parents=True, exist_ok=True)
                    os.rename(old, out / atomic_write.TRASH / os.urandom(8).hex())
    write_models_json(final, dirs)


def write_models_json(final: Path, dirs: dict[str, str]) -> None:
    """dispatch/models.json: directory -> model of this run's models, and of the directories earlier runs
    (another router, other days) left in place."""
    path = final / "models.json"
    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:  # a damaged file: rebuilt from this run's models
        known = {}
    if not isinstance(known, dict):
        known = {}
    kept = {d: m for d, m in known.items() if isinstance(m, str) and (final / d).is_dir()}
    kept.update({d: m for m, d in dirs.items()})
    final.mkdir(parents=True, exist_ok=True)
    tmp = final / "_models.json.tmp"
    tmp.write_text(json.dumps(dict(sorted(kept.items())), indent=2) + "\n")
    os.replace(tmp, path)


def output_checksums(out: Path, dates: list[str]) -> dict[str, str]:
    """sha256 of every file of the run's ``dates`` (and dispatch/models.json): the files it wrote, not
    those other runs left for other days in the same --out."""
    days = {partition_dir_name("dt", d) for d in dates}
    sums = {}
    for name in ("labels", "projections", "projections_daily", "quarantine", "dispatch"):
        root = out / name
        if root.is_dir():
            for p in sorted(root.rglob("*")):
                rel = p.relative_to(out)
                if not p.is_file() or any(part.startswith((".", "_")) for part in rel.parts):
                    continue
                if days.intersection(rel.parts) or rel == Path("dispatch", "models.json"):
                    sums[str(rel)] = sha256_file(p)
    return sums


def write_manifest(out: Path, opts, cfg, router, policy, prices, summary) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        pkg = version("batch-router")
    except PackageNotFoundError:
        pkg = "unknown"
    manifest_json = json.dumps(router.manifest, sort_keys=True, default=str).encode()
    doc = {
        "package_version": pkg,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inputs": {
            "logs": str(Path(opts.logs).resolve()),
            "date": opts.date,
            "router": str(Path(opts.router).resolve()),
            "prices": opts.prices,
            "dispatch_models": opts.dispatch_models,
        },
        "router": {
            "models": list(router.models),
            "strong": router.strong,
            "weak": router.weak,
            "scorers": list(router.scorer_names),
            "embedder_id": router.embedder_id,
            "manifest_sha256": hashlib.sha256(manifest_json).hexdigest(),
        },
        "policy": asdict(policy),
        "prices": {m: asdict(prices.price(m)) for m in summary["routed"]},
        "batch_discount": opts.batch_discount,
        "config": cfg.model_dump(mode="json"),
        "counts": summary,
        "outputs": output_checksums(out, summary["dates"]),
    }
    tmp = out / "_manifest.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    os.replace(tmp, out / "manifest.json")


def print_summary(s: dict[str, Any], router) -> None:
    n = max(1, sum(s["routed"].values()))
    for m, k in s["routed"].items():
        requests = "1 request" if k == 1 else f"{k} requests"
        log(f"  {m}: {requests} ({100 * k / n:.1f}%), all-{m} cost ${s['cost_by_model_usd'][m]:.4f}")
    counted, assumed = s.get("prompt_tokens_counted", 0), s.get("completion_tokens_estimated", 0)
    for note in estimated_token_lines(counted, assumed):
        log(f"  {note}")
    line = f"  projected cost ${s['cost_routed_usd']:.4f}"
    if router.strong is not None:
        strong_cost = s["cost_by_model_usd"][router.strong]
        if strong_cost > 0:
            saved = 100 * (1 - s["cost_routed_usd"] / strong_cost)
            line += f" vs all-strong ${strong_cost:.4f} ({saved:.1f}% saved)"
    log(line)
