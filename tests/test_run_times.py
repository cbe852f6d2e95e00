"""course_utils.run_times and tools/count_generation.py: the counted Colab time table."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from course_utils.run_times import BUDGET_FILE, colab_time_table, load_budget
from tools.count_generation import SETUPS, call_seconds, summarise

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb") if p.name[:2] != "00")


def _call(prompts, gens, budget):
    return {"prompts": prompts, "num_generations": gens, "max_new_tokens": budget}


def test_the_shipped_budget_covers_every_lesson_with_the_tools_assumptions():
    budget = load_budget()
    assert sorted(budget["notebooks"]) == LESSONS
    assert budget["setups"] == SETUPS  # edit SETUPS, then rerun the tool (--from-logs)
    for stem, nb in budget["notebooks"].items():
        assert nb["status"] in ("ok", "failed"), stem
        assert nb["calls"] <= nb["prompts"] <= nb["generations"] or nb["calls"] == 0, stem
        assert nb["token_budget"] >= nb["generations"], stem
        assert set(nb["minutes"]) == set(SETUPS), stem


def test_the_table_lists_every_counted_notebook_a_total_and_the_assumptions():
    table = colab_time_table()
    budget = load_budget()
    for stem, nb in budget["notebooks"].items():
        shown = f"| {stem[:2]} " in table
        assert shown == (nb["status"] == "ok"), stem
    assert "| **all of them** |" in table
    assert "Upper bound" in table and "Formula:" in table
    for setup in SETUPS.values():
        assert f"{setup['label']} (min)" in table and setup["assumption"] in table
    assert colab_time_table(assumptions=False).splitlines()[-1].startswith("| **all")


def test_a_failed_notebook_is_left_out_with_its_note_and_totals_add_up(tmp_path):
    budget = copy.deepcopy(load_budget(BUDGET_FILE))
    stems = list(budget["notebooks"])
    for stem in stems:
        budget["notebooks"][stem].update(status="ok", calls=1, prompts=1, generations=2,
                                         token_budget=10, minutes={k: 1.25 for k in SETUPS})
        budget["notebooks"][stem].pop("note", None)
    budget["notebooks"][stems[0]].update(status="failed", note="failed on the tiny model (Boom)")
    path = tmp_path / "budget.json"
    path.write_text(json.dumps(budget))
    table = colab_time_table(path)
    assert f"| {stems[0][:2]} " not in table and "Boom" in table
    n = len(stems) - 1
    total = next(line for line in table.splitlines() if line.startswith("| **all"))
    assert total.split(" | ")[1:4] == [str(n), str(2 * n), str(10 * n)]
    assert total.split(" | ")[4] == f"{1.25 * n:.1f}"


def test_call_seconds_follows_the_stated_formula():
    hf, vllm = SETUPS["t4_transformers"], SETUPS["t4_vllm"]
    # transformers: 8 prompts per forward pass; 12 sequences exceed the 8 decoded at full speed
    rate = min(hf["per_sequence_tok_s"], hf["max_aggregate_tok_s"] / 12)
    assert call_seconds(_call(1, 12, 256), hf) == pytest.approx(256 / rate)
    assert call_seconds(_call(3, 1, 100), hf) == pytest.approx(100 / hf["per_sequence_tok_s"])  # one batch
    assert call_seconds(_call(9, 1, 100), hf) == pytest.approx(2 * 100 / hf["per_sequence_tok_s"])
    # vLLM: 8 requests in flight, so 10 prompts take two waves
    two_waves = 2 * 100 / vllm["per_sequence_tok_s"]
    assert call_seconds(_call(10, 1, 100), vllm) == pytest.approx(two_waves)
    assert call_seconds(_call(0, 1, 100), vllm) == 0.0


def test_summarise_counts_generations_and_the_token_budget():
    s = summarise([_call(2, 3, 100), _call(1, 1, 50), _call(1, 1, None)])
    assert (s["calls"], s["prompts"], s["generations"]) == (3, 4, 8)
    assert s["token_budget"] == 2 * 3 * 100 + 50 and s["calls_without_max_new_tokens"] == 1


def test_the_instructors_guide_shows_the_current_table():
    """INSTRUCTORS.md pastes the table: regenerate it with the JSON (tools/count_generation.py)."""
    guide = (ROOT / "INSTRUCTORS.md").read_text(encoding="utf-8")
    assert colab_time_table(assumptions=False) in guide
    assert "huggingface-cli" not in guide
