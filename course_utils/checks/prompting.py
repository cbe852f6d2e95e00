"""Checks for notebook 01 (basic prompting)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable

from .common import _safe_call, exercise_check, report
from ..dedup import rouge_l
from ..parsing import parse_json_list
from ..prompts import FINANCE_V1, FINANCE_V2, FINANCE_V3, is_definitional, measure_batch


# --- notebook 01 ---------------------------------------------------------------------------

# Words that say what a prompt is, not what it is about: a role made only of these names no domain.
_GENERIC = set("""
a an the and or of for to in on at by with who that which whose what this these your you are is be
assistant assistants helpful useful expert experienced senior professional ai model language large llm
question questions generator generate generates generating writer write writes writing produce creates
training train data dataset synthetic prompt prompts instruction instructions task tasks answer answers
realistic realism scenario scenarios constraint constraints complex complexity json output format example
examples difficult difficulty hard easy medium good great smart world class world-class specific concrete
user users people person someone anyone everyone general various any all many helps help helping
""".split())
# The lesson's own domain: the exercise asks for another one.
_FINANCE = {"finance", "financial", "banking", "bank", "banks", "investing", "investment", "investments",
            "investor", "investors", "portfolio", "stocks", "bonds", "accounting", "accountant", "analyst",
            "analysts", "ebitda", "fintech"}
_COPY_ROUGE = 0.8  # ROUGE-L with a lesson prompt at or above which the prompt is a copy, not a rewrite
_EXEMPLAR = re.compile(r"example[^\n]*:\s*\n?\s*(?=[\[{])", re.I)
_EXAMPLE_WORDS = 12


def _domain_words(prompt: str) -> list[str]:
    """The content words of the role sentence ("You are ...") that are not generic prompt words."""
    role = re.search(r"\byou are\b([^.\n]*)", prompt, re.I)
    words = re.findall(r"[a-z][a-z'-]+", role.group(1).lower()) if role else []
    return [w for w in dict.fromkeys(words) if w not in _GENERIC and len(w) >= 3]


def _example_question(prompt: str) -> tuple[str | None, str]:
    """The first question of the prompt's JSON example, or (None, what is wrong with it)."""
    m = _EXEMPLAR.search(prompt)
    if not m:
        return None, "no example"
    parsed = parse_json_list(prompt[m.end():].strip())
    if not parsed.ok or not parsed.value:
        return None, "its example is not a JSON list of objects with a \"question\" field"
    return str(parsed.value[0]), ""


def _structure_problem(prompt: str) -> str | None:
    """What a V3-style prompt for a new domain lacks (None when its structure is complete)."""
    low = prompt.lower()
    missing = [name for name, ok in [
        ("a role (\"You are ...\")", "you are" in low),
        ("complexity constraints (what every question must contain)",
         bool(re.search(r"\b(each|every|all)\s+(question|item|request)s?\b|\bconstraints?\b|\bmust\b", low))),
        ("anti-patterns (\"Do not ...\" / \"avoid ...\")", "do not" in low or "avoid" in low),
        ("a JSON output format", "json" in low),
        ("an example (\"Example:\" followed by JSON)", bool(_EXEMPLAR.search(prompt))),
    ] if not ok]
    if missing:
        return "Your prompt is missing: " + "; ".join(missing) + "."
    for name, lesson in (("V3", FINANCE_V3), ("V2", FINANCE_V2), ("V1", FINANCE_V1)):
        if rouge_l(prompt, lesson.text) >= _COPY_ROUGE:
            return (f"Your prompt is (nearly) the lesson's finance {name} prompt: rewrite every section for a "
                    f"domain of your own (cooking, travel, statistics, ...).")
    domain = _domain_words(prompt)
    if len(domain) < 2:
        return ("Your role names no domain: say who the assistant is and what it is about, e.g. \"You are a "
                "chef who writes questions for a cooking assistant used in home kitchens.\"")
    if _FINANCE & set(domain):
        return "That is the lesson's domain (finance): choose another one."
    question, problem = _example_question(prompt)
    if question is None:
        return f"Your prompt has {problem}: the model imitates the example, so make it valid JSON."
    if is_definitional(question) or len(question.split()) < _EXAMPLE_WORDS:
        return (f"Your example question {question!r} is what the model will imitate: make it a concrete "
                f"scenario of at least {_EXAMPLE_WORDS} words, not a definition.")
    return None


