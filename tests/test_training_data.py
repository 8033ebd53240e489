"""Training data: the four formats, aliases, restrictions, clear errors, subset/pair, hashing, split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from router_core.training_data import TrainingDataError, load_training_data, split_prompts, subsample_prompts

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write(tmp_path: Path, name: str, df: pd.DataFrame) -> str:
    p = tmp_path / name
    df.to_parquet(p)
    return str(p)


def battles_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt": ["hello  world", "q2", "q3", "q4"],
            "model_a": ["big", "big", "small", "big"],
            "model_b": ["small", "small", "big", "small"],
            "winner": ["model_a", "tie", "model_b", "tie (bothbad)"],
        }
    )


def test_battles_format(tmp_path):
    ts = load_training_data([write(tmp_path, "b.parquet", battles_df())])
    assert ts.models == ["big", "small"]
    assert ts.prompts[0] == "hello world"  # normalised
    np.testing.assert_array_equal(ts.battle_outcome, [1.0, 0.5, 0.0, 0.5])
    assert ts.battle_a[2] == 1 and ts.battle_b[2] == 0  # order kept as given
    assert np.isnan(ts.scores).all()  # battle-only prompts have no scores
    assert ts.sources == ["b"] and (ts.battle_weight == 1.0).all()


def test_unknown_winner_values_are_listed(tmp_path):
    df = battles_df()
    df.loc[1, "winner"] = "draw"
    with pytest.raises(TrainingDataError, match=r"unknown winner value\(s\) \['draw'\]"):
        load_training_data([write(tmp_path, "b.parquet", df)])


def test_wide_format_ignores_non_model_columns(tmp_path):
    df = pd.DataFrame(
        {
            "prompt": ["a", "b", "c"],
            "subject": ["x", "y", "z"],
            "m1": [True, False, True],
            "m2": [False, False, True],
        }
    )
    ts = load_training_data([write(tmp_path, "w.parquet", df)])
    assert ts.models == ["m1", "m2"]
    np.testing.assert_array_equal(ts.scores, [[1, 0], [0, 0], [1, 1]])
    # a: m1 beats m2; b, c: ties.
    np.testing.assert_array_equal(ts.battle_outcome, [1.0, 0.5, 0.5])
    np.testing.assert_array_equal(ts.battle_a, [0, 0, 0])


def test_long_and_struct_formats(tmp_path):
    long = pd.DataFrame(
        {"question": ["p1", "p1", "p1", "p2"], "model": ["a", "b", "c", "a"], "score": [3.0, 5.0, 3.0, 1.0]}
    )
    ts = load_training_data([write(tmp_path, "l.parquet", long)])
    assert ts.models == ["a", "b", "c"]
    assert ts.n_battles == 3  # p1: 3 pairs; p2 has one model only
    np.testing.assert_array_equal(ts.battle_outcome, [0.0, 0.5, 1.0])  # a<b, a=c, b>c

    table = pa.table(
        {
            "question": ["s1", "s2"],
            "scores": pa.array(
                [{"x": 1.0, "y": 0.0}, {"x": 0.0, "y": 0.0}],
                type=pa.struct([("x", pa.float64()), ("y", pa.float64())]),
            ),
        }
    )
    pq.write_table(table, tmp_path / "s.parquet")
    ts2 = load_training_data([str(tmp_path / "s.parquet")])
    assert ts2.models == ["x", "y"]
    np.testing.assert_array_equal(ts2.scores, [[1, 0], [0, 0]])


def test_sources_combined_with_alias(tmp_path):
    wide = pd.DataFrame({"prompt": ["q2", "new"], "big-v1": [True, True], "small": [False, True]})
    ts = load_training_data(
        [write(tmp_path, "battles.parquet", battles_df()), write(tmp_path, "wide.parquet", wide)],
        aliases={"big": "big-v1"},
    )
    assert ts.models == ["big-v1", "small"]
    assert ts.sources == ["battles", "wide"]
    assert len(ts.prompts) == 5  # "q2" appears in both sources once
    assert ts.prompt_source[ts.prompts.index("q2")] == 0
    assert ts.prompt_source[ts.prompts.index("new")] == 1
    np.testing.assert_array_equal(np.bincount(ts.battle_source), [4, 2])


def test_models_restriction_and_errors(tmp_path):
    df = pd.DataFrame({"prompt": ["a", "b"], "m1": [1.0, 0.0], "m2": [0.0, 0.0], "m3": [1.0, 1.0]})
    path = write(tmp_path, "w.parquet", df)
    ts = load_training_data([path], models=["m3", "m1"])
    assert ts.models == ["m1", "m3"] and ts.scores.shape == (2, 2)
    with pytest.raises(
        TrainingDataError, match=r"not in the training data; models present: \['m1', 'm2', 'm3'\]"
    ):
        load_training_data([path], models=["m1", "gpt-9"])
    one = write(tmp_path, "one.parquet", pd.DataFrame({"prompt": ["a"], "m1": [1.0]}))
    with pytest.raises(TrainingDataError, match="at least two models"):
        load_training_data([one])
    words = write(tmp_path, "words.parquet", pd.DataFrame({"prompt": ["a"], "m1": ["good"], "m2": ["bad"]}))
    with pytest.raises(TrainingDataError, match=r"no model score column .* not scores: \['m1', 'm2'\]"):
        load_training_data([words])


def test_missing_columns_and_prompt_column(tmp_path):
    df = pd.DataFrame({"prompt": ["a"], "model_a": ["x"], "winner": ["model_a"]})
    with pytest.raises(TrainingDataError, match=r"needs column\(s\) \['model_b'\]"):
        load_training_data([write(tmp_path, "b.parquet", df)], formats="battles")
    nop = pd.DataFrame({"query": ["a"], "m1": [1.0], "m2": [0.0]})
    with pytest.raises(TrainingDataError, match="no prompt column"):
        load_training_data([write(tmp_path, "n.parquet", nop)])
    ts = load_training_data([write(tmp_path, "n.parquet", nop)], prompt_column="query")
    assert ts.prompts == ["a"]
    with pytest.raises(TrainingDataError, match="not found"):
        load_training_data([str(tmp_path / "absent.parquet")])


def test_list_prompts_reduce_like_the_route_job(tmp_path):
    """MT-bench style turns and OpenAI chat messages are reduced by the route job's messages policy."""
    turns = pd.DataFrame(
        {"turns": [["Solve 2x = 4.", "Now  x^2?"], ["Write a haiku."]], "m1": [1.0, 0.0], "m2": [0.0, 1.0]}
    )
    path = write(tmp_path, "turns.parquet", turns)
    both = load_training_data([path], prompt_column="turns").prompts  # default: all user turns
    assert both == ["Solve 2x = 4. Now x^2?", "Write a haiku."]  # turns joined, whitespace normalised
    last = load_training_data([path], prompt_column="turns", messages_policy="last_user").prompts
    assert last == ["Now x^2?", "Write a haiku."]
    chat = pd.DataFrame(
        {
            "prompt": [
                [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}],
                [{"role": "user", "content": "What is 2+2?"}],
            ],
            "m1": [1.0, 0.0],
            "m2": [0.0, 1.0],
        }
    )
    cpath = write(tmp_path, "chat.parquet", chat)
    assert load_training_data([cpath]).prompts == ["hi there", "What is 2+2?"]
    assert load_training_data([cpath], messages_policy="full").prompts[0] == "system: be brief user: hi there"
    numeric = pd.DataFrame({"prompt": [42, 7], "m1": [1.0, 0.0], "m2": [0.0, 1.0]})  # read as int64
    assert load_training_data([write(tmp_path, "num.parquet", numeric)]).prompts == ["42", "7"]
    bad = pd.DataFrame({"prompt": [{"x": 1}, {"x": 2}], "m1": [1.0, 0.0], "m2": [0.0, 1.0]})
    with pytest.raises(TrainingDataError, match="column 'prompt': a prompt must be text"):
        load_training_data([write(tmp_path, "bad.parquet", bad)])


