"""Diversity and mode collapse: distinct-n, mean pairwise ROUGE-L, mean embedding cosine.

`collapse_alarm` combines them with default thresholds measured on real data (see there).
ROUGE-L, tokenisation and embeddings come from `course_utils.dedup`.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from .. import dedup
from .._validate import InputError, require_int, require_texts, require_unit

__all__ = ["COSINE_THRESHOLD", "DISTINCT2_FLOOR", "DISTINCT_BATCH", "ROUGE_THRESHOLD",
           "collapse_alarm", "distinct_n", "mean_embedding_cosine", "mean_pairwise_rouge_l"]


_DENOMINATORS = ("ngrams", "tokens")


def _distinct(token_lists: Iterable[list[str]], n: int, denominator: str = "ngrams"
              ) -> tuple[int, int]:
    """(distinct n-grams, the denominator: all n-grams or all tokens) over the token lists."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for tokens in token_lists:
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams) if denominator == "ngrams" else len(tokens)
        seen.update(grams)
    return len(seen), total


def _distinct_score(texts: list[str], n: int, batch: int | None, seed: int,
                    denominator: str = "ngrams") -> float | None:
    """Mean distinct-n over seeded groups of `batch` texts (one group if None); None if no
    n-gram."""
    tokens = [dedup.tokenize(t) for t in texts]
    if batch is None or len(tokens) <= batch:
        groups = [tokens]
    else:
        order = list(range(len(tokens)))
        random.Random(seed).shuffle(order)
        starts = range(0, len(order) - batch + 1, batch)
        groups = [[tokens[i] for i in order[s : s + batch]] for s in starts]
    counts = [_distinct(g, n, denominator) for g in groups]
    scores = [unique / total for unique, total in counts if unique]
    return statistics.fmean(scores) if scores else None


def distinct_n(
    texts: Sequence[str],
    n: int = 2,
    *,
    batch: int | None = None,
    seed: int = 0,
    denominator: str = "ngrams",
) -> float:
    """Distinct n-grams / all n-grams over the whole set (tokens as for ROUGE-L: lower-cased
    words, one token per CJK character; `course_utils.dedup.tokenize`).

    Two definitions are in use. The default, ``denominator="ngrams"``, divides the number of
    distinct n-grams by the number of n-grams: the type-token ratio of n-grams, 1.0 when no
    n-gram repeats, whatever n. ``denominator="tokens"`` divides by the number of tokens, as
    Li et al. (2016, arXiv:1510.03055) define distinct-n (distinct n-grams "scaled by total
    number of generated tokens"); it is lower for n > 1 (a text of T tokens has only
    T - n + 1 n-grams), most visibly on short texts. The two agree for n = 1.

    Distinct-n falls as a set grows (more text, more repeats: the 427 real instructions score
    distinct-2 0.66 together, 0.85 in groups of 50), so comparing sets of different sizes
    is unfair. With `batch=B` the set is shuffled (seeded), cut into groups of B texts (a
    last, smaller group is dropped) and the mean distinct-n of the groups is returned: a
    size-independent figure. Returns 0.0 when no text has n tokens.
    """
    texts = require_texts(texts, fn="distinct_n")
    n = require_int(n, "n", 1, fn="distinct_n")
    if batch is not None:
        batch = require_int(batch, "batch", 1, fn="distinct_n")
    if denominator not in _DENOMINATORS:
        raise InputError(f"distinct_n(): denominator={denominator!r}; use 'ngrams' (distinct "
                         "/ all n-grams, the default) or 'tokens' (Li et al. 2016).")
    score = _distinct_score(texts, n, batch, seed, denominator)
    return 0.0 if score is None else score


def mean_pairwise_rouge_l(
    texts: Sequence[str], sample: int | None = None, tokenizer: str = "auto", seed: int = 0
) -> float:
    """Mean ROUGE-L F1 over all pairs, or over `sample` random pairs (course_utils.dedup's)."""
    return dedup.mean_pairwise_rouge_l(texts, sample=sample, tokenizer=tokenizer, seed=seed)


def mean_embedding_cosine(texts: Sequence[str], model: Any = None) -> float:
    """Mean cosine similarity between the sentence embeddings of all distinct pairs of texts.

    Uses `course_utils.dedup.embed` (L2-normalised vectors, offline model by default). With
    unit vectors the sum of all pairwise cosines is |sum of vectors|^2, so this costs O(n), not
    O(n^2): mean = (|sum|^2 - n) / (n (n - 1)).
    """
    texts = require_texts(texts, minimum=2, fn="mean_embedding_cosine")
    import numpy as np

    vectors = np.asarray(dedup.embed(texts, model=model), dtype=np.float64)
    total = vectors.sum(axis=0)
    n = len(texts)
    self_sims = float(np.einsum("ij,ij->", vectors, vectors))  # n for unit vectors
    return float((total @ total - self_sims) / (n * (n - 1)))


