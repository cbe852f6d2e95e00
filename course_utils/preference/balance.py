"""Clean the pairs: drop near-duplicates, cap pairs per prompt, balance chosen-longer pairs.

1. A pair whose chosen and rejected are near-identical (ROUGE-L >= `threshold`) teaches
   nothing; a pair near-identical to a kept pair of the same prompt (both sides) is a copy.
2. k responses give up to k(k-1)/2 pairs per prompt; a few prompts would dominate, so keep
   at most `max_per_prompt`, the most clearly decided first (source order, then gap).
3. If chosen is longer in most pairs, DPO learns "longer is better". `balance_length` drops
   the least clearly decided chosen-longer pairs until they are at most `max_longer_share`
   of the pairs where the lengths differ (seeded, deterministic).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from .._validate import require_int, require_rows, require_unit
from ..dedup import normalize_text, rouge_l
from .pairing import SOURCES

__all__ = ["balance_length", "cap_per_prompt", "clean_pairs", "dedup_pairs"]

_PAIR_COLUMNS = ("instruction", "chosen", "rejected", "decided_by", "gap", "chosen_scores",
                 "rejected_scores")


def _similar(a: str, b: str, threshold: float) -> bool:
    return normalize_text(a) == normalize_text(b) or rouge_l(a, b) >= threshold


def dedup_pairs(pairs: Sequence[Mapping[str, Any]], *,
                threshold: float = 0.9) -> tuple[list[dict], Counter]:
    """Pairs without near-identical sides or near-copies; counts "same_sides", "duplicate"."""
    pairs = require_rows(pairs, "pairs", fn="dedup_pairs", columns=_PAIR_COLUMNS, allow_empty=True)
    threshold = require_unit(threshold, "threshold", fn="dedup_pairs", example="0.9")
    kept: list[dict] = []
    dropped: Counter = Counter({"same_sides": 0, "duplicate": 0})
    for p in pairs:
        if _similar(p["chosen"], p["rejected"], threshold):
            dropped["same_sides"] += 1
        elif any(q["instruction"] == p["instruction"]
                 and _similar(q["chosen"], p["chosen"], threshold)
                 and _similar(q["rejected"], p["rejected"], threshold) for q in kept):
            dropped["duplicate"] += 1
        else:
            kept.append(dict(p))
    return kept, dropped


def _clarity(p: Mapping[str, Any]) -> tuple:
    """Sort key: decided by an earlier source, then by a larger gap relative to its margin."""
    rank = SOURCES.index(p["decided_by"]) if p["decided_by"] in SOURCES else len(SOURCES)
    return (rank, -(p["gap"] / p["margin"] if p.get("margin") else p["gap"]))


def cap_per_prompt(pairs: Sequence[Mapping[str, Any]], *,
                   max_per_prompt: int = 2) -> tuple[list[dict], int]:
    """At most `max_per_prompt` pairs per instruction, the clearest first; (pairs, dropped)."""
    pairs = require_rows(pairs, "pairs", fn="cap_per_prompt", columns=_PAIR_COLUMNS,
                         allow_empty=True)
    require_int(max_per_prompt, "max_per_prompt", 1, fn="cap_per_prompt")
    order = sorted(range(len(pairs)), key=lambda i: (_clarity(pairs[i]), i))
    taken: Counter = Counter()
    keep = set()
    for i in order:
        if taken[pairs[i]["instruction"]] < max_per_prompt:
            taken[pairs[i]["instruction"]] += 1
            keep.add(i)
    return [dict(pairs[i]) for i in sorted(keep)], len(pairs) - len(keep)


def _longer(p: Mapping[str, Any]) -> int:
    a, b = p["chosen_scores"]["length"], p["rejected_scores"]["length"]
    return (a > b) - (a < b)


def balance_length(pairs: Sequence[Mapping[str, Any]], *,
                   max_longer_share: float = 0.5) -> tuple[list[dict], dict]:
    """Drop the least clear chosen-longer pairs until <= max_longer_share: (pairs, report)."""
    pairs = require_rows(pairs, "pairs", fn="balance_length", columns=_PAIR_COLUMNS,
                         allow_empty=True)
    share = require_unit(max_longer_share, "max_longer_share", fn="balance_length", example="0.5")
    longer = [i for i, p in enumerate(pairs) if _longer(p) > 0]
    shorter = sum(_longer(p) < 0 for p in pairs)
    # keep L longer pairs with L / (L + shorter) <= share
    allowed = len(longer) if share >= 1 else int(share * shorter / (1 - share) + 1e-9)
    drop = set(sorted(longer, key=lambda i: (_clarity(pairs[i]), i))[allowed:])
    kept = [dict(p) for i, p in enumerate(pairs) if i not in drop]
    report = {"chosen_longer_before": len(longer), "chosen_shorter": shorter,
              "dropped": len(drop), "chosen_longer_after": len(longer) - len(drop)}
    return kept, report


def clean_pairs(pairs: Sequence[Mapping[str, Any]], *, threshold: float = 0.9,
                max_per_prompt: int = 2, max_longer_share: float | None = 0.5,
                ) -> tuple[list[dict], dict]:
    """dedup_pairs, then cap_per_prompt, then (unless max_longer_share is None) balance_length."""
    kept, dropped = dedup_pairs(pairs, threshold=threshold)
    kept, capped = cap_per_prompt(kept, max_per_prompt=max_per_prompt)
    report: dict[str, Any] = {"pairs_in": len(pairs), **dropped, "over_cap": capped}
    if max_longer_share is not None:
        kept, balance = balance_length(kept, max_longer_share=max_longer_share)
        report["length_balance"] = balance
    report["pairs_out"] = len(kept)
    return kept, report
