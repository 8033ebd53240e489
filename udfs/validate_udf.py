"""UDF applying the row rules of schemas.validation to the text column of a log batch."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from schemas.validation import check_text

CHECK_FIELDS = ("text", "reason", "detail", "truncated", "image_parts", "audio_parts")
CHECK_SCHEMA = (
    "text string, reason string, detail string, truncated boolean, image_parts int, audio_parts int"
)


def check_text_udf(
    source: str, max_chars: int, on_too_long: str, messages_policy: str, messages_fallback: bool = False
):
    """``source`` "messages" takes list cells (numpy arrays of dicts) or JSON text. With
    ``messages_fallback`` the UDF takes (prompt, messages) and rows without a prompt use their messages."""
    from pyspark.sql.functions import pandas_udf

    def one(value, kind: str) -> tuple:
        c = check_text(
            value, source=kind, max_chars=max_chars, on_too_long=on_too_long, messages_policy=messages_policy
        )
        return (c.text, c.reason, c.detail, c.truncated, c.image_parts, c.audio_parts)

    def frame(rows: list[tuple]) -> pd.DataFrame:
        out = pd.DataFrame(rows, columns=list(CHECK_FIELDS))
        return out.astype({"image_parts": "int32", "audio_parts": "int32"})

    @pandas_udf(CHECK_SCHEMA)
    def check(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        for values in batches:
            yield frame([one(v, source) for v in values])

    @pandas_udf(CHECK_SCHEMA)
    def check_either(batches: Iterator[tuple[pd.Series, pd.Series]]) -> Iterator[pd.DataFrame]:
        for prompts, messages in batches:
            yield frame(
                [
                    one(m, "messages") if p is None and m is not None else one(p, "prompt")
                    for p, m in zip(prompts, messages, strict=True)
                ]
            )

    return check_either if messages_fallback else check
