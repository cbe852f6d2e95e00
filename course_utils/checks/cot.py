"""Checks for notebook 05 (chain-of-thought data)."""

from __future__ import annotations

import random
import re
from fractions import Fraction
from typing import Any, Callable, Sequence

from .common import _safe_call, exercise_check, report
from ..cot import FAMILIES, answers_match, parse_cot, parse_number, summarize, validate_cot, verify_batch

# (broken sample, the answer a repair must keep, the reasoning a repair must keep); None: cannot be repaired
REPAIR_CASES = [
    ("Let me think about this.\n<thinking>\n12 + 30 = 42.\n</thinking>\n<answer>\n42\n</answer>", "42", "12 + 30 = 42."),
    ("<thinking>\nHalf of 84 is 42.\n</thinking>\n<answer>\n42", "42", "Half of 84 is 42."),
    ("<answer>\n7\n</answer>\n<thinking>\n3 + 4 = 7.\n</thinking>", "7", "3 + 4 = 7."),
    ("<thinking>2 x 9 = 18, and 18 - 1 = 17.</thinking> <answer>17</answer> Hope this helps!", "17",
     "2 x 9 = 18, and 18 - 1 = 17."),
    ("<THINKING>5 x 5 = 25.</THINKING>\n<answer>25</answer>", "25", "5 x 5 = 25."),
    ("Sorry, I can't help with that.", None, None),
    ("", None, None),
    ("<answer>5</answer>", None, None),
]


@exercise_check
def check_repair(repair: Callable[[str], Any]) -> bool:
    """Exercise 05-1: repair broken CoT samples into the strict format, or return None when they cannot be."""
    for text, answer, thinking in REPAIR_CASES:
        ok, result = _safe_call(repair, text)
        if not ok:
            return report(False, "", f"Your repair raised on {text!r}: {result}. It must never raise on model output.")
        if answer is None:
            if result is not None:
                return report(False, "", f"On {text!r} you returned {result!r}; there is no reasoning or answer to "
                                         f"recover, so return None (never invent the missing part).")
            continue
        if not isinstance(result, str):
            return report(False, "", f"On {text!r} you returned {result!r}; return the repaired text as a string.")
        problems = validate_cot(result)
        if problems:
            return report(False, "", f"Your repair of {text!r} still fails the strict validator: {problems}. "
                                     f"Rebuild the text from the parsed parts with format_cot(thinking, answer).")
        parsed = parse_cot(result).value
        if not answers_match(parsed.answer, answer) or thinking not in parsed.thinking:
            return report(False, "", f"Your repair of {text!r} changed the content: keep the reasoning {thinking!r} "
                                     f"and the answer {answer!r}.")
    return report(True, f"All {len(REPAIR_CASES)} samples handled: broken ones repaired, hopeless ones rejected.", "")


_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_DOLLARS = re.compile(r"\$\s*(\d+(?:,\d{3})*(?:\.\d+)?)")


def reference_discount(question: Any) -> Fraction | None:
    """The original price of a discount question, read independently of the learner's solver.

    The question must state one discount ("20%") and one sale price ("$64"); the original price is
    sale / (1 - discount). None when the text does not state exactly one of each.
    """
    if not isinstance(question, str):
        return None
    percents, prices = _PERCENT.findall(question), _DOLLARS.findall(question)
    if len(percents) != 1 or len(prices) != 1:
        return None
    d, sale = Fraction(percents[0]), Fraction(prices[0].replace(",", ""))
    if not 0 < d < 100:
        return None
    return sale * 100 / (100 - d)


