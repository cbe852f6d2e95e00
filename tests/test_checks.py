"""Exercise checks: pass on a right answer, fail with a helpful message on a wrong one, never raise."""

from __future__ import annotations

from course_utils import checks
from course_utils.parsing import ParseResult
from course_utils.prompts import FINANCE_V1, FINANCE_V3
from course_utils.teacher import OfflineTeacher


def test_v3_prompt_check(capsys):
    llm = OfflineTeacher(seed=0)
    assert not checks.check_v3_prompt(FINANCE_V3.text, llm)  # the lesson's prompt, not a new domain
    assert "finance" in capsys.readouterr().out
    assert not checks.check_v3_prompt(FINANCE_V1.text, llm)
    assert "missing" in capsys.readouterr().out


def test_line_parser_check(capsys):
    import re

    def good(text):
        if not isinstance(text, str):
            return ParseResult(False, [], "empty")
        pat = re.compile(r"^Q:\s*(.+?)\s*\|\s*Difficulty:\s*(\w+)\s*$", re.M)
        return ParseResult(True, [{"question": q, "difficulty": d} for q, d in pat.findall(text)])

    def raises(text):
        return text.split("|")[1]

    def stub(text):
        raise NotImplementedError

    assert checks.check_line_parser(good)
    assert not checks.check_line_parser(raises)
    assert not checks.check_line_parser(stub)
    assert "not implemented yet" in capsys.readouterr().out


def test_collapse_check():
    batch = ["a", "a", "b", "a"]
    from collections import Counter

    assert checks.check_collapse_report(
        lambda b: {"distinct_ratio": len(set(b)) / len(b), "most_common": Counter(b).most_common(1)[0][0]}, batch)
    assert not checks.check_collapse_report(lambda b: {"distinct_ratio": 0.5, "most_common": "a"}, batch)
    assert not checks.check_collapse_report(lambda b: {"distinct_ratio": 0.75, "most_common": "a"}, batch)
    assert not checks.check_collapse_report(lambda b: None, batch)
