"""The capstone under faults: a run never hangs, never loses a batch silently, runs alone, and
leaves no worker behind (issue 12, items 1, 2, 4 and 6).

Every run here happens in a subprocess with a deadline (`_run`), in its own process group that is
always killed afterwards: a regression fails the test instead of hanging CI or leaving workers.
The faults are injected by a small driver script (`DRIVER`): it patches the capstone in the main
process before distilabel forks its workers, which then see the same patches.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

import pytest
import yaml

from course_utils import capstone
from course_utils.capstone import COMPLETE_MARKER, CapstoneError, small_config
from course_utils.capstone.export import EXPORT_MARKER
from course_utils.formats import read_jsonl

ENV = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "COURSE_BACKEND": "offline",
       "PYTHONHASHSEED": "0"}
DEADLINE_S = 180  # a run that takes longer hangs: the test fails, the process group is killed
# 5 generation batches of 4 rows: rows 1-4, 5-8 (batch 2: its first row is "r4"), ...
SMALL = {"generation.batch_size": 4, "seeds.n": 8, "seeds.math_problems": 4, "seeds.dialogue": 8,
         "dedup.embedding_threshold": None}

DRIVER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from course_utils import capstone
    from course_utils.capstone import run, steps

    spec = json.loads(sys.argv[1])
    steps.RETRY_WAIT_S = 0.0
    if spec.get("stall_after_s"):
        steps.CapstonePipeline.stall_after_s = spec["stall_after_s"]
    if spec.get("no_placeholders"):  # the distilabel 1.5.3 stall, as before the fix
        steps.USE_PLACEHOLDERS = False
    if spec.get("bad_json"):  # a teacher that answers every prompt with broken JSON
        from course_utils.teacher.llm import OfflineTeacher

        class BrokenJSONTeacher(OfflineTeacher):
            def generate(self, inputs, num_generations=1, **kwargs):
                n = num_generations
                return [{"generations": ["[{'task': 'Write a poem', 'input': None,"] * n,
                         "statistics": {"input_tokens": [1] * n, "output_tokens": [9] * n}}
                        for _ in inputs]

        run.make_llm = lambda cfg, **kw: BrokenJSONTeacher(generation_kwargs={"kwargs": {}})

    original = steps.generate_batch
    failures = {}

    def patched(llm, rows, cfg):
        first = rows[0].get("_id") if rows else None
        with open(spec["calls"], "a") as f:
            f.write(f"{first}\\n")
        if spec.get("sleep_s"):
            time.sleep(spec["sleep_s"])
        fail = spec.get("fail", {}).get(first)
        if fail is not None and (fail < 0 or failures.get(first, 0) < fail):
            failures[first] = failures.get(first, 0) + 1
            if spec.get("error") == "timeout":
                raise TimeoutError("Request timed out after 600 s")
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(llm, rows, cfg)

    steps.generate_batch = patched  # GenerateStep looks it up in its module; workers are forked
    if spec.get("impute"):  # the generation step raises past its guard: distilabel fills None
        from distilabel.steps import StepInput
        step_process = steps.GenerateStep.process

        def process(self, inputs: StepInput):
            rows = list(inputs)
            if rows and rows[0].get("_id") == spec["impute"]:
                raise RuntimeError("killed by an unexpected error")
            yield from step_process(self, rows)

        steps.GenerateStep.process = process
    sys.exit(capstone.main(spec["argv"]))
""")


def _cfg(tmp_path: Path, name: str, **overrides) -> dict:
    cache = str(tmp_path / "cache")
    return small_config(**{"name": name, "output.cache_dir": cache, **SMALL, **overrides})


def _config_file(tmp_path: Path, cfg: dict, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run(tmp_path: Path, config: Path, out: Path, *, deadline: float = DEADLINE_S, **spec):
    """Run the CLI through the driver; returns (rc, stdout, stderr, seconds, generate calls)."""
    calls = tmp_path / "calls.txt"
    calls.write_text("")
    script = tmp_path / "driver.py"
    script.write_text(DRIVER, encoding="utf-8")
    spec = {**spec, "calls": str(calls), "argv": ["--config", str(config), "--out", str(out)]}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(script), json.dumps(spec)], cwd=tmp_path,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        pytest.fail(f"the run did not end within {deadline} s (a hang):\n{stderr[-3000:]}")
    finally:
        _kill_group(proc)  # never leave a distilabel worker behind
    return proc.returncode, stdout, stderr, time.monotonic() - t0, calls.read_text().split()


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return errors[0]


# --- item 1: nothing reaches the GlobalSteps: the run ends with 0 rows, said plainly -------------


