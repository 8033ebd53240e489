"""Publishing the route job's outputs (jobs/atomic_write.py): one run at a time per output directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobs.atomic_write import LOCK, OutputBusyError, exclusive

REPO = Path(__file__).resolve().parents[1]


def test_a_second_run_into_the_same_out_is_refused_while_the_first_holds_it(tmp_path):
    with exclusive(tmp_path / "out") as locked:
        assert locked
        with pytest.raises(OutputBusyError, match="another run is writing to .*run one job at a time"):
            with exclusive(tmp_path / "out"):
                pass
    with exclusive(tmp_path / "out") as locked:  # released with the first run
        assert locked


def test_a_killed_run_leaves_no_lock_behind(tmp_path):
    out = tmp_path / "out"
    holder = (
        "import os, sys\n"
        "from jobs.atomic_write import exclusive\n"
        f"with exclusive({str(out)!r}):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO
    )
    try:
        assert proc.stdout.readline().strip() == b"held"
        with pytest.raises(OutputBusyError):
            with exclusive(out):
                pass
    finally:
        proc.kill()
        proc.wait()
    assert (out / LOCK).exists()
    with exclusive(out) as locked:
        assert locked
