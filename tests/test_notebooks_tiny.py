"""Every notebook runs end to end on a real transformers model: the tiny local one (the Colab path).

Outputs are not compared (the tiny model's weights are random); errors are. `make test` runs this
file in its own pytest invocation, spread over both cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS + SOLUTIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_runs_end_to_end_on_the_tiny_transformers_model(path, tiny_model_dir, monkeypatch):
    """The Colab path: every notebook runs on a real transformers model (outputs not compared)."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_BACKEND", "transformers")
    monkeypatch.setenv("COURSE_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Two kernels share two cores under xdist: one OpenMP thread each, or torch's threads spin-wait.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # A random model never stops early: CI caps every answer (the testing knob; lessons keep their budgets).
    monkeypatch.setenv("COURSE_MAX_NEW_TOKENS_CAP", "64")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    if path.parent.name == "notebooks" and path.name != "00_setup.ipynb":
        # lessons use get_llm(), so they must really have run on the tiny transformers model
        assert [o for o in outputs if "Using transformers with" in o.get("text", "")]
