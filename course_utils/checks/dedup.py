"""Checks for notebook 07 (deduplication). Import as `from course_utils.checks import dedup as dedup_checks`.

The lesson's data (labelled pairs, the Japanese set) lives in `course_utils/data/dedup_lesson.json`
and is loaded by `course_utils.dedup`, so that the lesson's histograms and the checks' verdicts are
computed on exactly the same pairs. The names below stay importable from here.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..dedup import (REASONS, embed, is_duplicate, japanese_instructions, labelled_pairs, rouge_l, rouge_l_dedup,
                     separation, threshold_accuracy)
from .common import _safe_call, exercise_check, report

__all__ = ["JAPANESE_INSTRUCTIONS", "LABELLED_PAIRS", "REASONS", "check_false_positive", "check_japanese_dedup",
           "check_threshold", "expected_japanese_kept", "is_duplicate", "separation", "threshold_accuracy"]

# Labelled pairs: (a, b, kind). kind "duplicate" = the same request (near-copy or paraphrase);
# the other kinds (REASONS) are NOT duplicates.
LABELLED_PAIRS: tuple[tuple[str, str, str], ...] = labelled_pairs()

# A small Japanese instruction set: exact copies, near-copies and different tasks.
JAPANESE_INSTRUCTIONS: tuple[str, ...] = japanese_instructions()


EDGE_SHIFT = 0.02  # exercise 07-1: a threshold must stay good when the scores move by this much


def _pair_scores(metric: str) -> list[float]:
    if metric == "rouge_l":
        return [rouge_l(a, b) for a, b, _ in LABELLED_PAIRS]
    a = embed([p[0] for p in LABELLED_PAIRS])
    b = embed([p[1] for p in LABELLED_PAIRS])
    return [float(x) for x in (a * b).sum(axis=1)]


@exercise_check
def check_threshold(threshold: Any, metric: str = "rouge_l") -> bool:
    """Exercise 07-1: a threshold read off the histogram that separates LABELLED_PAIRS as well as possible."""
    if metric not in ("rouge_l", "cosine"):
        return report(False, "", f"metric must be 'rouge_l' or 'cosine', got {metric!r}.")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        return report(False, "", f"my_threshold must be a number between 0 and 1, got {type(threshold).__name__}.")
    if not 0 <= threshold <= 1:
        return report(False, "", f"my_threshold={threshold} is outside [0, 1]: similarities are fractions.")
    scores = _pair_scores(metric)
    labels = [is_duplicate(k) for _, _, k in LABELLED_PAIRS]
    candidates = sorted({0.0, 1.0, *[round(s, 3) for s in scores]})
    best = max(threshold_accuracy(scores, labels, t) for t in candidates)
    got = threshold_accuracy(scores, labels, float(threshold))
    fp = sum(s > threshold and not y for s, y in zip(scores, labels))
    fn = sum(s <= threshold and y for s, y in zip(scores, labels))
    enough = best - 1 / len(labels) - 1e-9  # within one pair of the best
    if got < enough:
        side = "lower it" if fn > fp else "raise it"
        return report(False, "", f"At {threshold} the rule 'duplicate iff {metric} > threshold' gets {got:.0%} of the "
                                 f"pairs right ({fp} false positives, {fn} missed duplicates); the best threshold "
                                 f"gets {best:.0%}. Look where the two histograms cross and {side}.")
    for near in (threshold - EDGE_SHIFT, threshold + EDGE_SHIFT):
        near_acc = threshold_accuracy(scores, labels, near)
        if near_acc < enough:
            flipped = sum((s > threshold) != (s > near) for s in scores)
            return report(False, "", f"At {threshold} you get {got:.0%} right, but you sit on the edge of a cluster: "
                                     f"moving the threshold by {EDGE_SHIFT} to {near:.2f} flips {flipped} pairs and "
                                     f"gets only {near_acc:.0%}. Another model or data set moves scores more than "
                                     f"that: read the pairs around your threshold and put it inside a gap.")
    return report(True, f"At {threshold}: {got:.0%} of the pairs right (best possible {best:.0%}); {fp} non-duplicate "
                        f"pair(s) judged duplicates, {fn} duplicate pair(s) missed. No threshold is perfect: the "
                        f"histograms overlap.", "")


def expected_japanese_kept(threshold: float = 0.7) -> list[int]:
    """The kept indices of JAPANESE_INSTRUCTIONS under rouge_l_dedup with the auto tokenizer."""
    return rouge_l_dedup(list(JAPANESE_INSTRUCTIONS), threshold, tokenizer="auto")


@exercise_check
def check_japanese_dedup(fn: Callable[[Sequence[str]], Any], threshold: float = 0.7) -> bool:
    """Exercise 07-2: dedup JAPANESE_INSTRUCTIONS (kept indices) with a tokenizer that sees Japanese words."""
    if not callable(fn):
        return report(False, "", "Pass your function itself (no parentheses), e.g. dedup_japanese.")
    ok, got = _safe_call(fn, [])
    if not ok:
        return report(False, "", f"dedup_japanese([]) failed: {got}. An empty list has nothing to keep: return [].")
    if list(got or []) != []:
        return report(False, "", f"dedup_japanese([]) returned {got!r}; expected [].")
    texts = list(JAPANESE_INSTRUCTIONS)
    ok, got = _safe_call(fn, texts)
    if not ok:
        return report(False, "", f"Your function failed: {got}")
    try:
        got = [int(i) for i in got]
    except (TypeError, ValueError):
        return report(False, "", "Return the kept INDICES (a list of ints), as rouge_l_dedup does.")
    want = expected_japanese_kept(threshold)
    if got == rouge_l_dedup(texts, threshold, tokenizer="rouge"):
        return report(False, "", "That is the result of tokenizer='rouge': it deletes every Japanese character, so "
                                 "'R言語で平均…' and 'R言語で分散…' both become ['r'] (ROUGE-L 1.0), and texts with no "
                                 "Latin letters become empty (never removed). Use tokenizer='auto'.")
    if got != want:
        return report(False, "", f"You kept {got}; expected {want} (rouge_l_dedup(texts, {threshold}, "
                                 f"tokenizer='auto')). Keep the FIRST text of each group, in the original order.")
    removed = [texts[i] for i in range(len(texts)) if i not in set(want)]
    return report(True, f"Kept {len(want)} of {len(texts)}; removed: {', '.join(removed)}.", "")


def _hidden_scores() -> list[float]:
    """ROUGE-L scores in which a same-topic pair (low word overlap) scores highest of the non-duplicates.

    A reason hard-coded to "same_template", or read off the score instead of the texts, fails here.
    """
    scores = _pair_scores("rouge_l")
    topic = [i for i, (a, b, k) in enumerate(LABELLED_PAIRS) if k == "same_topic" and rouge_l(a, b) < 0.4]
    scores[topic[-1]] = 0.99
    return scores


@exercise_check
def check_false_positive(fn: Callable[[Sequence, Sequence[bool], Sequence[float]], Any]) -> bool:
    """Exercise 07-3: find the worst false positive among LABELLED_PAIRS and say which kind it is.

    `fn(pairs, is_dup, scores)` gets the (a, b) texts, the duplicate labels and one score per pair,
    and returns {"index": i, "reason": "same_template" | "same_topic"}.
    """
    if not callable(fn):
        return report(False, "", "Pass your function itself (no parentheses), e.g. worst_false_positive.")
    pairs = list(LABELLED_PAIRS)
    texts = [(a, b) for a, b, _ in pairs]
    labels = [is_duplicate(k) for _, _, k in pairs]
    for metric in ("rouge_l", "cosine", "hidden"):
        scores = _pair_scores(metric) if metric != "hidden" else _hidden_scores()
        ok, got = _safe_call(fn, list(texts), list(labels), list(scores))
        if not ok:
            return report(False, "", f"Your function failed on the {metric} scores: {got}")
        if not isinstance(got, dict) or not {"index", "reason"} <= set(got):
            return report(False, "", "Return a dict {'index': <pair index>, 'reason': 'same_template' or 'same_topic'}.")
        non_dup = [i for i, p in enumerate(pairs) if not is_duplicate(p[2])]
        want = max(non_dup, key=lambda i: scores[i])
        if got["index"] != want:
            return report(False, "", f"With the {metric} scores you chose pair {got['index']!r}; the non-duplicate pair "
                                     f"with the highest score is {want} ({scores[want]:.2f}). Skip the pairs labelled "
                                     "duplicate (is_dup True), then take the highest score.")
        if got["reason"] not in REASONS:
            return report(False, "", f"reason must be one of {REASONS}, got {got['reason']!r}.")
        if got["reason"] != pairs[want][2]:
            a, b, kind = pairs[want]
            return report(False, "", f"With the {metric} scores, pair {want} ({a!r} / {b!r}) is '{kind}', not "
                                     f"'{got['reason']}'. Decide from the texts only, not from the score: how many of their "
                                     "words do a and b share, in order?")
    return report(True, "Right: the most similar non-duplicates are the same sentence with the key word changed. "
                        "Word overlap (ROUGE-L) and meaning (embeddings) both miss that one word changes the task.", "")
