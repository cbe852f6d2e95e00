"""Chosen/rejected pairs from scored candidates, decided by the first source that separates them.

Every two responses to the same instruction are compared. The sources in `prefer` are tried in
order; the first whose scores differ by at least its margin decides (`decided_by`), and the
better-scored response is chosen. Verifiable checks come first because code does not need to
be trusted; the judge decides where the checks cannot (no constraint, or both pass the same
ones); length (longer wins) only when you opt in, since it is the bias a judge already has.
A pair no source separates is a tie: skipped and counted. An empty response has nothing to
train on and is left out of every pair (counted as "empty"); a refusal is kept, so it can be
the rejected side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any, Optional

from .._validate import InputError, require_number, require_rows

__all__ = ["DEFAULT_MARGINS", "SOURCES", "agreement", "build_pairs", "gap", "length_bias",
           "pair_report"]

SOURCES = ("verifiable", "judge", "length")
# Native units: verifiable is a share of checks (0-1), judge a 1-10 score, length the relative
# difference in words (|a - b| / max(a, b): 0.25 = one is a quarter shorter).
DEFAULT_MARGINS: dict[str, float] = {"verifiable": 0.25, "judge": 1.0, "length": 0.25}


def gap(source: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> Optional[float]:
    """How much better `a` scores than `b` on `source` (negative: worse); None if unscored."""
    x, y = a.get(source), b.get(source)
    if x is None or y is None:
        return None
    if source == "length":
        longest = max(x, y)
        return 0.0 if longest == 0 else (x - y) / longest
    return float(x) - float(y)


def _margins(margin: Optional[Mapping[str, float]]) -> dict[str, float]:
    if margin is None:
        return dict(DEFAULT_MARGINS)
    if not isinstance(margin, Mapping):
        raise InputError("build_pairs(): margin must be a dict such as "
                         f"{DEFAULT_MARGINS} (or None for these defaults).")
    unknown = [k for k in margin if k not in SOURCES]
    if unknown:
        raise InputError(f"build_pairs(): margin has unknown source(s) {unknown}: use {SOURCES}.")
    out = dict(DEFAULT_MARGINS)
    for k, v in margin.items():
        out[k] = require_number(v, f"margin[{k!r}]", fn="build_pairs", minimum=0.0)
    if out["length"] > 1:
        raise InputError("build_pairs(): margin['length'] is a relative difference: pass 0-1.")
    return out


def _prefer(prefer: Any) -> tuple[str, ...]:
    if isinstance(prefer, str) or not isinstance(prefer, Sequence) or not prefer:
        raise InputError("build_pairs(): prefer must be a non-empty tuple of sources from "
                         f"{SOURCES}, e.g. ('verifiable', 'judge').")
    bad = [p for p in prefer if p not in SOURCES]
    if bad or len(set(prefer)) != len(prefer):
        raise InputError(f"build_pairs(): prefer={tuple(prefer)} must name each of {SOURCES} at "
                         "most once.")
    return tuple(prefer)


def build_pairs(scored_rows: Sequence[Mapping[str, Any]], *,
                margin: Optional[Mapping[str, float]] = None,
                prefer: Sequence[str] = ("verifiable", "judge")) -> tuple[list[dict], dict]:
    """Decided (chosen, rejected) pairs, and stats: compared, pairs, ties, empty, decided_by.

    Each pair: instruction, chosen, rejected, decided_by, gap (the deciding difference),
    margin, chosen_scores, rejected_scores, and both indices. Add "length" to `prefer` to let
    length (longer wins) break what the others leave tied.
    """
    rows = require_rows(scored_rows, "scored_rows", fn="build_pairs",
                        columns=("instruction", "responses", "scores"))
    margins, order = _margins(margin), _prefer(prefer)
    pairs: list[dict] = []
    stats: dict[str, Any] = {"compared": 0, "pairs": 0, "ties": 0, "empty": 0,
                             "decided_by": Counter({s: 0 for s in order}), "margin": margins,
                             "prefer": list(order)}
    for r, row in enumerate(rows):
        texts, scores = list(row["responses"]), list(row["scores"])
        if len(texts) != len(scores):
            raise InputError(f"build_pairs(): scored_rows[{r}] has {len(texts)} responses but "
                             f"{len(scores)} scores: score them with score_responses().")
        usable = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        stats["empty"] += len(texts) - len(usable)
        for i, j in combinations(usable, 2):
            stats["compared"] += 1
            for source in order:
                g = gap(source, scores[i], scores[j])
                if g is not None and abs(g) >= margins[source] and g != 0:
                    a, b = (i, j) if g > 0 else (j, i)
                    pairs.append({"instruction": row["instruction"], "chosen": texts[a],
                                  "rejected": texts[b], "decided_by": source, "gap": abs(g),
                                  "margin": margins[source], "chosen_scores": dict(scores[a]),
                                  "rejected_scores": dict(scores[b]), "chosen_index": a,
                                  "rejected_index": b, "row": r})
                    stats["decided_by"][source] += 1
                    break
            else:
                stats["ties"] += 1
    stats["pairs"] = len(pairs)
    return pairs, stats


def agreement(pairs: Sequence[Mapping[str, Any]],
              margin: Optional[Mapping[str, float]] = None) -> dict[str, Any]:
    """Judge vs verifiable on pairs both separate by their margins: counts, rate, disagreements."""
    margins = _margins(margin)
    both, agree, disagreements = 0, 0, []
    for p in pairs:
        gv = gap("verifiable", p["chosen_scores"], p["rejected_scores"])
        gj = gap("judge", p["chosen_scores"], p["rejected_scores"])
        if (gv is None or gj is None or abs(gv) < margins["verifiable"]
                or abs(gj) < margins["judge"]):
            continue
        both += 1
        if (gv > 0) == (gj > 0):
            agree += 1
        else:
            disagreements.append(p)
    return {"both_separate": both, "agree": agree,
            "rate": agree / both if both else None, "disagreements": disagreements}


def length_bias(pairs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """How often the chosen response is longer (in words), overall and by deciding source."""
    groups: dict[str, list] = {"all": list(pairs)}
    for p in pairs:
        groups.setdefault(p["decided_by"], []).append(p)
    out = {}
    for name, group in groups.items():
        longer = sum(p["chosen_scores"]["length"] > p["rejected_scores"]["length"] for p in group)
        shorter = sum(p["chosen_scores"]["length"] < p["rejected_scores"]["length"] for p in group)
        out[name] = {"pairs": len(group), "chosen_longer": longer, "chosen_shorter": shorter,
                     "longer_rate": longer / len(group) if group else None}
    return out


def pair_report(pairs: Sequence[Mapping[str, Any]], stats: Mapping[str, Any]) -> dict[str, Any]:
    """One summary for notes and the card: counts by source, ties, agreement, length bias."""
    agree = agreement(pairs, stats.get("margin"))
    return {"compared": stats["compared"], "pairs": len(pairs), "ties": stats["ties"],
            "empty": stats.get("empty", 0),
            "decided_by": dict(Counter(p["decided_by"] for p in pairs)),
            "margin": dict(stats.get("margin") or DEFAULT_MARGINS),
            "agreement": {k: v for k, v in agree.items() if k != "disagreements"},
            "length_bias": length_bias(pairs)}
