"""Pure labelling logic: verdict parsing, both-order combination, sampling strategies, Batch lines,
the journal, and battles from verdicts (router_core/labeling)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from router_core.batch_files import check_batch_file
from router_core.labeling import sampling as S
from router_core.labeling.batch_files import (
    BatchFileError,
    read_requests,
    read_results,
    result_from_line,
    result_line,
    write_parts,
)
from router_core.labeling.journal import Journal
from router_core.labeling.judge_prompts import combine_orders, judge_messages, parse_verdict
from router_core.labeling.judging import battles_from_verdicts, build_judge_requests


@pytest.mark.parametrize(
    "text, verdict",
    [
        ("Assistant A is better. [[A]]", "A"),
        ("final: [[B]]", "B"),
        ("It's a tie [[C]]", "tie"),
        ("[[ b ]]", "B"),
        ("Arena-Hard style: [[A>>B]]", "A"),
        ("[[B>A]]", "B"),
        ("[[A=B]]", "tie"),
        ('Output "[[A]]" if A is better, "[[B]]" if B... My verdict: [[B]]', "B"),  # format echoed first
        ("A is better", None),
        ("[A]", None),
        ("[[D]]", None),
        ("", None),
        (None, None),
        ('{"verdict": "[[A', None),  # truncated
    ],
)
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


def test_combine_orders_cancels_position_bias():
    # Order "ba" shows the second model as Assistant A: "B" there means the first model won.
    assert combine_orders({"ab": "A", "ba": "B"}).winner == "model_a"
    assert combine_orders({"ab": "B", "ba": "A"}).winner == "model_b"
    assert combine_orders({"ab": "tie", "ba": "tie"}) == combine_orders({"ab": "tie", "ba": "tie"})
    biased = combine_orders({"ab": "A", "ba": "A"})  # always the first shown: position bias
    assert (biased.winner, biased.agreement) == ("tie", False)
    assert not combine_orders({"ab": "A", "ba": "tie"}).agreement


def test_judge_messages_use_the_reference_template_when_given():
    plain = judge_messages("Q?", "one", "two")
    ref = judge_messages("Q?", "one", "two", reference="42")
    assert "[[C]]" in plain[0]["content"] and "reference answer" not in plain[0]["content"]
    assert (
        "[The Start of Reference Answer]\n42" in ref[1]["content"] and "reference answer" in ref[0]["content"]
    )
    assert plain[1]["content"].index("one") < plain[1]["content"].index("two")


def test_proportional_quota():
    assert S.proportional_quota([10, 10], 5).tolist() in ([3, 2], [2, 3])
    assert S.proportional_quota([100, 1, 1], 3, at_least_one=True).tolist() == [1, 1, 1]
    assert S.proportional_quota([3, 1], 10).tolist() == [3, 1]  # never more than a group holds
    assert S.proportional_quota([5, 3, 2], 5).sum() == 5


def test_random_and_stratified_sampling():
    picks = S.sample_random(100, 10, seed=1)
    assert len({p.index for p in picks}) == 10 and picks == S.sample_random(100, 10, seed=1)
    strata = ["d1/web"] * 80 + ["d1/api"] * 15 + ["d2/web"] * 5
    picks = S.sample_stratified(strata, 20, seed=0)
    counts = {k: sum(1 for p in picks if strata[p.index] == k) for k in set(strata)}
    assert counts == {"d1/web": 16, "d1/api": 3, "d2/web": 1}
    assert all(p.reason.startswith("stratified: stratum ") for p in picks)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_informative_prefers_uncertain_and_novel_skips_duplicates_covers_clusters():
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(4, 16)))
    emb = _unit(np.repeat(centres, 25, axis=0) + 0.15 * rng.normal(size=(100, 16)))
    emb[1] = emb[0]  # an exact near-duplicate pair
    p = rng.uniform(0, 1, 100)
    p[[0, 1]] = 0.5  # both maximally uncertain: only one may be picked
    unc = S.uncertainty_pair(p, 0.5)
    picks = S.sample_informative(emb, unc, 8, seed=0, score=p)
    idx = [pk.index for pk in picks]
    assert len(idx) == 8 and not {0, 1} <= set(idx) and ({0, 1} & set(idx))
    assert {i // 25 for i in idx} == {0, 1, 2, 3}  # every cluster covered
    # Within its cluster each pick is among the most uncertain there.
    chosen_unc = unc[idx].mean()
    assert chosen_unc > np.median(unc) + 0.2
    assert picks[0].reason.startswith("informative: router unsure (score ")
    # Far from the training prompts wins over near: with uncertainty equal, novelty decides.
    flat = np.full(100, 0.5)
    sims = np.linspace(0.99, 0.0, 100)
    novel = S.sample_informative(emb, flat, 4, seed=0, nearest_train_sim=sims)
    for c in range(4):
        in_c = [pk.index for pk in novel if pk.index // 25 == c]
        assert in_c == [c * 25 + 24]
    assert "nearest training prompt at similarity" in novel[0].reason


def test_uncertainty():
    assert S.uncertainty_pair(np.array([0.3, 0.0, 1.0]), 0.3).round(3).tolist() == [1.0, 0.571, 0.0]
    q = np.array([[0.5, 0.5, 0.1], [0.9, 0.1, 0.1]])
    assert S.uncertainty_multi(q).tolist() == [1.0, 0.0]


def test_batch_lines_round_trip(tmp_path):
    lines = [
        {"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions", "body": {"x": i}}
        for i in range(5)
    ]
    parts = write_parts(lines, tmp_path / "b", per_file=2)
    assert [p.name for p in parts] == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    assert [ln["custom_id"] for p in parts for ln in read_requests(p)] == [f"c{i}" for i in range(5)]
    # the Batch API's byte limit splits too (judge requests carry prompts and two answers)
    size = len(parts[0].read_bytes()) // 2  # one line
    by_bytes = write_parts(lines, tmp_path / "c", max_bytes=3 * size)
    assert [len(p.read_bytes()) // size for p in by_bytes] == [3, 2]
    assert all(check_batch_file(p)[1] == [] for p in by_bytes)
    (tmp_path / "dup.jsonl").write_text(json.dumps(lines[0]) + "\n" + json.dumps(lines[0]) + "\n")
    with pytest.raises(BatchFileError, match="duplicate custom_id 'c0'"):
        read_requests(tmp_path / "dup.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"custom_id": "x", "meth')
    with pytest.raises(BatchFileError, match="bad.jsonl:1: not JSON"):
        read_requests(tmp_path / "bad.jsonl")


def test_results_from_batch_output_and_error_lines():
    usage = {"prompt_tokens": 3, "completion_tokens": 1}
    body = {"choices": [{"message": {"content": "hi"}}], "usage": usage}
    ok = {"custom_id": "a", "response": {"status_code": 200, "body": body}, "error": None}
    r = result_from_line(ok)
    assert r.ok and r.content == "hi" and r.usage() == (3, 1)
    err = result_from_line(
        {"custom_id": "b", "response": {"status_code": 500, "body": {"error": {"message": "x"}}}}
    )
    assert not err.ok and err.error == "x"
    expired = result_from_line(
        {"custom_id": "c", "response": None, "error": {"code": "batch_expired", "message": "late"}}
    )
    assert not expired.ok and expired.error == "late"
    assert result_from_line(result_line(r)) == r


@pytest.mark.parametrize(
    "line, resend",
    [
        (None, True),  # missing
        ({"response": None, "error": {"code": "batch_expired", "message": "late"}}, True),
        ({"response": {"status_code": 429, "body": {"error": {"message": "rate"}}}}, True),
        ({"response": {"status_code": 503, "body": {"error": {"message": "busy"}}}}, True),
        ({"response": {"status_code": 408, "body": {"error": {"message": "timeout"}}}}, True),
        ({"response": {"status_code": 400, "body": {"error": {"message": "invalid"}}}}, False),
        ({"response": {"status_code": 404, "body": {"error": {"message": "no model"}}}}, False),
        ({"response": {"status_code": 200, "body": {"choices": []}}}, False),  # answered
    ],
)
def test_what_resend_unanswered_sends_again(line, resend):
    """A request refused for what it is (400, an unknown model) would be refused again: never resent."""
    from router_core.labeling.batch_api import resendable

    assert resendable(None if line is None else result_from_line({"custom_id": "a", **line})) is resend


def test_journal_skips_a_torn_last_line_and_appends_on_a_new_one(tmp_path):
    j = Journal(tmp_path / "j.jsonl")
    j.append({"event": "done", "custom_id": "a"})
    with open(j.path, "a") as f:
        f.write('{"event": "done", "cust')  # the crash hit mid-write
    j.append({"event": "done", "custom_id": "b"})
    assert [e["custom_id"] for e in j.read()] == ["a", "b"] and j.torn_lines == 1


def test_judge_requests_and_battles_from_verdicts():
    from router_core.labeling.batch_files import Result

    def answer(text):
        return Result("x", 200, {"choices": [{"message": {"content": text}}]}, None)

    prompts = [
        {"custom_id": r, "request_id": r, "question": q, "prompt": q, "sample_strategy": "random"}
        for r, q in (("r1", "Q1"), ("r2", "Q2"))
    ]
    answers = {"big": {"r1": answer("big1"), "r2": answer("big2")}, "small": {"r1": answer("small1")}}
    lines, index, unanswered = build_judge_requests(prompts, answers, ["big", "small"], "judge")
    assert [ln["custom_id"] for ln in lines] == ["r1:0-1:ab", "r1:0-1:ba"]
    assert unanswered == [{"custom_id": "r2", "model": "small", "reason": "no output for this request"}]
    ab, ba = (ln["body"]["messages"][1]["content"] for ln in lines)
    assert ab.index("big1") < ab.index("small1") and ba.index("small1") < ba.index("big1")
    assert lines[0]["body"]["temperature"] == 0 and lines[0]["body"]["model"] == "judge"
    battles, quarantine = battles_from_verdicts(
        index, {"r1:0-1:ab": answer("[[A]]"), "r1:0-1:ba": answer("[[B]]")}
    )
    assert [(b["winner"], b["both_order_agreement"]) for b in battles] == [
        ("model_a", True)
    ] and not quarantine
    battles, quarantine = battles_from_verdicts(index, {"r1:0-1:ab": answer("[[A]]")})
    assert not battles and [(q["order"], q["reason"]) for q in quarantine] == [("ba", "no_judgement")]


def test_an_output_file_cut_short_keeps_its_whole_lines(tmp_path):
    """A download cut short mid-line: the whole lines are results, the cut one's request is unanswered."""
    body = {"choices": [{"message": {"content": "hi"}}]}
    response = {"status_code": 200, "body": body}
    lines = [json.dumps({"custom_id": f"c{i}", "response": response}) for i in range(3)]
    out = tmp_path / "part-00000.output.jsonl"
    out.write_text("\n".join(lines)[:-25])
    with pytest.warns(UserWarning, match=r"1 line\(s\) are no Batch output line \(line 3; .* collect"):
        results = read_results([out])
    assert sorted(results) == ["c0", "c1"] and all(r.ok for r in results.values())
