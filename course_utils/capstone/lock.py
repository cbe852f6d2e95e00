"""One run at a time per output folder and per cache folder: a lock file that names its run.

`run_lock(path, what)` creates `path` and holds an exclusive `flock` on it for the block; the
file says who holds it (PID, start time, command). The kernel releases the lock when its
process dies, even by `kill -9`, so the lock of a dead run is simply taken over; a live one
gives one CapstoneError that names the other run. Where `fcntl` is missing (Windows) the file is
created exclusively and a lock whose PID no longer runs is taken over.

Re-entrant within a process: `repair_cache` takes the cache lock itself when called on its own,
and is a no-op for the lock when `build_dataset` already holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from .config import CapstoneError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["run_lock"]

_held: dict[str, int] = {}  # lock path -> depth, in this process


def _describe(info: Optional[dict]) -> str:
    if not info:
        return "another run (it has not written its details yet)"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    command = " ".join(str(a) for a in info.get("command", []))[:160]
    return (f"another run (PID {info.get('pid', '?')}, started {started}"
            + (f": {command}" if command else "") + ")")


def _read(path: Path) -> Optional[dict]:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _busy(path: Path, what: str, info: Optional[dict]) -> CapstoneError:
    return CapstoneError(f"The {what} is in use by {_describe(info)}: two runs of one output or "
                         f"cache would overwrite each other. Wait for it to finish (or stop it), "
                         f"or choose another folder. Lock file: {path}")


def _my_info() -> str:
    return json.dumps({"pid": os.getpid(), "started": time.time(), "command": sys.argv})


def _acquire_flock(path: Path, what: str) -> int:
    for _ in range(10):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _busy(path, what, _read(path)) from None
        try:  # the holder before us may have removed the file between our open and our lock
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, _my_info().encode("utf-8"))
            return fd
        os.close(fd)
    raise _busy(path, what, _read(path))


def _acquire_exclusive(path: Path, what: str) -> int:
    for _ in range(10):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            info = _read(path)
            if info and _alive(info.get("pid")):
                raise _busy(path, what, info) from None
            path.unlink(missing_ok=True)  # a dead run's lock: taken over
            continue
        os.write(fd, _my_info().encode("utf-8"))
        return fd
    raise _busy(path, what, _read(path))


@contextlib.contextmanager
def run_lock(path: Any, what: str) -> Iterator[None]:
    """Hold the lock file `path` for the block; CapstoneError names the run that holds it."""
    path = Path(path)
    key = str(path)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire_flock(path, what) if fcntl is not None else _acquire_exclusive(path, what)
    except OSError as e:
        raise CapstoneError(f"Cannot create the lock file of the {what} ({path}): "
                            f"{e.strerror or e}. Choose a folder you can write to.") from None
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        with contextlib.suppress(OSError):
            path.unlink()  # still ours: removed before the lock is released
        if fcntl is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
