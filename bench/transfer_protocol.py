"""Leave-one-domain-out learning curves: how well a router routes a domain it was not trained on, given
n labelled prompts of that domain (the user's own traffic, ``train --target-data``).

For each held-out domain (``bench/domains.py``: MMLU categories, AlpacaEval, LLMRouter task families)
and each n: n prompts are drawn from the domain's pool (one draw per seed), the router is trained on the
other domains plus those n prompts (marked as target data), and APGR is measured on the domain's test
part. The same cell is scored for the references:

- ``generic``: the default router trained on the other domains only (n = 0 for every n);
- ``pooled``: the default router trained on the other domains plus the n prompts, not marked as target;
- ``target-knn`` / ``target-lr``: kNN (the ``knn`` scorer with ``target_knn``'s neighbourhood) /
  logistic regression on the embeddings, fitted on the n target prompts alone;
- ``length``: longer prompt -> strong model (no training);
- ``tfidf``: TF-IDF + logistic regression (``router_core.baseline``) on the other domains plus the n.

Every method is scored on the same bootstrap resamples of the test part; a cell's CI is the 2.5-97.5%
range of the seed-mean APGR over those resamples.

    .venv/bin/python bench/transfer_protocol.py --out /tmp/transfer.json   # figures: docs/routers.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from domains import (  # noqa: E402
    LLMROUTER_FAMILIES,
    MMLU_CATEGORIES,
    SHARED,
    Domain,
    HelpFormatter,
    add_split_options,
    embed_domains,
    llmrouter_domains,
    mmlu_other_group,
    pair_domains,
)

NS = (0, 25, 50, 100, 200, 400)
METHODS = ("router", "generic", "pooled", "target-knn", "target-lr", "length", "tfidf")
REFERENCES = ("generic", "target-knn", "target-lr", "length", "tfidf")
TEST_SALT = "transfer-protocol"
TARGET_SOURCE = "target"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def mark_target(data, target_rows: np.ndarray):
    """``data`` with ``target_rows`` (and their battles) moved to a source of their own, as
    ``train --target-data`` loads them."""
    import dataclasses

    src = len(data.sources)
    prompt_source = np.asarray(data.prompt_source).copy()
    prompt_source[target_rows] = src
    battle_source = np.asarray(data.battle_source).copy()
    battle_source[np.isin(data.battle_prompt, target_rows)] = src
    return dataclasses.replace(
        data, prompt_source=prompt_source, battle_source=battle_source, sources=[*data.sources, TARGET_SOURCE]
    )


def train_on_rows(d: Domain, emb: np.ndarray, rows: np.ndarray, target: np.ndarray | None,
                  a: argparse.Namespace, pair: tuple[str, str] | tuple[None, None]):  # fmt: skip
    """The default router (``a.scorers``, ``a.train_kwargs``) trained on ``rows``, ``target`` among them
    marked as the user's own traffic; ``pair`` (None, None): an N-model router."""
    from router_core.training import train_router

    order = np.sort(rows)
    data = d.data.subset(order)
    target_sources: list[str] = []
    if target is not None and len(target):
        data = mark_target(data, np.flatnonzero(np.isin(order, target)))
        target_sources = [TARGET_SOURCE]
    return train_router(
        data, emb[order], "bench", *pair, scorers=a.scorers, seed=0, target_sources=target_sources,
        log=lambda m: None, **a.train_kwargs,
    )  # fmt: skip


