"""Progress bars for the loops that call a model: prompts done, rate and time left.

`tqdm.auto` draws a widget in Jupyter and Colab and a text bar in a terminal. `TQDM_DISABLE=1`
(set by the Makefile, CI and the notebook tests, so recorded outputs never show a bar) turns
every bar off, including Jupyter's, which tqdm itself would still draw.

- `progress(iterable, desc, total)`: an iterable with a bar.
- `bar(total, desc)`: a bar you `update(n)` yourself (a context manager).
- `generate_outputs(llm, inputs, desc=...)`: `llm.generate_outputs` in chunks of the model's
  batch size, one bar step per chunk. The model sees the same batches as in one call, so the
  outputs are the same; a bar drawn here hides the transformers backend's own bar.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Optional

# How many prompts a server-backed LLM gets per call: this many times its requests in flight.
SERVER_CHUNK_FACTOR = 4

_active = [0]  # bars drawn by this module and still open (the backend draws none meanwhile)


def disabled() -> bool:
    """Whether bars are off: `TQDM_DISABLE` is set to 1/true/yes."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes", "on")


def outer_bar_active() -> bool:
    """Whether a bar from this module is open (a model call inside it should draw none)."""
    return _active[0] > 0


def _tqdm(**kwargs: Any):
    from tqdm.auto import tqdm  # light, but only needed once a model is called

    return tqdm(disable=disabled(), dynamic_ncols=True, **kwargs)


def progress(iterable: Iterable, desc: str, total: Optional[int] = None,
             unit: str = "prompt") -> Iterator:
    """`iterable` with a progress bar (items, rate, ETA); silent when TQDM_DISABLE=1."""
    if total is None and isinstance(iterable, Sequence):
        total = len(iterable)
    _active[0] += 1
    try:
        yield from _tqdm(iterable=iterable, desc=desc, total=total, unit=unit)
    finally:
        _active[0] -= 1


@contextmanager
def bar(total: int, desc: str, unit: str = "prompt") -> Iterator[Any]:
    """A progress bar to `update(n)` by hand, closed on exit; silent when TQDM_DISABLE=1."""
    _active[0] += 1
    handle = _tqdm(total=total, desc=desc, unit=unit)
    try:
        yield handle
    finally:
        handle.close()
        _active[0] -= 1


def chunk_size(llm: Any, n: int) -> int:
    """Prompts per call: `llm`'s batch size, a few times its concurrency, else all `n`."""
    size = getattr(llm, "batch_size", None)
    if isinstance(size, int) and size > 0:
        return size
    concurrency = getattr(llm, "max_concurrency", None)
    if isinstance(concurrency, int) and concurrency > 0:
        return concurrency * SERVER_CHUNK_FACTOR
    return max(n, 1)


def generate_outputs(llm: Any, inputs: Sequence, *, desc: str = "generating",
                     num_generations: int = 1, progress_bar: Any = None, unit: str = "prompt",
                     **kwargs: Any) -> list:
    """`llm.generate_outputs(inputs, ...)` in chunks (see `chunk_size`), with a progress bar.

    `progress_bar`: an open `bar()` to advance instead of drawing a new one (a loop of rounds).
    """
    inputs = list(inputs)
    if progress_bar is None:
        with bar(len(inputs), desc, unit) as own:
            return generate_outputs(llm, inputs, num_generations=num_generations,
                                    progress_bar=own, **kwargs)
    size = chunk_size(llm, len(inputs))
    outputs: list = []
    for start in range(0, len(inputs), size):
        chunk = inputs[start:start + size]
        outputs.extend(llm.generate_outputs(chunk, num_generations=num_generations, **kwargs)
                       or [])
        progress_bar.update(len(chunk))
    return outputs
