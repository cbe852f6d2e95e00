"""One way to check arguments, for every course module.

Every bad value raises `InputError`, whose message says what to pass instead. `InputError` is a
`ValueError` (what the notebooks teach to catch: `except ValueError`); it is also a `TypeError`,
so code written against the older per-module rules keeps working.

This module imports no other course module, so any module may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Optional

__all__ = ["InputError", "require_int", "require_number", "require_rows", "require_str",
           "require_texts", "require_unit"]


class InputError(ValueError, TypeError):
    """A bad argument; the message names the fix."""


def _where(name: str, fn: Optional[str]) -> str:
    return f"{fn}(): {name}" if fn else name


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def require_texts(texts: Any, name: str = "texts", minimum: int = 1, *, fn: Optional[str] = None) -> list[str]:
    """`texts` as a list of strings with at least `minimum` items, or an InputError saying what to do."""
    where = _where(name, fn)
    if texts is None:
        raise InputError(f"{where} is None: pass a list of strings.")
    if isinstance(texts, (str, bytes)):
        raise InputError(f"{where} is a single string: wrap it in a list, e.g. [{name}].")
    if isinstance(texts, Mapping) or not isinstance(texts, Iterable):
        raise InputError(f"{where} must be a list of strings, got {type(texts).__name__}.")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(
                f"{where}[{i}] is {type(t).__name__}, not str: drop or convert non-string "
                "items first (e.g. [t for t in texts if isinstance(t, str)]).")
    if len(texts) < minimum:
        need = "a non-empty list" if minimum == 1 else f"at least {minimum} texts"
        raise InputError(f"{where} has {len(texts)} item(s): pass {need}.")
    return texts


def require_str(value: Any, name: str, *, fn: Optional[str] = None, allow_empty: bool = True) -> str:
    """`value` if it is a string (non-empty unless `allow_empty`), else an InputError."""
    where = _where(name, fn)
    if not isinstance(value, str):
        raise InputError(f"{where} must be a str, got {type(value).__name__} ({value!r:.60}).")
    if not allow_empty and not value.strip():
        raise InputError(f"{where} is empty: pass some text.")
    return value


def require_unit(value: Any, name: str = "threshold", *, fn: Optional[str] = None,
                 example: str = "0.7") -> float:
    """A number in [0, 1] (a fraction or a similarity threshold), or an InputError."""
    where = _where(name, fn)
    if not _is_number(value):
        raise InputError(f"{where} must be a number in [0, 1] such as {example}, "
                         f"got {type(value).__name__} ({value!r:.40}).")
    if not 0.0 <= float(value) <= 1.0:  # NaN fails this too
        raise InputError(f"{where}={value!r} is outside [0, 1]: pass a fraction such as {example}.")
    return float(value)


def require_number(value: Any, name: str, *, fn: Optional[str] = None, minimum: Optional[float] = None,
                   maximum: Optional[float] = None) -> float:
    """A real number within [minimum, maximum] (either bound optional), or an InputError."""
    where = _where(name, fn)
    if not _is_number(value) or value != value:
        raise InputError(f"{where} must be a number, got {type(value).__name__} ({value!r:.40}).")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        lo = "-inf" if minimum is None else minimum
        hi = "inf" if maximum is None else maximum
        raise InputError(f"{where}={value!r} is outside [{lo}, {hi}]: pass a number in that range.")
    return float(value)


def require_int(value: Any, name: str, minimum: int = 0, *, fn: Optional[str] = None,
                maximum: Optional[int] = None) -> int:
    """An int (not a bool) of at least `minimum` (and at most `maximum`), or an InputError."""
    where = _where(name, fn)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where} must be an int >= {minimum}, got {type(value).__name__} ({value!r:.40}).")
    if value < minimum:
        raise InputError(f"{where}={value} is too small: pass an int >= {minimum}.")
    if maximum is not None and value > maximum:
        raise InputError(f"{where}={value} is too large: pass an int <= {maximum}.")
    return value


def require_rows(rows: Any, name: str = "rows", *, fn: Optional[str] = None,
                 columns: Iterable[str] = (), allow_empty: bool = False) -> list[Mapping[str, Any]]:
    """`rows` as a list of dicts (each with `columns`), or an InputError naming the bad row."""
    where = _where(name, fn)
    if rows is None or isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        what = "None" if rows is None else type(rows).__name__
        raise InputError(f"{where} is {what}: pass a list of dicts (one dict per example).")
    rows = list(rows)
    if not rows and not allow_empty:
        raise InputError(f"{where} is empty: pass at least one row.")
    needed = list(columns)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InputError(f"{where}[{i}] is {type(row).__name__}, not a dict.")
        missing = [c for c in needed if c not in row]
        if missing:
            raise InputError(f"{where}[{i}] lacks the column(s) {missing}: every row needs {needed}.")
    return rows