@pytest.mark.parametrize("overrides, stage", [
    ({"seeds.dialogue": 0, "quality.min_complexity": 1000.0}, "quality dropped all"),
    ({"filters.min_response_words": 5000, "filters.max_response_words": 10000}, "filter dropped"),
])
def test_zero_rows_reach_dedup_and_the_run_still_ends(tmp_path, overrides, stage):
    cfg = _cfg(tmp_path, "capstone-nothing", **overrides)
    rc, out, err, seconds, _ = _run(tmp_path, _config_file(tmp_path, cfg), tmp_path / "out")
    assert rc == 0, err[-3000:]
    assert "0 rows passed the filters:" in out and stage in out, out
    assert read_jsonl(tmp_path / "out" / "train.jsonl") == []
    assert "0 rows passed the filters" in (tmp_path / "out" / "README.md").read_text()


def test_a_teacher_that_returns_bad_json_ends_the_run(tmp_path):
    # seed tasks only: every Self-Instruct reply is broken JSON, so generation makes no row at all
    cfg = _cfg(tmp_path, "capstone-bad-json", **{"seeds.math_problems": 0, "seeds.dialogue": 0})
    config = _config_file(tmp_path, cfg)
    rc, out, err, _, calls = _run(tmp_path, config, tmp_path / "out", bad_json=True)
    assert rc == 0, err[-3000:]
    assert len(calls) == 2  # both batches were generated
    assert "0 rows passed the filters: generate made no rows from 8 inputs" in out, out


def test_an_unreachable_server_fails_before_the_pipeline_starts(tmp_path):
    cfg = _cfg(tmp_path, "capstone-no-server", backend="llm",
               llm={"class": "OpenAILLM", "model": "m", "base_url": "http://127.0.0.1:9/v1"})
    config = _config_file(tmp_path, cfg)
    rc, out, err, seconds, calls = _run(tmp_path, config, tmp_path / "out", deadline=60)
    line = _one_error_line(err)
    assert rc == 2 and "No server answers at http://127.0.0.1:9/v1" in line
    assert "llm.base_url" in line
    assert calls == [] and seconds < 30
    assert not list((tmp_path / "cache").rglob("executions"))  # no pipeline was started


def test_a_stall_is_stopped_by_the_watchdog(tmp_path):
    # without the placeholders distilabel 1.5.3 waits forever here: the watchdog must end the run
    cfg = _cfg(tmp_path, "capstone-stall",
               **{"seeds.dialogue": 0, "quality.min_complexity": 1000.0})
    rc, out, err, _, _ = _run(tmp_path, _config_file(tmp_path, cfg), tmp_path / "out",
                              no_placeholders=True, stall_after_s=3)
    line = _one_error_line(err)
    assert rc == 1 and "made no progress for 3 s" in line and "nothing was exported" in line
    assert not (tmp_path / "out" / "train.jsonl").exists()


# --- item 2: a failing batch is retried, then named; never lost silently --------------------------


def _uninterrupted(tmp_path: Path, cfg: dict) -> list[dict]:
    """The rows of the same config, run once without faults (its own cache)."""
    fresh = {**cfg, "output": {**cfg["output"], "cache_dir": str(tmp_path / "fresh-cache")}}
    rc, _, err, _, _ = _run(tmp_path, _config_file(tmp_path, fresh, "fresh.yaml"),
                            tmp_path / "fresh")
    assert rc == 0, err[-3000:]
    return read_jsonl(tmp_path / "fresh" / "train.jsonl")


