"""Near-duplicate filtering for instruction data: exact, ROUGE-L, embeddings and MinHash.

One idea per module; everything is importable from here (``from course_utils.dedup import X``):

* `tokens`: the 'rouge' (rouge-score's) and 'auto' (Unicode/CJK) tokenizers, `normalize_text`;
* `exact`: `exact_dedup`, as is or normalised;
* `lcs`: the fast LCS engine (tokens as code points, length/LCS bounds, rapidfuzz);
* `rouge`: `rouge_l`, the greedy keep-first `rouge_l_dedup` (Self-Instruct/Alpaca), and
  `mean_pairwise_rouge_l`, all bit-identical to rouge-score's ``rougeL`` F-measure;
* `sweep`: threshold helpers (`kept_count_by_threshold`, `pairs_near_threshold`);
* `semantic`: `embed`, keep-first `embedding_dedup` and distilabel's `drop_both_dedup`;
* `minhash`: `minhash_dedup` (approximate) and `removed_recall`;
* `lesson`: notebook 07's labelled pairs and Japanese set (`course_utils/data/dedup_lesson.json`).

Heavy libraries (numpy, rapidfuzz, sentence-transformers, datasketch, rouge-score) are
imported inside the functions that need them, so importing this package stays cheap.
"""

from __future__ import annotations

from .exact import exact_dedup
from .lesson import (
    REASONS,
    is_duplicate,
    japanese_instructions,
    labelled_pairs,
    separation,
    threshold_accuracy,
)
from .minhash import minhash_dedup, removed_recall
from .rouge import count_reference_pairs, mean_pairwise_rouge_l, rouge_l, rouge_l_dedup
from .semantic import DEFAULT_EMBEDDING_MODEL, drop_both_dedup, embed, embedding_dedup
from .sweep import ScoredPair, kept_count_by_threshold, pairs_near_threshold
from .tokens import Tokenizer, normalize_text, tokenize

# Private names that tests use, importable from here as before the split. To monkeypatch the
# LCS engine's constants (_EXACT_CODES, _COARSE_CODES), patch `course_utils.dedup.lcs` itself.
from .lcs import _fmeasure, _fmeasure_np  # noqa: F401
from .semantic import _MODEL_CACHE, _load_model  # noqa: F401

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "ScoredPair",
    "Tokenizer",
    "tokenize",
    "rouge_l",
    "rouge_l_dedup",
    "count_reference_pairs",
    "kept_count_by_threshold",
    "pairs_near_threshold",
    "mean_pairwise_rouge_l",
    "exact_dedup",
    "normalize_text",
    "embed",
    "embedding_dedup",
    "drop_both_dedup",
    "minhash_dedup",
    "removed_recall",
    # notebook 07's lesson data and its separation helpers
    "REASONS",
    "labelled_pairs",
    "japanese_instructions",
    "is_duplicate",
    "threshold_accuracy",
    "separation",
]
