"""course_utils.preference: sampling, three scores, pairs with a margin, cleaning, TRL export."""

from __future__ import annotations

import json

import pytest

from course_utils import preference as P
from course_utils._validate import InputError
from course_utils.formats import read_jsonl
from course_utils.models import get_llm
from course_utils.teacher.kinds.chat import CANDIDATE_MARKER

LIMIT = "Explain what an emergency fund is in fewer than 10 words."


def scores(v, j, n):
    return {"verifiable": v, "judge": j, "length": n}


def row(instruction, responses, score_list):
    return {"instruction": instruction, "responses": responses, "scores": score_list}


@pytest.fixture(scope="module")
def offline():
    return get_llm("offline", seed=0)


@pytest.fixture(scope="module")
def scored(offline):
    rows, _ = P.sample_responses(offline, P.load_preference_instructions(), k=4)
    return P.score_responses(rows, offline)[0]


# --- sampling ---------------------------------------------------------------------------------

def test_sample_responses_gives_k_varied_candidates_and_counts_bad_ones(offline):
    instructions = P.load_preference_instructions()
    assert len(instructions) >= 20
    assert {r["kind"] for r in instructions} == {"constraints", "math", "open"}
    rows, counts = P.sample_responses(offline, instructions, k=4)
    assert len(rows) == len(instructions)
    assert all(len(r["responses"]) == 4 == len(r["problems"]) for r in rows)
    assert rows[0]["kind"] == instructions[0]["kind"]  # input keys are kept
    total = counts["usable"] + counts["empty"] + counts["refusal"] + counts["truncated"]
    assert counts["responses"] == 4 * len(rows) == total
    assert min(counts["empty"], counts["refusal"], counts["truncated"]) > 0  # flagged, not lost
    varied = sum(len(set(r["responses"])) > 1 for r in rows)
    assert varied >= len(rows) * 0.8
    kept, dropped = P.sample_responses(offline, instructions, k=4, drop_bad=True)
    assert sum(len(r["responses"]) for r in kept) == dropped["usable"]
    assert all(p is None for r in kept for p in r["problems"])


def test_candidate_marker_is_in_the_system_prompts():
    assert CANDIDATE_MARKER in P.CANDIDATE_SYSTEM.lower()
    assert CANDIDATE_MARKER in P.JUDGE_SYSTEM.lower()


class _Broken:
    """A model that returns nothing useful: fewer outputs, None, an empty generation list."""

    def generate_outputs(self, inputs, num_generations=1, **kwargs):
        outs = [{"generations": [None, "Sorry, I can't help with that."]}, {"generations": []}]
        return outs[:len(inputs) - 1]


def test_sample_responses_never_crashes_on_garbage():
    rows, counts = P.sample_responses(_Broken(), ["a", "b", "c"], k=2)
    assert [r["problems"] for r in rows] == [["empty", "refusal"], ["empty", "empty"],
                                             ["empty", "empty"]]
    assert counts == {"responses": 6, "empty": 5, "refusal": 1}


@pytest.mark.parametrize("kwargs, words", [
    ({"instructions": "one"}, "list of strings"), ({"instructions": []}, "at least one"),
    ({"instructions": [{"x": 1}]}, "instruction"), ({"k": 1}, "k"),
    ({"temperature": -1}, "temperature"), ({"temperature": 0}, "identical"),
    ({"llm": object()}, "get_llm"),
])
def test_sample_responses_rejects_bad_arguments(offline, kwargs, words):
    args = {"llm": offline, "instructions": ["Explain budgets."], **kwargs}
    with pytest.raises(InputError, match=words):
        P.sample_responses(args.pop("llm"), args.pop("instructions"), **args)


# --- scoring ----------------------------------------------------------------------------------

