"""The route job's embedding cache: which cached vectors are used, and which are embedded again."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.embedding_cache import ABANDONED_AFTER_S, cache_files, drop_abandoned_writes
from udfs.score_udf import _embeddings


def test_cached_vectors_of_another_length_or_not_finite_are_embedded_again():
    dim = 3
    good = [0.1, 0.2, 0.3]
    column = pa.array(
        [good, [], [0.5] * (2 * dim), None, [1.0, float("nan"), 0.0], [1.0, None, 0.0]],
        pa.list_(pa.float32()),
    )
    vecs, has = _embeddings(column, dim)
    assert has.tolist() == [True, False, False, False, False, False]
    np.testing.assert_allclose(vecs[0], good, rtol=1e-6)
    assert not vecs[1:].any()


def test_an_empty_and_a_double_length_vector_are_not_split_into_two(tmp_path):
    # Together they hold 2 x dim floats: reshaped as a whole they would pass for two vectors.
    column = pa.array([[], [0.5] * 4], pa.list_(pa.float32()))
    _, has = _embeddings(column, 2)
    assert not has.any()


def test_unreadable_and_foreign_cache_files_are_left_out_with_a_note(tmp_path):
    vectors = pd.DataFrame({"embedder_id": ["e"], "prompt_hash": ["h"], "embedding": [[0.1, 0.2]]})
    floats = pa.array([[0.1, 0.2]], pa.list_(pa.float32()))
    pq.write_table(
        pa.table({"embedder_id": ["e"], "prompt_hash": ["h"], "embedding": floats}),
        tmp_path / "part-a.parquet",
    )
    data = (tmp_path / "part-a.parquet").read_bytes()
    (tmp_path / "part-cut.parquet").write_bytes(data[: len(data) // 2])  # a copy cut short
    pq.write_table(pa.table({"prompt_hash": ["h"]}), tmp_path / "part-other.parquet")
    vectors.to_parquet(tmp_path / "part-pandas.parquet")  # pandas' float lists are doubles
    (tmp_path / "_tmp-run").mkdir()
    (tmp_path / ".part-a.parquet.crc").write_bytes(b"crc")

    good, bad = cache_files(tmp_path)
    assert good == [tmp_path / "part-a.parquet"]
    assert len(bad) == 3
    assert "part-cut.parquet is not a readable Parquet file" in bad[0]
    assert "part-other.parquet lacks the cache's column(s) embedder_id, embedding" in bad[1]
    assert "part-pandas.parquet holds embedding as list<element: double>, not list<float>" in bad[2]


def test_write_directories_of_killed_appends_are_dropped_once_a_day_old(tmp_path):
    now = time.time()
    killed, running = tmp_path / "_tmp-killed", tmp_path / "_tmp-running"
    for d in (killed, running):
        d.mkdir()
        (d / "part-00000.snappy.parquet").write_bytes(b"PAR1")
    os.utime(killed, (now - ABANDONED_AFTER_S - 60, now - ABANDONED_AFTER_S - 60))
    (tmp_path / "part-run-00000.parquet").write_bytes(b"PAR1")
    drop_abandoned_writes(tmp_path, now)
    assert not killed.exists()
    assert running.is_dir() and (tmp_path / "part-run-00000.parquet").exists()
