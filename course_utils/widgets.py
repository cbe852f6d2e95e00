"""Small interactive explorers for the notebooks (ipywidgets 7.7 and 8 compatible).

The logic of each explorer is a plain function that returns text (tested without a browser);
the widget only wires a few controls to it. Without ipywidgets (or outside Jupyter) call the
plain function and print its result.
"""

from __future__ import annotations

import html
from typing import Any

from .evol import EvolResult

__all__ = ["describe_round", "evol_explorer"]


def describe_round(result: Any, root_id: int, round_no: int) -> str:
    """What happened to instruction `root_id` in round `round_no` of an EvolResult, as plain text.

    Round 0 shows the root. Later rounds show the operator drawn, the parent, the model's rewrite,
    the elimination verdict (a failed evolution keeps the parent) and the similarity to the root.
    Raises ValueError with the valid ranges on an unknown root or round.
    """
    if not isinstance(result, EvolResult):
        raise ValueError("result must be the EvolResult returned by course_utils.evol.evolve(...).")
    steps = result.lineage(root_id)  # validates root_id
    if isinstance(round_no, bool) or not isinstance(round_no, int) or not 0 <= round_no <= result.rounds:
        raise ValueError(f"round_no must be an int from 0 to {result.rounds}.")
    root = result.roots[root_id]
    if round_no == 0:
        return f"Round 0 (the root)\n\ninstruction: {root}"
    step = next(s for s in steps if s["round"] == round_no)
    verdict = "PASSED: the rewrite replaces its parent" if step["eliminated"] is None else (
        f"ELIMINATED ({step['eliminated']}): the parent stays in the pool")
    lines = [
        f"Round {round_no} · operator: {step['operator']} ({step['family']})",
        "",
        f"parent:    {step['parent']}",
        f"rewrite:   {step['candidate'] if step['candidate'] else '<empty>'}",
        f"verdict:   {verdict}",
    ]
    if step["eliminated"] is None:
        lines.append(f"ROUGE-L:   {step['rouge_parent']:.2f} with the parent, {step['rouge_root']:.2f} with the root")
    lines.append(f"pool now:  {step['instruction']}")
    return "\n".join(lines)


def evol_explorer(result: Any):
    """A widget to step through the rounds of one instruction: a dropdown (instruction) and a slider (round)."""
    import ipywidgets as widgets

    describe_round(result, 0, 0)  # validates the result before building anything
    labels = [(f"{i}: {t[:60]}", i) for i, t in enumerate(result.roots)]
    pick = widgets.Dropdown(options=labels, value=0, description="instruction")
    slider = widgets.IntSlider(value=0, min=0, max=result.rounds, step=1, description="round")
    view = widgets.HTML()

    def refresh(_change: Any = None) -> None:
        text = describe_round(result, pick.value, slider.value)
        view.value = f"<pre style='white-space: pre-wrap'>{html.escape(text)}</pre>"

    pick.observe(refresh, names="value")
    slider.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox([pick, slider]), view])
