"""The "openai" backend against a real OpenAI-compatible server: `transformers serve`, tiny model.

One server for the session (tests/openai_server.py). Covered: generation for a batch (with
`num_generations`, which `transformers serve` ignores as `n`), the concurrency bound (measured
by a counting proxy in front of the server), one-line BackendErrors naming the fix, Magpie
through the completions endpoint, a distilabel Pipeline whose workers use the server, and a
small capstone build configured with `backend: llm`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from course_utils.models import (BackendError, get_llm, magpie_llm, pipeline_llm, server_llm,
                                 unloaded_llm)

pytest_plugins = ["openai_server"]

CHAT = [{"role": "user", "content": "Write a haiku about the sea."}]


@pytest.fixture
def server_env(openai_server, monkeypatch):
    """COURSE_BACKEND=openai pointed at the session's server."""
    monkeypatch.setenv("COURSE_BACKEND", "openai")
    monkeypatch.setenv("COURSE_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("COURSE_MODEL", openai_server.model)
    monkeypatch.delenv("COURSE_MAX_CONCURRENCY", raising=False)
    return openai_server


def _posts(server, endpoint: str) -> int:
    return server.log.read_text(errors="replace").count(f'"POST /v1/{endpoint} HTTP')


# --- generation ----------------------------------------------------------------------------------


def test_get_llm_generates_for_a_batch_with_every_sample_asked_for(server_env):
    llm = get_llm("openai", max_new_tokens=12)
    assert type(llm).__name__ == "ServerLLM" and llm.model == server_env.model
    prompts = [[{"role": "user", "content": f"Name a colour, please ({i})."}] for i in range(4)]
    before = _posts(server_env, "chat/completions")
    outputs = llm.generate_outputs(prompts, num_generations=3)
    assert len(outputs) == 4
    for out in outputs:  # the server ignores `n`: ServerLLM asks for the missing samples
        assert len(out["generations"]) == 3
        assert all(isinstance(g, str) and g for g in out["generations"])
        assert len(out["statistics"]["output_tokens"]) == 3
        assert all(0 < n <= 12 for n in out["statistics"]["output_tokens"])
    assert _posts(server_env, "chat/completions") - before == 12


def test_transformers_only_settings_are_dropped_not_sent(server_env):
    llm = get_llm("openai", max_new_tokens=8, do_sample=True, top_k=5)
    assert "do_sample" not in llm.generation_kwargs and "top_k" not in llm.generation_kwargs
    out = llm.generate_outputs([CHAT], do_sample=False)
    assert out[0]["generations"][0]


# --- the concurrency bound -----------------------------------------------------------------------


@contextmanager
def counting_proxy(target_base_url: str, hold_s: float = 0.4):
    """An HTTP proxy in front of the server that records the most POSTs in flight at once.

    Each POST is held `hold_s` before it is forwarded, so requests sent together overlap.
    Yields (proxy base URL, stats dict with "max" and "total").
    """
    import requests

    target = target_base_url.rsplit("/v1", 1)[0]
    stats = {"now": 0, "max": 0, "total": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _forward(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            counted = method == "POST"
            if counted:
                with lock:
                    stats["now"] += 1
                    stats["total"] += 1
                    stats["max"] = max(stats["max"], stats["now"])
            try:
                if counted:
                    time.sleep(hold_s)
                upstream = requests.request(method, target + self.path, data=body, timeout=120,
                                            headers={"Content-Type": "application/json"})
            finally:
                if counted:
                    with lock:
                        stats["now"] -= 1
            self.send_response(upstream.status_code)
            kind = upstream.headers.get("Content-Type", "application/json")
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(upstream.content)))
            self.end_headers()
            self.wfile.write(upstream.content)

        def do_GET(self):  # noqa: N802 - http.server API
            self._forward("GET")

        def do_POST(self):  # noqa: N802 - http.server API
            self._forward("POST")

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.daemon_threads = True
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}/v1", stats
    finally:
        proxy.shutdown()
        proxy.server_close()


@pytest.mark.parametrize("limit", [2, 5])
def test_at_most_max_concurrency_requests_are_in_flight(server_env, limit):
    prompts = [[{"role": "user", "content": f"Count to {i}."}] for i in range(10)]
    with counting_proxy(server_env.base_url) as (url, stats):
        llm = get_llm("openai", base_url=url, max_concurrency=limit, max_new_tokens=4)
        outputs = llm.generate_outputs(prompts)
    assert len(outputs) == 10 and stats["total"] == 10
    # bounded (never more than `limit`) and really concurrent (the limit is reached)
    assert stats["max"] == limit


def test_the_concurrency_limit_comes_from_the_environment(server_env, monkeypatch):
    monkeypatch.setenv("COURSE_MAX_CONCURRENCY", "3")
    assert get_llm("openai").max_concurrency == 3


# --- clear errors --------------------------------------------------------------------------------


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    return message


def test_unreachable_url_is_a_one_line_error_naming_the_fix(server_env):
    from openai_server import free_port

    with pytest.raises(BackendError) as exc:
        get_llm("openai", base_url=f"http://127.0.0.1:{free_port()}/v1")
    message = _one_line(exc)
    assert "No OpenAI-compatible server answers" in message and "COURSE_BASE_URL" in message


def test_wrong_model_name_lists_what_the_server_serves(server_env):
    with pytest.raises(BackendError) as exc:
        get_llm("openai", model="no-such-model")
    message = _one_line(exc)
    assert "does not serve 'no-such-model'" in message and server_env.model in message
    assert "COURSE_MODEL" in message


