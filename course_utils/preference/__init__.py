"""Preference data for DPO: from SFT instructions to chosen/rejected pairs, one idea per file.

1. `sampling.py`: `sample_responses`, k candidates per instruction in one model call, bad
   outputs flagged and counted; `load_preference_instructions`, the course's instruction set.
2. `scoring.py`: `score_responses`, three scores per response: `verifiable_score`
   (constraints from the instruction, a reference number), the rubric judge (`judge_scores`)
   and `word_length`.
3. `pairing.py`: `build_pairs`, decided by the first source separating two responses by its
   margin (`decided_by`), ties counted; `agreement` (judge vs verifiable), `length_bias` and
   `pair_report`.
4. `balance.py`: `clean_pairs` = `dedup_pairs` + `cap_per_prompt` + `balance_length`.
5. `export.py`: `to_trl_preference` (TRL's conversational prompt/chosen/rejected) and
   `write_preference_dataset` (JSONL + a dataset card).

Typical use::

    rows, counts = sample_responses(llm, load_preference_instructions(), k=4)
    scored, outcomes = score_responses(rows, llm)
    pairs, stats = build_pairs(scored)
    clean, cleaning = clean_pairs(pairs)
    write_preference_dataset(to_trl_preference(clean), "data/preference",
                             report={**pair_report(clean, stats), "cleaning": cleaning})
"""

from .balance import balance_length, cap_per_prompt, clean_pairs, dedup_pairs
from .export import DATA_FILE, dataset_card, to_trl_preference, write_preference_dataset
from .pairing import DEFAULT_MARGINS, SOURCES, agreement, build_pairs, gap, length_bias, pair_report
from .sampling import (
    CANDIDATE_SYSTEM,
    PROBLEMS,
    load_preference_instructions,
    response_problem,
    sample_responses,
)
from .scoring import (
    JUDGE_SYSTEM,
    JUDGE_TOKENS,
    final_number,
    judge_scores,
    score_responses,
    verifiable_score,
    word_length,
)

__all__ = [
    "CANDIDATE_SYSTEM", "DATA_FILE", "DEFAULT_MARGINS", "JUDGE_SYSTEM", "JUDGE_TOKENS", "PROBLEMS",
    "SOURCES", "agreement", "balance_length", "build_pairs", "cap_per_prompt", "clean_pairs",
    "dataset_card", "dedup_pairs", "final_number", "gap", "judge_scores", "length_bias",
    "load_preference_instructions", "pair_report", "response_problem", "sample_responses",
    "score_responses", "to_trl_preference", "verifiable_score", "word_length",
    "write_preference_dataset",
]
