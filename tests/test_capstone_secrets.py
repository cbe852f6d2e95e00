"""No secret anywhere: plain tracebacks, and keys, header tokens and URL credentials in no artefact.

A run is given three planted secrets (an API key through `llm.api_key_env`, a token in
`llm.default_headers`, a password in `base_url`); every file under the output folder and the
cache folder, and everything printed, is searched for them. The run uses a real
OpenAI-compatible server (`transformers serve` of the tiny model, tests/openai_server.py) and,
without a server, the offline teacher with the same `llm` section (its serialization).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from course_utils import capstone
from course_utils.capstone import small_config
from course_utils.capstone.cli import main

pytest_plugins = ["openai_server"]

KEY = "sk-planted-KEY-0f9e8d7c6b5a"
TOKEN = "tok-planted-HEADER-1a2b3c4d"
PASSWORD = "pw-planted-URL-5e6f7a8b"
SECRETS = (KEY, TOKEN, PASSWORD)
KEY_ENV = "CAPSTONE_TEST_API_KEY"
ENV = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "COURSE_BACKEND": "offline",
       "PYTHONHASHSEED": "0", KEY_ENV: KEY}
SMALL = {"dedup.embedding_threshold": None, "seeds.n": 2, "seeds.math_problems": 1,
         "seeds.dialogue": 2, "evol.rounds": 0, "generation.max_new_tokens": 16}


def _llm(base_url: str, model: str = "m", **extra) -> dict:
    host = base_url.split("//", 1)[1]
    return {"class": "OpenAILLM", "model": model, "base_url": f"http://alice:{PASSWORD}@{host}",
            "default_headers": {"X-Team-Token": TOKEN}, "api_key_env": KEY_ENV, "timeout": 60,
            **extra}


def _leaks(tmp_path: Path, *texts: str) -> list[str]:
    """Where a planted secret shows: files under out/ and cache/, and the given texts."""
    found = []
    for folder in (tmp_path / "out", tmp_path / "cache"):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path} has {s[:10]}" for s in SECRETS if s.encode() in data]
    for i, text in enumerate(texts):
        found += [f"output #{i} has {s[:10]}" for s in SECRETS if s in text]
    return found


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_utils", "build-dataset", *args],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)


def _config(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "config" / "capstone.yaml"  # the user's own file: it holds the secrets
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


# --- plain tracebacks ----------------------------------------------------------------------------

RAISE_WITH_A_SECRET_LOCAL = textwrap.dedent(f"""
    import os
    {{setup}}

    def build():
        api_key = os.environ["{KEY_ENV}"]  # a local variable: Rich would print its value
        raise ValueError("something went wrong")

    build()
""")


@pytest.mark.parametrize("setup", [
    "from course_utils.models import llm_classes; llm_classes()",
    "import distilabel\nfrom course_utils._quiet import quiet_distilabel; quiet_distilabel()",
    "from course_utils.capstone import steps",
])
def test_tracebacks_stay_plain_after_distilabel_is_imported(setup):
    code = RAISE_WITH_A_SECRET_LOCAL.replace("{setup}", setup)
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "ValueError: something went wrong" in r.stderr
    assert KEY not in r.stderr and "locals" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.lstrip().startswith("Traceback (most recent call last):")


IPYTHON = textwrap.dedent(f"""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("from course_utils.capstone import steps")  # imports distilabel in the shell
    hooks = [n for n in ("_showtraceback", "showtraceback", "showsyntaxerror")
             if n in shell.__dict__]
    print("HOOKS", hooks)
    shell.run_cell("import os\\ndef build():\\n    api_key = os.environ['{KEY_ENV}']\\n"
                   "    raise ValueError('boom')\\nbuild()")
