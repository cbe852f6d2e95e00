"""An unfilled exercise runs top to bottom: every check says ❌ with its hint, no traceback.

The exercises are generated from the solutions (`tools/notebooks.py exercises`): a stub either
raises NotImplementedError("Hint: ...") inside a function or assigns a `checks.todo(...)`
placeholder, and the demo lines that use a stub are skipped by `checks.when_done`. So a learner
who runs the notebook before writing anything sees one ❌ line per check, never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from course_utils import checks

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))


def _text(output) -> str:
    if output.output_type == "stream":
        return output.text
    return "".join(output.get("data", {}).get("text/plain", ""))


def test_strip_solution_gives_placeholders_and_skips_the_demo_lines(capsys):
    from types import SimpleNamespace

    from tools.notebooks import strip_solution

    src = ("def f(x):\n    ### BEGIN SOLUTION\n    ### HINT: add one\n    return x + 1\n"
           "    ### END SOLUTION\n\n\nprint(f(1))\n"
           "### BEGIN SOLUTION\n### HINT: two numbers\nn, m = 3, 4\n### END SOLUTION\n"
           "total = n + f(m)\nprint(total)\npassed = checks.check_x(f, n)\n")
    out = strip_solution(src)
    assert 'raise NotImplementedError("Hint: add one")' in out
    assert 'n = m = checks.todo("Hint: two numbers")' in out
    assert "with checks.when_done():" in out and "\n    print(f(1))\n" in out
    assert "total = checks.todo()" in out and "with checks.when_done(m, n, total):" in out
    assert "\npassed = checks.check_x(f, n)\n" in out  # the check itself is never skipped
    fake = SimpleNamespace(todo=checks.todo, when_done=checks.when_done,
                           check_x=checks.exercise_check(lambda fn, n: fn(n)))
    exec(compile(out, "<exercise>", "exec"), {"checks": fake})
    printed = capsys.readouterr().out
    assert printed.count("Skipped") == 2
    assert "❌ not implemented yet — Hint: two numbers" in printed


def test_there_are_exercise_notebooks():
    assert len(EXERCISES) >= 10


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_an_unfilled_exercise_notebook_reaches_every_check(path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_BACKEND", "offline")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [f"{o.ename}: {o.evalue}" for c in nb.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: {errors}"
    check_cells = [c for c in nb.cells
                   if c.cell_type == "code" and re.search(r"\bchecks\.check_\w+\(", c.source)]
    exercises = sum(len(re.findall(r"^## Exercise \d", c.source, re.M)) for c in nb.cells
                    if c.cell_type == "markdown")
    assert len(check_cells) >= exercises >= 3
    for cell in check_cells:
        out = "".join(_text(o) for o in cell.outputs)
        assert re.search(r"^❌ ", out, re.M), f"{path.name}: no ❌ for\n{cell.source}\n---\n{out}"
        assert "✅" not in out and "Traceback" not in out, out
    hints = sum("❌ not implemented yet — Hint:" in "".join(_text(o) for o in c.outputs)
                for c in check_cells)
    assert hints >= exercises - 1, f"{path.name}: the stubs' hints reach only {hints} checks"


# --- one check at a time: a stub function or a placeholder gets the hint -----------------

def _stub(*args, **kwargs):
    raise NotImplementedError("Hint: look at the lesson")


def _stub_step():  # built on demand: distilabel is slow to import
    from distilabel.steps import Step

    class Stub(Step):
        def process(self, inputs):
            raise NotImplementedError("Hint: look at the lesson")

    return Stub


TODO = checks.todo("Hint: look at the lesson")
# check -> the arguments an unfilled exercise passes to it (a stub function or a placeholder)
STUB_CALLS = {
    "check_v3_prompt": lambda f: (TODO, None),
    "check_line_parser": lambda f: (_stub,),
    "check_collapse_report": lambda f: (_stub, ["a", "b"]),
    "check_added_filter": lambda f: (_stub, TODO),
    "check_own_grid": lambda f: (TODO, TODO, TODO, TODO),
    "check_paraphrase_threshold": lambda f: (_stub, TODO),
    "check_new_operator": lambda f: (TODO, TODO),
    "check_tuned_rules": lambda f: (TODO,),
    "check_broken_instruction": lambda f: (f["llm"], TODO, TODO, _stub),
    "check_domain_dataset": lambda f: (_stub, f["llm"], "mathematics"),
    "check_llama3_prompt": lambda f: (_stub,),
    "check_turn_filter": lambda f: (_stub,),
    "check_repair": lambda f: (_stub,),
    "check_problem_family": lambda f: (_stub, _stub),
    "check_verification_effect": lambda f: (_stub, [], []),
    "check_sharegpt_converter": lambda f: (_stub,),
    "check_fixed_labels": lambda f: (_stub, f["tokenizer"]),
    "check_answer_only_labels": lambda f: (_stub, f["tokenizer"]),
    "check_threshold": lambda f: (TODO,),
    "check_japanese_dedup": lambda f: (_stub,),
    "check_false_positive": lambda f: (_stub,),
    "check_postscript_kind": lambda f: (TODO,),
    "check_levels": lambda f: (TODO, [{"response": "x", "constraints": []}]),
    "check_partial_collapse": lambda f: (_stub,),
    "check_config_change": lambda f: (TODO, TODO),
    "check_filter_step": lambda f: (_stub_step(),),
    "check_budget": lambda f: (_stub,),
    "check_verifiable_pairs": lambda f: (TODO, [{"instruction": "q", "responses": [], "scores": []}]),
    "check_agreement": lambda f: (_stub,),
    "check_length_control": lambda f: (_stub,),
}


def test_every_check_is_covered():
    names = {n for n in checks.__all__ if n.startswith("check_")}
    assert names == set(STUB_CALLS) and len(names) == 30
    assert all(getattr(getattr(checks, n), "is_exercise_check", False) for n in names)


@pytest.fixture(scope="module")
def fixtures(tiny_model_dir):
    from transformers import AutoTokenizer

    from course_utils.models import get_llm

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return {"llm": get_llm("offline", seed=0), "tokenizer": tokenizer}


@pytest.mark.parametrize("name", sorted(STUB_CALLS))
def test_an_unfilled_stub_gets_the_hint(name, capsys, fixtures):
    args = STUB_CALLS[name](fixtures)
    assert getattr(checks, name)(*args) is False
    out = capsys.readouterr().out
    assert "❌ not implemented yet — Hint: look at the lesson" in out, out
    assert "Traceback" not in out


def test_when_done_skips_stubs_and_placeholders_only(capsys):
    with checks.when_done():
        _stub()
    with checks.when_done(TODO):
        TODO.anything  # noqa: B018 - an AttributeError on a placeholder is skipped too
    with checks.when_done(TODO):
        TODO()  # a placeholder called like a function
    assert capsys.readouterr().out.count("Skipped") == 3
    with pytest.raises(ZeroDivisionError):  # a real error in filled-in code is shown
        with checks.when_done(1):
            1 / 0
    with checks.when_done():
        print("runs")
    assert capsys.readouterr().out == "runs\n"
