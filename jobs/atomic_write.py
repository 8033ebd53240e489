"""Atomic publication of Spark outputs: write under ``<out>/_staging/<run>``, then rename into place.

A ``dt=YYYY-MM-DD`` partition becomes visible in one ``rename``: readers see the old partition, then
(after a moment with none) the new one, never a half-written one. Re-running a date replaces only that
date's partitions. Names starting with ``_`` are skipped by Spark and pyarrow readers, so a killed run's
staging directory is invisible and is removed by the next run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

STAGING = "_staging"
TRASH = "_trash"


def new_staging(out: str | Path) -> Path:
    """A fresh staging directory; leftovers of killed runs are removed first (one run per --out)."""
    root = Path(out) / STAGING
    if root.exists():
        shutil.rmtree(root)
    path = root / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def replace_dir(new: Path, target: Path, trash_root: Path) -> None:
    """Put directory ``new`` at ``target`` with renames only (the old one, if any, is deleted after)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        trash_root.mkdir(parents=True, exist_ok=True)
        old = trash_root / uuid.uuid4().hex
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def partitions(staged: Path) -> list[Path]:
    """The ``key=value`` partition directories Spark wrote under ``staged``."""
    if not staged.is_dir():
        return []
    return sorted(p for p in staged.iterdir() if p.is_dir() and "=" in p.name)


def commit_partitioned(staged: Path, final: Path, out: Path, dates: set[str] | None = None) -> list[str]:
    """Move every ``dt=...`` partition of ``staged`` to ``final``, replacing the same dates only.

    ``dates``: every date this run processed; a date it processed but produced no rows for loses its old
    partition too (otherwise a re-run would leave stale rows behind).
    """
    done = []
    for part in partitions(staged):
        replace_dir(part, final / part.name, out / TRASH)
        done.append(part.name)
    for d in sorted(dates or ()):
        stale = final / f"dt={d}"
        if f"dt={d}" not in done and stale.exists():
            (out / TRASH).mkdir(parents=True, exist_ok=True)
            os.rename(stale, out / TRASH / uuid.uuid4().hex)
    return done


def finish(out: str | Path) -> None:
    for name in (STAGING, TRASH):
        shutil.rmtree(Path(out) / name, ignore_errors=True)
