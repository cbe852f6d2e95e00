"""Notebook 08's exercise checks: pass on a right answer, fail with a message on a wrong one, never raise."""

from __future__ import annotations

import pytest

from course_utils import evaluation as ev
from course_utils.checks import evaluation as eval_checks
from course_utils.dedup import rouge_l_dedup

SMALL = [
    {"response": "Paris is the capital of France.",
     "constraints": [{"kind": "word_count", "relation": "less than", "n": 10}, {"kind": "no_commas"}]},
    {"response": "sure, here are three tips:\n* sleep\n* water\n* walks",
     "constraints": [{"kind": "bullet_count", "n": 3}, {"kind": "lowercase"}, {"kind": "no_commas"}]},
    {"response": "I love JSON", "constraints": [{"kind": "json_format"}]},
]


def _rate(n: int = 6, response: str = "An answer.\nP.S. Bye.") -> dict:
    return ev.if_rate([{"response": response, "constraints": [{"kind": "postscript"}]} for _ in range(n)])


def test_postscript_check(restore_kinds, capsys):
    ev.CONSTRAINT_KINDS.pop("postscript", None)
    assert not eval_checks.check_postscript_kind(None)
    assert "No constraint kind" in capsys.readouterr().out

    @ev.register_constraint("postscript", describe=lambda: "End with a line starting with 'P.S.'.")
    def _wrong(response):  # accepts any "P.S." anywhere, and "PS"
        return "PS" in response.replace(".", "")

    assert not eval_checks.check_postscript_kind(_rate())
    assert "expected" in capsys.readouterr().out

    @ev.register_constraint("postscript", describe=lambda: "End with a line starting with 'P.S.'.")
    def _raises(response):
        raise ValueError("boom")

    assert not eval_checks.check_postscript_kind({"per_kind": {"postscript": {"n": 6, "strict": 1.0, "loose": 1.0}}})
    assert "never raise" in capsys.readouterr().out

    @ev.register_constraint("postscript", describe=lambda: "Add a postscript starting with 'P.S.'.")
    def _right(response):
        return any(line.lstrip().startswith("P.S.") for line in response.splitlines())

    assert not eval_checks.check_postscript_kind(_rate(2))  # too few prompts measured
    assert not eval_checks.check_postscript_kind({"per_kind": {}})
    assert eval_checks.check_postscript_kind(_rate())
    assert "✅" in capsys.readouterr().out


def test_levels_check(capsys):
    def right(results):
        prompts = [r for r in results if r]
        return {"prompt": sum(all(r) for r in prompts) / len(prompts),
                "instruction": sum(sum(r) for r in prompts) / sum(len(r) for r in prompts)}

    def no_skip(results):  # counts a prompt without constraints as passed
        return {"prompt": sum(all(r) for r in results) / len(results),
                "instruction": sum(sum(r) for r in results) / max(1, sum(len(r) for r in results))}

    def stub(results):
        raise NotImplementedError

    assert eval_checks.check_levels(right, SMALL)
    assert not eval_checks.check_levels(no_skip, SMALL)
    assert not eval_checks.check_levels(stub, SMALL)
    assert "not implemented yet" in capsys.readouterr().out
    assert not eval_checks.check_levels(lambda r: None, SMALL)
    assert not eval_checks.check_levels(right, [{"response": "x", "constraints": [{"kind": "nope"}]}])
    assert not eval_checks.check_levels("levels", SMALL)


def test_partial_collapse_check(capsys):
    sets = eval_checks.collapse_test_sets()
    assert sum(want for _, want in sets.values()) == 3 and len(sets) == 5
    partly = list(sets["broad + 30% collapsed"][0])
    assert not ev.collapse_alarm(partly)["alarm"], "the exercise's premise: the default alarm misses it"

    def near_duplicates(texts):
        return 1 - len(rouge_l_dedup(texts, threshold=0.7, n_jobs=1)) / len(texts) > 0.1

    assert eval_checks.check_partial_collapse(near_duplicates)
    assert not eval_checks.check_partial_collapse(lambda texts: ev.collapse_alarm(texts)["alarm"])
    assert "should be flagged" in capsys.readouterr().out
    assert not eval_checks.check_partial_collapse(lambda texts: 1)
    assert not eval_checks.check_partial_collapse(lambda texts: texts[10**6])
