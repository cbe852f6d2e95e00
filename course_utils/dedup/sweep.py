"""Choosing a ROUGE-L threshold: kept counts per threshold, the pairs near one (the slider)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .._validate import InputError, require_int, require_texts
from ._args import require_n_jobs, require_threshold
from .lcs import _encode, _fmeasure_np, _iter_lcs_rows
from .rouge import _greedy_rouge_l
from .tokens import Tokenizer

__all__ = ["ScoredPair", "kept_count_by_threshold", "pairs_near_threshold"]


def kept_count_by_threshold(
    texts: Sequence[str],
    thresholds: Iterable[float],
    tokenizer: Tokenizer = "auto",
    n_jobs: int = -1,
) -> dict[float, int]:
    """Number of texts `rouge_l_dedup` keeps at each threshold (tokenizes once)."""
    fn = "kept_count_by_threshold"
    items = require_texts(texts, minimum=0, fn=fn)
    ths = [require_threshold(t, fn=fn) for t in thresholds]
    if not ths:
        raise InputError(f"{fn}(): thresholds is empty; pass e.g. [0.5, 0.6, 0.7, 0.8].")
    workers = require_n_jobs(n_jobs, fn=fn)
    if not items:
        return {t: 0 for t in ths}
    enc = _encode(items, tokenizer, fn)
    return {t: len(_greedy_rouge_l(enc, t, workers, 512)) for t in ths}


class ScoredPair(NamedTuple):
    """Two text indices (i < j) and their ROUGE-L F1."""

    i: int
    j: int
    score: float


def pairs_near_threshold(
    texts: Sequence[str],
    threshold: float = 0.7,
    window: float = 0.05,
    k: int = 10,
    tokenizer: Tokenizer = "auto",
    n_jobs: int = -1,
) -> list[ScoredPair]:
    """The k pairs with ROUGE-L F1 closest to `threshold` (within +-window), highest first."""
    import numpy as np

    fn = "pairs_near_threshold"
    items = require_texts(texts, minimum=0, fn=fn)
    threshold = require_threshold(threshold, fn=fn)
    window = require_threshold(window, "window", fn=fn)
    k = require_int(k, "k", 1, fn=fn)
    workers = require_n_jobs(n_jobs, fn=fn)
    if len(items) < 2:
        return []
    enc = _encode(items, tokenizer, fn)
    lens = enc.lengths
    best: list[tuple[float, int, int, float]] = []  # (distance, i, j, score)
    for start, lcs in _iter_lcs_rows(enc, workers, 512):
        rows = np.arange(start, start + lcs.shape[0])
        f = _fmeasure_np(lcs, lens[start:][None, :], lens[rows][:, None])
        f[np.tril_indices(lcs.shape[0], m=lcs.shape[1])] = np.nan  # keep j > i only
        r, col = np.nonzero(np.abs(f - threshold) <= window)
        if not len(r):
            continue
        dist = np.abs(f[r, col] - threshold)
        take = np.argsort(dist, kind="stable")[:k]
        best.extend(
            (float(dist[t]), int(rows[r[t]]), int(start + col[t]), float(f[r[t], col[t]]))
            for t in take
        )
        best = sorted(best)[:k]
    return sorted((ScoredPair(i, j, s) for _, i, j, s in best), key=lambda p: -p.score)
