"""Shared helpers for the exercise checks, and the placeholders that exercise stubs use.

An unfilled exercise must reach its check and get a ❌ line with the hint, never a traceback.
`tools/notebooks.py` turns each solution block into a stub of one of two kinds:

- inside a function: `raise NotImplementedError("Hint: ...")`. A check calls the learner's code
  through `_safe_call`, which turns that exception into `NotDone`; `exercise_check` prints it.
- at module level: `name = checks.todo("Hint: ...")`, a `Todo` placeholder for every name the
  solution block binds, so that no later cell ends in a NameError. `exercise_check` reports a
  `Todo` argument as not done, with its hint.

Demo lines that use a stub before the check runs are wrapped in `with checks.when_done(...):`,
which skips them (one line printed) until the stub is filled in.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

_NOT_DONE = ("replace the `raise NotImplementedError` line (or the `checks.todo(...)` placeholder) "
             "with your code.")


class Todo:
    """A placeholder value an exercise stub leaves where the learner's answer goes."""

    def __init__(self, hint: str = "") -> None:
        self.hint = hint

    def __repr__(self) -> str:
        return "TODO"

    def __bool__(self) -> bool:
        return False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(self.hint)


class NotDone(Exception):
    """Raised inside a check when the learner's code is still a stub; carries the hint."""


def todo(hint: str = "") -> Todo:
    """The placeholder an exercise stub assigns to a name the learner has to define."""
    return Todo(hint)


def report(passed: bool, success: str, failure: str) -> bool:
    """Print a pass (✅) or fail (❌) line and return `passed`."""
    print(f"✅ {success}" if passed else f"❌ {failure}")
    return passed


def not_done_message(hint: Any = "") -> str:
    """The ❌ text for an exercise that is still a stub, with its hint when there is one."""
    hint = str(hint or "").strip()
    return f"not implemented yet — {hint}" if hint else f"not implemented yet: {_NOT_DONE}"


def _stub_error(exc: BaseException) -> NotImplementedError | None:
    """The NotImplementedError in `exc`'s chain (a library may wrap the learner's), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, NotImplementedError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _safe_call(fn: Callable, *args: Any) -> tuple[bool, Any]:
    """(True, result), or (False, what went wrong); a stub raises NotDone for `exercise_check`."""
    try:
        return True, fn(*args)
    except Exception as exc:  # a learner's code may fail in any way; report it, do not crash
        stub = _stub_error(exc)
        if stub is not None:
            raise NotDone(str(stub)) from None
        return False, f"{type(exc).__name__}: {exc}"


def exercise_check(check: Callable[..., bool]) -> Callable[..., bool]:
    """Make a check report a stub (a Todo or NotImplementedError) and its own failures as ❌."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> bool:
        for value in (*args, *kwargs.values()):
            if isinstance(value, Todo):
                return report(False, "", not_done_message(value.hint))
        try:
            return check(*args, **kwargs)
        except NotDone as exc:
            return report(False, "", not_done_message(str(exc)))
        except Exception as exc:  # a learner's object can be anything: never crash the notebook
            stub = _stub_error(exc)
            if stub is not None:
                return report(False, "", not_done_message(str(stub)))
            return report(False, "", f"The check could not inspect your answer "
                                     f"({type(exc).__name__}: {exc}). Pass the objects the "
                                     f"exercise asks for.")

    wrapper.is_exercise_check = True
    return wrapper


class when_done:  # noqa: N801 - used as `with checks.when_done(...):` in exercise notebooks
    """Run the demo lines of an exercise once its stubs are filled in; until then skip them.

    Suppresses a NotImplementedError (a stub function), and any error while one of `values` is
    still a `Todo` placeholder; prints one line instead of a traceback. Other errors propagate.
    """

    def __init__(self, *values: Any) -> None:
        self.values = values

    def __enter__(self) -> "when_done":
        return self

    def __exit__(self, etype: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        if _stub_error(exc) is None and not any(isinstance(v, Todo) for v in self.values):
            return False
        print("⏭ Skipped until the code above is written; the check below says what is missing.")
        return True
