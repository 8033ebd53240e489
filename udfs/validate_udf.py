"""UDF applying the row rules of schemas.validation to the text column of a log batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from schemas.validation import check_text

CHECK_SCHEMA = "text string, reason string, detail string, truncated boolean"


def _as_messages(value: Any) -> Any:
    # Arrow hands list<struct> to pandas as an ndarray of dicts.
    if isinstance(value, np.ndarray):
        return list(value)
    return value


def check_text_udf(source: str, max_chars: int, on_too_long: str, messages_policy: str):
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(CHECK_SCHEMA)
    def check(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        for values in batches:
            rows = []
            for v in values:
                if source == "messages" and v is not None:
                    v = _as_messages(v)
                c = check_text(
                    v,
                    source=source,
                    max_chars=max_chars,
                    on_too_long=on_too_long,
                    messages_policy=messages_policy,
                )
                rows.append((c.text, c.reason, c.detail, c.truncated))
            yield pd.DataFrame(rows, columns=["text", "reason", "detail", "truncated"])

    return check
