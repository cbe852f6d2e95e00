"""Exact duplicates: the free filter to run first (as is, or after `normalize_text`)."""

from __future__ import annotations

from collections.abc import Sequence

from .._validate import require_texts
from .tokens import normalize_text

__all__ = ["exact_dedup", "normalize_text"]


def exact_dedup(texts: Sequence[str], normalize: bool = False) -> list[int]:
    """Indices of each text's first occurrence (exact, or after `normalize_text` if normalize)."""
    items = require_texts(texts, minimum=0, fn="exact_dedup")
    seen: set[str] = set()
    kept: list[int] = []
    for i, t in enumerate(items):
        key = normalize_text(t) if normalize else t
        if key not in seen:
            seen.add(key)
            kept.append(i)
    return kept
