"""The Batch API line each routed request is sent with, as Spark columns over the validated log: the
request's own body with the routed model set, or a chat completion built from its messages or prompt.
An OpenAI Batch input line keeps its url (Azure OpenAI's files name endpoints without /v1); an
Anthropic Message Batches line stays one ({custom_id, params}).
"""

from __future__ import annotations

from jobs.log_reader import is_responses_body
from jobs.validate_logs import body_variant, chat_completion_body
from jobs.validate_logs import column as log_column
from router_core.log_formats import ANTHROPIC_BATCH, OPENAI_BATCH
from router_core.log_rows import BATCH_URL, RESPONSES_URL

# The dispatch partition of Anthropic lines, beside the OpenAI endpoints' (route_outputs.write_dispatch)
ANTHROPIC_ENDPOINT = "messages"
# The column of the name each request's model is sent under (route --dispatch-model, else the model's)
DISPATCH_MODEL = "_dispatch_model"


def dispatch_line(resolved, fmt: str):
    """Spark column of each request's Batch line: the log's request body with only ``model`` set to
    the routed model's name (DISPATCH_MODEL), when the input carries one (Batch input, or a body/request
    column); else a chat completion of the log's messages, or of one user turn with the prompt (the
    original prompt, not the truncated routed text). Bodies pass through as Variant values, so every
    other field is kept (an Anthropic Messages body's system goes first in its messages, as OpenAI's
    API takes it); a Responses API body goes to /v1/responses. ``fmt``: the log format (an
    Anthropic Message Batches file gives {custom_id, params} lines)."""
    from pyspark.sql import functions as F

    model = F.col(DISPATCH_MODEL)
    if fmt == ANTHROPIC_BATCH:
        params = F.try_variant_set(body_variant(resolved), "$.model", model)
        return F.to_json(F.struct(F.col("request_id").alias("custom_id"), params.alias("params")))
    if resolved.text_source == "body":
        body = F.try_variant_set(chat_completion_body(body_variant(resolved)), "$.model", model)
    else:
        body = F.to_variant_object(F.struct(model.alias("model"), _messages_sent(resolved).alias("messages")))
        if resolved.body is not None:  # rows whose body is null send their messages
            logged = chat_completion_body(body_variant(resolved))
            body = F.coalesce(F.try_variant_set(logged, "$.model", model), body)
    return F.to_json(
        F.struct(
            F.col("request_id").alias("custom_id"),
            F.lit("POST").alias("method"),
            dispatch_url(resolved, fmt).alias("url"),
            body.alias("body"),
        )
    )


def dispatch_url(resolved, fmt: str):
    """The Batch url of each request's dispatch line: a Batch input line's own url (the reader kept only
    lines whose url is of their body's kind, in OpenAI's or Azure OpenAI's form); else /v1/responses for
    a Responses API body, else chat completions (router_core.log_rows.body_endpoint)."""
    from pyspark.sql import functions as F

    if fmt == OPENAI_BATCH:
        return log_column("url")
    if resolved.body is None:
        return F.lit(BATCH_URL)
    responses = F.coalesce(is_responses_body(body_variant(resolved)), F.lit(False))
    return F.when(responses, F.lit(RESPONSES_URL)).otherwise(F.lit(BATCH_URL))


def dispatch_endpoint(resolved, fmt: str):
    """The partition that keeps each dispatch file to one url: its endpoint (completions, responses),
    and "_azure" for Azure OpenAI's urls without /v1; Anthropic lines have one endpoint."""
    from pyspark.sql import functions as F

    if fmt == ANTHROPIC_BATCH:
        return F.lit(ANTHROPIC_ENDPOINT)
    url = dispatch_url(resolved, fmt)
    azure = F.when(url.startswith("/v1/"), F.lit("")).otherwise(F.lit("_azure"))
    return F.concat(F.substring_index(url, "/", -1), azure)


def _messages_sent(resolved):
    """Variant column of the messages a request without a body sends: the log's messages, else one user
    turn with the prompt (the original prompt, not the truncated routed text)."""
    from pyspark.sql import functions as F

    def messages(name: str):
        if resolved.messages_is_json:
            return F.try_parse_json(log_column(name))
        return F.try_parse_json(F.to_json(log_column(name)))  # to_json drops null struct fields

    if resolved.text_source == "messages":
        return messages(resolved.text_column)
    prompt = log_column(resolved.text_column)
    turn = F.to_variant_object(
        F.array(F.struct(F.lit("user").alias("role"), prompt.cast("string").alias("content")))
    )
    if resolved.messages_fallback:
        return F.when(prompt.isNull(), messages(resolved.messages_fallback)).otherwise(turn)
    return turn
