"""Notebook 01's measures and budgets: a version that writes no JSON still has questions to measure."""

from __future__ import annotations

import pytest

from course_utils import prompts
from course_utils.parsing import parse_json_list, parse_lines
from course_utils.prompts import FINANCE_USER_PROMPT, FINANCE_VERSIONS, measure_batch


def test_measure_batch_reads_plain_lists_only_when_asked():
    outputs = ["1. What is a bond?\n2. Define the term EBITDA.\n3. Estimate the runway of a startup with $3M.",
               '[{"question": "Compare two bonds with yields of 4% and 6%."}]', '[{"question": "Value the firm',
               "Sorry, I can't help with that."]
    json_only = measure_batch(outputs, parse_json_list)
    both = measure_batch(outputs, parse_json_list, text_fallback=parse_lines)
    assert json_only["valid_rate"] == both["valid_rate"] == 0.25  # validity is JSON's, either way
    assert json_only["questions"] == 1 and json_only["from_text"] == 0
    assert both["questions"] == 4 and both["from_text"] == 3  # the truncated JSON and the refusal add none
    assert both["definitional_share"] == 0.5 and json_only["definitional_share"] == 0.0


@pytest.fixture(scope="module")
def clean():
    from course_utils.models import get_llm

    return get_llm("offline", seed=0, failure_rates=None)


def test_v1_is_measured_on_its_questions_not_shown_as_zero(clean):
    """The lesson's table showed V1 at 0 words and 0% definitional: it never writes JSON."""
    v1 = FINANCE_VERSIONS[0]
    chat = [{"role": "system", "content": v1.text}, {"role": "user", "content": FINANCE_USER_PROMPT}]
    outputs = clean.generate_outputs([chat], num_generations=12)[0]["generations"]
    m = measure_batch(outputs, parse_json_list, text_fallback=parse_lines)
    assert m["valid_rate"] == 0.0 and m["from_text"] == m["questions"] > 0
    assert 3 < m["mean_words"] < 10 and m["definitional_share"] > 0.5


def test_budgets_hold_twice_the_longest_output(clean):
    from course_utils.teacher.core import approx_tokens

    longest = 0
    for version in FINANCE_VERSIONS:
        chat = [{"role": "system", "content": version.text}, {"role": "user", "content": FINANCE_USER_PROMPT}]
        texts = clean.generate_outputs([chat], num_generations=30, max_new_tokens=10**5)[0]["generations"]
        longest = max(longest, *map(approx_tokens, texts))
    assert 400 < longest and 2 * longest <= prompts.FINANCE_JSON_TOKENS  # V3's ten JSON questions
    ask = [{"role": "user", "content": "Write 4 instructions that a personal finance assistant could receive, "
                                       "one per line."}]
    lists = clean.generate_outputs([ask], num_generations=20, max_new_tokens=10**5)[0]["generations"]
    assert 2 * max(map(approx_tokens, lists)) <= prompts.INSTRUCTION_LIST_TOKENS
    answers = clean.generate_outputs([[{"role": "user", "content": line}] for text in lists[:5]
                                      for line in parse_lines(text).value], max_new_tokens=10**5)
    assert 2 * max(approx_tokens(o["generations"][0]) for o in answers) <= prompts.RESPONSE_TOKENS