""")


def test_a_notebook_shell_keeps_its_own_tracebacks():
    r = subprocess.run([sys.executable, "-c", IPYTHON], env=ENV, capture_output=True, text=True,
                       timeout=120)
    assert "HOOKS []" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    assert "ValueError" in r.stdout + r.stderr and "boom" in r.stdout + r.stderr
    assert KEY not in r.stdout + r.stderr


# --- messages ------------------------------------------------------------------------------------


def test_a_bad_llm_field_type_prints_one_line_without_the_key(tmp_path):
    cfg = small_config(**{"name": "capstone-secret-type", "backend": "llm",
                          "output.cache_dir": str(tmp_path / "cache"),
                          "llm": _llm("http://127.0.0.1:9/v1")})
    cfg["llm"]["timeout"] = "soon"  # the case: pydantic once printed the key twice
    r = _cli(tmp_path, "--config", str(_config(tmp_path, cfg)), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and "llm.timeout" in r.stderr
    assert not _leaks(tmp_path, r.stdout, r.stderr)


def test_an_unexpected_error_never_shows_a_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    cfg = small_config(**{"name": "capstone-secret-crash",
                          "output.cache_dir": str(tmp_path / "cache"),
                          "llm": _llm("http://127.0.0.1:9/v1")})

    def crash(*args, **kwargs):
        raise RuntimeError(f"no answer from http://alice:{PASSWORD}@127.0.0.1:9/v1 "
                           f"(headers {{'X-Team-Token': '{TOKEN}'}}, key {KEY})")

    monkeypatch.setattr("course_utils.capstone.cli.build_dataset", crash)
    config = str(_config(tmp_path, cfg))
    for extra in ([], ["--verbose"]):
        assert main(["--config", config, "--out", str(tmp_path / "out"), *extra]) == 1
        got = capsys.readouterr()
        assert "RuntimeError" in got.err and "no answer from http://***@127.0.0.1" in got.err
        assert not _leaks(tmp_path, got.out, got.err), got.err


# --- every artefact of a run ---------------------------------------------------------------------


def test_the_pipeline_yaml_holds_no_secret_but_the_llm_keeps_them(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    cfg = small_config(**{"name": "capstone-secret-dump", "output.cache_dir": str(tmp_path / "c"),
                          "backend": "llm", "llm": _llm("http://127.0.0.1:9/v1")})
    pipeline = capstone.build_pipeline(cfg)
    text = yaml.safe_dump(pipeline.dump())
    assert "X-Team-Token" in text and "http://***@127.0.0.1:9/v1" in text
    assert not [s for s in SECRETS if s in text]
    llm = pipeline.dag.get_step("generate")["step"].llm  # what the worker uses: the real values
    assert llm.default_headers == {"X-Team-Token": TOKEN} and PASSWORD in llm.base_url
    assert llm.api_key.get_secret_value() == KEY


def _run_twice(tmp_path: Path, cfg: dict) -> list[str]:
    config = str(_config(tmp_path, cfg))
    out = str(tmp_path / "out")
    first = _cli(tmp_path, "--config", config, "--out", out)
    assert first.returncode == 0, first.stderr[-3000:]
    again = _cli(tmp_path, "--config", config, "--out", out, "--overwrite", "--no-cache",
                 "--verbose")  # distilabel's logs on screen and in its log file too
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "out" / "distiset").is_dir() and (tmp_path / "out" / "README.md").is_file()
    yamls = list((tmp_path / "out" / "distiset").rglob("pipeline.yaml"))
    assert yamls and "***@" in yamls[0].read_text()  # the URL is there, its password is not
    return [first.stdout, first.stderr, again.stdout, again.stderr]


def test_planted_secrets_reach_no_file_and_no_output_offline_teacher(tmp_path):
    cfg = small_config(**{"name": "capstone-secret-offline", **SMALL,
                          "output.cache_dir": str(tmp_path / "cache"),
                          "llm": _llm("http://127.0.0.1:9/v1")})  # validated, serialized, not used
    outputs = _run_twice(tmp_path, cfg)
    assert not _leaks(tmp_path, *outputs)


def test_planted_secrets_reach_no_file_and_no_output_real_server(tmp_path, openai_server):
    cfg = small_config(**{"name": "capstone-secret-server", **SMALL,
                          "output.cache_dir": str(tmp_path / "cache"), "backend": "llm",
                          "llm": _llm(openai_server.base_url, model=openai_server.model)})
    outputs = _run_twice(tmp_path, cfg)
    assert "OpenAILLM" in outputs[0]  # the server's model was the teacher
    assert not _leaks(tmp_path, *outputs)
