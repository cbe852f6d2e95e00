"""Checks for notebook 01 (basic prompting)."""

from __future__ import annotations

import re
from typing import Any, Callable

from .common import _safe_call, report
from ..parsing import parse_json_list
from ..prompts import measure_batch


# --- notebook 01 ---------------------------------------------------------------------------

def check_v3_prompt(prompt: str, llm: Any, n: int = 8) -> bool:
    """Exercise 01-1: a V3-style prompt for a new domain is structured and measurably better than V1."""
    if not isinstance(prompt, str) or not prompt.strip():
        return report(False, "", "Your prompt is empty: write the system prompt as a string.")
    low = prompt.lower()
    missing = [name for name, ok in [
        ("a role (\"You are ...\")", "you are" in low),
        ("a JSON output format", "json" in low),
        ("anti-patterns (\"Do not ...\" / \"avoid ...\")", "do not" in low or "avoid" in low),
        ("an example (\"Example:\" followed by JSON)", bool(re.search(r"example[^\n]*:\s*\n?\s*[\[{]", prompt, re.I))),
    ] if not ok]
    if missing:
        return report(False, "", "Your prompt is missing: " + "; ".join(missing) + ".")
    user = "Generate 10 questions for this assistant."
    outputs = llm.generate_outputs([[{"role": "system", "content": prompt}, {"role": "user", "content": user}]],
                                   num_generations=n)[0]["generations"]
    m = measure_batch(outputs, parse_json_list)
    ok = m["valid_rate"] >= 0.6 and m["definitional_share"] <= 0.2 and m["mean_words"] >= 12
    return report(ok, f"V3 prompt works: {m['valid_rate']:.0%} valid JSON, {m['definitional_share']:.0%} definitional, "
                      f"{m['mean_words']:.1f} words per question.",
                  f"Measured {m['valid_rate']:.0%} valid JSON (want >= 60%), {m['definitional_share']:.0%} definitional "
                  f"(want <= 20%), {m['mean_words']:.1f} words per question (want >= 12). Make the anti-patterns and "
                  f"complexity constraints explicit.")


_LINE_CASES = [
    ("Q: How do I price a bond? | Difficulty: hard", [{"question": "How do I price a bond?", "difficulty": "hard"}]),
    ("Q: Compare two loans. | Difficulty: easy\nQ: Plan a budget for $900. | Difficulty: medium",
     [{"question": "Compare two loans.", "difficulty": "easy"}, {"question": "Plan a budget for $900.", "difficulty": "medium"}]),
    ("Here you go!\n\nQ: Estimate the tax. | Difficulty: medium\n", [{"question": "Estimate the tax.", "difficulty": "medium"}]),
    ("Q: Missing difficulty here", []),
    ("", []),
    ("Sorry, I can't help with that.", []),
]


def check_line_parser(parse: Callable[[str], Any]) -> bool:
    """Exercise 01-2: a parser for "Q: ... | Difficulty: ..." lines that never raises."""
    for text, expected in _LINE_CASES:
        ok, result = _safe_call(parse, text)
        if not ok:
            return report(False, "", f"Your parser raised on {text!r}: {result}. Parsers must never raise on model output.")
        value = getattr(result, "value", result)
        value = value or []
        if value != expected:
            return report(False, "", f"On {text!r} your parser returned {value!r}; expected {expected!r}.")
    return report(True, f"Your parser handles all {len(_LINE_CASES)} cases, including empty output and refusals.", "")


def check_collapse_report(fn: Callable[[list[str]], dict], batch: list[str]) -> bool:
    """Exercise 01-3: measure a collapsed batch (distinct ratio and most common question)."""
    from collections import Counter

    ok, result = _safe_call(fn, batch)
    if not ok:
        return report(False, "", f"Your function failed: {result}")
    if not isinstance(result, dict) or not {"distinct_ratio", "most_common"} <= set(result):
        return report(False, "", "Return a dict with the keys 'distinct_ratio' and 'most_common'.")
    want_ratio = len(set(batch)) / len(batch)
    want_common = Counter(batch).most_common(1)[0][0]
    if abs(float(result["distinct_ratio"]) - want_ratio) > 1e-9:
        return report(False, "", f"distinct_ratio is {result['distinct_ratio']}, expected unique/total = {want_ratio:.3f}.")
    if result["most_common"] != want_common:
        return report(False, "", "most_common is not the most frequent question: try collections.Counter.")
    return report(True, f"Right: only {want_ratio:.0%} of the batch is distinct.", "")