class Cell:
    """One (domain, n, seed): its training rows and what every method scores on the test part."""

    def __init__(self, d: Domain, emb: np.ndarray, picked: np.ndarray, a: argparse.Namespace) -> None:
        from router_core.outcomes import pair_outcomes

        self.d, self.emb, self.picked, self.a = d, emb, picked, a
        t = pair_outcomes(d.data.subset(d.test), d.strong, d.weak)
        self.test_rows = d.test[t.prompt_idx]
        self.q_strong, self.q_weak = t.q_strong, t.q_weak
        self.test_texts = [d.data.prompts[i] for i in self.test_rows]

    def router(self, rows: np.ndarray, target: np.ndarray | None) -> np.ndarray:
        r = train_on_rows(self.d, self.emb, rows, target, self.a, (self.d.strong, self.d.weak))
        return np.asarray(r.score(self.emb[self.test_rows], self.test_texts)["strong_win_prob"], np.float64)

    def target_targets(self):
        from router_core.outcomes import pair_outcomes

        t = pair_outcomes(self.d.data.subset(self.picked), self.d.strong, self.d.weak)
        return self.picked[t.prompt_idx], t.q_strong, t.q_weak

    def target_knn(self) -> np.ndarray:
        """The ``knn`` scorer with the target scorer's neighbourhood (``target_knn``'s defaults)."""
        from router_core.scorers.knn import KNNScorer
        from router_core.scorers.target import TargetKNNScorer

        rows = np.sort(self.picked)
        params = {k: v for k, v in TargetKNNScorer().get_params().items() if k != "sources"}
        knn = KNNScorer(**params).fit(self.d.data.subset(rows), self.emb[rows])
        p = knn.win_prob(self.emb[self.test_rows], None, self.d.strong, self.d.weak)
        return np.asarray(p, np.float64)

    def target_lr(self) -> np.ndarray:
        from router_core.outcomes import strong_win_label
        from router_core.stacks.logistic import fit_soft_logistic

        rows, qs, qw = self.target_targets()
        coef, b = fit_soft_logistic(self.emb[rows], strong_win_label(qs, qw))
        return self.emb[self.test_rows] @ coef + b

    def tfidf(self) -> np.ndarray:
        from router_core.baseline import TfidfPairBaseline
        from router_core.outcomes import pair_outcomes

        rows = np.sort(np.r_[self.d.source, self.picked])
        t = pair_outcomes(self.d.data.subset(rows), self.d.strong, self.d.weak)
        texts = [self.d.data.prompts[rows[i]] for i in t.prompt_idx]
        return TfidfPairBaseline().fit(texts, t.q_strong, t.q_weak).score(self.test_texts)

    def length(self) -> np.ndarray:
        return np.array([len(t) for t in self.test_texts], np.float64)


