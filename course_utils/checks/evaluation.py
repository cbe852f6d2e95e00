"""Checks for notebook 08 (evaluation). Import as `from course_utils.checks import evaluation as eval_checks`."""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any, Callable, Sequence

from .. import evaluation as ev
from .. import models
from ..dedup import rouge_l_dedup
from ..self_instruct import build_prompt, load_seed_tasks, parse_tasks
from .common import _safe_call, exercise_check, report

# Exercise 08-1: (response, does it carry a postscript?)
_POSTSCRIPT_CASES = [
    ("Thanks for asking.\nP.S. Bring snacks on Friday.", True),
    ("Here is the plan.\n\nP.S.: the meeting moved to 3 pm.", True),
    ("  P.S. Only a postscript, but a postscript.", True),
    ("No postscript here.", False),
    ("Please see the appendix for details.", False),
    ("Step 1. Mix.\nStep 2. Bake.", False),
    ("We discussed the P.S. of her letter.", False),
    ("Done.\nPS call me", False),
]


@exercise_check
def check_postscript_kind(rate: Any, kind: str = "postscript") -> bool:
    """Exercise 08-1: a registered "postscript" constraint kind, and its measured IF-rate."""
    if kind not in ev.CONSTRAINT_KINDS:
        return report(False, "", f"No constraint kind {kind!r} is registered: decorate your checker with "
                                 f"@ev.register_constraint({kind!r}, describe=...) and run the cell.")
    registered = ev.CONSTRAINT_KINDS[kind]
    if registered.required:
        return report(False, "", f"{kind!r} should need no parameters, but it requires {list(registered.required)}: "
                                 "give every keyword-only parameter a default.")
    ok, sentence = _safe_call(ev.describe_constraint, {"kind": kind})
    if not ok or not isinstance(sentence, str):
        return report(False, "", f"describe_constraint({{'kind': {kind!r}}}) failed: {sentence}. `describe` must "
                                 "be a function returning the sentence to add to an instruction.")
    if "P.S." not in sentence:
        return report(False, "", f"Your description {sentence!r} should tell the model to add a line starting "
                                 "with 'P.S.' (say 'P.S.' literally).")
    for response, want in _POSTSCRIPT_CASES:
        ok, got = _safe_call(ev.check, response, {"kind": kind})
        if not ok:
            return report(False, "", f"Your checker failed on {response!r}: {got}. A checker must never raise.")
        if bool(got) != want:
            return report(False, "", f"Your checker returns {bool(got)} for {response!r}; expected {want}: a "
                                     "postscript is a line that starts with 'P.S.' (leading spaces allowed).")
    if not isinstance(rate, dict) or kind not in (rate.get("per_kind") or {}):
        return report(False, "", f"Pass the result of ev.if_rate(...) on rows whose constraints include "
                                 f"{{'kind': {kind!r}}}; its per_kind table has no {kind!r}.")
    stats = rate["per_kind"][kind]
    if stats.get("n", 0) < 5:
        return report(False, "", f"Only {stats.get('n', 0)} prompts carry the constraint: measure at least 5.")
    return report(True, f"'{kind}' is registered and checks correctly; the teacher followed it in "
                        f"{stats['strict']:.0%} of {stats['n']} prompts (strict), {stats['loose']:.0%} (loose).", "")


# Exercise 08-2: tables of per-constraint results (one inner list per prompt) and their accuracies.
_LEVEL_CASES = [
    ([[True, True], [True, False, True], [False], [True]], 0.5, 5 / 7),
    ([[True], [True], [True]], 1.0, 1.0),
    ([[False, False, False], [True]], 0.5, 0.25),
    ([[True, True], [], [False, True]], 0.5, 0.75),  # a prompt without constraints is skipped
]


def _close(a: Any, b: float) -> bool:
    return isinstance(a, (int, float)) and not isinstance(a, bool) and abs(float(a) - b) < 1e-9


