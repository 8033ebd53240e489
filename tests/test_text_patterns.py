"""The regex restatements of Python's text rules (router_core.text_patterns) agree with Python."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from router_core.text import normalize_prompt
from router_core.text_patterns import utf8_error, whitespace_class, whitespace_to_collapse


def test_whitespace_class_is_pythons_whitespace():
    cls = re.compile(whitespace_class())
    for c in range(sys.maxunicode + 1):
        assert bool(cls.fullmatch(chr(c))) == chr(c).isspace() == bool(re.fullmatch(r"\s", chr(c))), hex(c)


def test_collapsing_only_changed_runs_is_normalize_prompt():
    rng = np.random.default_rng(0)
    chars = list(" \t\n\x1c\x85\u00a0\u2028\u3000ab.")
    for _ in range(5_000):
        text = "".join(rng.choice(chars, int(rng.integers(0, 12))))
        assert re.sub(whitespace_to_collapse(), " ", text).strip(" ") == normalize_prompt(text), repr(text)


def _python_error(data: bytes) -> tuple[int, str] | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start, exc.reason
    return None


EDGE_CASES = [
    b"", b"ok", b"\xff\xfe bad \xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"abc\xe0\xa0",
    b"abc\xe0\x80", b"\xf0\x9f\x98", b"\xf0\x9f\x98\x80", b"\xf0\x8f\xbf\xbf", b"\xe2\x82", b"\xe2\x82x",
    b"\x80", b"\xc2", b"\xf5\x80", b"\xee\x80\x80", "héllo 漢字 😀".encode(), b"\xf1\x80\x80",
    b"\xf4\x8f\xbf",
]  # fmt: skip


@pytest.mark.parametrize("data", EDGE_CASES)
def test_utf8_error_edge_cases(data):
    assert utf8_error(data) == _python_error(data)


def test_utf8_error_matches_the_decoder_on_random_bytes():
    rng = np.random.default_rng(0)
    # the bytes where UTF-8's rules change: ASCII, continuation ranges, lead bytes, never-valid bytes
    edges = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC]
    alphabet = np.array([*edges, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF], dtype=np.uint8)
    for _ in range(20_000):
        data = bytes(rng.choice(alphabet, int(rng.integers(1, 8))))
        assert utf8_error(data) == _python_error(data), data
