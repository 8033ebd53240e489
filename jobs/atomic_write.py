"""Atomic publication of Spark outputs: write under ``<out>/_staging/<run>``, then rename into place.

A ``dt=YYYY-MM-DD`` partition becomes visible in one ``rename``: readers see the old partition, then
(after a moment with none) the new one, never a half-written one. Re-running a date replaces only that
date's partitions. Names starting with ``_`` are skipped by Spark and pyarrow readers, so a killed run's
staging directory is invisible and is removed by the next run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STAGING = "_staging"
TRASH = "_trash"
LOCK = "_lock"


class OutputBusyError(RuntimeError):
    """Another run holds the lock of the same output directory."""


@contextmanager
def exclusive(out: str | Path) -> Iterator[bool]:
    """Hold ``<out>/_lock`` for the body: a second run into the same ``out`` fails at once instead of
    deleting the first one's staging directory (``new_staging``) and committing into its outputs. The
    lock goes with the process, so a killed run leaves none behind. Yields False where the filesystem
    cannot lock (some FUSE mounts): the body runs unguarded there."""
    path = Path(out) / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusyError(
                f"another run is writing to {out} (it holds {path}): run one job at a time per --out"
            ) from None
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def new_staging(out: str | Path) -> Path:
    """A fresh staging directory; leftovers of killed runs are removed first (one run per --out: the
    caller holds ``exclusive(out)``)."""
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
