"""The fast LCS engine behind every ROUGE-L function: tokens as code points, bounds, rapidfuzz.

Every distinct token is mapped to one Unicode code point, so a token list becomes a short
string and rapidfuzz's bit-parallel ``LCSseq`` computes the longest common subsequence. The
F1 is then rouge-score's own float formula (`_fmeasure`), so decisions are bit-identical.
numpy and rapidfuzz are imported inside the functions that need them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from .._validate import InputError
from .tokens import Tokenizer, _resolve_tokenizer

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

# Safety margin used only to *prune* pairs before the exact check. The exact decision always
# recomputes rouge-score's float formula, so the margin can only cost time, never change results.
_PRUNE_EPS = 1e-9


def _fmeasure(lcs: int, len_target: int, len_prediction: int) -> float:
    """rouge-score's `_score_lcs` + `scoring.fmeasure`, same operations in the same order."""
    if not len_target or not len_prediction:
        return 0  # rouge-score returns the int 0 here; it compares equal to 0.0
    precision = lcs / len_prediction
    recall = lcs / len_target
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def _fmeasure_np(lcs: np.ndarray, len_target: np.ndarray, len_prediction: np.ndarray) -> np.ndarray:
    """Vectorised `_fmeasure` (float64, identical IEEE operations; 0 where undefined)."""
    import numpy as np

    lcs = np.asarray(lcs, dtype=np.float64)
    lt = np.asarray(len_target, dtype=np.float64)
    lp = np.asarray(len_prediction, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / lp
        recall = lcs / lt
        denom = precision + recall
        f = 2.0 * precision * recall / denom
    return np.where((lt > 0) & (lp > 0) & (denom > 0), f, 0.0)


# Tokens are encoded as code points. rapidfuzz's bit-parallel LCS looks characters below 256
# up in a flat table and the others in a hash map, which is several times slower. So besides
# the exact encoding ("strings") every text also gets a lossy one-byte encoding ("coarse"):
# the _EXACT_CODES most frequent tokens keep their own code, all rarer tokens share the
# remaining codes by rank. Merging symbols can only lengthen a common subsequence, so the
# coarse LCS is an upper bound on the exact one: pairs whose bound is too small are
# provably not duplicates, and only the few survivors get the exact LCS.
_EXACT_CODES = 192
_COARSE_CODES = 256


class _Encoded(NamedTuple):
    strings: list[str]  # exact: one code point per distinct token
    coarse: list[str]  # one-byte alphabet, LCS upper bound (same object as strings if exact)
    lengths: Any  # np.ndarray[int64], number of tokens per text
    max_len: int


def _encode(texts: list[str], tokenizer: Tokenizer, fn: str) -> _Encoded:
    """Tokenize `texts` and map every distinct token to one code point (frequent tokens first)."""
    from collections import Counter
    from itertools import chain

    import numpy as np

    tok = _resolve_tokenizer(tokenizer, fn)
    token_lists = [tok(t) for t in texts]
    counts = Counter(chain.from_iterable(token_lists))
    if len(counts) > 0x110000:  # pragma: no cover - would need > 1.1M distinct tokens
        raise InputError(
            f"{fn}(): {len(counts)} distinct tokens exceed the {0x110000} Unicode code points "
            "used to encode them; deduplicate in shards."
        )
    ranked = sorted(counts, key=counts.__getitem__, reverse=True)
    vocab = {w: chr(i) for i, w in enumerate(ranked)}
    strings = ["".join([vocab[w] for w in toks]) for toks in token_lists]
    if len(ranked) <= _COARSE_CODES:
        coarse = strings
    else:
        shared = _COARSE_CODES - _EXACT_CODES
        table = {
            chr(i): chr(i if i < _EXACT_CODES else _EXACT_CODES + (i - _EXACT_CODES) % shared)
            for i in range(len(ranked))
        }
        trans = str.maketrans(table)
        coarse = [x.translate(trans) for x in strings]
    lengths = np.fromiter((len(toks) for toks in token_lists), dtype=np.int64, count=len(texts))
    return _Encoded(strings, coarse, lengths, int(lengths.max()) if len(texts) else 0)


def _lcs_dtype(max_len: int) -> Any:
    """The smallest numpy integer type that holds an LCS of `max_len` tokens."""
    import numpy as np

    if max_len < 2**8:
        return np.uint8
    if max_len < 2**16:
        return np.uint16
    return np.int32


def _len_window(m: int, c: float) -> tuple[int, int]:
    """Conservative [lo, hi] token lengths n for which 2*min(m, n)/(m + n) > c is possible."""
    if c <= 0:
        return 1, 1 << 62
    lo = max(1, math.floor(c * m / (2.0 - c)))
    hi = math.ceil(m * (2.0 - c) / c)
    return lo, hi


def _min_lcs(total_len: Any, c: float) -> Any:
    """Conservative lower bound on the LCS a pair with m + n = total_len needs for F1 > c."""
    import numpy as np

    return np.maximum(1, np.floor(c * np.asarray(total_len, dtype=np.float64) / 2.0) - 1).astype(
        np.int64
    )


def _confirm(
    enc: _Encoded,
    bound: Any,
    targets: Any,
    predictions: Any,
    threshold: float,
    c: float,
    workers: int,
) -> Any:
    """Boolean mask: which (target, prediction) pairs have rouge-score F1 > threshold.

    `bound` is an upper bound on each pair's LCS (the coarse LCS); pairs whose bound is below
    what F1 > threshold needs are rejected without computing the exact LCS.
    """
    import numpy as np
    from rapidfuzz import process
    from rapidfuzz.distance import LCSseq

    lt, lp = enc.lengths[targets], enc.lengths[predictions]
    ok = bound >= _min_lcs(lt + lp, c)
    out = np.zeros(len(targets), dtype=bool)
    if not ok.any():
        return out
    idx = np.flatnonzero(ok)
    if enc.coarse is enc.strings:
        lcs = np.asarray(bound)[idx]
    else:
        lcs = process.cpdist(
            [enc.strings[i] for i in np.asarray(targets)[idx].tolist()],
            [enc.strings[i] for i in np.asarray(predictions)[idx].tolist()],
            scorer=LCSseq.similarity,
            dtype=np.int64,
            workers=workers if len(idx) > 5000 else 1,
        )
    out[idx] = _fmeasure_np(lcs, lt[idx], lp[idx]) > threshold
    return out


def _iter_lcs_rows(enc: _Encoded, workers: int, rows_per_block: int) -> Iterator[tuple[int, Any]]:
    """Yield (row_start, lcs_block) over the full LCS matrix in row blocks (bounded memory)."""
    from rapidfuzz import process
    from rapidfuzz.distance import LCSseq

    n = len(enc.strings)
    dtype = _lcs_dtype(enc.max_len)
    for start in range(0, n, rows_per_block):
        stop = min(n, start + rows_per_block)
        # only columns j >= start are needed for the upper triangle
        # `choices` is always a fresh list: given the same object twice, rapidfuzz takes a
        # symmetric path that skips its SIMD kernels and is slower here.
        yield (
            start,
            process.cdist(
                enc.strings[start:stop],
                enc.strings[start:],
                scorer=LCSseq.similarity,
                dtype=dtype,
                workers=workers,
            ),
        )
