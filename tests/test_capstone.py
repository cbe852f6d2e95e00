"""The capstone pipeline (notebook 09): config validation, CLI errors, an end-to-end run, resume, export."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from course_utils import capstone
from course_utils.capstone import CapstoneError, load_config, small_config, validate_config
from course_utils.formats import read_jsonl, validate_messages

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "COURSE_BACKEND": "offline", "PYTHONHASHSEED": "0"}
FAST = {"dedup.embedding_threshold": None}  # the embedding pass is exercised once, in the end-to-end run


def _cfg(tmp_path: Path, name: str = "capstone-test", **overrides) -> dict:
    return small_config(**{"name": name, "output.cache_dir": str(tmp_path / "cache"), **FAST, **overrides})


def _write(tmp_path: Path, cfg: dict, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_utils", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=240)


# --- configuration -------------------------------------------------------------------------------------


def test_the_shipped_config_is_valid_and_complete():
    cfg = load_config()
    assert cfg["mixing"]["share"] == 0.15 and cfg["backend"] == "auto"


def test_unknown_key_is_named(tmp_path):
    cfg = small_config()
    cfg["dedup"]["rouge_treshold"] = 0.5
    with pytest.raises(CapstoneError, match=r"Unknown config key dedup\.'rouge_treshold'.*rouge_threshold"):
        validate_config(cfg)


def test_missing_key_is_named_with_its_default(tmp_path):
    cfg = small_config()
    del cfg["mixing"]["share"]
    with pytest.raises(CapstoneError, match=r"Missing config key mixing\.share \(the default is 0\.15\)"):
        validate_config(cfg)


@pytest.mark.parametrize("key, value, needle", [
    ("mixing.share", 0.9, "mixing.share"),
    ("backend", "gpu", "backend must be one of"),
    ("quality.method", "vibes", "quality.method"),
    ("generation.batch_size", 0, "generation.batch_size"),
    ("output.jsonl", "out.csv", "output.jsonl"),
])
def test_bad_values_are_explained(key, value, needle):
    with pytest.raises(CapstoneError, match=needle.replace(".", r"\.")):
        small_config(**{key: value})


def test_llm_section_is_validated_but_not_instantiated():
    ok = small_config(llm={"class": "OpenAILLM", "model": "m", "base_url": "http://localhost:8000/v1"})
    assert ok["backend"] == "offline"  # named, validated, not used
    with pytest.raises(CapstoneError, match="not a distilabel LLM class"):
        small_config(llm={"class": "NoSuchLLM"})
    with pytest.raises(CapstoneError, match="has no field"):
        small_config(llm={"class": "OpenAILLM", "model": "m", "base_urll": "x"})
    with pytest.raises(CapstoneError, match="never write an API key"):
        small_config(llm={"class": "OpenAILLM", "model": "m", "api_key": "sk-123"})
    with pytest.raises(CapstoneError, match="llm section is null"):
        small_config(backend="llm")


def test_llm_section_builds_the_named_class_when_chosen(monkeypatch):
    monkeypatch.setenv("MY_KEY", "secret")
    cfg = small_config(backend="llm", llm={"class": "OpenAILLM", "model": "my-model",
                                           "base_url": "http://localhost:8000/v1", "api_key_env": "MY_KEY"})
    llm = capstone.make_llm(cfg, announce=False)
    assert type(llm).__name__ == "OpenAILLM" and llm.base_url == "http://localhost:8000/v1"


def test_seed_file_that_is_not_jsonl(tmp_path):
    bad = tmp_path / "seeds.jsonl"
    bad.write_text("instruction,input\nWrite a poem,\n", encoding="utf-8")
    with pytest.raises(CapstoneError, match="not JSONL: line 1"):
        capstone.read_seeds(str(bad))


# --- the CLI: bad input exits 2 with a message, never a traceback -------------------------------------


def test_cli_errors_exit_2_with_a_message(tmp_path):
    cfg = _cfg(tmp_path)
    cfg["mixing"]["shares"] = 0.1
    r = _cli("build-dataset", "--config", str(_write(tmp_path, cfg)), "--out", str(tmp_path / "o1"), cwd=tmp_path)
    assert r.returncode == 2 and "Unknown config key mixing.'shares'" in r.stderr and "Traceback" not in r.stderr

    bad_seeds = tmp_path / "seeds.jsonl"
    bad_seeds.write_text("not json\n", encoding="utf-8")
    cfg = _cfg(tmp_path, **{"seeds.file": str(bad_seeds)})
    r = _cli("build-dataset", "--config", str(_write(tmp_path, cfg)), "--out", str(tmp_path / "o2"), cwd=tmp_path)
    assert r.returncode == 2 and "not JSONL" in r.stderr and "Traceback" not in r.stderr

    existing = tmp_path / "o3"
    existing.mkdir()
    (existing / "keep.txt").write_text("x")
    r = _cli("build-dataset", "--config", str(_write(tmp_path, _cfg(tmp_path))), "--out", str(existing), cwd=tmp_path)
    assert r.returncode == 2 and "--overwrite" in r.stderr and "Traceback" not in r.stderr

    r = _cli("build-dataset", "--config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o4"), cwd=tmp_path)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = _cli("frobnicate", cwd=tmp_path)
    assert r.returncode == 2 and "unknown command" in r.stderr


# --- end to end ----------------------------------------------------------------------------------------


def test_end_to_end_with_the_offline_teacher(tmp_path):
    cfg = small_config(**{"name": "capstone-e2e", "output.cache_dir": str(tmp_path / "cache")})  # embeddings on
    path = _write(tmp_path, cfg)
    r = _cli("build-dataset", "--config", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    for stage in capstone.STAGES:
        assert stage in r.stdout  # rows in/out per stage printed
    out = tmp_path / "out"
    records = read_jsonl(out / "train.jsonl")
    assert records and all(validate_messages(rec["messages"]) == [] for rec in records)
    thinking = [rec for rec in records if "<thinking>" in rec["messages"][-1]["content"]]
    assert thinking, "the math subset is answered with <thinking>"
    # 10-20% plain dialogue (book pitfall 2), none of it with tags
    dialogue = [rec for rec in records if rec["messages"][0]["content"] in
                [d["instruction"] for d in capstone._input_rows(cfg) if d["kind"] == "dialogue"]]
    assert 0.08 <= len(dialogue) / len(records) <= 0.2
    assert not any("<thinking>" in rec["messages"][-1]["content"] for rec in dialogue)
    card = (out / "README.md").read_text()
    assert "## Rows in and out per stage" in card and "## Evaluation report" in card and "Mode collapse" in card
    from datasets import load_from_disk

    distiset = load_from_disk(str(out / "distiset" / "default"))
    assert distiset["train"].num_rows == len(records)


def test_build_dataset_returns_a_dataset_and_handles_zero_rows(tmp_path):
    cfg = _cfg(tmp_path, name="capstone-zero", **{"quality.min_complexity": 1000.0, "seeds.n": 2,
                                                   "seeds.math_problems": 1})  # nothing is complex enough
    result = capstone.build_dataset(cfg, tmp_path / "out")
    assert result.rows == [] and result.dataset.num_rows == 0
    assert read_jsonl(tmp_path / "out" / "train.jsonl") == []
    stages = {s["stage"]: s for s in result.stages}
    assert stages["quality"]["too_simple"] > 0 and stages["mix"]["rows_out"] == 0
    assert "nothing to evaluate" in (tmp_path / "out" / "README.md").read_text()


# --- resume after an interrupted run -------------------------------------------------------------------

KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from course_utils import capstone
    from course_utils.capstone import steps

    config, out, calls, after, how = sys.argv[1:6]
    calls, after = Path(calls), int(after)
    os.environ["CAPSTONE_TEST_MAIN_PID"] = str(os.getpid())  # inherited by the forked step workers
    original = steps.generate_batch

    def counted(llm, rows, cfg):
        out = original(llm, rows, cfg)
        with open(calls, "a") as f:
            f.write("x")
        if after and len(calls.read_text()) == after:
            if how == "kill":  # a hard crash: no clean-up, no flush, maybe half-written cache files
                os.killpg(os.getpgrp(), signal.SIGKILL)
            else:  # Ctrl-C
                os.kill(int(os.environ["CAPSTONE_TEST_MAIN_PID"]), signal.SIGINT)
        return out

    # GenerateStep looks generate_batch up in its own module; the workers are forked: they see the patch
    steps.generate_batch = counted
    sys.exit(capstone.main(["--config", config, "--out", out, "--overwrite"]))
""")