def test_missing_base_url_says_where_to_set_it(server_env, monkeypatch):
    monkeypatch.delenv("COURSE_BASE_URL")
    with pytest.raises(BackendError) as exc:
        get_llm("openai")
    message = _one_line(exc)
    assert "COURSE_BASE_URL" in message and "base_url=" in message


def test_a_url_that_is_not_the_api_root_is_explained(server_env):
    root = server_env.base_url.rsplit("/v1", 1)[0]
    with pytest.raises(BackendError) as exc:
        get_llm("openai", base_url=root + "/nope")
    assert "/v1" in _one_line(exc)


# --- Magpie through the completions endpoint ----------------------------------------------------


def test_magpie_user_turns_go_to_the_completions_endpoint(server_env):
    from course_utils.magpie import SYSTEM_PROMPTS, generate_magpie

    llm = get_llm("openai", max_new_tokens=12)
    copy = magpie_llm(llm)
    prompt = copy.magpie_prompt([{"role": "system", "content": "You are a tutor."}])
    assert prompt.endswith("<|im_end|>\n<|im_start|>user\n") and "assistant" not in prompt
    completions, chats = _posts(server_env, "completions"), _posts(server_env, "chat/completions")
    rows = generate_magpie(llm, [{"system_prompt": SYSTEM_PROMPTS["cooking"]}] * 2,
                           max_new_tokens=12)
    assert len(rows) == 2
    assert all([m["role"] for m in r["conversation"]] == ["user", "assistant"] for r in rows)
    assert _posts(server_env, "completions") - completions == 2  # the user turns, as raw prompts
    assert _posts(server_env, "chat/completions") - chats == 2  # the answers, as chats


def test_magpie_without_a_tokenizer_names_the_fix(server_env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    remote = server_llm("llama3.2:1b", server_env.base_url)  # an Ollama-style name, no shipped template
    with pytest.raises(ValueError, match=r"set llm\.tokenizer"):
        magpie_llm(remote)
    qwen = server_llm("qwen2.5:1.5b", server_env.base_url)  # the real Qwen2.5 template the course ships
    assert magpie_llm(qwen).magpie_prompt([]).endswith("<|im_end|>\n<|im_start|>user\n")
    missing = server_llm("m", server_env.base_url, tokenizer="nobody/no-such-tokenizer")
    with pytest.raises(ValueError, match=r"cannot load the tokenizer 'nobody/no-such-tokenizer'"):
        magpie_llm(missing)
    named = server_llm("m", server_env.base_url, tokenizer=server_env.model)
    assert magpie_llm(named).magpie_prompt([]) == "<|im_start|>user\n"


# --- distilabel Pipelines: the LLM runs in worker processes --------------------------------------


def test_server_llms_run_in_a_pipelines_workers(server_env, tmp_path, monkeypatch):
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    monkeypatch.setenv("DISTILABEL_LOG_LEVEL", "ERROR")
    instructions = ["Say hello.", "Name a fruit.", "Give a number."]
    loaded = get_llm("openai", max_new_tokens=8)
    loaded.generate_outputs([CHAT])  # loaded: a client and an event loop that cannot be pickled
    with Pipeline(name="course-server-pipeline", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(name="load", data=[{"instruction": t} for t in instructions])
        fresh = TextGeneration(name="unloaded",
                               llm=unloaded_llm("openai", generation_kwargs={"max_new_tokens": 8}))
        copied = TextGeneration(name="copied", llm=pipeline_llm(loaded))
        load >> [fresh, copied]
    before = _posts(server_env, "chat/completions")
    distiset = pipeline.run(use_cache=False, logging_handlers=[])
    for name in ("unloaded", "copied"):
        rows = distiset[name]["train"].to_list()
        assert sorted(r["instruction"] for r in rows) == sorted(instructions)
        assert all(isinstance(r["generation"], str) and r["generation"] for r in rows)
        assert {r["model_name"] for r in rows} == {server_env.model}
    assert _posts(server_env, "chat/completions") - before == 6


# --- the capstone, configured for the server ----------------------------------------------------

BUILD = """
import json, sys
from course_utils.capstone import build_dataset, load_config
result = build_dataset(load_config(sys.argv[1]), sys.argv[2], progress=False)
print("STAGES " + json.dumps(result.stages))
"""


def test_capstone_builds_with_an_openai_llm_section(server_env, tmp_path):
    from course_utils.capstone import small_config

    cfg = small_config(**{
        "name": "capstone-server", "backend": "llm", "generation.max_new_tokens": 48,
        "llm": {"class": "OpenAILLM", "model": server_env.model, "base_url": server_env.base_url,
                "api_key_env": "COURSE_TEST_SERVER_KEY"},
        "dedup.embedding_threshold": None, "output.cache_dir": str(tmp_path / "cache")})
    config = tmp_path / "capstone.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    env = {**os.environ, "COURSE_TEST_SERVER_KEY": "local-servers-need-none", "HF_HUB_OFFLINE": "1",
           "TQDM_DISABLE": "1"}
    # a subprocess with a deadline: a stuck distilabel pipeline fails the test instead of hanging it
    before = _posts(server_env, "chat/completions")
    run = subprocess.run([sys.executable, "-c", BUILD, str(config), str(tmp_path / "out")], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Using OpenAILLM" in run.stdout
    stages = {s["stage"]: s for s in json.loads(run.stdout.split("STAGES ", 1)[1])}
    assert stages["generate"]["rows_out"] > 0
    assert _posts(server_env, "chat/completions") - before >= stages["generate"]["rows_in"]
    assert (tmp_path / "out" / "train.jsonl").exists() and (tmp_path / "out" / "README.md").exists()
