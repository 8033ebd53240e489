"""Where batch-router keeps what it can rebuild (the ONNX embedders, the JVM class archive)."""

from __future__ import annotations

import os


def cache_root() -> str:
    """``$BATCH_ROUTER_CACHE``, else ``$XDG_CACHE_HOME/batch-router``, else ``~/.cache/batch-router``."""
    return os.environ.get("BATCH_ROUTER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "batch-router"
    )
