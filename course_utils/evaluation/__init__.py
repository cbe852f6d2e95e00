"""Evaluate an SFT data set: instruction following, complexity, diversity, a report, a judge.

Six tools, each usable on its own with plain lists of strings or rows (`list[dict]`), one file
each:

1. `constraints.py`: verifiable IFEval-style constraints (Zhou et al. 2023, arXiv:2311.07911),
   plain dicts `{"kind": ..., **params}` checked by code (`check`), described in English
   (`describe_constraint`) and found in instructions (`parse_constraints`); a registry
   (`CONSTRAINT_KINDS`, `register_constraint`) makes adding a kind writing one function.
   `accuracy.py`: `if_rate`, prompt/instruction-level strict/loose accuracy in IFEval's
   manner, but with the course's own checkers, whose rules deliberately differ from IFEval's
   (whole-word keywords, paragraphs split on blank lines, a line break ends a sentence,
   scripts without spaces), so its numbers are not comparable with published IFEval scores.
   `ifeval/`: IFEval itself, its 25 instruction kinds with the paper's definitions
   (`ifeval_check`, `ifeval_scores`), the 541 real prompts with GPT-4's responses
   (`load_ifeval`) and the paper's table (`IFEVAL_PAPER_SCORES`): use it to compare with
   published numbers.
   `language.py`: `detect_language` and `response_language` (is the answer in the language
   asked for?), offline, by script and function words; registered as "response_language".
2. `complexity.py`: complexity of an instruction from surface cues, and its root verb and
   object (`root_verb_object`), the view the Self-Instruct paper draws as a sunburst.
3. `diversity.py`: distinct-n, mean pairwise ROUGE-L, mean embedding cosine, and
   `collapse_alarm`, whose default thresholds were measured on real data.
4. `plots.py`: matplotlib `Figure`s, returned already closed in pyplot, safe under Agg.
5. `report.py`: `report`, a one-page, deterministic markdown report with PNGs.
6. `judge.py`: LLM-as-judge, a rating prompt (`JUDGE_PROMPT_V1`, `judge_prompt`) and a parser
   that never raises (`parse_judge`).

Heavy libraries (matplotlib, sentence-transformers via `course_utils.dedup`) are imported
inside the functions that need them, so importing this package is fast.
"""

from .accuracy import if_rate
from .complexity import complexity, complexity_table, root_verb_object, top_verb_objects
from .constraints import (
    CONSTRAINT_KINDS,
    RELATIONS,
    ConstraintKind,
    check,
    describe_constraint,
    loose_variants,
    parse_constraints,
    register_constraint,
)
from .diversity import (
    COSINE_THRESHOLD,
    DISTINCT2_FLOOR,
    DISTINCT_BATCH,
    ROUGE_THRESHOLD,
    collapse_alarm,
    distinct_n,
    mean_embedding_cosine,
    mean_pairwise_rouge_l,
)
from .ifeval import (
    IFEVAL_KINDS,
    IFEVAL_PAPER_SCORES,
    ifeval_available,
    ifeval_check,
    ifeval_scores,
    load_ifeval,
)
from .judge import JUDGE_PROMPT_V1, judge_prompt, parse_judge
from .language import LANGUAGES, detect_language, response_language
from .plots import plot_complexity, plot_verb_sunburst
from .report import Report, report

__all__ = [
    "CONSTRAINT_KINDS",
    "COSINE_THRESHOLD",
    "DISTINCT2_FLOOR",
    "DISTINCT_BATCH",
    "IFEVAL_KINDS",
    "IFEVAL_PAPER_SCORES",
    "JUDGE_PROMPT_V1",
    "LANGUAGES",
    "RELATIONS",
    "ROUGE_THRESHOLD",
    "ConstraintKind",
    "Report",
    "check",
    "collapse_alarm",
    "complexity",
    "complexity_table",
    "describe_constraint",
    "detect_language",
    "distinct_n",
    "if_rate",
    "ifeval_available",
    "ifeval_check",
    "ifeval_scores",
    "judge_prompt",
    "load_ifeval",
    "loose_variants",
    "mean_embedding_cosine",
    "mean_pairwise_rouge_l",
    "parse_constraints",
    "parse_judge",
    "plot_complexity",
    "plot_verb_sunburst",
    "register_constraint",
    "report",
    "response_language",
    "root_verb_object",
    "top_verb_objects",
]