def test_verifiable_score_is_the_share_of_checks_passed():
    two = "Explain inflation in under 50 words. Do not use any commas."
    assert P.verifiable_score(two, "Prices rise over time.") == 1.0
    assert P.verifiable_score(two, "Prices rise, over time.") == 0.5
    assert P.verifiable_score(two, "") == 0.0  # an unusable response passes nothing
    assert P.verifiable_score(two, "Sorry, I can't help with that.") == 0.0
    assert P.verifiable_score(two, "Prices rise over") == 1.0  # truncated: flagged, not scored
    assert P.response_problem("Prices rise over") == "truncated"
    assert P.response_problem("Prices rise.") is None
    assert P.verifiable_score("What is a p-value?", "A probability.") is None
    assert P.verifiable_score("How many cows?", "So 30 hens. The answer is 33.", "33") == 1.0
    assert P.verifiable_score("How many cows?", "The answer is 31.", "33") == 0.0
    assert P.final_number("<thinking>5 + 2</thinking><answer>7</answer>") == "7"
    assert P.final_number("no number") is None and P.word_length(None) == 0


def test_score_responses_adds_three_scores(scored):
    s = [x for r in scored for x in r["scores"]]
    assert len(s) == sum(len(r["responses"]) for r in scored)
    assert all(set(x) == {"verifiable", "judge", "length"} for x in s)
    assert sum(x["judge"] is not None for x in s) > 0.9 * len(s)
    assert {x["verifiable"] for x in s} >= {0.0, 0.5, 1.0, None}
    unjudged = P.score_responses([{"instruction": "x", "responses": ["y"]}])[0]
    assert unjudged[0]["scores"][0]["judge"] is None
    with pytest.raises(InputError, match="sample_responses"):
        P.score_responses([{"instruction": "x", "responses": "y"}])


def test_offline_judge_prefers_length_and_misses_counted_slips(offline):
    short = "An emergency fund pays for surprises."
    padded = short + " It is worth adding that the context matters a great deal here." * 3
    (s_short, s_padded), _ = P.judge_scores(offline, [(LIMIT, short), (LIMIT, padded)])
    assert P.verifiable_score(LIMIT, short) == 1.0 and P.verifiable_score(LIMIT, padded) == 0.0
    assert s_padded > s_short  # the skimming judge rewards the longer answer that breaks the limit


# --- pairing ----------------------------------------------------------------------------------

def test_build_pairs_uses_the_first_source_that_separates():
    rows = [row(LIMIT, ["a b", "a b c d", "x y", "z"],
                [scores(1.0, 5, 2), scores(0.0, 9, 4), scores(1.0, 8, 2), scores(1.0, 8, 1)])]
    pairs, stats = P.build_pairs(rows)
    by = {(p["chosen_index"], p["rejected_index"]): p["decided_by"] for p in pairs}
    assert by == {(0, 1): "verifiable", (2, 0): "judge", (3, 0): "judge", (2, 1): "verifiable",
                  (3, 1): "verifiable"}
    assert stats["ties"] == 1 and stats["compared"] == 6  # 2 vs 3: same checks, same judge score
    assert stats["decided_by"] == {"verifiable": 3, "judge": 2}
    p = next(p for p in pairs if p["decided_by"] == "judge")
    assert p["gap"] == 3 and p["margin"] == P.DEFAULT_MARGINS["judge"]
    with_length, s2 = P.build_pairs(rows, prefer=("verifiable", "judge", "length"))
    assert s2["ties"] == 0 and s2["decided_by"]["length"] == 1
    assert next(p for p in with_length if p["decided_by"] == "length")["chosen"] == "x y"


def test_margin_controls_what_counts_as_separated():
    rows = [row("q", ["a", "b"], [scores(None, 7, 1), scores(None, 6, 1)])]
    assert P.build_pairs(rows)[1]["decided_by"]["judge"] == 1
    pairs, stats = P.build_pairs(rows, margin={"judge": 2})
    assert pairs == [] and stats["ties"] == 1
    empty = [row("q", ["", "b"], [scores(None, 1, 0), scores(None, 6, 1)])]
    assert P.build_pairs(empty)[1]["empty"] == 1 and P.build_pairs(empty)[0] == []


