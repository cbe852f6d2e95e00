"""MinHash LSH candidates + exact ROUGE-L verification, and the recall of an approximate filter."""

from __future__ import annotations

from collections.abc import Sequence

from .._validate import require_int, require_texts
from ._args import require_threshold
from .lcs import _encode, _fmeasure
from .tokens import Tokenizer

__all__ = ["minhash_dedup", "removed_recall"]


def minhash_dedup(
    texts: Sequence[str],
    threshold: float = 0.7,
    num_perm: int = 128,
    lsh_threshold: float = 0.5,
    tokenizer: Tokenizer = "auto",
    shingle: int = 1,
    seed: int = 1,
) -> list[int]:
    """Greedy keep-first ROUGE-L filter that only scores MinHash-LSH candidate pairs (approximate).

    Each text's token ``shingle``-grams are MinHashed (datasketch); a candidate is compared,
    with the exact ROUGE-L F1, only to kept texts that collide with it in the LSH index built
    for Jaccard ``lsh_threshold``. Removals are therefore always real (F1 > threshold with a
    kept text) but some duplicates may be missed; measure with ``removed_recall`` against
    ``rouge_l_dedup``.
    """
    from datasketch import MinHash, MinHashLSH
    from rapidfuzz.distance import LCSseq

    fn = "minhash_dedup"
    items = require_texts(texts, minimum=0, fn=fn)
    threshold = require_threshold(threshold, fn=fn)
    lsh_threshold = require_threshold(lsh_threshold, "lsh_threshold", fn=fn)
    num_perm = require_int(num_perm, "num_perm", 2, fn=fn)
    shingle = require_int(shingle, "shingle", 1, fn=fn)
    if not items:
        return []
    enc = _encode(items, tokenizer, fn)
    strings, lengths = enc.strings, enc.lengths.tolist()

    def shingles(s: str) -> list[bytes]:
        if len(s) < shingle:
            return [s.encode("utf-8", "surrogatepass")] if s else []
        return list(
            {
                s[p : p + shingle].encode("utf-8", "surrogatepass")
                for p in range(len(s) - shingle + 1)
            }
        )

    sigs = MinHash.bulk((shingles(s) for s in strings), num_perm=num_perm, seed=seed)
    lsh = MinHashLSH(threshold=lsh_threshold, num_perm=num_perm)
    kept: list[int] = []
    for i, (s, mh) in enumerate(zip(strings, sigs)):
        if not s:  # empty token list: ROUGE-L 0 with everything
            kept.append(i)
            continue
        dup = False
        for j in lsh.query(mh):
            f = _fmeasure(LCSseq.similarity(strings[j], s), lengths[j], lengths[i])
            if f > threshold:
                dup = True
                break
        if not dup:
            kept.append(i)
            lsh.insert(i, mh, check_duplication=False)
    return kept


def removed_recall(approx_kept: Sequence[int], exact_kept: Sequence[int], n_texts: int) -> float:
    """Share of the texts removed by the exact filter that the approximate filter also removed."""
    require_int(n_texts, "n_texts", 0, fn="removed_recall")
    all_idx = set(range(n_texts))
    exact_removed = all_idx - set(exact_kept)
    if not exact_removed:
        return 1.0
    approx_removed = all_idx - set(approx_kept)
    return len(exact_removed & approx_removed) / len(exact_removed)