def _key(rows: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


@pytest.mark.parametrize("error, message", [("oom", "RuntimeError: CUDA out of memory"),
                                            ("timeout", "TimeoutError: Request timed out")])
def test_a_batch_that_keeps_failing_fails_the_run_and_a_rerun_regenerates_it(tmp_path, error,
                                                                              message):
    cfg = _cfg(tmp_path, f"capstone-lost-{error}")
    config = _config_file(tmp_path, cfg)
    rc, out, err, _, calls = _run(tmp_path, config, tmp_path / "out", fail={"r4": -1},
                                  error=error)
    line = _one_error_line(err)
    assert rc == 1, err[-3000:]
    assert "1 generation batch (4 input rows) lost after 3 attempts" in line
    assert "batch 2 of 5 (input rows 5-8)" in line and message in line
    assert "nothing was exported" in line
    assert calls.count("r4") == 3 and len(calls) == 7  # batch 2: 1 + 2 retries; the others once
    assert not (tmp_path / "out" / "train.jsonl").exists()
    assert not list((tmp_path / "cache").rglob(COMPLETE_MARKER))  # never cached as complete
    # the re-run generates exactly the missing batch, and gives the rows of an uninterrupted run
    rc, out, err, _, calls = _run(tmp_path, config, tmp_path / "out")
    assert rc == 0, err[-3000:]
    assert calls == ["r4"]
    if error == "oom":
        rows = read_jsonl(tmp_path / "out" / "train.jsonl")
        assert _key(rows) == _key(_uninterrupted(tmp_path, cfg))


def test_a_transient_failure_is_retried_and_loses_nothing(tmp_path):
    cfg = _cfg(tmp_path, "capstone-transient")
    config = _config_file(tmp_path, cfg)
    rc, out, err, _, calls = _run(tmp_path, config, tmp_path / "out", fail={"r4": 1})
    assert rc == 0, err[-3000:]
    assert calls.count("r4") == 2 and "batch 2 of 5 (input rows 5-8) failed" in err
    assert "trying again (2 retries left)" in err
    rows = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert _key(rows) == _key(_uninterrupted(tmp_path, cfg))


def test_an_allowed_lost_batch_is_counted_never_complete_and_regenerated(tmp_path):
    cfg = _cfg(tmp_path, "capstone-allowed", **{"generation.allow_lost_batches": True})
    config = _config_file(tmp_path, cfg)
    out_dir = tmp_path / "out"
    rc, out, err, _, calls = _run(tmp_path, config, out_dir, fail={"r4": -1})
    assert rc == 0, err[-3000:]
    assert "1 generation batch (4 input rows) lost after 3 attempts" in out
    assert "lost_batches=1, lost_rows=4" in out  # in the stage table on screen
    card = (out_dir / "README.md").read_text()
    assert "**Incomplete**: 1 generation batch (4 input rows)" in card
    assert "lost_batches=1" in card
    partial = read_jsonl(out_dir / "train.jsonl")
    assert partial and not (out_dir / EXPORT_MARKER).exists()  # not a complete export
    assert not list((tmp_path / "cache").rglob(COMPLETE_MARKER))  # nor a complete cached run
    # the same command again: only the lost batch is generated, and the export is complete
    rc, out, err, _, calls = _run(tmp_path, config, out_dir)
    assert rc == 0, err[-3000:]
    assert calls == ["r4"] and "lost_batches" not in out and "generation batch" not in out
    assert (out_dir / EXPORT_MARKER).exists()
    assert "Incomplete" not in (out_dir / "README.md").read_text()
    full = read_jsonl(out_dir / "train.jsonl")
    assert len(full) > len(partial)
    assert _key(full) == _key(_uninterrupted(tmp_path, cfg))


def test_a_batch_distilabel_fills_with_none_is_not_lost_silently(tmp_path):
    cfg = _cfg(tmp_path, "capstone-imputed")
    config = _config_file(tmp_path, cfg)
    rc, out, err, _, _ = _run(tmp_path, config, tmp_path / "out", impute="r4")
    line = _one_error_line(err)
    assert rc == 1 and "distilabel filled its output with None" in line, err[-3000:]
    assert not (tmp_path / "out" / "train.jsonl").exists()


# --- a slow teacher: an OpenAI-compatible stub server that takes its time -------------------------


class _SlowTeacher(BaseHTTPRequestHandler):
    delay_s = 1.0
    requests = 0

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client was killed: expected here
            pass

    def do_GET(self) -> None:  # /v1/models
        self._json({"object": "list", "data": [{"id": "slow", "object": "model"}]})

    def do_POST(self) -> None:  # /v1/chat/completions
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).requests += 1
        time.sleep(self.delay_s)
        message = {"role": "assistant", "content": "A short, complete answer."}
        self._json({"id": "x", "object": "chat.completion", "created": 0, "model": "slow",
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                 "message": message}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}})


@pytest.fixture
def slow_server():
    _SlowTeacher.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowTeacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _slow_config(tmp_path: Path, base_url: str, name: str) -> dict:
    llm = {"class": "OpenAILLM", "model": "slow", "base_url": base_url, "max_retries": 0}
    return _cfg(tmp_path, name, backend="llm", llm=llm)


def _cli_command(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "course_utils", "build-dataset", "--config", str(config),
            "--out", str(out)]


