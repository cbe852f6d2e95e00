"""Checks for notebook 10 (preference data). Called as `checks.check_...` in the exercises.

Each check prints ✅ or ❌ with what to fix, and returns True or False. The hidden data are
candidates of the offline teacher (rule-based: its quality differences and its judge's length
bias come from rules), sampled and scored with `course_utils.preference` at three seeds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Callable

from .. import models
from ..preference import (agreement, build_pairs, length_bias, load_preference_instructions,
                          sample_responses, score_responses)
from .common import _safe_call, exercise_check, report

__all__ = ["check_agreement", "check_length_control", "check_verifiable_pairs", "scored_sets"]

SEEDS = (0, 1, 2)
# Exercise 10-3: a length-controlled judge must still decide this many pairs on each hidden set,
# with at most this share of its pairs choosing the longer response.
MIN_JUDGE_PAIRS = 15
MAX_LONGER_SHARE = 0.6


@lru_cache(maxsize=1)
def scored_sets() -> dict[str, tuple[dict, ...]]:
    """The hidden scored rows: 26 instructions x 4 candidates from the offline teacher, per seed."""
    out = {}
    for seed in SEEDS:
        llm = models.unloaded_llm("offline", seed=seed, announce=False)
        llm.load()
        rows, _ = sample_responses(llm, load_preference_instructions(), k=4, seed=seed)
        scored, _ = score_responses(rows, llm)
        out[f"seed {seed}"] = tuple(scored)
    return out


def _pair_key(p: Any) -> tuple | None:
    if not isinstance(p, Mapping) or not {"instruction", "chosen", "rejected"} <= set(p):
        return None
    return p["instruction"], p["chosen"], p["rejected"]


# --- Exercise 10-1: pairs decided by the verifiable checks alone --------------------------------

@exercise_check
def check_verifiable_pairs(pairs: Any, scored: Any) -> bool:
    """Exercise 10-1: the pairs the verifiable checks alone decide (no judge), default margin."""
    if not isinstance(scored, Sequence) or not scored or not all(
            isinstance(r, Mapping) and "scores" in r for r in scored):
        return report(False, "", "Pass the scored rows as the second argument: "
                                 "check_verifiable_pairs(pairs, scored).")
    if not isinstance(pairs, Sequence) or isinstance(pairs, (str, Mapping)):
        return report(False, "", "`pairs` must be the list of pairs build_pairs returns (its first "
                                 "value), not the (pairs, stats) tuple or the stats.")
    keys = [_pair_key(p) for p in pairs]
    if None in keys:
        return report(False, "", "Each pair must be a dict with 'instruction', 'chosen' and "
                                 "'rejected', as build_pairs makes them.")
    want, _ = build_pairs(list(scored), prefer=("verifiable",))
    sources = Counter(p.get("decided_by") for p in pairs)
    if set(sources) - {"verifiable"}:
        return report(False, "", f"Your pairs are decided by {dict(sources)}: let only the checks "
                                 "decide (prefer=('verifiable',)), so no judge pair gets in.")
    want_keys = Counter(_pair_key(p) for p in want)
    if Counter(keys) == Counter((i, r, c) for i, c, r in want_keys.elements()):
        return report(False, "", "Chosen and rejected are swapped: the response with the HIGHER "
                                 "verifiable score is chosen.")
    if Counter(keys) != want_keys:
        return report(False, "", f"You have {len(pairs)} pairs; the verifiable checks alone decide "
                                 f"{len(want)} at the default margin (0.25 of the checks). Use "
                                 "build_pairs(scored, prefer=('verifiable',)) and keep its margin.")
    return report(True, f"{len(pairs)} pairs, every one decided by code: no judge to trust, and no "
                        "judge pair for a length bias to hide in.", "")


# --- Exercise 10-2: judge-vs-verifiable agreement by hand ---------------------------------------

def _pair(v: tuple, j: tuple, n: tuple = (10, 20)) -> dict:
    chosen = {"verifiable": v[0], "judge": j[0], "length": n[0]}
    rejected = {"verifiable": v[1], "judge": j[1], "length": n[1]}
    return {"instruction": "q", "chosen": "a", "rejected": "b", "decided_by": "verifiable",
            "chosen_scores": chosen, "rejected_scores": rejected}


# Hand-made pairs with the edge cases: gaps below a margin, unscored sides, a judge-decided pair.
_AGREEMENT_CASES = [
    [_pair((1.0, 0.0), (8, 5)), _pair((1.0, 0.0), (5, 8)), _pair((1.0, 0.5), (6, 6))],
    [_pair((1.0, 0.9), (9, 2)), _pair((1.0, 0.0), (None, 4)), _pair((None, None), (9, 3))],
    [_pair((0.5, 0.0), (7, 6.5)), _pair((0.75, 0.5), (3, 9)), _pair((1.0, 0.0), (2, 9))],
    [{**_pair((0.5, 0.5), (9, 4)), "decided_by": "judge"}, _pair((1.0, 0.0), (4, 3)),
     {**_pair((1.0, 0.0), (9, 4)), "decided_by": "judge"}],  # built with the judge first
]


def _agreement_sets() -> list[tuple[str, list]]:
    sets = [(f"hand-made set {i + 1}", c) for i, c in enumerate(_AGREEMENT_CASES)]
    for name, scored in scored_sets().items():
        sets.append((f"the offline teacher's pairs ({name})", build_pairs(list(scored))[0]))
    return sets


@exercise_check
def check_agreement(agreement_fn: Callable) -> bool:
    """Exercise 10-2: judge-vs-verifiable agreement by hand, equal to `agreement` on hidden sets."""
    if not callable(agreement_fn):
        return report(False, "", "Pass your function itself (no parentheses), e.g. "
                                 "check_agreement(my_agreement).")
    for name, pairs in _agreement_sets():
        ok, got = _safe_call(agreement_fn, [dict(p) for p in pairs])
        if not ok:
            return report(False, "", f"Your function failed on {name}: {got}")
        if not isinstance(got, Mapping) or not {"both_separate", "agree"} <= set(got):
            return report(False, "", "Return a dict with 'both_separate' and 'agree' (two counts), "
                                     f"got {got!r}.")
        want = agreement(pairs)
        for key in ("both_separate", "agree"):
            if got[key] != want[key] or isinstance(got[key], bool):
                return report(False, "", f"On {name}, {key} should be {want[key]}, you returned "
                                         f"{got[key]!r}. Count only pairs where BOTH sources "
                                         "separate the two sides by their margins (0.25 "
                                         "verifiable, 1 judge point); an unscored side (None) "
                                         "separates nothing.")
    return report(True, f"Your counts match agreement() on {len(_AGREEMENT_CASES)} hand-made sets "
                        f"and {len(SEEDS)} sets of the offline teacher's pairs.", "")


# --- Exercise 10-3: a length-controlled judge ----------------------------------------------------

def _unchanged(rows: Sequence[Mapping], got: Any) -> str:
    """Why `got` is not `rows` with only the judge scores changed ('' if it is)."""
    if not isinstance(got, Sequence) or len(got) != len(rows):
        return f"return a list of {len(rows)} rows, one per input row, in the same order"
    for row, new in zip(rows, got):
        if not isinstance(new, Mapping) or "scores" not in new:
            return "each returned row must be a dict with its 'scores'"
        if new.get("instruction") != row["instruction"] or \
                list(new.get("responses") or []) != list(row["responses"]):
            return "keep each row's instruction and responses as they are"
        if len(new["scores"]) != len(row["scores"]):
            return "keep one score dict per response"
        for old, s in zip(row["scores"], new["scores"]):
            if not isinstance(s, Mapping):
                return "each score must stay a dict"
            if s.get("verifiable") != old["verifiable"] or s.get("length") != old["length"]:
                return "change only the 'judge' scores: the verifiable and length scores are facts"
            if (s.get("judge") is None) != (old["judge"] is None):
                return "an unparsed judge reply (None) stays None, and a scored one stays scored"
    return ""


@exercise_check
def check_length_control(control_fn: Callable) -> bool:
    """Exercise 10-3: judge scores corrected for length: fewer longer-wins, agreement kept."""
    if not callable(control_fn):
        return report(False, "", "Pass your function itself (no parentheses), e.g. "
                                 "check_length_control(length_controlled).")
    lines = []
    for name, scored in scored_sets().items():
        rows = [dict(r) for r in scored]
        ok, got = _safe_call(control_fn, [dict(r, scores=[dict(s) for s in r["scores"]])
                                          for r in rows])
        if not ok:
            return report(False, "", f"Your function failed on the {name} set: {got}")
        why = _unchanged(rows, got)
        if why:
            return report(False, "", f"On the {name} set: {why}.")
        before, _ = build_pairs(rows)
        after, _ = build_pairs(list(got))
        judged = length_bias(after).get("judge", {"pairs": 0, "chosen_longer": 0})
        if judged["pairs"] < MIN_JUDGE_PAIRS:
            return report(False, "", f"On the {name} set your judge decides only {judged['pairs']} "
                                     f"pairs (at least {MIN_JUDGE_PAIRS} needed): correct the "
                                     "length effect, do not silence the judge.")
        share = judged["chosen_longer"] / judged["pairs"]
        if share > MAX_LONGER_SHARE:
            return report(False, "", f"On the {name} set the longer response still wins "
                                     f"{share:.0%} of your judge's pairs (at most "
                                     f"{MAX_LONGER_SHARE:.0%}): the length effect is still there.")
        old_rate, new_rate = agreement(before)["rate"], agreement(after)["rate"]
        if new_rate is None or new_rate < old_rate:
            shown = "none" if new_rate is None else f"{new_rate:.0%}"
            return report(False, "", f"On the {name} set your judge agrees with the verifiable "
                                     f"checks on {shown} of the pairs both separate, less than the "
                                     f"raw judge ({old_rate:.0%}): you removed more than the "
                                     "length effect (a slope too steep prefers SHORT answers).")
        lines.append(f"{name}: {judged['pairs']} judge pairs, {share:.0%} longer, agreement "
                     f"{old_rate:.0%} -> {new_rate:.0%}")
    return report(True, "Your length-controlled judge is no longer length-biased and agrees with "
                        "the checks at least as often (rule-based offline teacher):\n  "
                        + "\n  ".join(lines), "")
