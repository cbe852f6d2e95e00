"""Chain-of-thought data (notebook 05): parsing, verification, self-consistency, mixing, checks, teacher solvers."""

from __future__ import annotations

import random
import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils import cot
from course_utils.checks import cot as cot_checks
from course_utils.cot import (COT_SYSTEM_PROMPT, FAMILIES, Problem, answers_match, cot_messages, extract_answer,
                              format_cot, generate_problems, majority_answer, mix, parse_cot, parse_number,
                              render_cot, render_cot_html, self_consistency, summarize, validate_cot, verify,
                              verify_batch)
from course_utils.teacher import Request, respond
from course_utils.teacher.kinds.cot import SOLVERS, solve

GOOD = "<thinking>\n12 + 30 = 42.\n</thinking>\n<answer>\n42\n</answer>"


def ask_cot(question, index=0, failure_rates=None, seed=0):
    msgs = tuple((m["role"], m["content"]) for m in cot_messages(question))
    return respond(Request(msgs, seed=seed, index=index, failure_rates=failure_rates))


# --- strict and loose parsing ------------------------------------------------------------------

def test_strict_accepts_the_canonical_format():
    r = parse_cot(GOOD)
    assert r.ok and r.value.thinking == "12 + 30 = 42." and r.value.answer == "42" and r.value.repairs == ()
    assert validate_cot(GOOD) == []


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   \n", "empty"),
    (None, "empty"),
    ("The answer is 42.", "no_tags"),
    ("<answer>42</answer>", "missing_thinking"),
    ("<thinking>12 + 30</thinking>", "missing_answer"),
    ("<thinking>a</thinking><thinking>b</thinking><answer>1</answer>", "multiple_thinking"),
    ("<thinking>a</thinking><answer>1</answer><answer>2</answer>", "multiple_answer"),
    ("<thinking>a\n<answer>1</answer>", "unclosed_thinking"),
    ("<thinking>a</thinking>\n<answer>\n42", "unclosed_answer"),
    ("<thinking>a</thinking></thinking><answer>1</answer>", "stray_closing_tag"),
    ("<answer>42</answer><thinking>a</thinking>", "wrong_order"),
    ("<thinking>a<answer>42</answer></thinking>", "nested_tags"),
    ("<Thinking>a</Thinking><answer>42</answer>", "tag_spelling"),
    ("Let me think.\n" + GOOD, "text_outside"),
    (GOOD + "\nHope this helps!", "text_outside"),
    ("<thinking>a</thinking> so <answer>42</answer>", "text_outside"),
    ("<thinking> </thinking><answer>42</answer>", "empty_thinking"),
    ("<thinking>a</thinking><answer>\n</answer>", "empty_answer"),
])
def test_strict_names_each_failure(text, reason):
    r = parse_cot(text, mode="strict")
    assert not r.ok and r.reason == reason
    assert reason in cot.REASONS


@pytest.mark.parametrize("text, problems", [
    # notebook 05's debugging example: the count problem does not hide the others
    ("Sure! <thinking>\n</thinking> <answer>7</answer> <answer>8</answer>",
     ["multiple_answer", "text_outside", "empty_thinking"]),
    ("Let me think.\n<thinking>\n12 + 30 = 42.\n</thinking>\n<answer>\n42", ["unclosed_answer", "text_outside"]),
    ("<answer>42</answer> so <thinking> </thinking>", ["wrong_order", "text_outside", "empty_thinking"]),
    ("<Thinking>a</Thinking> <answer></answer> Bye!", ["tag_spelling", "text_outside", "empty_answer"]),
    ("<thinking>a</thinking></thinking>x<answer>1</answer>", ["stray_closing_tag", "text_outside"]),
    # an unclosed block runs to the next block (or the end): its text is not "outside"
    ("<thinking>a\n<answer>1</answer>", ["unclosed_thinking"]),
    ("<thinking>a<answer>42</answer></thinking>", ["nested_tags"]),
    (GOOD, []),
])
def test_validate_returns_every_problem_not_just_the_first(text, problems):
    assert validate_cot(text) == problems
    r = parse_cot(text, "strict")
    assert r.ok == (problems == []) and (r.ok or r.reason == problems[0])  # strict reports the first
    assert all(p in cot.REASONS for p in problems)


