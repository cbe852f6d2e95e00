"""Bad input to `python -m course_utils build-dataset`: one line that names the fix, before any work.

Every case runs the real CLI in a subprocess and must end with exit status 2, a short stderr
(at most 3 lines; in practice one) without a traceback that names the key, file or variable to
fix, within a time limit (a hang fails), and without having started the pipeline: no cache
entry and no output folder appear. `python tests/test_capstone_bad_inputs.py` prints the table
tried / clear error / crash / hang / silent wrong (for the issue's note).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from course_utils.capstone import small_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
       "COURSE_BACKEND": "offline", "PYTHONHASHSEED": "0"}
TIMEOUT_S = 60
NAME = "bad-input"
SERVER_LLM = {"class": "OpenAILLM", "model": "m", "base_url": "http://127.0.0.1:9/v1"}


@dataclass
class Case:
    """One bad input: config overrides (or raw config text), environment, and what must be named."""

    id: str
    needle: str
    overrides: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    raw: Optional[bytes] = None  # the config file's bytes instead of a YAML dump
    prepare: Optional[Callable[[Path, dict, dict], list[str]]] = None  # may edit cfg/env; -> args


def _delete(key: str) -> Callable[[Path, dict, dict], list[str]]:
    def prepare(tmp: Path, cfg: dict, env: dict) -> list[str]:
        section, _, name = key.rpartition(".")
        del (cfg[section] if section else cfg)[name]
        return []
    return prepare


def _set(key: str, value: Any) -> Callable[[Path, dict, dict], list[str]]:
    def prepare(tmp: Path, cfg: dict, env: dict) -> list[str]:
        section, _, name = key.rpartition(".")
        (cfg[section] if section else cfg)[name] = value
        return []
    return prepare


def _seed_file(content: bytes) -> Callable[[Path, dict, dict], list[str]]:
    def prepare(tmp: Path, cfg: dict, env: dict) -> list[str]:
        path = tmp / "seeds.jsonl"
        path.write_bytes(content)
        cfg["seeds"]["file"] = str(path)
        return []
    return prepare


def _unwritable(tmp: Path) -> Path:
    """A folder this process cannot write in (as root, chmod does not stop writes: use /proc)."""
    folder = tmp / "read-only"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except OSError:
        return folder / "sub"
    (folder / "probe").unlink()
    return Path("/proc/course-test-unwritable/sub")  # /proc takes no new files, not even root's


def _out_unwritable(tmp: Path, cfg: dict, env: dict) -> list[str]:
    return ["--out", str(_unwritable(tmp))]


def _cache_unwritable(tmp: Path, cfg: dict, env: dict) -> list[str]:
    cfg["output"]["cache_dir"] = str(_unwritable(tmp))
    return []


def _cache_is_file(tmp: Path, cfg: dict, env: dict) -> list[str]:
    (tmp / "cache-file").write_text("x")
    cfg["output"]["cache_dir"] = str(tmp / "cache-file")
    return []


def _out_is_file(tmp: Path, cfg: dict, env: dict) -> list[str]:
    (tmp / "out-file").write_text("x")
    return ["--out", str(tmp / "out-file")]


def _out_under_file(tmp: Path, cfg: dict, env: dict) -> list[str]:
    (tmp / "plain-file").write_text("x")
    return ["--out", str(tmp / "plain-file" / "out")]


def _out_not_empty(tmp: Path, cfg: dict, env: dict) -> list[str]:
    (tmp / "busy").mkdir()
    (tmp / "busy" / "notes.txt").write_text("mine")
    return ["--out", str(tmp / "busy")]


def _out_has_users_readme(tmp: Path, cfg: dict, env: dict) -> list[str]:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "README.md").write_text("my own notes")
    return ["--out", str(tmp / "mine"), "--overwrite"]


def _config_missing(tmp: Path, cfg: dict, env: dict) -> list[str]:
    return ["--config", str(tmp / "no-such.yaml")]


def _config_is_folder(tmp: Path, cfg: dict, env: dict) -> list[str]:
    return ["--config", str(tmp)]


def _seeds_folder(tmp: Path, cfg: dict, env: dict) -> list[str]:
    cfg["seeds"]["file"] = str(tmp)
    return []


def _model_without_template(tmp: Path, cfg: dict, env: dict) -> list[str]:
    folder = tmp / "no-template-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    cfg["backend"], cfg["model"] = "transformers", str(folder)
    return []


def _no_client_package(tmp: Path, cfg: dict, env: dict) -> list[str]:
    block = tmp / "block-openai"
    block.mkdir()  # imported at start-up: `openai` is then missing for this process
    (block / "sitecustomize.py").write_text("import sys\nsys.modules['openai'] = None\n")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(block), env.get("PYTHONPATH")) if p)
    cfg["backend"], cfg["llm"] = "llm", dict(SERVER_LLM)
    return []


def _llm(**fields: Any) -> dict:
    return {"llm": {**SERVER_LLM, **fields}}


CASES = [
    # --- the environment and the backend
    Case("COURSE_BACKEND=bogus", "COURSE_BACKEND", {"backend": "auto"}, {"COURSE_BACKEND": "bogus"}),
    Case("COURSE_MODEL missing folder", "COURSE_MODEL", {"backend": "auto"},
         {"COURSE_BACKEND": "", "COURSE_MODEL": "/nonexistent/model"}),
    Case("model: missing folder", "model", {"backend": "transformers",
                                             "model": "/nonexistent/model"}),
    Case("model: not cached, hub offline", "hf download", {"backend": "transformers",
                                                           "model": "course-test/not-cached"}),
    Case("model folder without chat template", "chat template", prepare=_model_without_template),
    Case("missing client package", "pip install openai", prepare=_no_client_package),
    Case("llm.api_key_env unset", "CAPSTONE_TEST_UNSET_KEY",
         {"backend": "llm", **_llm(api_key_env="CAPSTONE_TEST_UNSET_KEY")}),
    Case("backend llm, llm null", "llm section is null", {"backend": "llm"}),
    # --- the config file
    Case("config file missing", "does not exist", prepare=_config_missing),
    Case("config is a folder", "is a folder", prepare=_config_is_folder),
    Case("config not UTF-8", "not UTF-8", raw="name: caf\xe9\n".encode("latin-1")),
    Case("config not YAML", "not valid YAML", raw=b"name: [unclosed\n"),
    Case("config a list", "YAML mapping", raw=b"- a\n- b\n"),
    Case("config empty", "YAML mapping", raw=b""),
    Case("unknown key", "rouge_treshold", prepare=_set("dedup.rouge_treshold", 0.5)),
    Case("missing key", "mixing.share", prepare=_delete("mixing.share")),
    Case("section as a scalar", "dedup", {"dedup": 5}),
    Case("name with spaces", "name", {"name": "my dataset"}),
    Case("name null", "name", {"name": None}),
    Case("seed negative", "seed", {"seed": -1}),
    Case("seed text", "seed", {"seed": "abc"}),
    Case("backend unknown", "backend", {"backend": "gpu"}),
    Case("model a number", "model", {"model": 5}),
    Case("generation.max_new_tokens 0", "generation.max_new_tokens",
         {"generation.max_new_tokens": 0}),
    Case("generation.temperature 5", "generation.temperature", {"generation.temperature": 5}),
    Case("generation.batch_size true", "generation.batch_size", {"generation.batch_size": True}),
    Case("generation.batch_size 2.5", "generation.batch_size", {"generation.batch_size": 2.5}),
    Case("seeds.n 0", "seeds.n", {"seeds.n": 0}),
    Case("seeds.math_problems -1", "seeds.math_problems", {"seeds.math_problems": -1}),
    Case("seeds.file a number", "seeds.file", {"seeds.file": 3}),
    Case("self_instruct.threshold 1.5", "self_instruct.threshold",
         {"self_instruct.threshold": 1.5}),
    Case("evol.rounds text", "evol.rounds", {"evol.rounds": "2"}),
    Case("evol.operators unknown", "evol.operators", {"evol.operators": ["sideways"]}),
    Case("evol.operators a number", "evol.operators", {"evol.operators": 5}),
    Case("min_response_words > max", "filters.min_response_words",
         {"filters.min_response_words": 50, "filters.max_response_words": 10}),
    Case("filters.check_math_answers text", "filters.check_math_answers",
         {"filters.check_math_answers": "yes"}),
    Case("dedup.rouge_threshold 2", "dedup.rouge_threshold", {"dedup.rouge_threshold": 2}),
    Case("dedup.embedding_threshold text", "dedup.embedding_threshold",
         {"dedup.embedding_threshold": "high"}),
    Case("quality.method unknown", "quality.method", {"quality.method": "vibes"}),
    Case("quality.min_judge_score 11", "quality.min_judge_score", {"quality.min_judge_score": 11}),
    Case("quality.min_complexity -1", "quality.min_complexity", {"quality.min_complexity": -1}),
    Case("mixing.share 0.9", "mixing.share", {"mixing.share": 0.9}),
    Case("mixing.share NaN", "mixing.share", {"mixing.share": float("nan")}),
    Case("output.jsonl .jsonl (hidden)", "output.jsonl", {"output.jsonl": ".jsonl"}),
    Case("output.jsonl .train.jsonl (hidden)", "output.jsonl", {"output.jsonl": ".train.jsonl"}),
    Case("output.jsonl out.csv", "output.jsonl", {"output.jsonl": "out.csv"}),
    Case("output.jsonl in a subfolder", "output.jsonl", {"output.jsonl": "sub/train.jsonl"}),
    Case("output.distiset text", "output.distiset", {"output.distiset": "yes"}),
    Case("output.card 1", "output.card", {"output.card": 1}),
    Case("output.system_prompt a number", "output.system_prompt", {"output.system_prompt": 5}),
    Case("output.cache_dir a number", "output.cache_dir", {"output.cache_dir": 5}),
    # --- the optional preference section (validated even when enabled: false)
    Case("preference as a scalar", "preference", {"preference": 5}),
    Case("preference.enabled text", "preference.enabled", {"preference.enabled": "yes"}),
    Case("preference.k 1", "preference.k", {"preference.k": 1}),
    Case("preference.k text", "preference.k", {"preference.k": "4"}),
    Case("preference.temperature 0", "preference.temperature", {"preference.temperature": 0}),
    Case("preference.temperature 5", "preference.temperature", {"preference.temperature": 5}),
    Case("preference.max_new_tokens 0", "preference.max_new_tokens",
         {"preference.max_new_tokens": 0}),
    Case("preference.prefer unknown source", "preference.prefer",
         {"preference.prefer": ["verifiable", "vibes"]}),
    Case("preference.prefer a string", "preference.prefer", {"preference.prefer": "judge"}),
    Case("preference.margin negative", "preference.margin.judge",
         {"preference.margin": {"verifiable": 0.25, "judge": -1.0, "length": 0.25}}),
    Case("preference.margin a number", "preference.margin", {"preference.margin": 0.5}),
    Case("preference.max_per_prompt 0", "preference.max_per_prompt",
         {"preference.max_per_prompt": 0}),
    Case("preference.max_longer_share 2", "preference.max_longer_share",
         {"preference.max_longer_share": 2}),
    # --- the llm section (validated even when another backend is used)
    Case("llm as text", "llm must be null or a mapping", {"llm": "OpenAILLM"}),
    Case("llm.class a list", "llm.class", {"llm": {**SERVER_LLM, "class": ["OpenAILLM"]}}),
    Case("llm.class unknown", "llm.class", {"llm": {**SERVER_LLM, "class": "NoSuchLLM"}}),
    Case("llm.class abstract", "llm.class", {"llm": {**SERVER_LLM, "class": "LLM"}}),
    Case("llm unknown field", "base_urll", _llm(base_urll="x")),
    Case("llm.api_key written", "api_key_env", _llm(api_key="sk-never-here")),
    Case("llm.timeout text", "llm.timeout", _llm(timeout="soon")),
    Case("llm.default_headers a list", "llm.default_headers", _llm(default_headers=["x"])),
    Case("llm.api_key_env a number", "llm.api_key_env", _llm(api_key_env=5)),
    Case("llm required field missing", "model", {"llm": {"class": "OpenAILLM"}}),
    # --- the seed file
    Case("seeds file missing", "does not exist", {"seeds.file": "/nonexistent/seeds.jsonl"}),
    Case("seeds file a folder", "is a folder", prepare=_seeds_folder),
    Case("seeds not UTF-8", "not UTF-8", prepare=_seed_file('{"instruction": "caf\xe9"}\n'
                                                           .encode("latin-1"))),
    Case("seeds not JSONL", "not JSONL", prepare=_seed_file(b"instruction,input\nWrite,\n")),
    Case("seeds empty", "is empty", prepare=_seed_file(b"\n\n")),
    Case("seeds line without instruction", "instruction", prepare=_seed_file(b'{"text": "x"}\n')),
    # --- the folders
    Case("--out a file", "is a file", prepare=_out_is_file),
    Case("--out under a file", "plain-file", prepare=_out_under_file),
    Case("--out not empty", "--overwrite", prepare=_out_not_empty),
    Case("--out unwritable", "not writable", prepare=_out_unwritable),
    Case("--overwrite onto your README.md", "README.md", prepare=_out_has_users_readme),
    Case("--out empty string", "--out", prepare=lambda tmp, cfg, env: ["--out", ""]),
    Case("cache folder a file", "output.cache_dir", prepare=_cache_is_file),
    Case("cache folder unwritable", "not writable", prepare=_cache_unwritable),
    # --- the command line
    Case("unknown option", "--frobnicate", prepare=lambda tmp, cfg, env: ["--frobnicate"]),
    Case("--out missing", "--out", prepare=lambda tmp, cfg, env: ["--no-out"]),
]


def _base_config(tmp: Path) -> dict:
    return small_config(**{"name": NAME, "output.cache_dir": str(tmp / "cache"),
                           "dedup.embedding_threshold": None})


def run_case(case: Case, tmp: Path) -> dict:
    """Run the CLI on one bad input; returns what happened (rc, stderr, hang, work started)."""
    cfg = _base_config(tmp)
    env = {**ENV, **case.env}
    for key, value in case.overrides.items():
        section, _, name = key.rpartition(".")
        (cfg[section] if section else cfg)[name] = value
    extra = case.prepare(tmp, cfg, env) if case.prepare else []
    config = tmp / "config.yaml"
    config.write_bytes(case.raw if case.raw is not None else yaml.safe_dump(cfg).encode())
    args = ["--config", str(config), "--out", str(tmp / "out")]
    if extra[:1] == ["--no-out"]:
        args, extra = ["--config", str(config)], []
    for flag in ("--config", "--out"):  # a case's own --config/--out replaces the default one
        if flag in extra:
            i = args.index(flag)
            del args[i:i + 2]
    env = {k: v for k, v in env.items() if v != ""}
    try:
        proc = subprocess.run([sys.executable, "-m", "course_utils", "build-dataset", *args,
                               *extra], cwd=tmp, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"rc": None, "stderr": "", "stdout": "", "hang": True, "started": True}
    cache = Path(cfg["output"]["cache_dir"]) if isinstance(cfg["output"]["cache_dir"], str) \
        else tmp / "cache"
    # work started: a file in the config's cache (its lock aside: removed on exit), or the output
    written = [p for p in (cache / NAME).rglob("*") if p.is_file()] if cache.is_dir() else []
    started = bool(written) or (tmp / "out").exists()
    return {"rc": proc.returncode, "stderr": proc.stderr, "stdout": proc.stdout, "hang": False,
            "started": started}


def verdict(case: Case, got: dict) -> str:
    """clear error / crash / hang / silent wrong / unclear, for the table."""
    if got["hang"]:
        return "hang"
    err = got["stderr"]
    if got["rc"] == 0:
        return "silent wrong"
    if "Traceback" in err or got["rc"] != 2:
        return "crash"
    if len(err.strip().splitlines()) > 3 or case.needle.lower() not in err.lower() \
            or got["started"]:
        return "unclear"
    return "clear error"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_clear_line_before_any_work(case, tmp_path):
    got = run_case(case, tmp_path)
    assert not got["hang"], f"{case.id}: no answer within {TIMEOUT_S} s"
    err = got["stderr"]
    assert "Traceback" not in err, err[-3000:]
    assert got["rc"] == 2, (got["rc"], err[-2000:], got["stdout"][-1000:])
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 3, err
    assert case.needle.lower() in err.lower(), err
    assert err.startswith("error: "), err
    assert not got["started"], f"{case.id}: the pipeline started before the error"


def test_the_table_has_at_least_40_distinct_inputs():
    assert len({c.id for c in CASES}) == len(CASES) >= 40


if __name__ == "__main__":  # the note's table: python tests/test_capstone_bad_inputs.py
    import tempfile

    counts = {"tried": 0, "clear error": 0, "crash": 0, "hang": 0, "silent wrong": 0,
              "unclear": 0}
    for c in CASES:
        with tempfile.TemporaryDirectory() as d:
            v = verdict(c, run_case(c, Path(d)))
        counts["tried"] += 1
        counts[v] += 1
        if v != "clear error":
            print(f"{v:>12}: {c.id}")
    print(" | ".join(counts), "\n" + " | ".join(str(v) for v in counts.values()))