def _run_counted(tmp_path: Path, config: Path, out: Path, calls: Path, after: int, how: str = "int"):
    script = tmp_path / "killer.py"
    script.write_text(KILLER, encoding="utf-8")
    try:
        proc = subprocess.Popen([sys.executable, str(script), str(config), str(out), str(calls), str(after), how],
                                env=ENV, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        stdout, stderr = proc.communicate(timeout=120)
    finally:  # never leave distilabel workers behind
        try:
            os.killpg(proc.pid, 9)
        except (ProcessLookupError, PermissionError, UnboundLocalError):
            pass
    return proc.returncode, stdout, stderr


def _uninterrupted(tmp_path: Path, cfg: dict) -> list[dict]:
    fresh = {**cfg, "output": {**cfg["output"], "cache_dir": str(tmp_path / "fresh-cache")}}
    capstone.build_dataset(fresh, tmp_path / "fresh", use_cache=False)
    return read_jsonl(tmp_path / "fresh" / "train.jsonl")


def _same(a: list[dict], b: list[dict]) -> bool:
    key = lambda rec: json.dumps(rec, sort_keys=True)  # noqa: E731
    return len(a) == len(b) > 0 and sorted(map(key, a)) == sorted(map(key, b)) and len(set(map(key, a))) == len(a)


def test_resume_after_ctrl_c_and_after_a_hard_kill_loses_and_duplicates_nothing(tmp_path):
    small = {"generation.batch_size": 2, "seeds.n": 4, "seeds.math_problems": 2, "seeds.dialogue": 4}
    cfg = _cfg(tmp_path, name="capstone-resume", **small)  # 5 generation batches
    config = _write(tmp_path, cfg)
    expected = _uninterrupted(tmp_path, cfg)
    calls = tmp_path / "calls.txt"

    # Ctrl-C after 2 batches: the CLI says so, exports nothing, exits 130
    rc, _, err = _run_counted(tmp_path, config, tmp_path / "out", calls, after=2, how="int")
    assert rc == 130 and "resume" in err, err[-2000:]
    assert not (tmp_path / "out" / "train.jsonl").exists()
    done_before = len(calls.read_text())
    calls.write_text("")
    rc, out, err = _run_counted(tmp_path, config, tmp_path / "out", calls, after=0)
    assert rc == 0, err[-2000:]
    assert len(calls.read_text()) <= 5 - done_before  # the batches finished before Ctrl-C were not generated again
    assert _same(read_jsonl(tmp_path / "out" / "train.jsonl"), expected)

    # a hard kill (SIGKILL of every process) after 2 batches of a new run, then a re-run
    hard = _cfg(tmp_path, name="capstone-hard", **small)
    config = _write(tmp_path, hard, "hard.yaml")
    calls.write_text("")
    rc, _, _ = _run_counted(tmp_path, config, tmp_path / "out2", calls, after=2, how="kill")
    assert rc != 0 and len(calls.read_text()) == 2
    rc, out, err = _run_counted(tmp_path, config, tmp_path / "out2", calls, after=0)
    assert rc == 0, err[-2000:]
    assert _same(read_jsonl(tmp_path / "out2" / "train.jsonl"), expected)


# --- atomic export -------------------------------------------------------------------------------------


def test_an_interrupted_export_keeps_the_previous_file(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, name="capstone-atomic", **{"output.card": False, "output.distiset": False})
    rows = [{"instruction": f"Explain topic number {i} in two sentences.", "response": f"Answer {i}.",
             "kind": "general"} for i in range(5)]
    rows = [{**r, "messages": [{"role": "user", "content": r["instruction"]},
                               {"role": "assistant", "content": r["response"]}]} for r in rows]
    capstone.export(rows, cfg, tmp_path / "out", [])
    before = (tmp_path / "out" / "train.jsonl").read_bytes()
    assert before.count(b"\n") == 5

    def exploding_records(records, **kwargs):
        def gen():
            yield from records[:2]
            raise KeyboardInterrupt("interrupted half-way through the export")
        return gen()

    monkeypatch.setattr("course_utils.formats.to_messages_records", exploding_records)
    with pytest.raises(KeyboardInterrupt):
        capstone.export(rows[:3], cfg, tmp_path / "out", [])
    assert (tmp_path / "out" / "train.jsonl").read_bytes() == before  # the good file is still there, whole
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]  # no temp file left behind


