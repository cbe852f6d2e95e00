"""ROUGE-L: one pair, the greedy keep-first filter (Self-Instruct/Alpaca), mean over pairs.

These reproduce rouge-score's ``rougeL`` F-measure bit for bit (same tokens, same LCS, same
floating-point formula); the LCS comes from the engine in `lcs`. ``rouge_l_dedup`` keeps a text
iff its ROUGE-L F1 with every previously kept text is <= threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._validate import InputError, require_int, require_str, require_texts
from ._args import require_n_jobs, require_threshold
from .lcs import (
    _PRUNE_EPS,
    _confirm,
    _encode,
    _Encoded,
    _fmeasure,
    _fmeasure_np,
    _iter_lcs_rows,
    _lcs_dtype,
    _len_window,
    _min_lcs,
)
from .tokens import Tokenizer, _resolve_tokenizer

__all__ = ["count_reference_pairs", "mean_pairwise_rouge_l", "rouge_l", "rouge_l_dedup"]


def rouge_l(a: str, b: str, tokenizer: Tokenizer = "auto") -> float:
    """ROUGE-L F1 of two texts; with tokenizer='rouge' bit-identical to rouge-score's rougeL."""
    from rapidfuzz.distance import LCSseq

    require_str(a, "a", fn="rouge_l")
    require_str(b, "b", fn="rouge_l")
    tok = _resolve_tokenizer(tokenizer, "rouge_l")
    ta, tb = tok(a), tok(b)
    if not ta or not tb:
        return 0.0
    # one code point per distinct token: exact equality, no reliance on hash() of list items
    vocab = {w: chr(i) for i, w in enumerate(dict.fromkeys(ta + tb))}
    sa, sb = "".join([vocab[w] for w in ta]), "".join([vocab[w] for w in tb])
    return float(_fmeasure(LCSseq.similarity(sa, sb), len(ta), len(tb)))


def _greedy_rouge_l(enc: _Encoded, threshold: float, workers: int, block_size: int) -> list[int]:
    """Greedy keep-first ROUGE-L filter on encoded texts; returns kept indices."""
    import numpy as np
    from rapidfuzz import process
    from rapidfuzz.distance import LCSseq

    coarse, lengths = enc.coarse, enc.lengths
    n = len(coarse)
    dtype = _lcs_dtype(enc.max_len)
    c = threshold - _PRUNE_EPS
    kept: list[int] = []
    # Kept non-empty texts from earlier blocks, sorted by token length so that the ones a
    # candidate can possibly match (length bound) form one contiguous slice.
    pool_idx = np.empty(0, dtype=np.int64)
    pool_lens = np.empty(0, dtype=np.int64)
    pool_coarse: list[str] = []

    for start in range(0, n, block_size):
        stop = min(n, start + block_size)
        block = np.arange(start, stop)
        nonempty = block[lengths[start:stop] > 0]
        # Empty token lists score 0 against everything: always kept, never remove anything.
        dup = np.zeros(stop - start, dtype=bool)

        # 1) candidates against texts kept in earlier blocks, in groups of similar length
        if len(pool_idx) and len(nonempty):
            order = nonempty[np.argsort(lengths[nonempty], kind="stable")]
            olens = lengths[order]
            g0 = 0
            while g0 < len(order):
                m_lo = int(olens[g0])
                g1 = int(np.searchsorted(olens, max(m_lo + 2, int(m_lo * 1.15)), side="left"))
                m_hi = int(olens[g1 - 1])
                n_lo, _ = _len_window(m_lo, c)
                _, n_hi = _len_window(m_hi, c)
                a = int(np.searchsorted(pool_lens, n_lo, side="left"))
                b = int(np.searchsorted(pool_lens, n_hi, side="right"))
                if b > a:
                    rows = order[g0:g1]
                    bound = process.cdist(
                        pool_coarse[a:b],
                        [coarse[i] for i in rows.tolist()],
                        scorer=LCSseq.similarity,
                        dtype=dtype,
                        workers=workers,
                        score_cutoff=int(_min_lcs(m_lo + int(pool_lens[a]), c)),
                    )
                    pr, cr = np.nonzero(bound)
                    if len(pr):
                        hit = _confirm(
                            enc, bound[pr, cr], pool_idx[a + pr], rows[cr], threshold, c, workers
                        )
                        dup[rows[cr[hit]] - start] = True
                g0 = g1

        # 2) candidates against earlier candidates of the same block, resolved in order
        conflicts: dict[int, list[int]] = {}
        if len(nonempty) > 1:
            strs = [coarse[i] for i in nonempty.tolist()]
            # a copy as `choices`: rapidfuzz's same-object (symmetric) path skips its SIMD kernels
            nl = lengths[nonempty]
            bound = process.cdist(
                strs,
                list(strs),
                scorer=LCSseq.similarity,
                dtype=dtype,
                workers=workers,
                score_cutoff=int(_min_lcs(2 * int(nl.min()), c)),
            )
            bound[np.triu_indices(len(strs))] = 0  # keep only (later i, earlier j) pairs
            r, col = np.nonzero(bound)
            if len(r):
                hit = _confirm(
                    enc, bound[r, col], nonempty[col], nonempty[r], threshold, c, workers
                )
                for i, j in zip(nonempty[r[hit]].tolist(), nonempty[col[hit]].tolist()):
                    conflicts.setdefault(i, []).append(j)

        new_kept: list[int] = []
        kept_set: set[int] = set()
        for i in range(start, stop):
            if dup[i - start]:
                continue
            earlier = conflicts.get(i)
            if earlier is not None and any(j in kept_set for j in earlier):
                continue
            kept.append(i)
            if lengths[i] > 0:
                kept_set.add(i)
                new_kept.append(i)

        if new_kept:
            merged_idx = np.concatenate([pool_idx, np.asarray(new_kept, dtype=np.int64)])
            order = np.argsort(lengths[merged_idx], kind="stable")
            pool_idx = merged_idx[order]
            pool_lens = lengths[pool_idx]
            pool_coarse = [coarse[i] for i in pool_idx.tolist()]
    return kept


