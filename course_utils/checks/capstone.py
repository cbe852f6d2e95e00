"""Checks for notebook 09 (the capstone). Import as `from course_utils.checks import capstone as capstone_checks`.

Each check prints ✅ or ❌ with what to fix, returns True/False, and never raises on a wrong answer.
"""

from __future__ import annotations

from typing import Any

from .._quiet import quiet_distilabel
from ..budget import estimate_cost
from ..capstone import CapstoneError, default_config, validate_config
from .common import _safe_call, exercise_check, report


@exercise_check
def check_config_change(my_config: Any, mixed_rows: Any) -> bool:
    """Exercise 09-1: a valid config with a new dialogue share and a stricter ROUGE-L threshold, and its mix."""
    if my_config is None or mixed_rows is None:
        return report(False, "", "Fill in my_config and mixed_rows first (replace the `raise NotImplementedError`).")
    try:
        cfg = validate_config(my_config)
    except CapstoneError as e:
        return report(False, "", f"Your config is not valid: {e}")
    share, rouge = cfg["mixing"]["share"], cfg["dedup"]["rouge_threshold"]
    if not 0.10 <= share <= 0.20 or share == 0.15:
        return report(False, "", f"mixing.share is {share}: choose another value between 0.10 and 0.20 (the book's "
                                 f"range), not the default 0.15.")
    if not rouge < 0.7:
        return report(False, "", f"dedup.rouge_threshold is {rouge}: make it stricter than the default 0.7 "
                                 f"(a lower threshold removes more near-duplicates), e.g. 0.6.")
    if not isinstance(mixed_rows, list) or not mixed_rows or not all(isinstance(r, dict) for r in mixed_rows):
        return report(False, "", "mixed_rows must be the non-empty list of rows returned by capstone.mix_rows(...).")
    if not all(isinstance(r.get("messages"), list) for r in mixed_rows):
        return report(False, "", "mixed_rows has no 'messages' column: pass the rows that capstone.mix_rows(pre_mix, "
                                 "my_config) returns (its first element).")
    n_dialogue = sum(r.get("kind") == "dialogue" for r in mixed_rows)
    n_main = len(mixed_rows) - n_dialogue
    dialogue = n_dialogue / len(mixed_rows)
    want = round(share * n_main / (1 - share))  # what mix_rows adds for YOUR share (cot.mix)
    if n_dialogue != want:
        default = default_config()["mixing"]["share"]
        which = (f"that is what the default share {default} gives" if n_dialogue == round(
            default * n_main / (1 - default)) else "that is not the share you asked for")
        return report(False, "", f"mixed_rows has {n_dialogue} dialogue rows for {n_main} others ({dialogue:.0%}); "
                                 f"mixing.share={share} gives {want}: {which}. Call capstone.mix_rows(pre_mix, "
                                 f"my_config) with YOUR config.")
    return report(True, f"Valid config: {share:.0%} dialogue (measured {dialogue:.0%}), ROUGE-L threshold {rouge}.", "")


_FILTER_CASES = [
    ({"instruction": "Explain how a bond's price reacts to interest rates.", "kind": "general",
      "response": "When rates rise, existing bonds pay less than new ones, so their price falls."}, True),
    ({"instruction": "Summarise the report.", "kind": "general",
      "response": "See https://example.com/report for the summary."}, False),
    ({"instruction": "Give me a reading list.", "kind": "general",
      "response": "Visit www.example.org to find one."}, False),
    ({"instruction": "How many legs do 3 cows have?", "kind": "math",
      "response": "<thinking>3 x 4 = 12</thinking><answer>12</answer>"}, True),
    ({"instruction": "Hello!", "kind": "dialogue", "response": "Hi! How can I help you today?"}, True),
]


@exercise_check
def check_filter_step(step_class: Any) -> bool:
    """Exercise 09-2: a distilabel Step that drops rows whose response contains a URL, and keeps the rest."""
    try:
        quiet_distilabel()  # plain tracebacks: distilabel's import installs Rich's (with locals)
        from distilabel.steps import Step
    except ImportError:  # pragma: no cover - distilabel is a course dependency
        return report(False, "", "distilabel is not installed: run `pip install -e .` first.")
    if not isinstance(step_class, type) or not issubclass(step_class, Step):
        return report(False, "", "Define a class that subclasses distilabel.steps.Step (class NoURLFilter(Step): ...).")
    ok, step = _safe_call(lambda: step_class(name="no_url_filter"))
    if not ok:
        return report(False, "", f"Could not create your step: {step}")
    ok, result = _safe_call(lambda: (step.load(), [r for batch in step.process([dict(r) for r, _ in _FILTER_CASES])
                                                   for r in batch])[1])
    if not ok:
        return report(False, "", f"Your step failed on test rows: {result}. `process(self, inputs)` must `yield` "
                                 "the list of rows to keep.")
    kept = [r.get("response") for r in result if isinstance(r, dict)]
    wrong = [r["response"][:40] for r, keep in _FILTER_CASES if (r["response"] in kept) != keep]
    if wrong:
        return report(False, "", f"{len(wrong)} test row(s) were handled wrongly, e.g. {wrong[0]!r}...: drop a row "
                                 "when its response contains http://, https:// or www., keep every other row.")
    return report(True, f"Your step keeps {len(kept)} of {len(_FILTER_CASES)} rows and drops the ones with URLs; "
                        "add it between 'filter' and 'quality' with `filt >> NoURLFilter(...) >> quality`.", "")


@exercise_check
def check_budget(my_budget: Any) -> bool:
    """Exercise 09-3: my_budget(plan, price_in_per_m, price_out_per_m) -> total dollars for the plan."""
    plan = {"self_instruct": {"items": 20_000, "tokens_in": 600, "tokens_out": 250},
            "evol_instruct": {"items": 10_000, "tokens_in": 1_800, "tokens_out": 700}}
    expected = sum(estimate_cost(s["items"], s["tokens_in"], s["tokens_out"], 0.5, 1.5) for s in plan.values())
    if not callable(my_budget):
        return report(False, "", "my_budget must be a function my_budget(plan, price_in_per_m, price_out_per_m).")
    ok, got = _safe_call(my_budget, plan, 0.5, 1.5)
    if not ok:
        return report(False, "", f"my_budget raised {got}.")
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return report(False, "", f"my_budget returned {got!r}: return the total in dollars, a number.")
    if abs(got - expected) > 1e-6 * max(1.0, expected):
        return report(False, "", f"my_budget returned ${got:,.2f} for the test plan; expected ${expected:,.2f}. "
                                 "Prices are per MILLION tokens: items × (tokens_in × price_in + tokens_out × "
                                 "price_out) / 1e6, summed over the stages.")
    ok0, zero = _safe_call(my_budget, {}, 0.5, 1.5)
    if not ok0 or zero != 0:
        return report(False, "", "An empty plan should cost $0.")
    return report(True, f"Right: the test plan costs ${expected:,.2f} at $0.50/$1.50 per million tokens.", "")
