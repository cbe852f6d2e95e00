"""Running a small distilabel `Pipeline` from a lesson: in worker processes when that is safe,
step by step in this process when it is not, with the same steps and the same rows.

distilabel 1.5.3 runs every step of a `Pipeline` in a worker process forked from this one. That
is fine for the offline teacher and for a server's client (their copies are picklable and hold
no model), but not for a transformers model already loaded here:

- on a GPU, a forked worker cannot use CUDA once this process has (PyTorch: "Cannot re-initialize
  CUDA in forked subprocess");
- on a CPU, a worker forked from a Jupyter kernel whose torch has run with several OpenMP
  threads can hang for ever (measured with the course's tiny model: no row after 240 s, 5 s of
  CPU; with OMP_NUM_THREADS=1 the same run took 3 s);
- and every worker would load its own copy of the weights.

So `forks_safely(llm)` says which case applies and `run_pipeline(pipeline, in_process=...)` runs
either way: in workers (logs kept to errors, the cache in a temporary folder deleted afterwards,
`use_cache=False`), or in this process, each step loaded and fed the rows of the step before,
in the order of the DAG. `describe_dag(pipeline)` prints what `Pipeline.draw()` would draw:
`draw()` sends the graph to the mermaid.ink web service, so it needs the internet.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ._quiet import _DropMessages, quiet_distilabel
from .models import is_offline_teacher

__all__ = ["describe_dag", "forks_safely", "run_pipeline"]


def forks_safely(llm: Any) -> bool:
    """Whether `llm` can run in a Pipeline's forked workers (the offline teacher, a server)."""
    if is_offline_teacher(llm):
        return True
    quiet_distilabel()
    from distilabel.models.llms.base import AsyncLLM  # API clients: no weights, nothing to fork

    return isinstance(llm, AsyncLLM)


def _steps_in_order(pipeline: Any) -> list:
    """The pipeline's steps, each after the steps it reads from (trophic levels of the DAG)."""
    from distilabel.constants import STEP_ATTR_NAME

    dag = pipeline.dag
    return [dag.get_step(name)[STEP_ATTR_NAME] for level in dag.iter_based_on_trophic_levels()
            for name in level]


def describe_dag(pipeline: Any) -> str:
    """One line per step: its name, class, the steps it feeds, and its column mappings."""
    dag = pipeline.dag
    lines = []
    for step in _steps_in_order(pipeline):
        to = ", ".join(dag.get_step_successors(step.name)) or "(the dataset)"
        line = f"{step.name} ({type(step).__name__}) >> {to}"
        for attr in ("input_mappings", "output_mappings"):
            if getattr(step, attr, None):
                line += f"\n    {attr}: {dict(getattr(step, attr))}"
        lines.append(line)
    return "\n".join(lines)


def _in_process(pipeline: Any) -> list[dict]:
    """Every step in this process, in DAG order (a chain: each step reads the one before)."""
    rows: list[dict] = []
    for step in _steps_in_order(pipeline):
        logger = logging.getLogger(f"distilabel.step.{step.name}")
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages("hasn't received a pipeline"))
        step.load()
        if not rows and hasattr(step, "data"):  # the loader: its data, as the workers would get it
            rows = [dict(r) for batch, _ in step.process() for r in batch]
            continue
        rows = [r for batch in step.process_applying_mappings(rows) for r in batch]
    return rows


def _in_workers(pipeline: Any) -> list[dict]:
    import datasets

    cache = tempfile.mkdtemp(prefix="course-distilabel-")
    pipeline._cache_dir = Path(cache)  # read at run time (distilabel 1.5.3): keep ~/.cache clean
    old_level = os.environ.get("DISTILABEL_LOG_LEVEL")
    os.environ["DISTILABEL_LOG_LEVEL"] = "ERROR"
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the Distiset is built with datasets: no bars in the notebook
    try:
        distiset = pipeline.run(use_cache=False)
        if "default" not in distiset:  # the last step wrote no row (e.g. a model whose output is all filtered)
            return []
        return distiset["default"]["train"].to_list()
    finally:
        if old_level is None:
            os.environ.pop("DISTILABEL_LOG_LEVEL", None)
        else:
            os.environ["DISTILABEL_LOG_LEVEL"] = old_level
        shutil.rmtree(cache, ignore_errors=True)
        if bars_were_on:
            datasets.enable_progress_bars()


def run_pipeline(pipeline: Any, *, in_process: bool) -> list[dict]:
    """Run `pipeline`, return its rows: in forked workers, or (`in_process`) step by step here."""
    quiet_distilabel()
    if in_process:
        return _in_process(pipeline)
    return _in_workers(pipeline)