def test_mt_bench_style_file_loads_without_options(tmp_path):
    """An MT-bench export: `turns` found as the prompt column, integer 1-10 scores, and neither the
    numeric `question_id` nor the list-of-strings `reference` taken for model scores."""
    df = pd.DataFrame(
        {
            "question_id": [81, 82, 83],
            "category": ["writing", "math", "coding"],
            "turns": [
                ["Write a poem.", "Now make it shorter."],
                ["What is 3*7?", "And 3*8?"],
                ["Sort a list."],
            ],
            "reference": [None, ["21", "24"], None],
            "gpt-4": [9, 10, 8],
            "mixtral": [9, 4, 6],
        }
    )
    path = write(tmp_path, "mtb.parquet", df)
    with pytest.warns(UserWarning, match=r"ignored column\(s\) \['question_id'\]"):
        ts = load_training_data([path])
    assert ts.models == ["gpt-4", "mixtral"]
    assert ts.prompts[0] == "Write a poem. Now make it shorter."
    np.testing.assert_array_equal(ts.scores, [[9, 9], [10, 4], [8, 6]])
    # Under last_user, two conversations ending in the same follow-up become one prompt: the loader says so.
    df["turns"] = [
        ["Write a poem.", "Now make it shorter."],
        ["What is 3*7?", "Now make it shorter."],
        ["Sort."],
    ]
    with pytest.warns(UserWarning, match="3 distinct conversations reduce to 2 distinct prompts"):
        merged = load_training_data(
            [write(tmp_path, "mtb2.parquet", df.drop(columns="question_id"))], messages_policy="last_user"
        )
    assert len(merged.prompts) == 2