@pytest.mark.parametrize("kwargs, words", [
    ({"margin": 0.5}, "dict"), ({"margin": {"vibes": 1}}, "unknown source"),
    ({"margin": {"judge": -1}}, "judge"), ({"margin": {"length": 2}}, "relative"),
    ({"prefer": "judge"}, "tuple"), ({"prefer": ("judge", "judge")}, "at most once"),
])
def test_build_pairs_rejects_bad_arguments(kwargs, words):
    with pytest.raises(InputError, match=words):
        P.build_pairs([row("q", ["a"], [scores(1, 1, 1)])], **kwargs)
    with pytest.raises(InputError, match="score_responses"):
        P.build_pairs([row("q", ["a", "b"], [scores(1, 1, 1)])])
    with pytest.raises(InputError, match="lacks"):
        P.build_pairs([{"instruction": "q", "responses": ["a"]}])


def test_agreement_and_length_bias():
    rows = [row("q", ["a", "b b b b", "c c"],
                [scores(1.0, 4, 1), scores(0.0, 8, 4), scores(0.0, 2, 2)])]
    pairs, stats = P.build_pairs(rows)
    agree = P.agreement(pairs)
    # a>b: judge disagrees (4 < 8); a>c: judge agrees (4 > 2); b vs c: judge decides (not counted)
    assert (agree["both_separate"], agree["agree"], agree["rate"]) == (2, 1, 0.5)
    assert [p["chosen"] for p in agree["disagreements"]] == ["a"]
    bias = P.length_bias(pairs)
    assert bias["verifiable"] == {"pairs": 2, "chosen_longer": 0, "chosen_shorter": 2,
                                  "longer_rate": 0.0}
    assert bias["judge"]["longer_rate"] == 1.0 and bias["all"]["pairs"] == 3
    report = P.pair_report(pairs, stats)
    assert report["decided_by"] == {"verifiable": 2, "judge": 1}
    assert report["agreement"]["rate"] == 0.5
    json.dumps(report)  # plain data, ready for a card or a note


def test_offline_teacher_gives_pairs_from_every_source_and_disagreements(scored):
    pairs, stats = P.build_pairs(scored)
    report = P.pair_report(pairs, stats)
    assert report["decided_by"]["verifiable"] >= 20 and report["decided_by"]["judge"] >= 20
    assert report["ties"] > 0
    assert 0.5 < report["agreement"]["rate"] < 0.95  # the judge agrees often, not always
    assert report["length_bias"]["judge"]["longer_rate"] > 0.8  # the judge's length bias shows


# --- cleaning ---------------------------------------------------------------------------------

def _pair(instruction, chosen, rejected, by="verifiable", gap=1.0, lc=1, lr=1):
    return {"instruction": instruction, "chosen": chosen, "rejected": rejected, "decided_by": by,
            "gap": gap, "margin": 0.25, "chosen_scores": scores(1, 5, lc),
            "rejected_scores": scores(0, 5, lr)}


def test_dedup_pairs_drops_same_sides_and_copies():
    text = "The fund covers three to six months of spending for emergencies at home"
    pairs = [_pair("q", text, "No."), _pair("q", text + ".", "No."), _pair("q", text, text + "!"),
             _pair("other", text, "No.")]
    kept, dropped = P.dedup_pairs(pairs)
    assert [p["instruction"] for p in kept] == ["q", "other"]
    assert dropped == {"same_sides": 1, "duplicate": 1}
    with pytest.raises(InputError, match="threshold"):
        P.dedup_pairs(pairs, threshold=2)


