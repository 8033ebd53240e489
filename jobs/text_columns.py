"""The row rules of schemas.validation.check_text, and prompt normalisation and hashing
(router_core.text), as Spark column expressions: the JVM applies them, no row goes through Python but
chat cells, which one pandas UDF reduces to text (udfs/chat_text_udf.py) before the same rules.

The regexes restate Python's rules (router_core.text_patterns), so reasons, details, routed text and
prompt hashes are those the Python reference gives.
"""

from __future__ import annotations

from router_core import text_patterns
from router_core.text import MessagesPolicy
from schemas.logs import REASON_EMPTY_PROMPT, REASON_INVALID_UTF8, REASON_NULL_PROMPT, REASON_TOO_LONG

# NFC in the JVM: ICU4J ships with Spark; ``compose(text, false)`` is canonical composition (NFC).
_ICU_NORMALIZER = "com.ibm.icu.text.Normalizer"


def _whitespace_only() -> str:
    # \z, not $: Java's $ also matches before a final line break
    return f"^{text_patterns.whitespace_class()}*+\\z"


def utf8_error_detail(data):
    """ "byte N: reason" of Python's decoder for a binary column that is not valid UTF-8."""
    from pyspark.sql import functions as F

    latin1 = F.decode(data, "ISO-8859-1")  # one character per byte
    start = F.length(F.regexp_extract(latin1, text_patterns.UTF8_VALID_PREFIX, 0))
    tail = latin1.substr(start + 1, F.lit(4))  # a sequence cut short is at most 3 bytes
    reason = (
        F.when(tail.rlike("^" + text_patterns.UTF8_INVALID_START), F.lit(text_patterns.REASON_INVALID_START))
        .when(tail.rlike(f"^(?:{text_patterns.UTF8_CUT_SHORT})\\z"), F.lit(text_patterns.REASON_CUT_SHORT))
        .otherwise(F.lit(text_patterns.REASON_INVALID_CONTINUATION))
    )
    return F.concat(F.lit("byte "), start.cast("string"), F.lit(": "), reason)


def prompt_stage(value):
    """(text, reason, detail, image_parts, audio_parts) of a prompt cell (string or binary): null and
    invalid UTF-8 rows get their reason; the text is unchecked otherwise."""
    from pyspark.sql import functions as F

    valid = F.is_valid_utf8(value.cast("string"))  # checks the string's bytes in place, no binary copy
    reason = F.when(value.isNull(), F.lit(REASON_NULL_PROMPT)).when(~valid, F.lit(REASON_INVALID_UTF8))
    bad_bytes = utf8_error_detail(value.cast("binary"))
    detail = F.when(value.isNull(), F.lit("prompt is null")).when(~valid, bad_bytes)
    return value.cast("string"), reason, detail, F.lit(0), F.lit(0)


def chat_column(messages, policy: MessagesPolicy):
    """The chat cell reduced to text once, in Python (udfs.chat_text_udf): add it as a column and pass
    that column to ``chat_stage``, so the UDF runs once per row."""
    from udfs.chat_text_udf import chat_text_udf

    return chat_text_udf(policy)(messages)


def chat_stage(messages, chat):
    """(text, reason, detail, image_parts, audio_parts) of a chat cell, ``chat`` its ``chat_column``."""
    from pyspark.sql import functions as F

    reason = F.when(messages.isNull(), F.lit(REASON_NULL_PROMPT)).otherwise(chat["reason"])
    detail = F.when(messages.isNull(), F.lit("messages is null")).otherwise(chat["detail"])
    return chat["text"], reason, detail, chat["image_parts"], chat["audio_parts"]


def checked_text(stage, max_chars: int, on_too_long: str):
    """Struct column text, reason, detail, truncated, image_parts, audio_parts: ``stage``'s reason, else
    empty or whitespace-only, else too long (quarantined, or the text cut to ``max_chars`` characters)."""
    from pyspark.sql import functions as F

    text, first_reason, first_detail, images, audio = stage
    n = F.length(text)
    # A text of at most max_chars bytes has at most max_chars characters: counting them (a pass over the
    # text) is left to the rare longer ones.
    long_ = F.when(F.octet_length(text) > max_chars, n > max_chars).otherwise(F.lit(False))
    steps = [
        (first_reason.isNotNull(), first_reason, first_detail),
        (text.rlike(_whitespace_only()), F.lit(REASON_EMPTY_PROMPT), F.lit("empty or whitespace-only")),
    ]
    if on_too_long == "quarantine":
        limit = F.concat(n.cast("string"), F.lit(f" chars > limit {max_chars}"))
        steps.append((long_, F.lit(REASON_TOO_LONG), limit))
    reason, detail = F.when(*steps[0][:2]), F.when(steps[0][0], steps[0][2])
    for cond, r, d in steps[1:]:
        reason, detail = reason.when(cond, r), detail.when(cond, d)
    ok = reason.isNull()
    routed = F.when(ok, F.when(long_, F.substring(text, 1, max_chars)).otherwise(text))
    return F.struct(
        routed.alias("text"),
        reason.alias("reason"),
        detail.alias("detail"),
        (ok & long_).alias("truncated"),
        images.cast("int").alias("image_parts"),
        audio.cast("int").alias("audio_parts"),
    )


def normalized_prompt(text):
    """router_core.text.normalize_prompt in the JVM: NFC (ICU; ASCII text is NFC already), whitespace
    runs collapsed to one space, trimmed. Spark's ICU4J knows a newer Unicode than Python 3.11's
    unicodedata (14.0); Unicode's normalisation stability makes NFC agree on every character both know,
    so only text with composing characters assigned after 14.0 could normalise differently."""
    from pyspark.sql import functions as F

    ascii_only = F.octet_length(text) == F.length(text)
    nfc = F.when(ascii_only, text).otherwise(
        F.reflect(F.lit(_ICU_NORMALIZER), F.lit("compose"), text, F.lit(False))
    )
    return F.trim(F.regexp_replace(nfc, text_patterns.whitespace_to_collapse(), " "))


def prompt_hash_of(normalized):
    """router_core.text.prompt_hash: the first 32 hex digits of the SHA-256 of the UTF-8 text."""
    from pyspark.sql import functions as F

    return F.substring(F.sha2(normalized.cast("binary"), 256), 1, 32)
