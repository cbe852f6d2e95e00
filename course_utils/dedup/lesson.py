"""Notebook 07's lesson data (labelled pairs, a Japanese set) and how well a score separates them.

The data lives in `course_utils/data/dedup_lesson.json`, so the lesson's histograms, the
exercises and their checks (`course_utils.checks.dedup`) all use exactly the same pairs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from .._validate import InputError

__all__ = [
    "LESSON_DATA_FILE",
    "REASONS",
    "is_duplicate",
    "japanese_instructions",
    "labelled_pairs",
    "separation",
    "threshold_accuracy",
]

LESSON_DATA_FILE = "data/dedup_lesson.json"

# The kinds of labelled pairs that are NOT duplicates: "same_template" = the same sentence with
# the key word changed (a different task), "same_topic" = a different task on the same subject.
REASONS = ("same_template", "same_topic")
_KINDS = ("duplicate", *REASONS)


@lru_cache(maxsize=1)
def _lesson_data() -> dict[str, Any]:
    text = resources.files("course_utils").joinpath(LESSON_DATA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def labelled_pairs() -> tuple[tuple[str, str, str], ...]:
    """The lesson's labelled pairs (a, b, kind); kind is "duplicate" or one of REASONS."""
    pairs = tuple((p["a"], p["b"], p["kind"]) for p in _lesson_data()["labelled_pairs"])
    bad = sorted({kind for _, _, kind in pairs} - set(_KINDS))
    if bad:  # pragma: no cover - guards edits of the data file
        raise ValueError(f"{LESSON_DATA_FILE}: unknown kind(s) {bad}; use one of {_KINDS}.")
    return pairs


@lru_cache(maxsize=1)
def japanese_instructions() -> tuple[str, ...]:
    """A small Japanese instruction set: exact copies, near-copies and different tasks."""
    return tuple(_lesson_data()["japanese_instructions"])


def is_duplicate(kind: str) -> bool:
    """Whether a labelled pair's kind means "the same request"."""
    return kind == "duplicate"


def threshold_accuracy(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> float:
    """Share of pairs classified right by the rule "duplicate iff score > threshold"."""
    if not len(scores):
        return 0.0
    return sum((s > threshold) == bool(y) for s, y in zip(scores, labels)) / len(scores)


def separation(scores: Sequence[float], labels: Sequence[bool]) -> dict:
    """How well a similarity separates duplicates from non-duplicates.

    auc: the chance that a random duplicate pair scores higher than a random non-duplicate
    (1.0 = perfectly separated, 0.5 = no better than chance; ties count half).
    best_threshold / best_accuracy: the threshold on the observed scores with the most pairs
    right under "duplicate iff score > threshold". gap: lowest duplicate score minus highest
    non-duplicate score (negative = the histograms overlap).
    """
    dup = [float(s) for s, y in zip(scores, labels) if y]
    non = [float(s) for s, y in zip(scores, labels) if not y]
    if not dup or not non:
        raise InputError("separation() needs at least one duplicate and one non-duplicate pair.")
    auc = sum(1.0 if d > x else 0.5 if d == x else 0.0 for d in dup for x in non) / (
        len(dup) * len(non)
    )
    candidates = sorted({0.0, *[float(s) for s in scores]})
    best_t = max(candidates, key=lambda t: (threshold_accuracy(scores, labels, t), -t))
    return {
        "auc": round(auc, 3),
        "best_threshold": round(best_t, 3),
        "best_accuracy": round(threshold_accuracy(scores, labels, best_t), 3),
        "gap": round(min(dup) - max(non), 3),
    }
