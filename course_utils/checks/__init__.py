"""Auto-checks for the exercises: each prints a clear pass/fail message a learner understands.

A check never raises on a wrong answer (that would look like a crash); it prints what is wrong
and how to fix it, and returns True or False so tests can use it too. One module per topic;
every check is re-exported here, so notebooks `from course_utils import checks` and call
`checks.check_...`; a topic's data (cases, thresholds) is `checks.<topic>.NAME`.
"""

from . import (capstone, cot, dedup, evaluation, evol, formats, magpie, preference, prompting,
               self_instruct)
from .capstone import check_budget, check_config_change, check_filter_step
from .common import Todo, exercise_check, report, todo, when_done
from .cot import check_problem_family, check_repair, check_verification_effect
from .dedup import check_false_positive, check_japanese_dedup, check_threshold
from .evaluation import check_levels, check_partial_collapse, check_postscript_kind
from .evol import check_broken_instruction, check_new_operator, check_tuned_rules
from .formats import check_answer_only_labels, check_fixed_labels, check_sharegpt_converter
from .magpie import check_domain_dataset, check_llama3_prompt, check_turn_filter
from .preference import check_agreement, check_length_control, check_verifiable_pairs
from .prompting import check_collapse_report, check_line_parser, check_v3_prompt
from .self_instruct import check_added_filter, check_own_grid, check_paraphrase_threshold

__all__ = [
    "report", "todo", "Todo", "when_done", "exercise_check",
    # 01 basic prompting
    "check_v3_prompt", "check_line_parser", "check_collapse_report",
    # 02 Self-Instruct
    "check_added_filter", "check_own_grid", "check_paraphrase_threshold",
    # 03 Evol-Instruct
    "check_new_operator", "check_tuned_rules", "check_broken_instruction",
    # 04 Magpie
    "check_domain_dataset", "check_llama3_prompt", "check_turn_filter",
    # 05 chain of thought
    "check_repair", "check_problem_family", "check_verification_effect",
    # 06 chat format and loss masking
    "check_sharegpt_converter", "check_fixed_labels", "check_answer_only_labels",
    # 07 deduplication
    "check_threshold", "check_japanese_dedup", "check_false_positive",
    # 08 evaluation
    "check_postscript_kind", "check_levels", "check_partial_collapse",
    # 09 capstone
    "check_config_change", "check_filter_step", "check_budget",
    # 10 preference data
    "check_verifiable_pairs", "check_agreement", "check_length_control",
    # the topic modules, for their data (cases, thresholds)
    "capstone", "cot", "dedup", "evaluation", "evol", "formats", "magpie", "preference",
    "prompting", "self_instruct",
]
