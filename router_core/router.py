"""The trained router: base scorers + stacked default score, saved as one checksummed directory.

``Router.score`` is what the Spark route job calls on each batch of embeddings (and texts, when a scorer
reads them); ``Router.per_model_quality`` gives an N-model router's full per-model estimates (each
scorer's and the default one), as ``evaluate`` reports them; ``Router.label_similarity`` how close each
prompt is to the training prompts (``router_core.label_coverage``). Training lives in
``router_core.training``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router_core.artifact import RouterLoadError, read_manifest, write_manifest
from router_core.known_prompts import KnownPrompts
from router_core.label_coverage import (
    LabelIndex,
    nearest_other_similarity,
    nearest_similarity,
    similarity_summary,
)
from router_core.scorers.base import Scorer
from router_core.scorers.registry import scorer_class
from router_core.stacks import JointStack, PairStack, QualityStack, quality_features

ENSEMBLE_FILE = "ensemble.npz"
KNOWN_PROMPTS_FILE = "known_prompts.npz"


@dataclass
class Router:
    models: list[str]
    strong: str | None
    weak: str | None
    embedder_id: str
    scorers: dict[str, Scorer]
    stack: PairStack | QualityStack | None
    manifest: dict = field(default_factory=dict)
    known: KnownPrompts | None = None  # observed outcomes of the training prompts, by text
    joint: JointStack | None = None  # N models: the default score when fitted (else the linear stack)
    label_index: LabelIndex | None = None  # training prompts, when no knn / sw index holds them
    # load(scorers=False): the scorers' names, their weights left on disk
    unloaded_scorers: list[str] = field(default_factory=list)

    @property
    def scorer_names(self) -> list[str]:
        return list(self.scorers) or list(self.unloaded_scorers)

    @property
    def needs_text(self) -> bool:
        """Whether callers should pass the prompt texts to ``score``: a scorer reads them, or known
        prompts look them up (without texts, known prompts are simply not applied)."""
        return self.known is not None or self._scorers_read_text

    @property
    def _scorers_read_text(self) -> bool:
        return any(s.needs_text for s in self.scorers.values())

    @property
    def is_pair(self) -> bool:
        return self.strong is not None

    def bert_sharing_network(self, embedder: Any) -> Any | None:
        """The router's BERT scorer when its frozen layers are exactly ``embedder``'s network, so one
        transformer pass can give both the embedding and BERT's scores (``BertScorer.embed_and_score``);
        None otherwise (two separate passes)."""
        bert = self.scorers.get("bert")
        return bert if bert is not None and bert.shares_network_with(embedder) else None

    # ------------------------------------------------------------------ scoring

    def scorer_outputs(
        self,
        embeddings: np.ndarray,
        texts: Sequence[str] | None,
        precomputed: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Each base scorer's output, what the stack reads: pair: P(strong beats weak) [n]; N models:
        per-model features [n, M] (``quality_features`` of the scorer's ``score``). ``precomputed``:
        scorer name -> that scorer's ``score(embeddings, texts)`` output when the caller already has it."""
        if self.unloaded_scorers:
            raise RuntimeError("this router was loaded without its scorers (Router.load(scorers=False))")
        if self._scorers_read_text and texts is None:
            raise ValueError(f"router scorers {self.scorer_names} need the prompt texts")
        if texts is not None and len(texts) != len(embeddings):
            raise ValueError(f"{len(texts)} texts for {len(embeddings)} embeddings")
        out = {}
        for name, sc in self.scorers.items():
            q = (precomputed or {}).get(name)
            if self.is_pair:
                p = (
                    sc.win_prob(embeddings, texts, self.strong, self.weak)
                    if q is None
                    else sc.win_prob_from_scores(q, self.strong, self.weak)
                )
                out[name] = np.asarray(p, np.float64)
            else:
                out[name] = quality_features(sc.output, sc.score(embeddings, texts) if q is None else q)
        return out

    def score(
        self,
        embeddings: np.ndarray,
        texts: list[str] | None = None,
        precomputed: Mapping[str, np.ndarray] | None = None,
        use_known: bool = True,
    ) -> dict[str, np.ndarray]:
        """Every scorer's output (``score_<name>``) and the default score for a batch: pair routers
        ``strong_win_prob``, N-model routers ``predicted_quality`` [n, M] (``score_<name>`` is then the
        scorer's best predicted quality). ``precomputed``: see ``scorer_outputs`` (the route job gets
        BERT's from the transformer pass it shares with the embedder). ``use_known=False``: the observed
        outcomes of training prompts are not applied."""
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if not self.is_pair:
            preds = self.per_model_quality(embeddings, texts, precomputed, use_known)
            q = preds.pop("ensemble")
            res = {f"score_{k}": v.max(axis=1) for k, v in preds.items()}
            res["predicted_quality"] = q.astype(np.float32)
            return res
        base = self.scorer_outputs(embeddings, texts, precomputed)
        res = {f"score_{k}": v.astype(np.float32) for k, v in base.items()}
        if isinstance(self.stack, PairStack):
            p = self.stack.predict(base)
        else:
            p = np.mean([v for k, v in base.items() if not scorer_class(k).offset], axis=0)
        res["strong_win_prob"] = self._known(p, texts, use_known).astype(np.float32)
        return res

    def per_model_quality(
        self,
        embeddings: np.ndarray,
        texts: list[str] | None = None,
        precomputed: Mapping[str, np.ndarray] | None = None,
        use_known: bool = True,
        linear_stack: bool = False,
    ) -> dict[str, np.ndarray]:
        """N models: predicted quality [n, M] of each base scorer (calibrated by the stack), and
        ``ensemble``, the default score (known prompts applied when ``use_known``). ``linear_stack``: also
        the per-model linear stack's estimate when the joint stack is the default (for comparison)."""
        if not isinstance(self.stack, QualityStack):
            raise ValueError("this router has no quality stack to predict per-model quality")
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        feats = self.scorer_outputs(embeddings, texts, precomputed)
        res = {k: self.stack.predict_one(k, v) for k, v in feats.items()}
        res["ensemble"] = self._known(self.default_quality(feats, embeddings), texts, use_known)
        if linear_stack and self.joint is not None:
            res["linear_stack"] = self._known(self.stack.predict(feats), texts, use_known)
        return res

    def default_quality(self, feats: Mapping[str, np.ndarray], embeddings: np.ndarray) -> np.ndarray:
        """N models: the default per-model estimate from the base scorers' features, before known
        prompts: the joint stack when the router has one, else the per-model linear stack."""
        assert isinstance(self.stack, QualityStack)
        if self.joint is None:
            return self.stack.predict(feats)
        q = self.joint.predict(feats, embeddings)
        untrained = ~self.stack.calibrated_
        if untrained.any():
            # A model without scores in the stack's data (battle-only): the joint output for it is
            # untrained; keep the linear stack's win-rate estimate.
            q[:, untrained] = self.stack.predict(feats)[:, untrained]
        return q

    def _known(self, estimate: np.ndarray, texts: Sequence[str] | None, use_known: bool) -> np.ndarray:
        return self.with_known(estimate, texts) if use_known else estimate

    def with_known(self, estimate: np.ndarray, texts: Sequence[str] | None) -> np.ndarray:
        if self.known is None or texts is None:
            return estimate
        return self.known.blend(estimate, texts)

    def known_count(self, texts: Sequence[str]) -> int:
        """How many of these prompts the router has observed outcomes for (0 without known prompts)."""
        return 0 if self.known is None else int((self.known.lookup(texts) >= 0).sum())

    # ------------------------------------------------------------------ label coverage

    def label_similarity(self, embeddings: np.ndarray) -> np.ndarray:
        """Each prompt's cosine similarity to its nearest training prompt (float64 [n]; NaN when the
        router holds no index of its training prompts). Low: the router is guessing from what its
        scorers generalise, not from labels on prompts like this one."""
        index = self._training_prompt_index()
        if index is None:
            return np.full(len(embeddings), np.nan)
        return nearest_similarity(index, embeddings)

    def record_label_coverage(self, train_embeddings: np.ndarray, seed: int = 0) -> dict[str, Any]:
        """At training: keep an index of the training prompts when no scorer has one, and record in the
        manifest how similar each training prompt is to its nearest other one (the reference for
        ``label_similarity`` at routing). Returns that manifest entry."""
        if self._training_prompt_index() is None:
            self.label_index = LabelIndex(train_embeddings)
        reference = nearest_other_similarity(train_embeddings, seed=seed)
        entry = {
            "index": "label_index" if self.label_index is not None else self._scorer_with_index(),
            "training_nearest_other": similarity_summary(reference),
        }
        self.manifest["label_similarity"] = entry
        return entry

    def _scorer_with_index(self) -> str | None:
        """The scorer whose FAISS index of the training prompts ``label_similarity`` searches."""
        for name in ("knn", "sw"):
            if getattr(self.scorers.get(name), "index_", None) is not None:
                return name
        return None

    def _training_prompt_index(self) -> Any | None:
        if self.label_index is not None:
            return self.label_index.index
        name = self._scorer_with_index()
        return None if name is None else self.scorers[name].index_

    # ------------------------------------------------------------------ persistence

    def save(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        scorer_entries = []
        for name, sc in self.scorers.items():
            params = sc.save(os.path.join(path, name))
            scorer_entries.append({"name": name, "dir": name, "params": params})
        arrays = self.stack.to_arrays() if self.stack is not None else {}
        if self.joint is not None:
            arrays.update(self.joint.to_arrays())
        np.savez(os.path.join(path, ENSEMBLE_FILE), **arrays)
        written_here = ("format_version", "files", "scorers", "models", "strong", "weak", "embedder_id")
        manifest = {
            k: v for k, v in self.manifest.items() if k not in (*written_here, "known_prompts", "label_index")
        }
        if self.known is not None:
            np.savez(os.path.join(path, KNOWN_PROMPTS_FILE), **self.known.to_arrays())
            manifest["known_prompts"] = {"prior": self.known.prior, "count": len(self.known)}
        if self.label_index is not None:
            self.label_index.save(path)
            manifest["label_index"] = {"count": int(self.label_index.index.ntotal)}
        self.manifest = write_manifest(
            path,
            {
                "models": self.models,
                "strong": self.strong,
                "weak": self.weak,
                "embedder_id": self.embedder_id,
                "scorers": scorer_entries,
                "default_score": "ensemble",
                **manifest,
            },
            version=2 if self.joint is not None else 1,
        )

    @classmethod
    def load(cls, path: str, embedder_id: str | None = None, scorers: bool = True) -> Router:
        """The router at ``path`` (every file's checksum verified). ``scorers=False`` leaves the scorers'
        weights (FAISS index, MF, BERT: seconds of imports and reads) on disk, for a caller that decides
        and reports but never scores, as the route job's driver; ``score`` then raises."""
        manifest = read_manifest(path, embedder_id)
        loaded = {}
        try:
            for entry in manifest["scorers"] if scorers else []:
                klass = scorer_class(entry["name"])
                loaded[entry["name"]] = klass.load(os.path.join(path, entry["dir"]), entry["params"])
            with np.load(os.path.join(path, ENSEMBLE_FILE), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            known = None
            if "known_prompts" in manifest:  # routers written before known prompts have none
                with np.load(os.path.join(path, KNOWN_PROMPTS_FILE), allow_pickle=False) as z:
                    known = KnownPrompts.from_arrays(manifest["known_prompts"]["prior"], z)
            label_index = LabelIndex.load(path) if "label_index" in manifest else None
        except (KeyError, ValueError, OSError) as exc:
            raise RouterLoadError(f"cannot load router from {path}: {exc}") from exc
        names = [entry["name"] for entry in manifest["scorers"]]
        strong, weak = manifest.get("strong"), manifest.get("weak")
        stack: PairStack | QualityStack | None = None
        if strong is not None and "pair_coef" in arrays:
            stack = PairStack.from_arrays(names, arrays)
        elif strong is None:
            stack = QualityStack.from_arrays(names, arrays)
        joint = JointStack.from_arrays(names, arrays) if strong is None and "j_mean" in arrays else None
        return cls(
            models=list(manifest["models"]),
            strong=strong,
            weak=weak,
            embedder_id=manifest["embedder_id"],
            scorers=loaded,
            stack=stack,
            manifest=manifest,
            known=known,
            joint=joint,
            label_index=label_index,
            unloaded_scorers=[] if scorers else names,
        )