def _start_cli(tmp_path: Path, config: Path, out: Path) -> subprocess.Popen:
    """`python -m course_utils build-dataset` in its own process group."""
    return subprocess.Popen(_cli_command(config, out), cwd=tmp_path,
                            env={**ENV, "OPENAI_API_KEY": "sk-test"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.2)


# --- item 4: one run per output folder and cache folder ------------------------------------------


def test_a_second_run_of_the_same_config_is_refused_while_the_first_runs(tmp_path, slow_server):
    cfg = _slow_config(tmp_path, slow_server, "capstone-twice")
    config = _config_file(tmp_path, cfg)
    first = _start_cli(tmp_path, config, tmp_path / "out")
    try:
        _wait_for(lambda: _SlowTeacher.requests > 0, 90, "the first run to generate")
        # the same command 3 s later: one clear error that names the first run, no traceback
        second = subprocess.run(_cli_command(config, tmp_path / "out"), cwd=tmp_path, env=ENV,
                                capture_output=True, text=True, timeout=60)
        line = _one_error_line(second.stderr)
        assert second.returncode == 2, second.stderr
        assert f"in use by another run (PID {first.pid}" in line and "build-dataset" in line
        # another output folder, same cache: refused as well; the cache repair keeps off it
        other = subprocess.run(_cli_command(config, tmp_path / "out2"), cwd=tmp_path, env=ENV,
                               capture_output=True, text=True, timeout=60)
        assert other.returncode == 2 and "cache folder" in _one_error_line(other.stderr)
        executions = sorted((tmp_path / "cache").rglob("executions/*"))
        assert executions, "the first run has a live execution in the cache"
        with pytest.raises(CapstoneError, match=f"PID {first.pid}"):
            capstone.repair_cache(cfg)
        assert all(e.is_dir() for e in executions)  # the live run's state is untouched
        assert first.poll() is None  # and it still runs
    finally:
        _kill_group(first)
        first.communicate()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    cfg = _cfg(tmp_path, "capstone-stale",
               **{"seeds.n": 2, "seeds.math_problems": 0, "seeds.dialogue": 2})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for lock in (capstone.run.cache_lock_for(cfg), tmp_path / ".out.course-lock"):
        lock.parent.mkdir(parents=True, exist_ok=True)
        info = {"pid": dead.pid, "started": time.time(), "command": ["killed"]}
        lock.write_text(json.dumps(info))
    rc, out, err, _, _ = _run(tmp_path, _config_file(tmp_path, cfg), tmp_path / "out")
    assert rc == 0, err[-3000:]
    assert not (tmp_path / ".out.course-lock").exists()  # released at the end


@pytest.mark.parametrize("flock", [True, False])
def test_a_lock_names_a_live_holder_and_takes_over_a_dead_one(tmp_path, monkeypatch, flock):
    from course_utils.capstone import lock

    if not flock:  # the fallback where fcntl is missing (Windows): the PID decides
        monkeypatch.setattr(lock, "fcntl", None)
    path = tmp_path / ".out.course-lock"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"pid": dead.pid, "started": 0, "command": ["gone"]}))
    with lock.run_lock(path, "output folder 'out'"):  # a dead run's lock is taken over
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with lock.run_lock(path, "output folder 'out'"):  # re-entrant in one process
            pass
    assert not path.exists()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from course_utils.capstone import lock
        lock.fcntl = lock.fcntl if {flock} else None
        with lock.run_lock({str(path)!r}, "x"):
            print("held", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True, env=ENV, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CapstoneError, match=rf"in use by another run \(PID {holder.pid}"):
            with lock.run_lock(path, "output folder 'out'"):
                pass
    finally:
        _kill_group(holder)
        holder.communicate()


# --- item 6: kill -9 of the CLI leaves no distilabel worker behind -----------------------------


def _stat(pid: int) -> Optional[list[str]]:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, ...), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (psutil, else /proc)."""
    try:
        import psutil
    except ImportError:
        parents = {int(p.name): int(s[1]) for p in Path("/proc").iterdir()
                   if p.name.isdigit() and (s := _stat(int(p.name)))}
        found, todo = [], [pid]
        while todo:
            parent = todo.pop()
            children = [c for c, pp in parents.items() if pp == parent]
            found += children
            todo += children
        return found
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped is dead)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def test_kill_9_of_the_cli_leaves_no_worker_alive(tmp_path, slow_server):
    cfg = _slow_config(tmp_path, slow_server, "capstone-kill9")
    cli = _start_cli(tmp_path, _config_file(tmp_path, cfg), tmp_path / "out")
    try:
        # the pool is up (a Manager and one worker per step) and the generation step is busy
        _wait_for(lambda: _SlowTeacher.requests > 0 and len(_descendants(cli.pid)) >= 6,
                  90, "the workers to start generating")
        workers = _descendants(cli.pid)
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = [p for p in workers if _alive(p)]
        assert not survivors, f"{len(survivors)} of {len(workers)} workers outlived kill -9"
    finally:
        _kill_group(cli)
        cli.communicate()
