"""Shared fixtures: one Spark session per test run, generated logs, the path of ../shared/data."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# Small jobs' Spark JVMs start from the class archive `make setup` made (jobs.jvm_class_archive); keyed by
# Java build, jars and options, it needs no isolation.
from jobs.jvm_class_archive import ARCHIVE_ENV, archive_dir  # noqa: E402

os.environ.setdefault(ARCHIVE_ENV, str(archive_dir()))
# The int8 ONNX embedder builds its model file on first use: into a scratch directory, not ~/.cache, and
# set before Spark starts so its Python workers find the same file, and removed when the run ends.
SCRATCH_CACHE: str | None = None
if "BATCH_ROUTER_CACHE" not in os.environ:
    SCRATCH_CACHE = os.environ["BATCH_ROUTER_CACHE"] = tempfile.mkdtemp(prefix="batch-router-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if SCRATCH_CACHE:
        shutil.rmtree(SCRATCH_CACHE, ignore_errors=True)


REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_file(name: str) -> Path:
    p = SHARED_DATA / name
    if not p.exists():
        pytest.skip(f"{p} not present (../shared/data is optional)")
    return p


@pytest.fixture(scope="session")
def spark():
    from jobs.config import SparkConfig
    from jobs.spark_session import get_spark

    s = get_spark(SparkConfig(master="local[2]", partitions=4))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def embedder():
    from router_core.embedder import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def int8_embedder():
    from router_core.onnx_embedder import OnnxMiniLMEmbedder

    return OnnxMiniLMEmbedder()


@pytest.fixture()
def server():
    """(FakeOpenAI, its base URL): the OpenAI-compatible test server on 127.0.0.1 (tests/openai_server.py),
    whose strong model is ``strong-model``."""
    from tests.openai_server import FakeOpenAI

    fake = FakeOpenAI(strong="strong-model")
    url = fake.start()
    yield fake, url
    fake.stop()
