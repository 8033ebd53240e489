"""BERT scorer on tiny generated data: shapes, order symmetry, learning, save/load, shared bottom."""

from __future__ import annotations

import os

import numpy as np
import pytest

from router_core.scorers.bert import WEIGHTS_FILE, BertScorer
from router_core.training_data import TrainingSet

torch = pytest.importorskip("torch")
torch.set_num_threads(2)

TOPICS = ["solve the integral of x squared", "write a short poem about the sea"]


# One epoch of batch 16, no step minimum: the quick fit every shape/symmetry test needs.
ONE_EPOCH = {"epochs": 1, "min_steps": 0, "batch_size": 16, "verbose": False}


def _prompts(n: int) -> list[str]:
    return [f"{TOPICS[i % 2]} (case {i})" for i in range(n)]


def _scores_set(n: int = 64) -> TrainingSet:
    """Model 'big' always right; 'small' right on poems (odd rows) only."""
    prompts = _prompts(n)
    scores = np.stack([np.ones(n), np.arange(n) % 2], axis=1).astype(np.float32)
    z = np.zeros(0, np.int64)
    return TrainingSet(
        prompts, ["big", "small"], scores, z, z, z, np.zeros(0, np.float32), np.zeros(0, np.float32), z,
        np.zeros(n, np.int64), ["gen"],
    )  # fmt: skip


def _battle_set(n: int = 48, swap: bool = False) -> TrainingSet:
    """Three models; 'c' beats 'a' on maths, loses on poems; 'b' ties 'a'. ``swap`` lists every battle the
    other way round (a <-> b, outcome -> 1 - outcome): the scorer must not notice."""
    prompts = _prompts(n)
    rows = []
    for i in range(n):
        rows.append((i, 2, 0, 1.0 if i % 2 == 0 else 0.0))
        rows.append((i, 1, 0, 0.5))
    b = np.array(rows, dtype=np.float64)
    a_col, b_col, out = b[:, 1], b[:, 2], b[:, 3]
    if swap:
        a_col, b_col, out = b_col, a_col, 1.0 - out
    nb = len(b)
    return TrainingSet(
        prompts, ["a", "b", "c"], np.full((n, 3), np.nan, np.float32), b[:, 0].astype(np.int64),
        a_col.astype(np.int64), b_col.astype(np.int64), out.astype(np.float32), np.ones(nb, np.float32),
        np.zeros(nb, np.int64), np.zeros(n, np.int64), ["gen"],
    )  # fmt: skip


def test_fit_one_epoch_fast_shape_and_save_load(tmp_path):
    data = _scores_set()
    sc = BertScorer(**ONE_EPOCH, random_state=0).fit(data, None)
    assert sc.epochs_ == 1  # 4 batches of 16, min_steps=0: the epochs asked for
    q = sc.score(None, data.prompts)
    assert q.shape == (len(data.prompts), 2) and q.dtype == np.float32 and np.isfinite(q).all()
    wp = sc.win_prob(None, data.prompts, "big", "small")
    assert ((wp >= 0) & (wp <= 1)).all()

    params = sc.save(str(tmp_path))
    assert os.path.exists(tmp_path / WEIGHTS_FILE)
    assert not any(f.endswith((".pkl", ".pt", ".bin")) for f in os.listdir(tmp_path))
    # Only the fine-tuned top layers + head are stored, not the frozen MiniLM.
    assert os.path.getsize(tmp_path / WEIGHTS_FILE) < 30_000_000  # whole MiniLM: ~90 MB
    loaded = BertScorer.load(str(tmp_path), params)
    assert loaded.models_ == ["big", "small"]
    np.testing.assert_array_equal(loaded.score(None, data.prompts), q)


def test_random_state_decides_the_fit_and_torch_global_rng_is_left_alone():
    """Init, dropout and batch order come from ``random_state``: the same fit whatever torch's global RNG
    holds, and that RNG is where it was after fitting and loading."""
    data = _scores_set(32)
    fits = []
    for outer in (1, 2):
        torch.manual_seed(outer)
        before = torch.get_rng_state()
        sc = BertScorer(**ONE_EPOCH, random_state=3).fit(data, None)
        assert torch.equal(torch.get_rng_state(), before)
        fits.append(sc.score(None, data.prompts))
    np.testing.assert_array_equal(fits[0], fits[1])
    other = BertScorer(**ONE_EPOCH, random_state=4).fit(data, None).score(None, data.prompts)
    assert np.abs(other - fits[0]).max() > 1e-4


def test_min_steps_adds_epochs_on_few_batches():
    """32 prompts are 2 batches of 16: 10 steps take 5 epochs, whatever smaller ``epochs`` says."""
    sc = BertScorer(**{**ONE_EPOCH, "min_steps": 10}).fit(_scores_set(32), None)
    assert sc.epochs_ == 5


def test_learns_a_topic_signal_from_scores():
    data = _scores_set(96)
    sc = BertScorer(**{**ONE_EPOCH, "epochs": 3}, lr=3e-4).fit(data, None)
    wp = sc.win_prob(None, data.prompts, "big", "small")
    # 'big' helps on maths (even rows) only, so P(big beats small) must be higher there.
    assert wp[0::2].mean() > wp[1::2].mean() + 0.2