@exercise_check
def check_levels(levels_fn: Callable, rows: Sequence[dict]) -> bool:
    """Exercise 08-2: prompt-level and instruction-level accuracy by hand, equal to if_rate's strict ones."""
    if not callable(levels_fn):
        return report(False, "", "Pass your function itself (no parentheses), e.g. check_levels(levels, small).")
    for table, prompt, instruction in _LEVEL_CASES:
        ok, got = _safe_call(levels_fn, [list(r) for r in table])
        if not ok:
            return report(False, "", f"levels({table}) failed: {got}")
        if not isinstance(got, dict) or not {"prompt", "instruction"} <= set(got):
            return report(False, "", f"levels(...) must return a dict with 'prompt' and 'instruction', got {got!r}.")
        if not _close(got["prompt"], prompt):
            return report(False, "", f"For {table}, prompt-level accuracy is {prompt:.3f} (share of prompts whose "
                                     f"constraints ALL pass; skip prompts with none); you returned {got['prompt']!r}.")
        if not _close(got["instruction"], instruction):
            return report(False, "", f"For {table}, instruction-level accuracy is {instruction:.3f} (passed "
                                     f"constraints / all constraints); you returned {got['instruction']!r}.")
    try:
        table = [[ev.check(r["response"], c) for c in r["constraints"]] for r in rows]
        reference = ev.if_rate(rows)
    except Exception as exc:  # noqa: BLE001 - a learner's rows may be malformed
        return report(False, "", f"Could not score your rows with ev.check/ev.if_rate: {type(exc).__name__}: {exc}")
    ok, got = _safe_call(levels_fn, table)
    if not ok or not isinstance(got, dict):
        return report(False, "", f"levels(...) failed on the small table: {got}")
    if not (_close(got.get("prompt"), reference["prompt_strict"])
            and _close(got.get("instruction"), reference["instruction_strict"])):
        return report(False, "", f"On the small table if_rate gives prompt {reference['prompt_strict']:.3f} and "
                                 f"instruction {reference['instruction_strict']:.3f}; yours gives {got}.")
    return report(True, f"Your levels match if_rate: prompt-level {got['prompt']:.3f}, instruction-level "
                        f"{got['instruction']:.3f} on the small table, and on {len(_LEVEL_CASES)} hidden tables.", "")


# Exercise 08-3: sets of instructions with and without a collapsed part.


def _tasks(llm: Any, pool: Sequence[str], n_prompts: int, k: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    prompts = [[{"role": "user", "content": build_prompt(rng.sample(list(pool), min(k, len(pool))))}]
               for _ in range(n_prompts)]
    tasks: list[str] = []
    for out in llm.generate_outputs(prompts, num_generations=2):
        for text in (out or {}).get("generations") or []:
            parsed = parse_tasks(text)
            tasks += parsed.value if parsed.ok else []
    return tasks


@lru_cache(maxsize=1)
def collapse_test_sets() -> dict[str, tuple[tuple[str, ...], bool]]:
    """Named test sets for exercise 08-3: (texts, is it (partly) collapsed?), made with the offline teacher."""
    seeds = [r["instruction"] for r in load_seed_tasks()]
    hot = models.unloaded_llm("offline", seed=7, generation_kwargs={"temperature": 1.0},
                              announce=False)
    cold = models.unloaded_llm("offline", seed=7, generation_kwargs={"temperature": 0.0},
                               announce=False)
    hot.load()
    cold.load()

    # Broad: temperature 1, all seeds, runaways (> 60 words) and near-duplicates removed.
    broad = [t for t in _tasks(hot, seeds, n_prompts=12, k=6, seed=7) if len(t.split()) <= 60]
    broad = [broad[i] for i in rouge_l_dedup(broad, threshold=0.7, n_jobs=1)]
    narrow = _tasks(cold, [s for s in seeds if "Python" in s or "recipe" in s.lower()], n_prompts=10, k=2, seed=7)
    rng = random.Random(7)

    def mix(n_broad: int, n_narrow: int) -> tuple[str, ...]:
        texts = broad[:n_broad] + [narrow[i % len(narrow)] for i in range(n_narrow)]
        rng.shuffle(texts)
        return tuple(texts)

    return {
        "44 seed tasks": (tuple(seeds), False),
        "100 broad generations": (tuple(broad[:100]), False),
        "broad + 30% collapsed": (mix(70, 30), True),
        "broad + 20% collapsed": (mix(80, 20), True),
        "fully collapsed": (tuple(narrow[:60]), True),
    }


@exercise_check
def check_partial_collapse(detector: Callable[[Sequence[str]], Any]) -> bool:
    """Exercise 08-3: a detector that flags partly collapsed sets that collapse_alarm's means miss."""
    if not callable(detector):
        return report(False, "", "Pass your function itself (no parentheses), e.g. check_partial_collapse(detect).")
    wrong = []
    for name, (texts, want) in collapse_test_sets().items():
        ok, got = _safe_call(detector, list(texts))
        if not ok:
            return report(False, "", f"Your detector failed on '{name}': {got}")
        if not isinstance(got, bool):
            return report(False, "", f"Your detector must return True or False, got {got!r} on '{name}'.")
        if got != want:
            wrong.append(f"'{name}' should be {'flagged' if want else 'passed'}")
    if wrong:
        return report(False, "", "Not yet: " + "; ".join(wrong) + ". Hint: a mean over all pairs hides a "
                                 "cluster; measure the share of texts that have a near-duplicate instead.")
    return report(True, f"Your detector flags the partly and fully collapsed sets and passes the "
                        f"{sum(not w for _, w in collapse_test_sets().values())} diverse ones.", "")
