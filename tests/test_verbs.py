"""One verb measure for the course: prompts.first_verb (notebooks 01, 02) is evaluation's root verb (08)."""

from course_utils.evaluation import root_verb_object
from course_utils.prompts import first_verb, measure_batch
from course_utils.self_instruct import diversity


def test_first_verb_is_the_root_verb():
    for text, verb in [("Please write a poem about the sea.", "write"),
                       ("Given a list of numbers, compute the mean.", "compute"),
                       ("Can you explain how bonds are priced?", "explain")]:
        assert first_verb(text) == verb == root_verb_object(text)[0]


def test_no_verb_is_an_empty_string():
    assert first_verb("") == "" and first_verb("42!") == ""


def test_notebook_measures_use_it():
    from course_utils.parsing import parse_json_list

    stats = measure_batch(['["Please write a poem.", "Please write a song."]'], parse_json_list)
    assert stats["distinct_verb_ratio"] == 0.5  # both are "write": "please" is not a verb
    assert diversity(["Please write a poem.", "Please write a song."])["distinct_verbs"] == 1


def test_a_string_threshold_is_the_same_value_error_everywhere():
    import pytest

    from course_utils import dedup, evaluation
    from course_utils._validate import InputError
    from course_utils.evol import _unit
    from course_utils.self_instruct import _check_threshold

    calls = [lambda: _check_threshold("0.7"), lambda: _unit("0.7", "threshold", ""),
             lambda: dedup.rouge_l_dedup(["a b", "a c"], threshold="0.7"),
             lambda: evaluation.collapse_alarm(["a b", "c d"], rouge_threshold="0.7")]
    for call in calls:
        with pytest.raises(InputError, match="must be a number in \\[0, 1\\]"):
            call()