def test_battle_order_symmetry_and_win_prob_complement():
    a = BertScorer(**ONE_EPOCH).fit(_battle_set(), None)
    b = BertScorer(**ONE_EPOCH).fit(_battle_set(swap=True), None)
    texts = _prompts(10)
    np.testing.assert_allclose(a.score(None, texts), b.score(None, texts), atol=1e-5)
    p = a.win_prob(None, texts, "c", "a")
    np.testing.assert_allclose(p, 1.0 - a.win_prob(None, texts, "a", "c"), atol=1e-6)
    with pytest.raises(KeyError, match="not known"):
        a.win_prob(None, texts, "c", "zzz")


def test_embed_and_score_matches_the_embedder(embedder):
    sc = BertScorer(**ONE_EPOCH).fit(_scores_set(32), None)
    texts = ["hello world", "a longer prompt about the integral of x squared from zero to one"]
    emb, logits = sc.embed_and_score(texts)
    np.testing.assert_allclose(emb, embedder.encode(texts), atol=1e-5)
    np.testing.assert_allclose(logits, sc.score(None, texts), atol=1e-6)


def test_head_tail_truncation_keeps_the_end_of_long_prompts():
    sc = BertScorer(max_length=16, truncation="head_tail", verbose=False)
    sc._setup(2)
    long = " ".join(f"w{i}" for i in range(50)) + " which option is right?"
    ids_short, ids_long = sc._token_ids(["short prompt", long])
    tokens = sc.tokenizer_.convert_ids_to_tokens(ids_long)
    assert len(ids_long) == 16 and tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert tokens[-6:-1] == ["which", "option", "is", "right", "?"] and tokens[1] == "w"  # end and start kept
    assert ids_short == sc.tokenizer_("short prompt")["input_ids"]  # short prompts are untouched
    head = BertScorer(max_length=16, verbose=False)
    head._setup(2)
    assert "right" not in head.tokenizer_.convert_ids_to_tokens(head._token_ids([long])[0])
    with pytest.raises(ValueError, match="truncation must be"):
        BertScorer(truncation="tail")._setup(2)


def test_load_rejects_missing_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights not found"):
        BertScorer.load(str(tmp_path), {})


@pytest.mark.parametrize("pair", [True, False])
def test_route_batches_share_the_bert_pass_with_the_embedder(embedder, int8_embedder, pair):
    """score_batch with the shared pass gives the vectors and scores of two separate passes, for cached
    rows, rows to embed, and a prompt longer than BERT's token limit."""
    import pyarrow as pa

    from router_core.training import train_router
    from udfs.score_udf import score_batch

    data = _scores_set(48)
    roles = {"strong": "big", "weak": "small"} if pair else {}
    router = train_router(
        data, embedder.encode(data.prompts), embedder.id, scorers=("sw", "bert"),
        scorer_params={"bert": ONE_EPOCH},
        log=lambda m: None, **roles,
    )  # fmt: skip
    bert = router.bert_sharing_network(embedder)
    assert bert is router.scorers["bert"]
    assert router.bert_sharing_network(int8_embedder) is None  # other vectors: two passes
    texts = [*_prompts(6), "integral " * 200, "a poem about the sea and the moon"]
    cached = embedder.encode(texts[:2])
    rows = [list(map(float, v)) for v in cached] + [None] * (len(texts) - 2)
    emb_col = pa.array(rows, pa.list_(pa.float32()))
    batch = pa.RecordBatch.from_pydict(
        {"prompt_hash": [f"h{i}" for i in range(len(texts))], "text": texts, "embedding": emb_col}
    )
    shared = score_batch(batch, router, embedder.encode, embedder.dim, bert).to_pydict()
    separate = score_batch(batch, router, embedder.encode, embedder.dim).to_pydict()
    np.testing.assert_allclose(np.array(shared["embedding"]), np.array(separate["embedding"]), atol=1e-5)
    np.testing.assert_allclose(np.array(shared["embedding"]), embedder.encode(texts), atol=1e-5)
    keys = ["score_sw", "score_bert"] + (["strong_win_prob"] if pair else ["predicted_quality"])
    for k in keys:
        np.testing.assert_allclose(np.array(shared[k]), np.array(separate[k]), atol=1e-5)
    assert bert.fits_untruncated(texts).tolist() == [True] * 6 + [False, True]


def test_source_weights_reach_score_targets(tmp_path):
    """Source weights (``TrainingSet.with_weights``) reach BERT's score targets, not only its battles: a
    source weighted 0 trains exactly as if it were absent, and a weight of 0.5 changes the fit."""
    import pandas as pd

    from router_core.training_data import load_training_data

    def wide(name: str, offset: int, small_right_on: int) -> str:
        prompts = [f"{TOPICS[i % 2]} (item {offset + i})" for i in range(32)]
        df = pd.DataFrame(
            {"prompt": prompts, "big": 1.0, "small": [float(i % 2 == small_right_on) for i in range(32)]}
        )
        path = tmp_path / name
        df.to_parquet(path)
        return str(path)

    first, second = wide("first.parquet", 0, 1), wide("second.parquet", 100, 0)  # the sources disagree
    both = load_training_data([first, second])
    probe = [f"{t} (new)" for t in TOPICS]

    def fit(data):
        return BertScorer(**ONE_EPOCH, random_state=0).fit(data).score(None, probe)

    alone = fit(load_training_data([first]))
    np.testing.assert_allclose(fit(both.with_weights({"second": 0.0})), alone, atol=1e-5)
    assert not np.allclose(fit(both.with_weights({"second": 0.5})), fit(both), atol=1e-4)
