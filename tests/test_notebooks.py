"""Notebooks as a course: structure, exercises generated from solutions, and runs on the tiny model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.notebooks import NoNotebooksError, main, make_exercise, stale_exercises, strip_solution

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def _text(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"])


def test_numbering_has_no_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(len(numbers)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_the_course_structure(path):
    text = _text(path)
    for needle in ("colab-badge.svg", "**Learning objectives**", "**Estimated time:**", "## Recap", "## References"):
        assert needle in text, f"{path.name} lacks {needle}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if int(p.name[:2]) >= 1], ids=lambda p: p.name)
def test_each_lesson_has_three_tiered_exercises(path):
    solution = ROOT / "solutions" / path.name
    assert solution.exists(), f"{path.name} has no solutions notebook"
    text = _text(solution)
    assert len(re.findall(r"^## Exercise \d", text, re.M)) >= 3
    assert {"🐢", "🐕", "🦁"} <= set(text)
    assert text.count("### BEGIN SOLUTION") >= 3


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solutions_import_checks_one_way(path):
    """`from course_utils import checks`, then `checks.check_...` and `checks.<topic>.DATA`."""
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert text.count("from course_utils import checks\n") == 1
    assert len(re.findall(r"(?<![\w.])checks\.check_\w+\(", text)) >= 3
    other_style = r"^.*(?:course_utils\.checks\b|import checks as|\b\w+_checks\b).*$"
    other = re.findall(other_style, text, re.M)
    assert not other, f"{path.name}: import the checks one way only: {other}"


def test_strip_solution_keeps_indentation_and_hint():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    ### HINT: add one\n    return x + 1\n    ### END SOLUTION\n"
    out = strip_solution(src)
    assert "return x + 1" not in out
    assert '    raise NotImplementedError("Hint: add one")' in out
    quoted = strip_solution('def f():\n    ### BEGIN SOLUTION\n    ### HINT: use "re"\n    x = 1\n    ### END SOLUTION\n')
    compile(quoted, "<exercise>", "exec")  # a hint with quotes must still give valid Python


def test_exercises_are_current():
    assert not stale_exercises(), "run `make exercises`"


def test_check_fails_loudly_when_it_finds_no_notebooks(tmp_path, capsys):
    """Zero notebooks checked is a wrong path, never "current"."""
    (tmp_path / "solutions").mkdir()
    with pytest.raises(NoNotebooksError):
        stale_exercises(tmp_path)
    assert main(["check", "--root", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "no solution notebooks" in err and "current" not in out


def test_check_command_runs_from_another_directory(tmp_path):
    """The tool finds the repository from its own location, not from the working directory."""
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "notebooks.py"), "check"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"({len(SOLUTIONS)} checked)" in run.stdout
    empty = subprocess.run([sys.executable, str(ROOT / "tools" / "notebooks.py"), "check",
                            "--root", str(tmp_path)], capture_output=True, text=True)
    assert empty.returncode == 1 and "no solution notebooks" in empty.stderr


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_exercises_have_no_solutions_or_outputs(path):
    import nbformat

    ex = make_exercise(nbformat.read(path, as_version=4))
    for cell in ex.cells:
        assert "### BEGIN SOLUTION" not in cell.source
        if cell.cell_type == "code":
            assert cell.outputs == []


@pytest.mark.parametrize("path", NOTEBOOKS + SOLUTIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_nbval_markers_are_alone_on_their_line_and_explained(path):
    """nbval only honours a marker alone on its line; the next line must say why the output varies."""
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            if "NBVAL_" in line:
                assert line.strip() in ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP", "# NBVAL_RAISES_EXCEPTION"), line
                assert i + 1 < len(lines) and lines[i + 1].lstrip().startswith("#"), "say why on the next line"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_generated_exercise_cells_are_valid_python(path):
    import nbformat

    for cell in make_exercise(nbformat.read(path, as_version=4)).cells:
        if cell.cell_type == "code":
            src = "\n".join(ln for ln in cell.source.splitlines() if not ln.strip().startswith(("%", "!")))
            compile(src, f"{path.name} (exercise)", "exec")
