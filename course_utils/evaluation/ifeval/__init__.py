"""IFEval, as defined by Zhou et al. (2023), arXiv:2311.07911: 25 kinds, strict and loose.

The course's own checkers (`evaluation.constraints`, used by `if_rate`) are IFEval-*style*:
fewer kinds, with deliberately different rules (whole-word keywords, paragraphs split on blank
lines, a line break ends a sentence, scripts without spaces). This package follows IFEval's
definitions instead, so its numbers can be compared with published ones:

- `checks_words.py`, `checks_format.py`: one function per instruction kind;
- `text.py`: how IFEval counts words and sentences and detects a language;
- `scoring.py`: `ifeval_check` (one instruction) and `ifeval_scores` (the four numbers);
- `data.py`: `load_ifeval`, the 541 real prompts with GPT-4's responses, and the paper's table.
"""

from .data import IFEVAL_PAPER_SCORES, IFEVAL_RESPONSE_FILES, ifeval_available, load_ifeval
from .scoring import IFEVAL_KINDS, ifeval_check, ifeval_scores

__all__ = [
    "IFEVAL_KINDS",
    "IFEVAL_PAPER_SCORES",
    "IFEVAL_RESPONSE_FILES",
    "ifeval_available",
    "ifeval_check",
    "ifeval_scores",
    "load_ifeval",
]
