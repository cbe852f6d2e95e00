"""The CI testing knob COURSE_MAX_NEW_TOKENS_CAP lowers budgets only when set, and only downwards."""

import pytest

from course_utils._validate import InputError
from course_utils.generation import token_cap


def test_unset_keeps_the_lesson_budget(monkeypatch):
    monkeypatch.delenv("COURSE_MAX_NEW_TOKENS_CAP", raising=False)
    assert token_cap(1280) == 1280


def test_set_caps_only_downwards(monkeypatch):
    monkeypatch.setenv("COURSE_MAX_NEW_TOKENS_CAP", "64")
    assert token_cap(1280) == 64 and token_cap(32) == 32


def test_a_bad_cap_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_MAX_NEW_TOKENS_CAP", "lots")
    with pytest.raises(InputError, match="COURSE_MAX_NEW_TOKENS_CAP"):
        token_cap(10)