@exercise_check
def check_v3_prompt(prompt: str, llm: Any, n: int = 8) -> bool:
    """Exercise 01-1: a V3-style prompt for a new domain: complete, not a copy, and valid JSON back."""
    if not isinstance(prompt, str) or not prompt.strip():
        return report(False, "", "Your prompt is empty: write the system prompt as a string.")
    problem = _structure_problem(prompt)
    if problem:
        return report(False, "", problem)
    user = "Generate 10 questions for this assistant."
    outputs = llm.generate_outputs([[{"role": "system", "content": prompt}, {"role": "user", "content": user}]],
                                   num_generations=n)[0]["generations"]
    m = measure_batch(outputs, parse_json_list)
    measured = (f"{m['valid_rate']:.0%} valid JSON, {m['definitional_share']:.0%} definitional, "
                f"{m['mean_words']:.1f} words per question")
    if m["valid_rate"] < 0.6:
        return report(False, "", f"Measured {measured}: want at least 60% valid JSON. Say exactly which JSON "
                                 f"to return and nothing else, and show it in the example.")
    return report(True, f"V3 prompt works: {measured}.", "")


_LINE_CASES = [
    ("Q: How do I price a bond? | Difficulty: hard", [{"question": "How do I price a bond?", "difficulty": "hard"}]),
    ("Q: Compare two loans. | Difficulty: easy\nQ: Plan a budget for $900. | Difficulty: medium",
     [{"question": "Compare two loans.", "difficulty": "easy"},
      {"question": "Plan a budget for $900.", "difficulty": "medium"}]),
    ("Here you go!\n\nQ: Estimate the tax. | Difficulty: medium\n",
     [{"question": "Estimate the tax.", "difficulty": "medium"}]),
    ("Q: Missing difficulty here", []),
    ("", []),
    ("Sorry, I can't help with that.", []),
]
# Garbage a model (or a failed request) can return: the parser must not raise on any of it.
_GARBAGE_CASES = [(None, []), ("| Difficulty: hard\nQ:\n|||", []), (42, []), (b"Q: x | Difficulty: easy", [])]


@exercise_check
def check_line_parser(parse: Callable[[str], Any]) -> bool:
    """Exercise 01-2: a parser for "Q: ... | Difficulty: ..." lines that never raises."""
    if not callable(parse):
        return report(False, "", "Pass your parser itself (no parentheses), e.g. parse_q_lines.")
    for text, expected in _GARBAGE_CASES + _LINE_CASES:
        ok, result = _safe_call(parse, text)
        if not ok:
            return report(False, "", f"Your parser raised on {text!r}: {result}. Parsers must never raise on model "
                                     f"output (None and other non-strings included): check the type first.")
        value = getattr(result, "value", result)
        value = value or []
        if value != expected:
            return report(False, "", f"On {text!r} your parser returned {value!r}; expected {expected!r}.")
    n = len(_GARBAGE_CASES) + len(_LINE_CASES)
    return report(True, f"Your parser handles all {n} cases, including empty output, refusals, None and "
                        f"garbage.", "")


# A second batch the learner never sees: a report hard-coded for `batch` fails on it.
_HIDDEN_BATCH = ["Plan a picnic.", "What is a bond?", "Plan a picnic.", "Cook rice.", "Plan a picnic.", "Cook rice."]


def _collapse_problem(result: Any, batch: list[str]) -> str | None:
    if not isinstance(result, dict) or not {"distinct_ratio", "most_common"} <= set(result):
        return "Return a dict with the keys 'distinct_ratio' and 'most_common'."
    want_ratio = len(set(batch)) / len(batch)
    want_common = Counter(batch).most_common(1)[0][0]
    try:
        ratio = float(result["distinct_ratio"])
    except (TypeError, ValueError):
        ratio = float("nan")
    if not abs(ratio - want_ratio) <= 1e-9:
        return f"distinct_ratio is {result['distinct_ratio']!r}, expected unique/total = {want_ratio:.3f}."
    if result["most_common"] != want_common:
        return "most_common is not the most frequent question: count them (collections.Counter)."
    return None


@exercise_check
def check_collapse_report(fn: Callable[[list[str]], dict], batch: list[str]) -> bool:
    """Exercise 01-3: measure a collapsed batch (distinct ratio and most common question)."""
    if not callable(fn):
        return report(False, "", "Pass your function itself (no parentheses), e.g. collapse_report.")
    for data, name in ((list(batch), "the batch"), (list(_HIDDEN_BATCH), "a second, hidden batch")):
        ok, result = _safe_call(fn, data)
        if not ok:
            return report(False, "", f"Your function failed on {name}: {result}")
        problem = _collapse_problem(result, data)
        if problem:
            return report(False, "", f"On {name}: {problem}")
    return report(True, f"Right: only {len(set(batch)) / len(batch):.0%} of the batch is distinct.", "")
