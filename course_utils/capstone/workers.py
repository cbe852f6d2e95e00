"""No worker outlives its run: distilabel's worker processes die with the process that runs it.

distilabel 1.5.3 runs each step in a process of a `multiprocessing` pool (plus a Manager process
for its queues), all forked from the process that calls `Pipeline.run`. If that process is
killed (`kill -9`, an out-of-memory kill, a crashed notebook kernel), nothing tells them: they
wait on their queues for ever, each holding a copy of the model (GPU memory with a real one).

While `workers_die_with_this_process()` is active, every process forked from this one asks the
kernel to kill it when its parent dies (Linux: `prctl(PR_SET_PDEATHSIG, SIGKILL)`; elsewhere a
thread watches `os.getppid()`), and does the same for the processes it forks in turn. A fork
outside the context is left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Optional

__all__ = ["workers_die_with_this_process"]

_PR_SET_PDEATHSIG = 1
_parent: Optional[int] = None  # the pid forked children must not outlive (None: inactive)
_registered = False
_POLL_S = 1.0


def _watch_parent(parent: int) -> None:
    """Exit as soon as `parent` is gone (where prctl is not available)."""
    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="course-parent-watch").start()


def _die_with(parent: int) -> None:
    """Make this (just forked) process die when `parent` does."""
    done = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            done = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            done = False
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
    if not done:
        _watch_parent(parent)


def _after_fork_in_child() -> None:
    global _parent
    if _parent is None:
        return
    _die_with(_parent)
    _parent = os.getpid()  # this process's own children must not outlive it either


@contextlib.contextmanager
def workers_die_with_this_process() -> Iterator[None]:
    """Within the block, processes forked from this one die when it dies (see the module doc)."""
    global _parent, _registered
    if not hasattr(os, "register_at_fork"):  # Windows: no fork, spawned workers
        yield
        return
    if not _registered:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _registered = True
    previous, _parent = _parent, os.getpid()
    try:
        yield
    finally:
        _parent = previous