def apgr(cell: Cell, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[0] APGR on the test part, [1:] one per bootstrap resample (rows of ``weights``)."""
    from router_core.evaluation import apgr_from_curve, pair_curves

    w = np.vstack([np.ones((1, len(score))), weights])
    share, _, pgr = pair_curves(cell.q_strong, cell.q_weak, score, w)
    return apgr_from_curve(share, pgr)


def draw(d: Domain, n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng([seed, n]).choice(d.pool, n, replace=False))


def run_domain(d: Domain, emb: np.ndarray, a: argparse.Namespace) -> dict:
    """{method: {n: [seeds x (1 + n_boot)] APGR}} for one domain."""
    from router_core.evaluation import bootstrap_weights

    base = Cell(d, emb, np.zeros(0, np.int64), a)
    weights = bootstrap_weights(len(base.test_rows), a.n_boot, np.random.default_rng(a.seed))
    trains = {"router", "generic", "pooled"} & set(a.methods)
    generic = apgr(base, base.router(d.source, None), weights) if trains else None
    fixed = {"generic": generic, "length": apgr(base, base.length(), weights)}

    def runs_of(picked: np.ndarray) -> dict:
        c = Cell(d, emb, picked, a)
        return {
            "router": lambda: apgr(c, c.router(np.r_[d.source, c.picked], c.picked), weights),
            "pooled": lambda: apgr(c, c.router(np.r_[d.source, c.picked], None), weights),
            "target-knn": lambda: apgr(c, c.target_knn(), weights),
            "target-lr": lambda: apgr(c, c.target_lr(), weights),
            "tfidf": lambda: apgr(c, c.tfidf(), weights),
        }

    return learning_curve(d, a, fixed, generic, {"router", "pooled"}, runs_of)


def learning_curve(
    d: Domain, a: argparse.Namespace, fixed: dict, generic: np.ndarray | None, routers: set[str], runs_of
) -> dict:
    """{method: {n: [one result per seed]}} for one domain: ``fixed`` methods are the same at every n;
    ``runs_of(picked)`` gives each other method's run on the cell of those target prompts. At n = 0 there
    are no target labels: the ``routers`` are the generic one, the target-only methods have nothing."""
    t0 = time.time()
    out: dict[str, dict[int, list]] = {m: {} for m in a.methods}
    for n in [n for n in a.ns if n <= len(d.pool)]:
        for seed in a.seeds if n else a.seeds[:1]:
            runs = runs_of(draw(d, n, seed))
            for m in a.methods:
                if m in fixed:
                    res = fixed[m]
                elif n == 0:
                    res = generic if m in routers else (runs[m]() if m == "tfidf" else None)
                else:
                    res = runs[m]()
                if res is not None:
                    out[m].setdefault(n, []).append(res)
        got = {m: float(np.mean([r[0] for r in v[n]])) for m, v in out.items() if n in v}
        log(f"{d.name} n={n}: " + ", ".join(f"{m} {v:.3f}" for m, v in got.items())
            + f" ({time.time() - t0:.0f}s)")  # fmt: skip
    return out


def _ci(x: np.ndarray) -> list[float]:
    return [round(float(np.percentile(x, 2.5)), 4), round(float(np.percentile(x, 97.5)), 4)]


def cells_of(results: dict[str, dict], references: tuple[str, ...]) -> list[dict]:
    """Per (domain, n): each method's seed-mean figure with its CI, and the best of ``references``."""
    cells = []
    for dom, res in results.items():
        for n in sorted({n for v in res.values() for n in v}):
            cell = {"domain": dom, "n": n}
            for m, v in res.items():
                if n in v:
                    runs = np.asarray(v[n])
                    cell[m] = round(float(runs[:, 0].mean()), 4)
                    cell[f"{m}_ci95"] = _ci(runs[:, 1:].mean(axis=0))
            refs = {m: cell[m] for m in references if m in cell}
            if refs and "router" in cell:
                best = max(refs, key=refs.get)
                cell["best_reference"], cell["router_minus_best"] = (
                    best,
                    round(cell["router"] - refs[best], 4),
                )
            cells.append(cell)
    return cells


def means_over_domains(cells: list[dict], methods: tuple[str, ...]) -> dict[int, dict[str, float]]:
    by_n: dict[int, list[dict]] = {}
    for c in cells:
        by_n.setdefault(int(c["n"]), []).append(c)
    return {
        n: {m: round(float(np.mean([c[m] for c in cs])), 4) for m in methods if all(m in c for c in cs)}
        for n, cs in sorted(by_n.items())
    }


def router_checks(cells: list[dict], means: dict, references: tuple[str, ...]) -> dict[str, bool]:
    """The router at least the best reference in every cell with n >= 50, and above each on average."""
    return {
        "router_at_least_best_reference_n50": all(
            c.get("router_minus_best", 0) >= 0 for c in cells if c["n"] >= 50
        ),
        "router_above_each_reference_on_average": all(
            v["router"] > v[m]
            for n, v in means.items()
            if n >= 50 and "router" in v
            for m in references
            if m in v
        ),
    }


def summarise(results: dict[str, dict]) -> dict:
    """Per (domain, n) and per n over domains: each method's seed-mean APGR with its CI, the best
    reference, and the acceptance checks of the default router."""
    return summary_of_cells(cells_of(results, REFERENCES))


def summary_of_cells(cells: list[dict]) -> dict:
    """The means over domains and the acceptance checks of ``cells`` (of one run or of several)."""
    means = means_over_domains(cells, METHODS)
    checks = router_checks(cells, means, REFERENCES)
    checks["n0_not_below_length_where_length_above_055"] = all(
        c["router"] >= c["length"]
        for c in cells
        if c["n"] == 0 and c.get("length", 0) > 0.55 and "router" in c
    )
    return {"cells": cells, "mean_over_domains": means, "checks": checks}


def table(summary: dict, methods: list[str]) -> str:
    head = "| domain | n | " + " | ".join(methods) + " | router - best reference |"
    lines = [head, "|" + "---|" * (len(methods) + 3)]
    for c in summary["cells"]:
        vals = [
            f"{c[m]:.3f} [{c[m + '_ci95'][0]:.2f}, {c[m + '_ci95'][1]:.2f}]" if m in c else ""
            for m in methods
        ]
        diff = f"{c['router_minus_best']:+.3f} ({c['best_reference']})" if "router_minus_best" in c else ""
        lines.append(f"| {c['domain']} | {c['n']} | " + " | ".join(vals) + f" | {diff} |")
    for n, v in summary["mean_over_domains"].items():
        vals = [f"{v[m]:.3f}" if m in v else "" for m in methods]
        lines.append(f"| mean over domains | {n} | " + " | ".join(vals) + " | |")
    return "\n".join(lines)


def add_protocol_options(p: argparse.ArgumentParser, ns: tuple[int, ...], methods: tuple[str, ...]) -> None:
    """The options both protocols share: labels per cell, seeds, methods, the router's scorers and
    training arguments."""
    p.add_argument(
        "--ns", default=",".join(map(str, ns)), help="target labels per cell (skipped above the pool)"
    )
    p.add_argument("--seeds", default="0,1", help="draws of the n target prompts")
    p.add_argument("--methods", default=",".join(methods), help="router and references to score")
    p.add_argument("--scorers", default=None, help="scorers of the router (default: train's default)")
    p.add_argument(
        "--train-kwargs", default="{}", help="JSON of extra train_router arguments (design sweeps)"
    )


def finish_protocol_args(a: argparse.Namespace) -> argparse.Namespace:
    a.train_kwargs = json.loads(a.train_kwargs)
    a.ns = sorted(int(x) for x in a.ns.split(","))
    a.seeds = [int(x) for x in a.seeds.split(",")]
    a.methods = [m for m in a.methods.split(",") if m]
    a.domains = [d for d in a.domains.split(",") if d]
    if a.scorers is None:
        from router_core.scorers.registry import DEFAULT_SCORERS

        a.scorers = list(DEFAULT_SCORERS)
    else:
        a.scorers = [s for s in a.scorers.split(",") if s]
    return a


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--out", default="/tmp/transfer_protocol.json", help="JSON results file")
    p.add_argument(
        "--summarise", default=None, metavar="A.json,B.json",
        help="print the table and checks of earlier runs' results files together, and run nothing",
    )  # fmt: skip
    every = [*MMLU_CATEGORIES, "mmlu-other", "alpaca-eval", *(f"llmrouter-{f}" for f in LLMROUTER_FAMILIES)]
    p.add_argument("--domains", default=",".join(every), help="held-out domains, comma-separated")
    add_protocol_options(p, NS, METHODS)
    add_split_options(p, source_max=4000, n_boot=500)
    return finish_protocol_args(p.parse_args(argv))


def load_domains(a: argparse.Namespace) -> list[Domain]:
    cap = a.source_max or None
    groups = {**MMLU_CATEGORIES, "mmlu-other": mmlu_other_group()}
    doms = pair_domains(groups, a.test_frac, cap, a.seed, TEST_SALT)
    fams = [d.removeprefix("llmrouter-") for d in a.domains if d.startswith("llmrouter-")]
    if fams:
        doms += llmrouter_domains(fams, a.test_frac, cap, a.seed, TEST_SALT)
    return [d for d in doms if d.name in a.domains]


def summarise_files(paths: list[str]) -> int:
    runs = [json.loads(Path(p).read_text()) for p in paths]
    summary = summary_of_cells([c for r in runs for c in r["summary"]["cells"]])
    methods = [m for m in METHODS if any(m in r["args"]["methods"] for r in runs)]
    print(table(summary, methods))
    print(json.dumps(summary["checks"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.summarise:
        return summarise_files([p for p in a.summarise.split(",") if p])
    if not (SHARED / "mmlu_dev.parquet").exists():
        print(f"error: the shared data is not at {SHARED} (mmlu_dev.parquet missing)", file=sys.stderr)
        return 2
    domains = load_domains(a)
    if not domains:
        print(f"error: no known domain in --domains {','.join(a.domains)}", file=sys.stderr)
        return 2
    run_protocol(
        domains, a, run_domain, summarise, lambda s: table(s, [m for m in METHODS if m in a.methods])
    )
    return 0


def run_protocol(domains: list[Domain], a: argparse.Namespace, run_domain, summarise, table) -> dict:
    """Embeds the domains, runs each and writes the results after each domain (a long run stopped early
    keeps what it measured); prints the table and the checks."""
    from router_core.embedder import load_embedder

    t0, embedder = time.time(), load_embedder("minilm", threads=a.threads)
    embs = embed_domains(domains, a.embed_cache, embedder, log)
    results: dict[str, dict] = {}
    for d in domains:
        log(f"{d.name}: {len(d.source):,} source, {len(d.pool):,} pool, {len(d.test):,} test prompts")
        results[d.name] = run_domain(d, embs[id(d.data)], a)
        summary = summarise(results)
        raw = {dom: {m: {n: np.asarray(v)[:, 0].tolist() for n, v in r.items()} for m, r in res.items()}
               for dom, res in results.items()}  # fmt: skip
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({"args": vars(a), "results": raw, "summary": summary}, indent=1))
    print(table(summary))
    print(json.dumps(summary["checks"]), f"({time.time() - t0:.0f}s)")
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
