"""Held-out target domains of the shared data, for the benches that measure transfer
(``bench/transfer_protocol.py``, ``bench/label_sampling.py``).

A domain is a pair-restricted TrainingSet with three row sets: ``source`` (the other domains, what a
router knows before the user's labels), ``pool`` (the target rows labels are drawn from) and ``test``
(target rows APGR is measured on; a prompt-hash split, so every method sees the same test rows).

- MMLU subject groups (the four MMLU categories, or the two narrow groups of the sampling bench), the
  source being the rest of MMLU plus AlpacaEval; AlpacaEval (chat) with MMLU as the source. The pair is
  GPT-4-1106-preview vs Mixtral-8x7B (AlpacaEval's names aliased).
- LLMRouter task families (from the question's form: code, LaTeX maths, long passages, numeric word
  problems, short questions), or its coarse ``cluster_id``; the source is the other families.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"

STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
ALPACA_ALIASES = {"gpt4_1106_preview": STRONG, "Mixtral-8x7B-Instruct-v0.1_concise": WEAK}
# LLMRouter's pair: its strongest model against a small general chat model
LLMROUTER_PAIR = ("llama-3.1-nemotron-51b-instruct", "mistral-7b-instruct-v0.3")

MMLU_CATEGORIES = {
    "mmlu-stem": (
        "abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
        "college_computer_science", "college_mathematics", "college_physics", "computer_security",
        "conceptual_physics", "electrical_engineering", "elementary_mathematics", "high_school_biology",
        "high_school_chemistry", "high_school_computer_science", "high_school_mathematics",
        "high_school_physics", "high_school_statistics", "machine_learning",
    ),
    "mmlu-humanities": (
        "formal_logic", "high_school_european_history", "high_school_us_history",
        "high_school_world_history", "international_law", "jurisprudence", "logical_fallacies",
        "moral_disputes", "moral_scenarios", "philosophy", "prehistory", "professional_law",
        "world_religions",
    ),
    "mmlu-social": (
        "econometrics", "high_school_geography", "high_school_government_and_politics",
        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
        "human_sexuality", "professional_psychology", "public_relations", "security_studies",
        "sociology", "us_foreign_policy",
    ),
}  # fmt: skip
# The narrow groups of the sampling bench (docs/routers.md "Which prompts to label").
MMLU_NARROW = {
    "mmlu-math": (
        "abstract_algebra", "college_mathematics", "elementary_mathematics", "high_school_mathematics",
        "high_school_statistics", "college_physics", "high_school_physics", "conceptual_physics",
        "college_chemistry", "high_school_chemistry", "college_computer_science",
        "high_school_computer_science", "machine_learning", "formal_logic", "econometrics",
    ),
    "mmlu-law-ethics": (
        "professional_law", "international_law", "jurisprudence", "moral_disputes", "moral_scenarios",
        "philosophy", "business_ethics", "world_religions",
    ),
}  # fmt: skip
LLMROUTER_FAMILIES = ("code", "latex-math", "passage", "word-problem", "short-question")


def llmrouter_family(question: str) -> str:
    """The task family of an LLMRouter question, from its form."""
    if re.match(r"\s*write a (python )?function", question, re.I):
        return "code"
    if "$" in question or "\\frac" in question:
        return "latex-math"
    if len(question) > 500:
        return "passage"
    if len(question) > 100 and re.search(r"\d", question):
        return "word-problem"
    return "short-question"


@dataclass
class Domain:
    name: str
    data: object  # TrainingSet restricted to (strong, weak)
    strong: str
    weak: str
    source: np.ndarray  # prompt rows of the other domains
    pool: np.ndarray  # target rows labels are drawn from
    test: np.ndarray  # target rows APGR is measured on


def _split(data, target: np.ndarray, test_frac: float, salt: str) -> tuple[np.ndarray, np.ndarray]:
    from router_core.training_data import split_prompts

    is_test = split_prompts([data.prompts[i] for i in target], test_frac, salt=salt)
    return target[~is_test], target[is_test]


def _cap(rows: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None or len(rows) <= n:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))


def _has_pair(data) -> np.ndarray:
    has = np.zeros(len(data.prompts), bool)
    has[data.battle_prompt] = True
    return has | ~np.isnan(data.scores).any(axis=1)


def pair_domains(
    groups: dict[str, tuple[str, ...]], test_frac: float, source_max: int | None, seed: int, salt: str
) -> list[Domain]:
    """Each MMLU subject group of ``groups`` held out, and AlpacaEval; GPT-4 vs Mixtral."""
    from router_core.text import normalize_prompt
    from router_core.training_data import load_training_data

    mmlu, alpaca = SHARED / "mmlu_dev.parquet", SHARED / "alpaca_eval2_battles.parquet"
    data = load_training_data([str(mmlu), str(alpaca)], aliases=ALPACA_ALIASES).pair(STRONG, WEAK)
    df = pd.read_parquet(mmlu, columns=["prompt", "subject"])
    subject = dict(zip(df["prompt"].map(normalize_prompt), df["subject"], strict=True))
    subj = np.array([subject.get(p, "") for p in data.prompts], dtype=object)
    alp = data.sources.index(next(s for s in data.sources if "alpaca" in s))
    is_alpaca = np.asarray(data.prompt_source) == alp
    has_pair, rows = _has_pair(data), np.arange(len(data.prompts))
    targets = {g: np.isin(subj, s) & ~is_alpaca for g, s in groups.items()}
    targets["alpaca-eval"] = is_alpaca
    out = []
    for name, is_target in targets.items():
        pool, test = _split(data, rows[is_target & has_pair], test_frac, salt)
        source = _cap(rows[~is_target & has_pair], source_max, seed)
        out.append(Domain(name, data, STRONG, WEAK, source, pool, test))
    return out


def mmlu_other_group() -> tuple[str, ...]:
    """The MMLU subjects outside the three named categories (MMLU's "other")."""
    df = pd.read_parquet(SHARED / "mmlu_dev.parquet", columns=["subject"])
    named = {s for group in MMLU_CATEGORIES.values() for s in group}
    return tuple(sorted(set(df["subject"]) - named))


def llmrouter_domains(
    names: list[str],
    test_frac: float,
    source_max: int | None,
    seed: int,
    salt: str,
    by: str = "family",
    pair: tuple[str, str] | None = LLMROUTER_PAIR,
    all_models: bool = False,
) -> list[Domain]:
    """LLMRouter task families (``by="family"``) or cluster ids (``by="cluster"``) held out. ``pair``
    None: the data's best and worst model. ``all_models``: the data keeps every model (N-model routers;
    the domain's strong / weak are still ``pair``)."""
    from router_core.text import normalize_prompt
    from router_core.training_data import load_training_data

    path = SHARED / "llmrouter_train.parquet"
    full = load_training_data([str(path)])
    if pair is None:
        mean = np.nanmean(full.scores, axis=0)
        pair = full.models[int(np.argmax(mean))], full.models[int(np.argmin(mean))]
    strong, weak = pair
    data = full if all_models else full.pair(strong, weak)
    df = pd.read_parquet(path, columns=["question", "cluster_id"])
    label = df["question"].map(llmrouter_family) if by == "family" else df["cluster_id"].astype(str)
    of = dict(zip(df["question"].map(normalize_prompt), label, strict=False))
    lab = np.array([of.get(p, "") for p in data.prompts], dtype=object)
    rows, out = np.arange(len(data.prompts)), []
    for name in names:
        pool, test = _split(data, rows[lab == name], test_frac, salt)
        source = _cap(rows[lab != name], source_max, seed)
        prefix = "llmrouter-" if by == "family" else "llmrouter-cluster-"
        out.append(Domain(prefix + name, data, strong, weak, source, pool, test))
    return out


def embed_domains(domains: list[Domain], cache: str, embedder, log) -> dict[int, np.ndarray]:
    """Per dataset (``id(domain.data)``), the embeddings of the prompts any domain uses, through the npz
    cache ``label sample`` reads as well (rows no domain uses stay zero and are never read)."""
    from jobs.local_embedding import cached_encode, encode_in_chunks

    enc = lambda b: encode_in_chunks(embedder.encode, b, embedder.dim, log, 1024)  # noqa: E731
    out: dict[int, np.ndarray] = {}
    for d in domains:
        if id(d.data) in out:
            continue
        used = [np.r_[o.source, o.pool, o.test] for o in domains if o.data is d.data]
        rows = np.unique(np.concatenate(used))
        emb = np.zeros((len(d.data.prompts), embedder.dim), np.float32)
        emb[rows] = cached_encode(enc, embedder.id, [d.data.prompts[i] for i in rows], cache, log)
        out[id(d.data)] = emb
    return out


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and each option's default."""


def add_split_options(p: argparse.ArgumentParser, source_max: int, n_boot: int) -> None:
    """The options every domain bench shares: the test split, the source cap, the bootstrap, the seed
    and the embedding cache."""
    p.add_argument(
        "--test-frac", type=float, default=0.5, help="share of each target domain held out for APGR"
    )
    p.add_argument(
        "--source-max", type=int, default=source_max,
        help="at most this many prompts of the other domains behind each router (0: all)",
    )  # fmt: skip
    p.add_argument("--n-boot", type=int, default=n_boot, help="bootstrap resamples of each test part")
    p.add_argument("--seed", type=int, default=0, help="seed of the source cap and the bootstrap")
    p.add_argument(
        "--embed-cache", default="/tmp/label_sampling_embcache", help="npz embedding cache directory"
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads for embedding")
