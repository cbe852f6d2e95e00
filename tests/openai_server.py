"""A real OpenAI-compatible server for tests: `transformers serve` with the course's tiny model.

`serve(model_dir)` starts it on a free 127.0.0.1 port in its own process group, waits until
/v1/models answers (or fails with the tail of the server's log), yields a `Server` (base_url,
model id, log path) and always ends the whole process group. `openai_server` is a session
fixture around it; test modules load it with `pytest_plugins = ["openai_server"]`.

`transformers serve` samples only when the model's generation config says `do_sample` (it
ignores `n` and, without `do_sample`, the request's temperature), while vLLM, Ollama and
llama.cpp sample at temperature > 0. The fixture serves a copy of the tiny model whose
generation config samples, as the lessons expect of a teacher at temperature 0.7; a greedy
random model writes nothing but blank lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Server:
    """A running server: its OpenAI base URL (ending in /v1), the model id it serves, its log."""

    base_url: str
    model: str
    log: Path
    pid: int
    start_s: float

    def log_tail(self, n: int = 40) -> str:
        """The last `n` lines of the server's log."""
        return _tail(self.log, n)


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sampling_copy(model_dir: Path, dest: Path) -> Path:
    """A copy of a (small) model folder whose generation config samples (`do_sample: true`)."""
    shutil.copytree(model_dir, dest)
    config_path = dest / "generation_config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    config_path.write_text(json.dumps({**config, "do_sample": True}, indent=2))
    return dest


def _server_command(model_dir: Path, port: int) -> list[str]:
    cli = Path(sys.executable).with_name("transformers")
    head = [str(cli)] if cli.exists() else [sys.executable, "-m", "transformers.cli.transformers"]
    return [*head, "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
            "--device", "cpu", "--log-level", "info", "--default-seed", "0"]


def _models(base_url: str) -> list[str]:
    import requests

    try:
        response = requests.get(base_url + "/models", timeout=2)
        return [m["id"] for m in response.json()["data"]] if response.status_code == 200 else []
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return []


def _stop(proc: subprocess.Popen) -> None:
    """End the server's whole process group: SIGTERM, then SIGKILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):  # children that outlived it
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def serve(model_dir: Path, *, timeout: float = START_TIMEOUT_S,
          log_dir: Path | None = None) -> Iterator[Server]:
    """Run `transformers serve model_dir` until the block ends; fail clearly if it never answers."""
    model_dir = Path(model_dir).resolve()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log = Path(log_dir or tempfile.mkdtemp(prefix="course-serve-")) / f"serve-{port}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    t0 = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(_server_command(model_dir, port), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    try:
        while str(model_dir) not in _models(base_url):
            if proc.poll() is not None:
                pytest.fail(f"`transformers serve` exited with code {proc.returncode} before "
                            f"answering. Log tail ({log}):\n{_tail(log)}", pytrace=False)
            if time.monotonic() - t0 > timeout:
                pytest.fail(f"`transformers serve` did not answer {base_url}/models within "
                            f"{timeout:.0f} s. Log tail ({log}):\n{_tail(log)}", pytrace=False)
            time.sleep(0.5)
        yield Server(base_url, str(model_dir), log, proc.pid, time.monotonic() - t0)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def openai_server(tiny_model_dir, tmp_path_factory) -> Iterator[Server]:
    """One `transformers serve` of the tiny model (a sampling copy) for the whole session."""
    work = tmp_path_factory.mktemp("serve")
    with serve(sampling_copy(tiny_model_dir, work / "tiny-model"), log_dir=work) as server:
        print(f"\n[openai_server] {server.base_url} serves {server.model} "
              f"(started in {server.start_s:.1f} s)")
        yield server
