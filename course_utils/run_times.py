"""How long each notebook generates on Colab: the counted budget of `data/generation_budget.json`.

`tools/count_generation.py` (a maintainer script) runs every lesson notebook with the call log
on, counts the generation calls and their token budgets, and turns them into minutes for the
throughputs it states. `colab_time_table()` prints the result as a markdown table, with the
assumptions under it; notebook 00 and INSTRUCTORS.md show it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

__all__ = ["BUDGET_FILE", "colab_time_table", "load_budget"]

BUDGET_FILE = Path(__file__).resolve().parent / "data" / "generation_budget.json"


def load_budget(path: Optional[str | os.PathLike] = None) -> dict:
    """The generation budget document (default: the one shipped in course_utils/data)."""
    return json.loads(Path(path or BUDGET_FILE).read_text(encoding="utf-8"))


def _minutes(value: float) -> str:
    return "< 0.1" if 0 < value < 0.05 else f"{value:.1f}"


def colab_time_table(path: Optional[str | os.PathLike] = None, *, assumptions: bool = True) -> str:
    """A markdown table: per notebook, calls, generations, token budget and minutes per setup."""
    budget = load_budget(path)
    setups = budget["setups"]
    head = ["Notebook", "Calls", "Generations", "Token budget"]
    head += [f"{s['label']} (min)" for s in setups.values()]
    lines = ["| " + " | ".join(head) + " |", "|:--" + "|--:" * (len(head) - 1) + "|"]
    notes, totals = [], {k: 0.0 for k in setups}
    counts = [0, 0, 0]
    for stem, nb in budget["notebooks"].items():
        if nb.get("note"):
            notes.append(f"- {stem}: {nb['note']}.")
        if nb["status"] != "ok":
            continue
        name = stem.replace("_", " ", 1).replace("_", " ")
        row = [name, f"{nb['calls']:,}", f"{nb['generations']:,}", f"{nb['token_budget']:,}"]
        row += [_minutes(nb["minutes"][k]) for k in setups]
        lines.append("| " + " | ".join(row) + " |")
        for i, key in enumerate(("calls", "generations", "token_budget")):
            counts[i] += nb[key]
        for k in setups:
            totals[k] += nb["minutes"][k]
    total = ["**all of them**"] + [f"{c:,}" for c in counts] + [_minutes(totals[k]) for k in setups]
    lines.append("| " + " | ".join(total) + " |")
    if notes:
        lines += ["", "Not counted or left out:", *notes]
    if assumptions:
        lines += ["", budget["meaning"], "", "Assumptions:"]
        lines += [f"- {s['label']}: {s['assumption']}" for s in setups.values()]
        lines += [f"- Formula: {budget['formula']}.", "",
                  f"Regenerate with `{budget['generated_by']}`."]
    return "\n".join(lines)