@pytest.mark.parametrize("text, answer, repair", [
    ("Let me think.\n" + GOOD, "42", "text_outside"),
    ("<thinking>\n12 + 30 = 42.\n</thinking>\n<answer>\n42", "42", "unclosed_answer"),
    ("<thinking>12 + 30 = 42.\n<answer>42</answer>", "42", "unclosed_thinking"),
    ("<answer>42</answer><thinking>12 + 30 = 42.</thinking>", "42", "wrong_order"),
    ("<THINKING>12 + 30 = 42.</THINKING><answer>42</answer>", "42", "tag_spelling"),
])
def test_loose_recovers_and_lists_repairs(text, answer, repair):
    assert not parse_cot(text, "strict").ok
    r = parse_cot(text, "loose")
    assert r.ok and r.value.answer == answer and "12 + 30 = 42." in r.value.thinking
    assert repair in r.value.repairs
    assert validate_cot(format_cot(r.value.thinking, r.value.answer)) == []


@pytest.mark.parametrize("text, reason", [("", "empty"), ("no tags here", "no_tags"),
                                          ("<answer>42</answer>", "missing_thinking"),
                                          ("<thinking>only thoughts", "missing_answer"),
                                          ("<thinking>a</thinking><answer> </answer>", "empty_answer")])
def test_loose_still_rejects_what_cannot_be_recovered(text, reason):
    r = parse_cot(text, "loose")
    assert not r.ok and r.reason == reason


def test_unknown_mode_is_a_failed_result_not_an_exception():
    assert parse_cot(GOOD, mode="lenient").reason == "unknown_mode"


def test_render_hides_thinking_unless_asked():
    assert render_cot(GOOD) == "42"
    shown = render_cot(GOOD, show_thinking=True)
    assert "12 + 30 = 42." in shown and shown.endswith("Answer: 42")
    assert render_cot("plain <answer> text") == "plain  text"
    assert "&lt;b&gt;" in render_cot_html("<thinking><b></thinking><answer>1</answer>", show_thinking=True)


def test_viewer_toggles_thinking_without_a_browser():
    viewer = cot.cot_viewer([GOOD, "garbage"])
    (pick, toggle), view = viewer.children[0].children, viewer.children[1]
    assert "12 + 30" not in view.value and "42" in view.value
    toggle.value = True
    assert "12 + 30" in view.value
    pick.value = 1
    assert "garbage" in view.value and "no_tags" in view.value


_PIECES = st.sampled_from(["<thinking>", "</thinking>", "<answer>", "</answer>", "< answer >", "</ THINKING>",
                           "\n", " ", "42", "-3/0", "1,2,3", "x", "<", ">", "/", "Sorry, I can't.",
                           "9" * 400 + ".25"])
_TEXTS = st.one_of(st.text(), st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=12).map("".join))


@settings(max_examples=300, deadline=None)
@given(_TEXTS)
def test_parsers_never_raise(text):
    strict, loose = parse_cot(text, "strict"), parse_cot(text, "loose")
    assert strict.ok == (validate_cot(text) == [])
    if strict.ok:  # loose accepts everything strict accepts, with the same content
        assert loose.ok and loose.value.thinking == strict.value.thinking and loose.value.answer == strict.value.answer
    if not loose.ok:
        assert loose.reason in cot.REASONS
    render_cot(text), render_cot(text, True), render_cot_html(text, True)
    parse_number(text), extract_answer(text), majority_answer([text, text])
    verify(Problem("x", "q", "42"), text)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1).filter(lambda s: s.strip() and "<" not in s),
       st.text(min_size=1).filter(lambda s: s.strip() and "<" not in s))
def test_format_cot_round_trips(thinking, answer):
    r = parse_cot(format_cot(thinking, answer))
    assert r.ok and r.value.thinking == thinking.strip() and r.value.answer == answer.strip()


# --- answers, problems, verification -------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("42", 42), ("$1,200", 1200), ("2.5 hours", Fraction(5, 2)),
                                         ("7/3", Fraction(7, 3)), ("-4", -4), ("no number", None), ("1/0", None),
                                         (None, None)])
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("x, text", [(7, "7"), (Fraction(8, 3), "2.67"), (Fraction(-5, 2), "-2.5"), (0.5, "0.5"),
                                     (Fraction(1, 3000), "0"), (Fraction(10**400 * 2 + 1, 2), "1" + "0" * 400 + ".5")])
