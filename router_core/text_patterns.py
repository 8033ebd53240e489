"""Regular expressions that restate Python's text rules for engines that are not Python (Spark SQL's
Java regexes): what ``str.isspace``/``str.strip``/``re``'s ``\\s`` call whitespace, and where and why
Python's UTF-8 decoder stops. Each pattern is written so that Python's ``re`` and ``java.util.regex``
read it alike; ``tests/test_text_patterns.py`` checks them against Python itself.

The UTF-8 patterns read bytes as Latin-1 text (one character per byte, U+0000-U+00FF).
"""

from __future__ import annotations

import re
import sys
from functools import cache


@cache
def _all_whitespace() -> tuple[int, ...]:
    return tuple(c for c in range(sys.maxunicode + 1) if chr(c).isspace())  # one scan of every code point


def _whitespace(include_space: bool = True) -> list[int]:
    return [c for c in _all_whitespace() if include_space or c != 0x20]


def _char_class(codes: list[int]) -> str:
    """A class of ranges: Java tests each range once, not each character."""
    runs: list[list[int]] = []
    for c in codes:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return "[" + "".join(f"\\u{a:04X}" + (f"-\\u{b:04X}" if b > a else "") for a, b in runs) + "]"


@cache
def whitespace_class() -> str:
    """A character class of every character Python strips and collapses as whitespace (the ASCII
    separators \\x1c-\\x1f and U+0085 among them, which Java's ``\\s`` does not match)."""
    return _char_class(_whitespace())


@cache
def whitespace_to_collapse() -> str:
    """The whitespace runs that normalize_prompt changes: two or more whitespace characters, or one
    that is not a space. Replacing only these by a space (most text has none) gives Python's collapse
    of every run, and costs far less in Java than replacing every single space by itself."""
    return f"{whitespace_class()}{{2,}}+|{_char_class(_whitespace(include_space=False))}"


# One well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF),
# exactly the sequences Python's strict decoder accepts.
UTF8_SEQUENCE = (
    r"[\x00-\x7F]|[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}"
    r"|\xED[\x80-\x9F][\x80-\xBF]|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}"
    r"|\xF4[\x80-\x8F][\x80-\xBF]{2}"
)
# The longest well-formed prefix (possessive: Java would otherwise recurse once per character).
UTF8_VALID_PREFIX = rf"^(?:{UTF8_SEQUENCE})*+"
# A byte that starts no sequence: Python's "invalid start byte".
UTF8_INVALID_START = r"[\x80-\xC1\xF5-\xFF]"
# A well-formed sequence cut short (to be matched against everything after the valid prefix): Python's
# "unexpected end of data"; any other tail is an "invalid continuation byte".
UTF8_CUT_SHORT = (
    r"[\xC2-\xDF]|\xE0[\xA0-\xBF]?|[\xE1-\xEC\xEE\xEF][\x80-\xBF]?|\xED[\x80-\x9F]?"
    r"|\xF0(?:[\x90-\xBF][\x80-\xBF]?)?|[\xF1-\xF3](?:[\x80-\xBF][\x80-\xBF]?)?|\xF4(?:[\x80-\x8F][\x80-\xBF]?)?"
)

REASON_INVALID_START = "invalid start byte"
REASON_CUT_SHORT = "unexpected end of data"
REASON_INVALID_CONTINUATION = "invalid continuation byte"


def utf8_error(data: bytes) -> tuple[int, str] | None:
    """(offset, reason) of the first error Python's decoder reports, found with the patterns above;
    None for valid UTF-8. The Spark expressions apply the same patterns (jobs/text_columns.py); this is
    their statement in Python, which the tests compare with Python's own decoder."""
    text = data.decode("latin-1")
    start = re.match(UTF8_VALID_PREFIX, text).end()  # type: ignore[union-attr]  # matches "" at least
    if start == len(text):
        return None
    tail = text[start:]
    if re.match(UTF8_INVALID_START, tail):
        return start, REASON_INVALID_START
    if re.fullmatch(f"(?:{UTF8_CUT_SHORT})", tail):
        return start, REASON_CUT_SHORT
    return start, REASON_INVALID_CONTINUATION
