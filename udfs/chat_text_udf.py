"""UDF reducing chat cells to their routed text (schemas.validation.chat_text), the one row-wise Python
step of validation: the other row rules are column expressions (jobs/text_columns.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from router_core.text import MessagesPolicy
from schemas.validation import chat_text

CHAT_FIELDS = ("text", "reason", "detail", "image_parts", "audio_parts")
CHAT_SCHEMA = "text string, reason string, detail string, image_parts int, audio_parts int"
_NO_CHAT = (None, None, None, 0, 0)  # a null cell: the column expressions give its reason


def chat_text_udf(messages_policy: MessagesPolicy):
    """pandas UDF: messages cell (list of structs as numpy arrays of dicts, or JSON text) -> CHAT_SCHEMA."""
    from pyspark.sql.functions import pandas_udf

    def one(value) -> tuple:
        if value is None:
            return _NO_CHAT
        c = chat_text(value, messages_policy)
        return (c.text, c.reason, c.detail, c.image_parts, c.audio_parts)

    @pandas_udf(CHAT_SCHEMA)
    def reduce_chats(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        for values in batches:
            out = pd.DataFrame([one(v) for v in values], columns=list(CHAT_FIELDS))
            yield out.astype({"image_parts": "int32", "audio_parts": "int32"})

    return reduce_chats


def openai_messages_udf():
    """pandas UDF: messages JSON text -> the text of its chat in OpenAI's format where that differs
    (router_core.messages.openai_messages_json: LangChain's serialized messages, a list of one chat),
    else null."""
    from pyspark.sql.functions import pandas_udf

    from router_core.messages import openai_messages_json

    @pandas_udf("string")
    def as_openai(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        for texts in batches:
            yield pd.Series([openai_messages_json(t) for t in texts], dtype=object)

    return as_openai