def test_fmt_is_exact_and_never_overflows(x, text):
    assert cot.fmt(x) == text


def test_huge_numbers_do_not_overflow():
    huge = "9" * 900 + ".5"
    assert not answers_match(huge, "7") and extract_answer(format_cot("t", huge)).endswith(".5")
    assert not answers_match(float("nan"), 1) and not answers_match(True, 1)


def test_answers_match_with_rounding():
    assert answers_match("2.67", "8/3") and answers_match("The answer is 7 cows.", "7")
    assert not answers_match("8", "7") and not answers_match("", "7")


def test_problems_are_seeded_balanced_and_varied():
    a, b = generate_problems(20, seed=3), generate_problems(20, seed=3)
    assert a == b and a != generate_problems(20, seed=4)
    assert {p.family for p in a} == set(FAMILIES)
    assert len({p.question for p in a}) == 20
    assert [p.family for p in generate_problems(3, families=["ages"])] == ["ages"] * 3


@pytest.mark.parametrize("kwargs, needle", [({"n": 0}, "positive integer"), ({"n": 2.5}, "positive integer"),
                                            ({"n": 2, "families": []}, "families is empty"),
                                            ({"n": 2, "families": ["algebra"]}, "Unknown problem families")])
def test_generate_problems_rejects_bad_input(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        generate_problems(**kwargs)


@pytest.mark.parametrize("seed", range(15))
def test_teacher_solvers_agree_with_every_family(seed):
    for p in generate_problems(24, seed=seed):
        solved = solve(p.question)
        assert solved is not None, p.question
        steps, answer = solved
        assert answers_match(answer, p.answer), (p, answer)
        assert any("Check" in s for s in steps)  # the self-check the system prompt asks for


def test_solvers_read_the_numbers_from_the_text():
    q = "Ana is 4 years old and her father is 31 years old. In how many years will her father be twice as old as Ana?"
    assert solve(q)[1] == "23"
    assert solve(q.replace("31", "33"))[1] == "25"
    assert solve("A shop blends 4 kg of tea costing $10 per kg with 6 kg costing $20 per kg. What is the price?")[1] == "16"
    assert solve("How many litres of a 50% acid solution must be added to 10 litres of a 10% acid solution "
                 "to make a 30% acid solution?")[1] == "10"
    assert solve("Hello there") is None and len(SOLVERS) >= 10


def test_teacher_answers_cot_prompts_in_tags_and_verification_keeps_them():
    problems = generate_problems(12, seed=0)
    texts = [ask_cot(p.question)[0] for p in problems]
    assert all(ask_cot(p.question)[1] == "cot" for p in problems[:2])
    s = summarize(verify_batch(problems, texts))
    assert s["kept"] == 12 and s["accuracy"] == 1.0


def test_wrong_answers_are_rejected_by_verification():
    problems = generate_problems(8, seed=0)
    texts = [ask_cot(p.question, failure_rates={"wrong_answer": 1.0})[0] for p in problems]
    verdicts = verify_batch(problems, texts)
    assert all(v.reason == "wrong_answer" and v.well_formed for v in verdicts)
    s = summarize(verdicts)
    assert s["kept_fraction"] == 0 and s["accuracy"] == 0 and s["reasons"] == {"wrong_answer": 8}


def test_summarize_handles_nothing_well_formed():
    s = summarize(verify_batch([Problem("x", "q", "1")] * 2, ["garbage", ""]))
    assert s["accuracy"] is None and s["kept_fraction"] == 0 and cot.fmt_rate(s["accuracy"]) == "n/a"
    assert summarize([])["kept_fraction"] == 0.0
    assert "(no samples)" in cot.reasons_table(summarize([])["reasons"])


def test_verify_batch_needs_one_response_per_problem():
    with pytest.raises(ValueError, match="one response per problem"):
        verify_batch(generate_problems(2), ["x"])


def test_cot_messages():
    msgs = cot_messages("What is 2 + 2?")
    assert msgs[0]["content"] == COT_SYSTEM_PROMPT and "<thinking>" in COT_SYSTEM_PROMPT
    assert "<thinking>" not in msgs[1]["content"]  # an echo of the user turn must not look like CoT
    with pytest.raises(ValueError, match="non-empty"):
        cot_messages("  ")


# --- self-consistency ------------------------------------------------------------------------------

def test_majority_answer():
    texts = [format_cot("a", "7"), format_cot("b", "8"), format_cot("c", "7.0"), "garbage"]
    assert majority_answer(texts) == "7"
    assert majority_answer(["garbage", ""]) is None and majority_answer([]) is None
    assert majority_answer([format_cot("a", "3"), format_cot("b", "4")]) == "3"  # ties: the earliest


def test_self_consistency_beats_single_samples_with_wrong_answers():
    problems = generate_problems(30, seed=0)
    gens = [[ask_cot(p.question, index=i, failure_rates={"wrong_answer": 0.3})[0] for i in range(5)] for p in problems]
    result = self_consistency(problems, gens, ks=(1, 5))
    assert result["majority"][5] > result["single"] and result["majority"][5] >= 0.9


@pytest.mark.parametrize("ks, needle", [((0,), "k must be an integer >= 1"), ((6,), "num_generations=6")])
def test_self_consistency_rejects_bad_k(ks, needle):
    problems = generate_problems(2)
    with pytest.raises(ValueError, match=needle):
        self_consistency(problems, [["x"] * 5, ["y"] * 5], ks=ks)


def test_self_consistency_rejects_empty_or_mismatched_input():
    with pytest.raises(ValueError, match="empty"):
        self_consistency([], [])
    with pytest.raises(ValueError, match="one list of sampled responses per problem"):
        self_consistency(generate_problems(2), [["x"]])


# --- mixing --------------------------------------------------------------------------------------

REASONING = [{"instruction": f"q{i}", "response": format_cot("t", str(i))} for i in range(17)]
DIALOGUE = [{"instruction": "Hello!", "response": f"Hi {i}!"} for i in range(5)]


def test_mix_reaches_the_share_and_is_reproducible():
    rows = mix(REASONING, DIALOGUE, share=0.15, seed=1)
    sources = [r["source"] for r in rows]
    assert sources.count("reasoning") == 17 and sources.count("dialogue") == 3
    assert rows == mix(REASONING, DIALOGUE, share=0.15, seed=1) and rows != mix(REASONING, DIALOGUE, 0.15, seed=2)
    assert "source" not in REASONING[0]  # inputs are not modified
    assert [r["source"] for r in mix(REASONING, DIALOGUE, share=0)] == ["reasoning"] * 17
    assert [r["source"] for r in mix(REASONING, DIALOGUE, share=1)] == ["dialogue"] * 5


@pytest.mark.parametrize("args, needle", [
    ((REASONING, DIALOGUE, 1.5), "between 0 and 1"),
    ((REASONING, DIALOGUE, -0.1), "between 0 and 1"),
    ((REASONING, DIALOGUE, "15%"), "between 0 and 1"),
    (([], DIALOGUE, 0.1), "reasoning_rows is empty"),
    ((REASONING, [], 0.1), "dialogue_rows is empty"),
    ((REASONING, [{"instruction": "Hi"}], 0.1), r"lacks the column\(s\) \['response'\]"),
    ((REASONING, ["Hi"], 0.1), "not a dict"),
    ((REASONING, DIALOGUE, 0.5), "generate more dialogue rows or lower share"),
    ((REASONING, [{"instruction": "Hi", "response": "<thinking>x</thinking>Hi"}], 0.05), "has_cot_tags"),
])
def test_mix_rejects_bad_input_with_the_fix(args, needle):
    with pytest.raises(ValueError, match=needle):
        mix(*args)


def test_dialogue_prompts_get_plain_answers_from_the_teacher():
    for prompt in cot.DIALOGUE_PROMPTS:
        text, kind, _ = respond(Request((("user", prompt),)))
        assert kind == "chat" and text and not cot.has_cot_tags(text)


# --- exercise checks -----------------------------------------------------------------------------

def _repair(text):
    r = parse_cot(text, "loose")
    return format_cot(r.value.thinking, r.value.answer) if r.ok else None


def test_repair_check(capsys):
    assert cot_checks.check_repair(_repair)
    assert not cot_checks.check_repair(lambda t: t)  # returns broken samples unchanged
    assert not cot_checks.check_repair(lambda t: 1 / 0)
    assert "never raise" in capsys.readouterr().out


def _discount(rng):
    d, original = rng.choice([10, 20, 25, 50]), rng.randint(2, 60) * 20
    return f"After a {d}% discount, a lamp costs ${original * (100 - d) // 100}. What was the original price?", original


def _solve_discount(text):
    m = re.search(r"After a (\d+)% discount, a lamp costs \$(\d+)\. What was the original price", text)
    if not m:
        return None
    d, sale = int(m.group(1)), int(m.group(2))
    return [f"The sale price is {100 - d}% of the original."], f"{sale * 100 / (100 - d):g}"


def test_problem_family_check(capsys):
    assert cot_checks.check_problem_family(_discount, _solve_discount)
    assert not cot_checks.check_problem_family(_discount, lambda t: ([], "1"))  # claims everything / wrong
    assert not cot_checks.check_problem_family(lambda rng: ("fixed?", random.random()), _solve_discount)
    assert not cot_checks.check_problem_family(_discount, lambda t: None)
    out = capsys.readouterr().out
    assert out.count("❌") == 3


def test_verification_effect_check(capsys):
    problems = generate_problems(10, seed=1)
    texts = [ask_cot(p.question, failure_rates={"wrong_answer": 0.4, "bad_tags": 0.2})[0] for p in problems]

    def good(problems, texts):
        a = summarize(verify_batch(problems, texts, check_answer=False))
        b = summarize(verify_batch(problems, texts))
        return {"format_only": a["kept_fraction"], "format_and_answer": b["kept_fraction"],
                "wrong_answer_share": (a["kept"] - b["kept"]) / a["kept"] if a["kept"] else None}

    assert cot_checks.check_verification_effect(good, problems, texts)
    assert not cot_checks.check_verification_effect(lambda p, t: {"format_only": 1.0}, problems, texts)
    garbage = ["x"] * 10
    assert cot_checks.check_verification_effect(good, problems, garbage)  # nothing well-formed: share None
    assert "❌" in capsys.readouterr().out


# --- issue 12: numbers written other ways; an answer inside the thinking is not the answer ------------------

@pytest.mark.parametrize("text, value", [
    ("\u221242", -42), ("The answer is \u22122.5 degrees", Fraction(-5, 2)), ("\uff0d7", -7),
    ("1,5", Fraction(3, 2)), ("3,14", Fraction(157, 50)), ("1,50 \u20ac", Fraction(3, 2)),
    ("1,200", 1200), ("12,345.67", Fraction(1234567, 100)), ("1,000,000", 10**6),
    ("1,2345", Fraction(12345, 10000)),          # not exactly three digits: a decimal comma
    ("1,2,3", 1), ("1, 2, 3", 1),                # a list: its first number
    ("4.2e1", 42), ("2E-2", Fraction(1, 50)), ("6.02e23 atoms", Fraction(602) * 10**21),
    ("1e99999", None), ("3 eggs", 3), ("7 / 3", Fraction(7, 3)), ("-3/0", None),
])
def test_parse_number_signs_commas_and_exponents(text, value):
    assert parse_number(text) == value


def test_answers_with_unicode_minus_and_decimal_comma_match():
    assert answers_match("\u221242", "-42") and not answers_match("\u221242", "42")
    assert answers_match("2,67", "2.67") and answers_match("4.2e1", "42")


@pytest.mark.parametrize("text", [
    "<thinking>a<answer>42</answer></thinking>",
    "<thinking>Maybe <answer>41</answer>, let me check.</thinking>",
    "<thinking>x <answer>42</thinking></answer>",
])
def test_loose_does_not_take_an_answer_nested_in_the_thinking(text):
    r = parse_cot(text, "loose")
    assert not r.ok and r.reason == "nested_tags"
    assert extract_answer(text) is None


def test_loose_takes_the_answer_after_the_thinking_not_the_one_inside():
    text = "<thinking>First guess <answer>41</answer>; 12 + 30 = 42.</thinking>\n<answer>42</answer>"
    r = parse_cot(text, "loose")
    assert r.ok and r.value.answer == "42" and r.value.repairs == ("multiple_answer",)
    assert "<answer>" not in r.value.thinking and "First guess 41" in r.value.thinking
    assert validate_cot(format_cot(r.value.thinking, r.value.answer)) == []
    assert extract_answer(text) == "42"
