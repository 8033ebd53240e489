"""UDF applying the row rules of schemas.validation to the text column of a log batch."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from schemas.validation import check_text

CHECK_FIELDS = ("text", "reason", "detail", "truncated", "image_parts", "audio_parts")
CHECK_SCHEMA = (
    "text string, reason string, detail string, truncated boolean, image_parts int, audio_parts int"
)


def check_text_udf(source: str, max_chars: int, on_too_long: str, messages_policy: str):
    """``source`` "messages" takes list cells (numpy arrays of dicts) or JSON text."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(CHECK_SCHEMA)
    def check(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        for values in batches:
            rows = []
            for v in values:
                c = check_text(
                    v,
                    source=source,
                    max_chars=max_chars,
                    on_too_long=on_too_long,
                    messages_policy=messages_policy,
                )
                rows.append((c.text, c.reason, c.detail, c.truncated, c.image_parts, c.audio_parts))
            frame = pd.DataFrame(rows, columns=list(CHECK_FIELDS))
            yield frame.astype({"image_parts": "int32", "audio_parts": "int32"})

    return check