# Defaults measured on real data (see collapse_alarm's docstring and tests/test_evaluation.py).
ROUGE_THRESHOLD = 0.30
DISTINCT2_FLOOR = 0.50
COSINE_THRESHOLD = 0.40
DISTINCT_BATCH = 50


def collapse_alarm(
    texts: Sequence[str],
    rouge_threshold: float = ROUGE_THRESHOLD,
    distinct2_floor: float = DISTINCT2_FLOOR,
    *,
    embeddings: bool = False,
    cosine_threshold: float = COSINE_THRESHOLD,
    max_pairs: int = 20_000,
    batch: int = DISTINCT_BATCH,
    seed: int = 0,
) -> dict[str, Any]:
    """Raise a mode-collapse alarm when a set of texts is too self-similar or too repetitive.

    Alarm when mean pairwise ROUGE-L > `rouge_threshold` (all pairs when there are at most
    `max_pairs`, else `max_pairs` seeded random pairs), or distinct-2 < `distinct2_floor`
    (mean over seeded groups of `batch` texts, so the floor does not depend on set size), or,
    with `embeddings=True`, mean embedding cosine > `cosine_threshold`.
    Defaults come from measurements (tests/test_evaluation.py re-checks them), as ROUGE-L /
    distinct-2 / cosine (all-MiniLM-L6-v2):
    - 175 Self-Instruct seed tasks: 0.102 / 0.855 / 0.111
    - 252 user-oriented instructions: 0.124 / 0.836 / 0.124
    - their 252 text-davinci-003 answers: 0.041 / 0.737 / 0.052
    - 50 near-paraphrases of "write a short poem about the sea": 0.625 / 0.073 / 0.832
    - one template filled with 50 nouns: 0.909 / 0.216 / 0.720
    The defaults (0.30 / 0.50 / 0.40) leave a wide margin on both sides. A partly collapsed
    set passes: 25 of those paraphrases among 75 seed tasks score 0.153 / 0.765 / 0.177;
    deduplication (course_utils.dedup) is the tool that finds such rows.
    """
    fn = "collapse_alarm"
    texts = require_texts(texts, minimum=2, fn=fn)
    rouge_threshold = require_unit(rouge_threshold, "rouge_threshold", fn=fn, example="0.3")
    distinct2_floor = require_unit(distinct2_floor, "distinct2_floor", fn=fn, example="0.5")
    cosine_threshold = require_unit(cosine_threshold, "cosine_threshold", fn=fn, example="0.4")
    max_pairs = require_int(max_pairs, "max_pairs", 1, fn=fn)
    batch = require_int(batch, "batch", 2, fn=fn)
    n_pairs = len(texts) * (len(texts) - 1) // 2
    sample = None if n_pairs <= max_pairs else max_pairs
    rouge = mean_pairwise_rouge_l(texts, sample=sample, seed=seed)
    distinct2 = _distinct_score(texts, 2, batch, seed)
    cosine = mean_embedding_cosine(texts) if embeddings else None
    problems, fine = [], []
    high = rouge > rouge_threshold
    (problems if high else fine).append(
        f"mean pairwise ROUGE-L {rouge:.3f} {'>' if high else '<='} {rouge_threshold:.2f}"
    )
    if distinct2 is None:
        fine.append("distinct-2 not measured (no text has two words)")
    else:
        low = distinct2 < distinct2_floor
        (problems if low else fine).append(
            f"distinct-2 (per {batch} texts) {distinct2:.3f} {'<' if low else '>='} "
            f"{distinct2_floor:.2f}"
        )
    if cosine is not None:
        high = cosine > cosine_threshold
        (problems if high else fine).append(
            f"mean embedding cosine {cosine:.3f} {'>' if high else '<='} {cosine_threshold:.2f}"
        )
    alarm = bool(problems)
    reason = ("mode collapse: " + "; ".join(problems)) if alarm else ("diverse: " + "; ".join(fine))
    return {
        "alarm": alarm,
        "reason": reason,
        "n": len(texts),
        "mean_rouge_l": rouge,
        "distinct_2": distinct2,
        "mean_cosine": cosine,
        "rouge_threshold": rouge_threshold,
        "distinct2_floor": distinct2_floor,
        "cosine_threshold": cosine_threshold if embeddings else None,
    }
