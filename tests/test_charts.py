"""Every chart a notebook draws is in its committed output, so GitHub, nbviewer and Colab show it.

With a non-interactive backend (MPLBACKEND=Agg, as in CI and `make run`) a matplotlib figure is
shown only when it is displayed, after `%matplotlib inline`: as the cell's last expression, or with
`display(fig)`. A figure built in the middle of a cell is silently dropped, and the text that
discusses it points at nothing. This test finds every code cell that draws, read from its code (not its comments or
strings): a call to a `plot*` function (`ev.plot_complexity(...)`, `ax.plot(...)`), any use of
`plt`, or a variable named `fig`; and asserts that the committed cell has an image/png output.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def draws(source: str) -> list[str]:
    """What in a code cell draws: plot* calls, uses of `plt`, the name `fig` (empty: nothing)."""
    lines = source.splitlines()
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("plot"):
                found.append(f"{name}(...)")
        elif isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "plt":
            found.append(f"plt.{node.attr}")
        elif isinstance(node, ast.Name) and node.id == "fig":
            found.append("fig")
    return sorted(set(found))


def has_image(cell) -> bool:
    return any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


def cells_that_draw(path: Path) -> list[tuple[int, list[str], bool]]:
    """(cell index, what draws, whether the committed output has a PNG) for each drawing cell."""
    nb = nbformat.read(path, as_version=4)
    return [(i, found, has_image(cell)) for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and (found := draws(cell.source))]


@pytest.mark.parametrize("path", NOTEBOOKS + SOLUTIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_cell_that_draws_shows_its_chart(path):
    missing = [f"cell {i} ({', '.join(found)})" for i, found, image in cells_that_draw(path)
               if not image]
    assert not missing, (f"{path.parent.name}/{path.name}: no image/png in the committed output of "
                         f"{missing}. End the cell with the figure (`fig`) or call `display(fig)` "
                         f"(with `%matplotlib inline` first), then re-execute it.")


def test_the_course_draws_charts_and_the_test_sees_them():
    """The scan is not vacuous: notebooks 07 and 08 draw, and the committed charts are found."""
    found = {p.name: cells_that_draw(p) for p in NOTEBOOKS}
    assert len(found["08_evaluation.ipynb"]) >= 2 and len(found["07_deduplication.ipynb"]) >= 1
    assert all(image for i, _, image in found["08_evaluation.ipynb"])


@pytest.mark.parametrize(("source", "expected"), [
    ("fig = ev.plot_complexity(sets)\nfig", ["fig", "plot_complexity(...)"]),
    ("fig, ax = plt.subplots()\nax.plot([1, 2])", ["fig", "plot(...)", "plt.subplots"]),
    ("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.show()", ["plt.show"]),
    ("config = {'figure': 1}  # fig in a comment, plt. in a string:\nprint('plt.plot(')", []),
    ("figures = report.figures\nprint(figures)", []),
])
def test_draws_reads_code_not_comments(source, expected):
    assert draws(source) == expected


def test_a_drawing_cell_without_an_image_is_reported(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nfig.tight_layout()\nprint(1)"),
                nbformat.v4.new_code_cell("fig")]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=",
                                                                         "text/plain": "<Figure>"})]
    path = tmp_path / "01_demo.ipynb"
    nbformat.write(nb, path)
    assert [(i, image) for i, _, image in cells_that_draw(path)] == [(0, False), (1, True)]
    with pytest.raises(AssertionError, match=r"cell 0 \(fig, plt.subplots\)"):
        test_every_cell_that_draws_shows_its_chart(path)