# --- what reaches the export (issue 12, item 10) -------------------------------------------------------

# the examples: a writing critique and a coding task that a keyword regex routed to CoT
NOT_MATH = ["Critique the argument of this essay and compute how many claims lack evidence.",
            "Fix the bug in this JavaScript loop, then calculate the total it prints."]


class _ScriptedTeacher:
    """Self-Instruct prompts get NOT_MATH as new tasks; every other prompt a complete answer."""

    generation_kwargs: dict = {}

    def generate_outputs(self, inputs, num_generations=1, **kwargs):
        outs = []
        for messages in inputs:
            text = messages[-1]["content"]
            reply = (f"{NOT_MATH[0]}\nTask 98: {NOT_MATH[1]}" if text.rstrip().endswith(":")
                     else "Here is a complete answer, with a reason.")
            stats = {"input_tokens": [1], "output_tokens": [1]}
            outs.append({"generations": [reply], "statistics": stats})
        return outs


def test_only_problems_the_checker_can_verify_are_answered_with_cot():
    cfg = small_config(**{"evol.rounds": 0})
    rows = capstone._input_rows(cfg)
    rows = ([r for r in rows if r["kind"] == "seed"][:3]
            + [r for r in rows if r["kind"] == "math"][:2])
    out, _ = capstone.generate_batch(_ScriptedTeacher(), rows, cfg)
    kinds = {r["instruction"]: r["kind"] for r in out}
    assert all(kinds.get(t) == "general" for t in NOT_MATH), kinds
    math = [r for r in out if r["kind"] == "math"]
    assert math and all(r["origin"] == "problem" and r["answer"] is not None for r in math)


