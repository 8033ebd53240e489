"""Directory names of a route run's dispatch files: one directory per model, named from the model so
that a person finds it, and safe on every file system and for Spark's readers."""

from __future__ import annotations

import hashlib
import re


def safe_model_dir(models: list[str]) -> dict[str, str]:
    """Model name -> directory name: '/' becomes '--', other characters outside [A-Za-z0-9._-] become '_';
    names that would still collide (or start with '.'/'_', which readers skip) get '-' + 8 hex digits of
    the name's sha256. dispatch/models.json maps each directory back to the model name."""
    base = {m: re.sub(r"[^A-Za-z0-9._-]", "_", m.replace("/", "--")) or "_" for m in models}
    counts: dict[str, int] = {}
    for v in base.values():
        counts[v] = counts.get(v, 0) + 1
    out = {}
    for m, v in base.items():
        if counts[v] > 1 or v.startswith((".", "_")):
            v = f"{v.lstrip('._') or 'model'}-{hashlib.sha256(m.encode()).hexdigest()[:8]}"
        out[m] = v
    return out
