"""Checks for notebook 02 (Self-Instruct). Import as `from course_utils.checks import self_instruct as si_checks`."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .common import _safe_call, exercise_check, report
from ..dedup import rouge_l
from ..self_instruct import PARAPHRASE_PAIRS, STATS_TASKS, STATS_THEMES, diversity


# Cases for the definitional filter of exercise 02-1: (task, should it be removed?)
_DEFINITIONAL_CASES = [
    ("What is a p-value?", True),
    ("What does renewable energy mean?", True),
    ("Define inflation.", True),
    ("What is meant by a database index?", True),
    ("Compare renting and buying a home for someone who expects to move within three years.", False),
    ("Write a Python function that returns the median of a list of numbers.", False),
    ("What should a small bakery do when flour prices rise by 30%?", False),
]

THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(4, 20))  # 0.2, 0.25, ..., 0.95


@exercise_check
def check_added_filter(fn: Callable[[str], Any], stats: Any, name: str = "definitional") -> bool:
    """Exercise 02-1: a filter that removes definitional tasks, added to the loop, and its effect."""
    if not callable(fn):
        return report(False, "", "Pass your filter function itself (no parentheses), e.g. no_definitions.")
    for text in ["", "   ", "¿Qué es?", "x" * 2000]:
        ok, result = _safe_call(fn, text)
        if not ok:
            return report(False, "", f"Your filter failed on {text[:20]!r}: {result}. Filters see raw model output: never raise.")
    for text, want in _DEFINITIONAL_CASES:
        ok, result = _safe_call(fn, text)
        if not ok:
            return report(False, "", f"Your filter failed on {text!r}: {result}")
        if bool(result) != want:
            what = "remove" if want else "keep"
            return report(False, "", f"Your filter should {what} {text!r} (return {want} to remove, False to keep).")
    names = list(getattr(stats, "filter_names", []) or [])
    if name not in names:
        return report(False, "", f"The stats have no filter called {name!r} (filters: {names}). Run self_instruct(..., "
                                 f"filters={{**DEFAULT_FILTERS, {name!r}: your_filter}}) and pass its stats.")
    removed = stats.totals().get(name, 0)
    if removed <= 0:
        return report(False, "", f"Your filter ran but removed nothing: put it before the ROUGE filter (it is, in "
                                 f"`filters`) and check that it matches tasks like 'What is ...?'.")
    return report(True, f"Your '{name}' filter removed {removed} of {stats.totals()['candidates']} candidates over "
                        f"{len(stats.rounds)} rounds; the pool now has {stats.totals()['pool']} tasks.", "")


@exercise_check
def check_own_grid(tasks: Sequence[str], themes: Sequence[str], grid: Sequence[dict], rows: Sequence[dict]) -> bool:
    """Exercise 02-2: a task x theme grid for your own domain, generated and measured."""
    if not isinstance(tasks, (list, tuple)) or not isinstance(themes, (list, tuple)):
        return report(False, "", "my_tasks and my_themes must be lists of strings.")
    if len(set(tasks)) < 3 or len(set(themes)) < 3:
        return report(False, "", f"Use at least 3 distinct task types and 3 distinct themes (you have "
                                 f"{len(set(tasks))} and {len(set(themes))}).")
    if set(themes) <= set(STATS_THEMES) or set(tasks) <= set(STATS_TASKS):
        return report(False, "", "Choose your own domain: these are the lesson's tasks or themes.")
    grid = list(grid or [])
    cells = {(g.get("task"), g.get("theme")) for g in grid if isinstance(g, dict)}
    want = {(t, th) for t in tasks for th in themes}
    if cells != want or len(grid) != len(want):
        return report(False, "", f"The grid should have exactly one row per (task, theme) pair: {len(want)} rows. "
                                 f"Build it with task_theme_grid(my_tasks, my_themes).")
    rows = [r for r in (rows or []) if isinstance(r, dict) and isinstance(r.get("instruction"), str) and r["instruction"].strip()]
    hit = {(r.get("task"), r.get("theme")) for r in rows} & want
    if len(hit) < 0.8 * len(want):
        return report(False, "", f"Only {len(hit)} of {len(want)} cells got an instruction. Generate with "
                                 f"generate_from_grid(llm, my_grid, num_generations=2) and pass its rows.")
    d = diversity([r["instruction"] for r in rows])
    if d["mean_rouge_l"] is not None and d["mean_rouge_l"] > 0.5:
        return report(False, "", f"Mean pairwise ROUGE-L is {d['mean_rouge_l']}: the instructions repeat each other. "
                                 f"Make the task types and themes more different from one another.")
    return report(True, f"{len(rows)} instructions cover {len(hit)}/{len(want)} cells; mean pairwise ROUGE-L "
                        f"{d['mean_rouge_l']}, {d['distinct_verbs']} distinct root verbs.", "")


def _reference_curve(pairs, thresholds) -> dict:

    pairs = list(pairs)
    return {t: (sum(rouge_l(a, b) > t for a, b in pairs) / len(pairs) if pairs else 0.0) for t in thresholds}


@exercise_check
def check_paraphrase_threshold(curve_fn: Callable[[Sequence, Sequence[float]], dict], onset: Any) -> bool:
    """Exercise 02-3: the rejection curve of paraphrase pairs and the threshold where rejections start."""
    ok, got = _safe_call(curve_fn, [], THRESHOLDS)
    if not ok:
        return report(False, "", f"rejection_curve([], thresholds) failed: {got}. With no pairs, return 0.0 for every threshold.")
    ok, got = _safe_call(curve_fn, list(PARAPHRASE_PAIRS), THRESHOLDS)
    if not ok:
        return report(False, "", f"Your rejection_curve failed: {got}")
    if not isinstance(got, dict) or set(got) != set(THRESHOLDS):
        return report(False, "", "Return a dict {threshold: share rejected} with one entry per threshold you were given.")
    want = _reference_curve(PARAPHRASE_PAIRS, THRESHOLDS)
    for t in THRESHOLDS:
        try:
            close = abs(float(got[t]) - want[t]) < 1e-9
        except (TypeError, ValueError):
            close = False
        if not close:
            return report(False, "", f"At threshold {t} you report {got[t]!r} rejected; expected {want[t]:.3f}. A pair is "
                                     f"rejected when rouge_l(a, b) > threshold (strictly), as in the loop.")
    want_onset = max((t for t in THRESHOLDS if want[t] >= 0.5), default=None)
    if onset != want_onset:
        return report(False, "", f"onset is {onset!r}; it should be the HIGHEST threshold at which at least half of the "
                                 f"paraphrases are rejected (look at your curve from the top).")
    return report(True, f"Right: paraphrases start being rejected in bulk at {want_onset}; at the paper's 0.7 only "
                        f"{want[0.7]:.0%} of them are. ROUGE-L sees shared words, not shared meaning.", "")