@pytest.mark.parametrize("response, dropped", [
    ("You're welcome! Let me", True),
    ("Here are the steps:\n1. Measure the flour\n2. Mix it with", True),
    ("```python\nprint(1)", True),
    ("You're welcome!", False),
    ("| option | cost |\n|---|---|\n| train | 40 |", False),
    ("Bonjour ! Je vais bien, merci.", False),
    ("很好，谢谢。", False),
])
def test_truncated_answers_are_filtered(response, dropped):
    cfg = small_config()
    rows = [{"instruction": "Thanks for your help with the report.", "kind": kind,
             "response": response} for kind in ("dialogue", "general")]
    cfg["filters"]["min_response_words"] = 0
    kept, counts = capstone.filter_rows(rows, cfg)
    assert (counts.get("truncated", 0) == 2) is dropped and (not kept) is dropped, counts


def test_instruction_following_is_measured_before_the_quality_filter():
    cfg = small_config()
    instruction = "Explain photosynthesis in exactly three bullet points for a curious student."
    responses = ("- Light is captured.\n- Water is split.\n- Sugar is made.",
                 "Plants make sugar from light.")
    rows = [{"instruction": instruction, "kind": "general", "response": r} for r in responses]
    kept, counts = capstone.score_rows(rows, cfg)
    assert counts["if_checked"] == 2 and counts["if_passed"] == 1 and counts["if_failed"] == 1
    assert len(kept) == 1
    from course_utils.capstone.export import _card

    card = _card(cfg, kept, [{"stage": "quality", "rows_in": 2, "rows_out": 1, **counts}],
                 "# report\n\n## Instruction following\n\n100%")
    assert "before the quality filter**: 1 of 2 rows with checkable constraints passed (50%)" \
        in card and "measures only rows that passed" in card
    stages = ("Self-Instruct", "Evol-Instruct", "filters", "quality", "dedup", "mixing")
    order = [card.index(s) for s in stages]
    assert order == sorted(order), "the card states the stages in the pipeline's order"


def test_the_stage_table_counts_repeated_inputs_and_the_export_is_readable(tmp_path):
    # 24 dialogue prompts from a list of 16: two generation batches have the same instructions
    cfg = _cfg(tmp_path, name="capstone-repeats", **{"seeds.n": 4, "seeds.math_problems": 0,
                                                      "seeds.dialogue": 24})
    result = capstone.build_dataset(cfg, tmp_path / "out")
    stages = {s["stage"]: s for s in result.stages}
    assert stages["load"]["rows_out"] == stages["generate"]["rows_in"] == 28
    assert stages["filter"]["rows_in"] == stages["generate"]["rows_out"]
    assert stages["quality"]["rows_in"] == stages["filter"]["rows_out"]
    out = tmp_path / "out"
    mask = os.umask(0)
    os.umask(mask)
    assert (out / "train.jsonl").stat().st_mode & 0o777 == 0o666 & ~mask  # not 0600
    card = (out / "README.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", card)
    assert links and all((out / link).is_file() for link in links), links  # no missing image