def test_cap_and_balance():
    pairs = [_pair("q", "a", "b", "judge", 1), _pair("q", "c", "d", "verifiable", 0.5),
             _pair("q", "e", "f", "verifiable", 1.0), _pair("r", "g", "h")]
    kept, dropped = P.cap_per_prompt(pairs, max_per_prompt=2)
    assert [p["chosen"] for p in kept] == ["c", "e", "g"] and dropped == 1
    with pytest.raises(InputError, match="max_per_prompt"):
        P.cap_per_prompt(pairs, max_per_prompt=0)
    longer = [_pair("q", f"c{i}", "r", gap=1 + i, lc=5, lr=1) for i in range(3)]
    shorter = [_pair("s", "c", "r", lc=1, lr=5)]
    kept, report = P.balance_length(longer + shorter)
    assert report == {"chosen_longer_before": 3, "chosen_shorter": 1, "dropped": 2,
                      "chosen_longer_after": 1}
    assert [p["chosen"] for p in kept] == ["c2", "c"]  # the clearest chosen-longer pair stays
    clean, summary = P.clean_pairs(longer + shorter, max_per_prompt=5)
    assert summary["pairs_in"] == 4 and summary["pairs_out"] == 2
    unbalanced, summary = P.clean_pairs(longer, max_longer_share=None)  # capped, not balanced
    assert summary["over_cap"] == 1 and "length_balance" not in summary
    assert [p["chosen"] for p in unbalanced] == ["c1", "c2"]


# --- export -----------------------------------------------------------------------------------

def test_to_trl_preference_and_write(tmp_path):
    pairs = [_pair("Explain budgets.", "A plan for spending.", "No.")]
    records = P.to_trl_preference(pairs, system="Be brief.")
    assert records == [{"prompt": [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "Explain budgets."}],
                        "chosen": [{"role": "assistant", "content": "A plan for spending."}],
                        "rejected": [{"role": "assistant", "content": "No."}]}]
    user_only = P.to_trl_preference(pairs)[0]["prompt"]
    assert user_only == [{"role": "user", "content": "Explain budgets."}]
    report = P.pair_report([{**pairs[0], "chosen_scores": scores(1.0, 8, 4)}],
                           {"compared": 3, "ties": 2, "margin": P.DEFAULT_MARGINS})
    folder = P.write_preference_dataset(records, tmp_path / "pref", report=report)
    assert read_jsonl(folder / P.DATA_FILE) == records
    card = (folder / "README.md").read_text()
    assert "| verifiable | 1 |" in card and "2 ties" in card and "rule-based" in card
    assert "agree on 1/1 (100%)" in card
    with pytest.raises(InputError, match="empty"):
        P.to_trl_preference([_pair("q", "", "b")])
    with pytest.raises(InputError, match="to_trl_preference"):
        P.write_preference_dataset([{"prompt": "q", "chosen": "a", "rejected": "b"}], tmp_path)
    empty = P.write_preference_dataset([], tmp_path / "none")  # no pair survived: no crash
    assert read_jsonl(empty / P.DATA_FILE) == [] and "0 pairs" in (empty / "README.md").read_text()
    with pytest.raises(InputError, match="folder"):
        P.write_preference_dataset(records, None)


@pytest.mark.parametrize("text, expected", [
    # shapes real models write (Qwen2.5, Llama 3, SmolLM2 answers to word problems)
    ("520 / 130 = 4, so they meet after 4 hours. Check: 90*4 + 40*4 = 520 km.\n\nThe answer is 4.", "4"),
    ("Relative speed 90 + 40 = 130 km/h.\n\n**Final answer:** 4 hours (240 minutes)", "4"),
    ("They meet after **4 hours**. Check: 90 × 4 + 40 × 4 = 520 km ✓", "4"),
    ("Total time: $t = \\frac{520}{130}$\n\n$$\\boxed{4}$$\n\nThat is 240 minutes.", "4"),
    ("Answer: 1,250 dollars, i.e. 125 per month for 10 months.", "1,250"),
    ("**Step 1.** 3 + 4 = 7\n**Step 2.** 7 × 2 = 14\n\nThe answer is -14.", "-14"),
    ("So 30 hens and 3 cows: 33", "33"),  # nothing stated: the last number
])
def test_final_number_reads_real_answer_shapes(text, expected):
    assert P.final_number(text) == expected