@exercise_check
def check_problem_family(generate: Callable[[random.Random], Any], solve: Callable[[str], Any], n: int = 20) -> bool:
    """Exercise 05-2: a new verifiable family: seeded generator, and a solver that reads the question text."""
    problems = []
    for seed in range(n):
        ok, result = _safe_call(generate, random.Random(seed))
        if not ok:
            return report(False, "", f"generate(random.Random({seed})) failed: {result}")
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], str) and result[0].strip()):
            return report(False, "", f"generate must return (question, answer); got {result!r}.")
        if parse_number(str(result[1])) is None:
            return report(False, "", f"The answer {result[1]!r} is not a number: verification needs a numeric answer.")
        truth = reference_discount(result[0])
        if truth is None:
            return report(False, "", f"The question {result[0]!r} must state one discount as a percentage (20%) and "
                                     f"one sale price in dollars ($64), as in the example.")
        if truth.denominator != 1:
            return report(False, "", f"In {result[0]!r} the original price is {float(truth):.4g} dollars: pick the "
                                     f"numbers so that the answer is a whole number of dollars.")
        if not answers_match(str(result[1]), str(truth)):
            return report(False, "", f"For {result[0]!r} your generator says {result[1]}, but the original price is "
                                     f"{truth} (sale price / (1 - discount)). Check the generator's formula.")
        problems.append((result[0], result[1]))
    ok, again = _safe_call(generate, random.Random(0))
    if not ok or again != problems[0]:
        return report(False, "", "generate is not reproducible: the same seed must give the same problem. "
                                 "Use only the rng it receives (rng.randint, rng.choice), never random.* or the time.")
    distinct = len({q for q, _ in problems})
    if distinct < n // 2:
        return report(False, "", f"Only {distinct} distinct questions in {n} seeds: draw the numbers (and wording) from rng.")
    for question, answer in problems:
        ok, result = _safe_call(solve, question)
        if not ok:
            return report(False, "", f"Your solver failed on {question!r}: {result}")
        if result is not None and not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], list)):
            return report(False, "", f"Your solver returned {result!r}; return (steps, answer): a list of reasoning "
                                     f"steps and the answer, like the teacher's SOLVERS, or None.")
        if result is None:
            return report(False, "", f"Your solver returned None for your own question {question!r}: its regex "
                                     f"must match every wording your generator produces.")
        if not answers_match(str(result[1]), str(answer)):
            return report(False, "", f"For {question!r} the generator says {answer} but your solver says "
                                     f"{result[1]}: one of them is wrong.")
    rng = random.Random(0)
    foreign = [make(rng)[0] for make in FAMILIES.values()] + ["", "Hello!", "<thinking>??</thinking>"]
    for question in foreign:
        ok, result = _safe_call(solve, question)
        if not ok:
            return report(False, "", f"Your solver raised on {question!r}: {result}. Return None when it does not apply.")
        if result is not None:
            return report(False, "", f"Your solver claimed a question from another family: {question!r}. Make its "
                                     f"regex specific, and return None when it does not apply.")
    return report(True, f"Verifiable family: your solver agrees with the generator on {n} seeded problems "
                        f"({distinct} distinct) and leaves other families alone.", "")


@exercise_check
def check_verification_effect(fn: Callable[[Sequence, Sequence], dict], problems: Sequence, texts: Sequence) -> bool:
    """Exercise 05-3: kept fraction with format checks only, and with answer verification too."""
    ok, result = _safe_call(fn, problems, texts)
    if not ok:
        return report(False, "", f"Your function failed: {result}")
    keys = {"format_only", "format_and_answer", "wrong_answer_share"}
    if not isinstance(result, dict) or not keys <= set(result):
        return report(False, "", f"Return a dict with the keys {sorted(keys)}.")
    fmt_only = summarize(verify_batch(problems, texts, "strict", check_answer=False))
    full = summarize(verify_batch(problems, texts, "strict", check_answer=True))
    want_share = (None if fmt_only["kept"] == 0 else (fmt_only["kept"] - full["kept"]) / fmt_only["kept"])
    for key, want in [("format_only", fmt_only["kept_fraction"]), ("format_and_answer", full["kept_fraction"]),
                      ("wrong_answer_share", want_share)]:
        got = result[key]
        if want is None:
            if got is not None:
                return report(False, "", f"{key}: no sample is well-formed, so the share is undefined: return None.")
            continue
        if not isinstance(got, (int, float)) or abs(float(got) - want) > 1e-9:
            return report(False, "", f"{key} is {got!r}; expected {want:.3f}. Use verify_batch(..., mode='strict') "
                                     f"with check_answer=False, then True, and summarize().")
    return report(True, f"Format checks keep {fmt_only['kept_fraction']:.0%}; verifying the answer too keeps "
                        f"{full['kept_fraction']:.0%}.", "")
