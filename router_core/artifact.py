"""Router artefact directory: ``manifest.json`` + safetensors / npz / FAISS files, checksummed.

The manifest records the format version, models (strong/weak for a pair), embedder id, scorer names and
parameters, training-data hash, source weights, training metrics and the sha256 of every other file.
Loading refuses an artefact whose files changed or whose embedder differs from the caller's.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

# 2: an N-model router whose default score is the joint stack (j_* arrays). Written only then, so that
# older readers (which accept exactly 1) refuse it instead of routing with the linear stack alone.
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
MANIFEST = "manifest.json"


class RouterLoadError(RuntimeError):
    """The artefact cannot be used: missing, corrupted, wrong version or wrong embedder."""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_checksums(directory: str | Path) -> dict[str, str]:
    root = Path(directory)
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            out[p.relative_to(root).as_posix()] = sha256_file(p)
    return out


def write_manifest(
    directory: str | Path, manifest: dict[str, Any], version: int = FORMAT_VERSION
) -> dict[str, Any]:
    """Add format version and checksums of every file already written, then write manifest.json."""
    full = {"format_version": version, **manifest, "files": file_checksums(directory)}
    with open(os.path.join(directory, MANIFEST), "w") as f:
        json.dump(full, f, indent=2, sort_keys=False, default=_jsonable)
    return full


def _jsonable(x: Any) -> Any:
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _is_router_manifest(manifest: Any) -> bool:
    # A route run, a label sample and a router all write manifest.json; only a router's has both keys.
    return isinstance(manifest, dict) and "format_version" in manifest and "embedder_id" in manifest


def is_router_dir(directory: str | Path) -> bool:
    """``directory`` holds a router's manifest (of any format version, checksums not verified)."""
    try:
        return _is_router_manifest(json.loads((Path(directory) / MANIFEST).read_text()))
    except (OSError, ValueError):
        return False


def read_manifest(directory: str | Path, embedder_id: str | None = None) -> dict[str, Any]:
    """Parse and verify: version, every listed file present with its checksum, embedder id."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise RouterLoadError(f"not a router artefact: {path} not found")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RouterLoadError(f"corrupted manifest {path}: {exc}") from exc
    if not _is_router_manifest(manifest):
        raise RouterLoadError(
            f"not a router artefact: {path} is not a router's manifest (a router directory is the --out "
            "of `batch-router train`)"
        )
    version = manifest.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise RouterLoadError(
            f"router artefact format {version} is not supported (expected one of {list(SUPPORTED_VERSIONS)})"
        )
    for rel, digest in manifest.get("files", {}).items():
        p = Path(directory) / rel
        if not p.is_file():
            raise RouterLoadError(f"router artefact incomplete: {rel} is missing in {directory}")
        if sha256_file(p) != digest:
            raise RouterLoadError(f"router artefact corrupted: checksum mismatch for {rel} in {directory}")
    if embedder_id is not None and manifest.get("embedder_id") != embedder_id:
        raise RouterLoadError(
            f"router was trained with embedder '{manifest.get('embedder_id')}' but the caller uses "
            f"'{embedder_id}'; re-train the router or configure the same embedder"
        )
    return manifest