def test_empty_prompts_error_unless_dropped(tmp_path):
    df = pd.DataFrame({"prompt": ["a", "  ", None], "m1": [1.0, 0.0, 1.0], "m2": [0.0, 1.0, 1.0]})
    path = write(tmp_path, "w.parquet", df)
    with pytest.raises(TrainingDataError, match=r"2 row\(s\) with an empty or missing prompt"):
        load_training_data([path])
    with pytest.warns(UserWarning, match="dropped"):
        ts = load_training_data([path], drop_empty=True)
    assert ts.prompts == ["a"]


def test_subset_pair_hash_and_split(tmp_path):
    df = pd.DataFrame(
        {"prompt": [f"p{i}" for i in range(6)], "a": [1.0] * 6, "b": [0.0] * 6, "c": [0.0, 1.0] * 3}
    )
    ts = load_training_data([write(tmp_path, "w.parquet", df)])
    sub = ts.subset([4, 1])
    assert sub.prompts == ["p4", "p1"]
    assert set(sub.battle_prompt) == {0, 1} and sub.n_battles == 6
    np.testing.assert_array_equal(sub.scores, ts.scores[[4, 1]])
    pr = ts.pair("c", "a")
    assert pr.models == ["a", "c"] and pr.n_battles == 6
    assert set(pr.battle_a) | set(pr.battle_b) <= {0, 1}
    with pytest.raises(TrainingDataError, match="present"):
        ts.pair("a", "zzz")
    assert ts.content_hash() == load_training_data([write(tmp_path, "w.parquet", df)]).content_hash()
    assert ts.content_hash() != sub.content_hash()
    mask = split_prompts(ts.prompts, 0.5)
    np.testing.assert_array_equal(mask, split_prompts(list(ts.prompts), 0.5))
    # Decided by the text alone: the same prompt lands on the same side in any list.
    assert split_prompts(["p3"], 0.5)[0] == mask[3]


