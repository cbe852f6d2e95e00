"""The two argument rules the dedup functions need beyond `course_utils._validate`."""

from __future__ import annotations

import numbers
from typing import Any

from .._validate import InputError, require_unit

__all__ = ["require_n_jobs", "require_threshold"]


def require_threshold(value: Any, name: str = "threshold", *, fn: str) -> float:
    """`require_unit`, also accepting numpy scalars (e.g. a threshold taken from an array)."""
    if isinstance(value, numbers.Real) and not isinstance(value, (int, float)):
        item = getattr(value, "item", None)  # numpy.float32(0.7) -> 0.7
        if callable(item):
            value = item()
    return require_unit(value, name, fn=fn, example="0.7")


def require_n_jobs(n_jobs: Any, *, fn: str) -> int:
    """A positive number of threads, or -1 for all cores."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise InputError(
            f"{fn}(): n_jobs={n_jobs!r}; use a positive number of threads, or -1 for all cores."
        )
    return n_jobs
