"""Every lesson notebook runs end to end on a real OpenAI-compatible server: `transformers serve`.

The server serves the course's tiny local model (tests/openai_server.py); one server per pytest
session (per xdist worker). Outputs are not compared (the weights are random); errors are, and
every lesson must show the server banner. `make test` runs this file in its own pytest
invocation, after the tiny-model run.

Notebook 09 runs the capstone as a distilabel Pipeline in the kernel, against the server. (A
greedy server model that writes only blank lines makes its filter drop every row, and
distilabel 1.5.3 then waits forever for the next step's batch: the fixture's model samples.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["openai_server"]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_end_to_end_on_an_openai_compatible_server(path, openai_server, monkeypatch):
    """The server path: every lesson runs with COURSE_BACKEND=openai (outputs not compared)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("COURSE_BACKEND", "openai")
    monkeypatch.setenv("COURSE_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("COURSE_MODEL", openai_server.model)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # A random model never stops early: CI caps every answer (the testing knob; lessons keep their budgets).
    monkeypatch.setenv("COURSE_MAX_NEW_TOKENS_CAP", "64")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except CellExecutionError as e:
        pytest.fail(f"{path.name}: {e.ename}: {e.evalue}\n{e}\n"
                    f"server log tail:\n{openai_server.log_tail(15)}", pytrace=False)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.output_type == "error"]
    assert not errors, f"{errors}\nserver log tail:\n{openai_server.log_tail()}"
    if path.name != "00_setup.ipynb":
        # lessons use get_llm(), so they must really have run on the server
        banner = "on an OpenAI-compatible server"
        shown = [o for o in outputs if banner in o.get("text", "")]
        assert shown, f"no '{banner}' banner in {path.name}"