@pytest.mark.skipif(not (SHARED / "mmlu_dev.parquet").exists(), reason="shared data absent")
def test_real_sources_load():
    ts = load_training_data(
        [str(SHARED / "mmlu_dev.parquet"), str(SHARED / "llmrouter_train.parquet")],
    )
    assert "subject" not in ts.models
    assert "gpt-4-1106-preview" in ts.models and "gemma-2-9b-it" in ts.models
    assert len(ts.models) == 11
    assert ts.sources == ["mmlu_dev", "llmrouter_train"]


def test_model_column_order_of_a_file_does_not_reach_training(tmp_path):
    """The same wide data with its model columns in another order loads as the same TrainingSet (models
    sorted, each column holding its own model's scores), so routers trained from either are the same."""
    rng = np.random.default_rng(4)
    n = 50
    cols = {
        "prompt": [f"question {i}" for i in range(n)],
        "zeta": (rng.random(n) < 0.7).astype(float),
        "alpha": (rng.random(n) < 0.5).astype(float),
        "mid": (rng.random(n) < 0.3).astype(float),
    }
    sets = []
    for k, order in enumerate((["prompt", "zeta", "alpha", "mid"], ["prompt", "mid", "alpha", "zeta"])):
        (tmp_path / str(k)).mkdir()
        path = tmp_path / str(k) / "wide.parquet"  # the same source name: only the column order differs
        pd.DataFrame(cols)[order].to_parquet(path)
        sets.append(load_training_data([str(path)]))
    a, b = sets
    assert a.models == b.models == ["alpha", "mid", "zeta"]
    for j, m in enumerate(a.models):
        np.testing.assert_array_equal(a.scores[:, j], cols[m])
        np.testing.assert_array_equal(b.scores[:, j], cols[m])
    for field in ("battle_prompt", "battle_a", "battle_b", "battle_outcome"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.content_hash() == b.content_hash()


def test_subsample_keeps_every_target_prompt_that_fits(tmp_path):
    generic = pd.DataFrame(
        {"prompt": [f"g{i}" for i in range(40)], "big": [True] * 40, "small": [False] * 40}
    )
    mine = pd.DataFrame({"prompt": [f"t{i}" for i in range(8)], "big": [True] * 8, "small": [True] * 8})
    ts = load_training_data(
        [write(tmp_path, "generic.parquet", generic), write(tmp_path, "mine.parquet", mine)]
    )
    small = subsample_prompts(ts, 20, ["mine"], seed=0)
    assert len(small.prompts) == 20
    assert {p for p in small.prompts if p.startswith("t")} == {f"t{i}" for i in range(8)}
    only_targets = subsample_prompts(ts, 5, ["mine"], seed=0)
    assert len(only_targets.prompts) == 5 and all(p.startswith("t") for p in only_targets.prompts)


# --- training files as teams export them ---------------------------------------------------------------


def test_spreadsheet_csv_with_pandas_index_text_booleans_blanks_and_percentages(tmp_path):
    frame = pd.DataFrame(
        {
            "prompt": ["q1", "q2", "q3"],
            "gpt-4o": ["TRUE", "FALSE", "TRUE"],
            "haiku": ["false", "", "True"],  # a blank cell: no score for that prompt
            "llama": ["85%", "40 %", "0.5"],
            "notes": ["fine", "check", "ok"],  # text: never a model
            "judge": ["1", "0", "error"],  # mostly scores: left out, and said
            "answer": ["yes", "no", "yes"],  # the question's answer, not a model
        }
    )
    frame.to_csv(tmp_path / "sheet.csv")  # pandas' default keeps the index as "Unnamed: 0"
    with pytest.warns(UserWarning) as caught:
        ts = load_training_data([str(tmp_path / "sheet.csv")])
    said = " ".join(str(w.message) for w in caught)
    assert "['Unnamed: 0', 'answer']: identifiers or answers" in said and "'judge' has ['error']" in said
    assert ts.models == ["gpt-4o", "haiku", "llama"]
    np.testing.assert_allclose(ts.scores, [[1, 0, 0.85], [0, np.nan, 0.4], [1, 1, 0.5]])


def test_kaggle_arena_one_hot_winners_and_list_literal_prompts(tmp_path):
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "model_a": ["gpt-4", "gpt-4 ", "claude", None],  # a stray space is the same model
            "model_b": ["claude", "claude", "gpt-4", "claude"],
            "prompt": ['["Hi there"]', '["Sort a list", "Now in reverse"]', '["Hi there"]', '["x"]'],
            "winner_model_a": [1, 0, 0, 1],
            "winner_model_b": [0, 1, 0, 0],
            "winner_tie": [0, 0, 1, 0],
        }
    )
    frame.to_csv(tmp_path / "arena.csv", index=False)
    with pytest.warns(UserWarning, match=r"dropped 1 battle\(s\) without model_a, model_b or winner"):
        ts = load_training_data([str(tmp_path / "arena.csv")])
    assert ts.models == ["claude", "gpt-4"] and ts.n_battles == 3
    assert sorted(ts.prompts) == ["Hi there", "Sort a list Now in reverse"]
    assert sorted(ts.battle_outcome.tolist()) == [0.0, 0.5, 1.0]