def rouge_l_dedup(
    texts: Sequence[str],
    threshold: float = 0.7,
    tokenizer: Tokenizer = "auto",
    n_jobs: int = -1,
    block_size: int = 512,
) -> list[int]:
    """Greedy keep-first ROUGE-L filter (Self-Instruct/Alpaca); returns the kept indices.

    Text ``i`` is kept iff ``rouge_l(kept, texts[i]) <= threshold`` for every text kept
    before it. With ``tokenizer="rouge"`` the kept set is identical to the reference loop with
    ``rouge_score.rouge_scorer.RougeScorer(["rougeL"]).score(kept, candidate)``: LCS lengths
    are exact and the F1 comparison re-runs rouge-score's float formula. Length bounds and an
    LCS upper bound (computed on a lossy one-byte token alphabet) only skip pairs that
    provably cannot exceed the threshold; the rest get their exact LCS. ``n_jobs`` threads
    (``-1`` = all cores) are used by rapidfuzz; ``block_size`` candidates are processed at once.
    """
    fn = "rouge_l_dedup"
    items = require_texts(texts, minimum=0, fn=fn)
    threshold = require_threshold(threshold, fn=fn)
    workers = require_n_jobs(n_jobs, fn=fn)
    block_size = require_int(block_size, "block_size", 1, fn=fn)
    if not items:
        return []
    enc = _encode(items, tokenizer, fn)
    return _greedy_rouge_l(enc, threshold, workers, block_size)


def count_reference_pairs(kept: Sequence[int], n_texts: int) -> int:
    """Scorer calls the reference greedy loop makes: each kept j is scored by every i > j."""
    require_int(n_texts, "n_texts", 0, fn="count_reference_pairs")
    return sum(n_texts - 1 - int(j) for j in kept)


def mean_pairwise_rouge_l(
    texts: Sequence[str],
    sample: int | None = None,
    tokenizer: Tokenizer = "auto",
    seed: int = 0,
    n_jobs: int = -1,
) -> float:
    """Mean ROUGE-L F1 over all unordered pairs, or over `sample` random pairs (replacement)."""
    import numpy as np

    fn = "mean_pairwise_rouge_l"
    items = require_texts(texts, minimum=0, fn=fn)
    workers = require_n_jobs(n_jobs, fn=fn)
    if len(items) < 2:
        raise InputError(f"{fn}(): needs at least 2 texts to form a pair, got {len(items)}.")
    if sample is not None:
        sample = require_int(sample, "sample", 1, fn=fn)
    enc = _encode(items, tokenizer, fn)
    lens = enc.lengths
    n = len(items)
    if sample is not None:
        from rapidfuzz import process
        from rapidfuzz.distance import LCSseq

        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, size=sample)
        j = (i + rng.integers(1, n, size=sample)) % n  # uniform over j != i
        lcs = process.cpdist(
            [enc.strings[x] for x in i.tolist()],
            [enc.strings[x] for x in j.tolist()],
            scorer=LCSseq.similarity,
            dtype=np.int32,
            workers=workers,
        )
        return float(_fmeasure_np(lcs, lens[i], lens[j]).mean())
    rows_per_block = 256  # row blocks over the upper triangle: ~n*n/2 pairs, bounded memory
    total = 0.0
    for start, lcs in _iter_lcs_rows(enc, workers, rows_per_block):
        nr = lcs.shape[0]
        f = _fmeasure_np(lcs, lens[start:][None, :], lens[start : start + nr][:, None])
        total += float(np.triu(f, k=1).sum())
    return total / (n * (n - 1) / 2)
