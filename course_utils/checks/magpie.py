"""Checks for notebook 04 (Magpie)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..magpie import (SYSTEM_PROMPTS, build_magpie_prompt, first_user_turn, has_empty_assistant_turn,
                      on_topic_share, render_llama3, turn_problem)
from .common import _safe_call, exercise_check, report

LLAMA3_CASES = [
    [],
    [{"role": "system", "content": "You are a patient math tutor."}],
    [{"role": "system", "content": "You are a patient math tutor."},
     {"role": "user", "content": "How do I solve 2x + 3 = 11?"},
     {"role": "assistant", "content": "Subtract 3, then divide by 2: x = 4."}],
    [{"role": "user", "content": "Give me a bread recipe."}, {"role": "assistant", "content": "Mix 500 g flour ..."}],
]
# Contents with surrounding whitespace: the template strips every message.
_UNSTRIPPED_CASES = [
    [{"role": "system", "content": "  You are a patient math tutor.\n"},
     {"role": "user", "content": "\n How do I solve 2x + 3 = 11? "},
     {"role": "assistant", "content": "Subtract 3, then divide by 2: x = 4.\n\n"}],
]


@exercise_check
def check_domain_dataset(build: Any, llm: Any, domain: str, min_rows: int = 20, min_share: float = 0.6) -> bool:
    """Exercise 04-1: `build(llm)` returns a Magpie dataset for one domain: enough clean rows, mostly on topic.

    `build` may also be the rows themselves.
    """
    domains = list(SYSTEM_PROMPTS)
    if domain not in domains:
        return report(False, "", f"{domain!r} is not one of the lesson's domains; choose one of {domains}.")
    rows = build
    if callable(build):
        ok, rows = _safe_call(build, llm)
        if not ok:
            return report(False, "", f"Your function failed: {rows}")
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        return report(False, "", "rows must be the list of dicts that generate_magpie (then filter_turns) returns.")
    if len(rows) < min_rows:
        return report(False, "", f"Only {len(rows)} rows: generate more (at least {min_rows} after filtering).")
    if not all(isinstance(r.get("system_prompt"), str) and r["system_prompt"].strip() for r in rows):
        return report(False, "", "Some rows have no system_prompt: Magpie steers the topic with it, keep it in the data.")
    bad = [r for r in rows if not isinstance(r.get("conversation"), list) or len(r["conversation"]) < 2
           or any(turn_problem(m.get("content") if isinstance(m, Mapping) else None) for m in r["conversation"])]
    if bad:
        return report(False, "", f"{len(bad)} rows still have an empty, truncated or missing turn: pass the rows "
                                 f"through filter_turns(rows) and keep what it returns.")
    share = on_topic_share([first_user_turn(r) for r in rows], domain)
    if share is None:
        return report(False, "", "No rows to measure: generate some conversations first.")
    if share < min_share:
        return report(False, "", f"Only {share:.0%} of the user turns are about {domain} (need {min_share:.0%}): name "
                                 f"the domain, its typical tasks and vocabulary in the system prompt.")
    return report(True, f"{len(rows)} clean rows, {share:.0%} of the user turns on {domain}.", "")


@exercise_check
def check_llama3_prompt(fn: Callable[[list], Any]) -> bool:
    """Exercise 04-2: the Magpie pre-query prompt for the Llama 3 format, written by hand."""
    for messages in LLAMA3_CASES + _UNSTRIPPED_CASES:
        ok, got = _safe_call(fn, [dict(m) for m in messages])
        if not ok:
            return report(False, "", f"Your function raised on {messages!r}: {got}")
        want = build_magpie_prompt(render_llama3, messages, "llama3")
        if got == want:
            continue
        if not isinstance(got, str):
            return report(False, "", f"Return the prompt as a string; got {type(got).__name__} for {messages!r}.")
        if has_empty_assistant_turn(got):
            return report(False, "", "Your prompt has an empty assistant turn before the user header: render the "
                                     "conversation WITHOUT the generation prompt, then add the user header.")
        if got.count("<|begin_of_text|>") != 1:
            return report(False, "", f"<|begin_of_text|> appears {got.count('<|begin_of_text|>')} times; it must "
                                     f"appear once, at the very start.")
        if not got.endswith("<|start_header_id|>user<|end_header_id|>\n\n"):
            return report(False, "", "The prompt must end with the user header and its blank line: "
                                     "'<|start_header_id|>user<|end_header_id|>\\n\\n'.")
        if any(m["content"] != m["content"].strip() for m in messages):
            return report(False, "", f"For {messages!r}\nexpected {want!r}\n     got {got!r}\nThe template "
                                     f"strips each message's content: no spaces or newlines around it.")
        return report(False, "", f"For {messages!r}\nexpected {want!r}\n     got {got!r}")
    n = len(LLAMA3_CASES) + len(_UNSTRIPPED_CASES)
    return report(True, f"All {n} conversations give the right Llama 3 pre-query prompt.", "")


def _conv(*turns: Any) -> dict:
    roles = ["user", "assistant"] * len(turns)
    return {"system_prompt": "You are a patient math tutor.",
            "conversation": [{"role": r, "content": t} for r, t in zip(roles, turns)]}


# (row, expected verdict: None = keep, "empty", "truncated", "malformed" = drop, not counted by a fixed name)
TURN_CASES = [
    (_conv("How do I solve 2x + 3 = 11?", "Subtract 3 from both sides, then divide by 2: x = 4."), None),
    (_conv("Explain a derivative in simple terms.", "It is the rate of change of a function!"), None),
    (_conv("Write a function that squares a number.", "```python\ndef square(x):\n    return x * x\n```"), None),
    (_conv("What is 3 x 4?", "12.", "Why does that work?", "Multiplication is repeated addition: 4 + 4 + 4."), None),
    (_conv("", "I am not sure what you are asking."), "empty"),
    (_conv("Simplify 6/8.", "   "), "empty"),
    (_conv(None, "Hello!"), "empty"),
    (_conv("Factor x^2 - 9.", "It factors as (x - 3)(x + 3).", "And x^2 - 16?", ""), "empty"),
    (_conv("Find the area of a circle with", "Please finish your question."), "truncated"),
    (_conv("Solve x + 1 = 5.", "First subtract 1 from both sides, which gives"), "truncated"),
    (_conv("Show the code.", "```python\nprint('x =', 4)\n"), "truncated"),
    (_conv("What is the mean of 2, 4 and 6?", "Add them up and divide by 3,"), "truncated"),
    ({"system_prompt": "You are a patient math tutor.", "conversation": None}, "malformed"),
]


@exercise_check
def check_turn_filter(fn: Callable[[list], Any]) -> bool:
    """Exercise 04-3: drop conversations with empty or truncated turns, count them, never raise."""
    import copy

    rows = [copy.deepcopy(row) for row, _ in TURN_CASES]
    ok, result = _safe_call(fn, rows)
    if not ok:
        return report(False, "", f"Your function raised: {result}. Model output is untrusted: never raise on it "
                                 f"(a None content or a missing conversation must be dropped, not crash).")
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], list)
            and isinstance(result[1], Mapping)):
        return report(False, "", "Return (kept_rows, counts): a list of rows and a dict such as "
                                 "{'empty': 4, 'truncated': 4}.")
    kept, counts = result
    want_kept = [row for row, verdict in TURN_CASES if verdict is None]
    for row, verdict in TURN_CASES:
        turns = [m["content"] for m in row["conversation"]] if row["conversation"] else None
        if verdict is None and row not in kept:
            return report(False, "", f"You dropped a good conversation: {turns!r}. A turn ending with . ? ! or a "
                                     f"closed code block is complete.")
        if verdict is not None and row in kept:
            return report(False, "", f"You kept a conversation that should go ({verdict}): {turns!r}.")
    if len(kept) != len(want_kept):
        return report(False, "", f"You kept {len(kept)} rows; {len(want_kept)} are clean.")
    for reason in ("empty", "truncated"):
        want = sum(v == reason for _, v in TURN_CASES)
        if counts.get(reason) != want:
            return report(False, "", f"counts[{reason!r}] is {counts.get(reason)!r}, expected {want}: count each "
                                     f"dropped conversation once, under its first problem.")
    return report(True, f"Kept the {len(want_kept)} clean conversations; dropped {len(TURN_CASES) - len(want_kept)} "
                        f"(empty: {counts['empty']}, truncated: {counts['truncated']}) without raising.", "")