def test_routerbench_fields_json_lines_named_json_and_semicolon_csv(tmp_path):
    frame = pd.DataFrame(
        {
            "prompt": ["['What is 2+2?']", "['Name a colour.']"],
            "gpt-4": [1.0, 1.0],
            "mixtral": [0.0, 1.0],
            "gpt-4|total_cost": [0.01, 0.02],
            "gpt-4|model_response": ["4", "red"],
        }
    )
    frame.to_json(tmp_path / "rb.json", orient="records", lines=True)  # JSON Lines under a .json name
    with pytest.warns(UserWarning, match=r"ignored column\(s\) \['gpt-4\|total_cost'\]: per-model fields"):
        ts = load_training_data([str(tmp_path / "rb.json")])
    assert ts.models == ["gpt-4", "mixtral"] and sorted(ts.prompts) == ["Name a colour.", "What is 2+2?"]
    frame[["prompt", "gpt-4", "mixtral"]].to_csv(tmp_path / "eu.csv", sep=";", index=False)
    assert load_training_data([str(tmp_path / "eu.csv")]).models == ["gpt-4", "mixtral"]


def test_labels_that_are_all_ties_are_an_error(tmp_path):
    ties = pd.DataFrame(
        {"prompt": ["a", "b"], "model_a": ["x", "x"], "model_b": ["y", "y"], "winner": ["tie"] * 2}
    )
    with pytest.raises(TrainingDataError, match="every label is a tie"):
        load_training_data([write(tmp_path, "ties.parquet", ties)])
    equal = pd.DataFrame({"prompt": ["a", "b"], "x": [1.0, 0.0], "y": [1.0, 0.0]})
    with pytest.raises(TrainingDataError, match="every label is a tie"):
        load_training_data([write(tmp_path, "equal.parquet", equal)])


def test_judgments_keyed_by_question_id_name_the_join(tmp_path):
    pair = pd.DataFrame({"question_id": [81], "model_1": ["a"], "model_2": ["b"], "g1_winner": ["model_1"]})
    with pytest.raises(TrainingDataError, match="keyed by question_id .* joined on it first"):
        load_training_data([write(tmp_path, "gpt4_pair.parquet", pair)])


def test_repeated_prompts_of_a_score_file_are_averaged_and_said(tmp_path):
    path = write(
        tmp_path,
        "dup.parquet",
        pd.DataFrame({"prompt": ["q1", "q1 ", "q2", "q3"], "big": [1.0, 0.0, 1.0, 1.0], "small": [0.0] * 4}),
    )
    with pytest.warns(UserWarning, match=r"dup: 1 prompt\(s\) appear more than once .*averaged"):
        ts = load_training_data([path])
    assert len(ts.prompts) == 3
    assert ts.scores[ts.prompts.index("q1"), ts.models.index("big")] == 0.5
