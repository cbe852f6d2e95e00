"""The capstone's export folder: your files stay, an export is complete or visibly not, re-runs resume.

Covers `--overwrite` on a folder with the user's own files (only what the course's manifest lists
is replaced or removed), `output.distiset: false` removing a previous course-written Distiset, a
kill at every point of the swap (never a mixed folder that looks complete; the next run finishes
it), and the README's promise: re-running the same command reuses a complete export and finishes
a partial one.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from course_utils import capstone
from course_utils.capstone import CapstoneError, small_config
from course_utils.formats import read_jsonl

EXPORT = importlib.import_module("course_utils.capstone.export")  # the module, not the function
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "COURSE_BACKEND": "offline",
       "PYTHONHASHSEED": "0"}
MANIFEST, MARKER = EXPORT.EXPORT_MANIFEST, EXPORT.EXPORT_MARKER
SMALL = {"dedup.embedding_threshold": None, "seeds.n": 4, "seeds.math_problems": 2,
         "seeds.dialogue": 4}


def _cfg(tmp_path: Path, name: str = "capstone-export", **overrides) -> dict:
    return small_config(**{"name": name, "output.cache_dir": str(tmp_path / "cache"), **SMALL,
                           **overrides})


def _rows(n: int, tag: str = "") -> list[dict]:
    rows = [{"instruction": f"Explain topic number {i}{tag} in two sentences.",
             "response": f"Answer {i}{tag}: it is a topic worth two sentences.", "kind": "general"}
            for i in range(n)]
    return [{**r, "messages": [{"role": "user", "content": r["instruction"]},
                               {"role": "assistant", "content": r["response"]}]} for r in rows]


class FakeDistiset:
    """Saves a folder the way `Distiset.save_to_disk` does (the export only calls that)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def save_to_disk(self, target, **kwargs) -> None:
        (Path(target) / "default").mkdir(parents=True)
        (Path(target) / "default" / "data.txt").write_text(self.tag)
        (Path(target) / "pipeline.yaml").write_text("base_url: http://alice:s3cr3tpass@h/v1\n")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _export(cfg: dict, out: Path, tag: str, n: int = 3) -> None:
    EXPORT.check_paths(cfg, out, Path(cfg["output"]["cache_dir"]), overwrite=True)
    capstone.export(_rows(n, tag), cfg, out, [], distiset=FakeDistiset(tag))


# --- your files stay ---------------------------------------------------------------------------


def test_overwrite_keeps_the_users_own_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("my own README")
    (out / "notes.txt").write_text("my notes")
    (out / "distiset").mkdir()
    (out / "distiset" / "mine.txt").write_text("my distiset")
    cfg = _cfg(tmp_path, **{"output.card": True})
    with pytest.raises(CapstoneError, match=r"has distiset, README\.md, which the course did not"):
        EXPORT.check_paths(cfg, out, tmp_path / "cache", overwrite=True)
    with pytest.raises(CapstoneError, match="not empty"):  # and never without --overwrite
        EXPORT.check_paths(_cfg(tmp_path, **{"output.card": False, "output.distiset": False}),
                           out, tmp_path / "cache")
    # the course writes only what is not yours
    lean = _cfg(tmp_path, **{"output.card": False, "output.distiset": False})
    _export(lean, out, "a")
    assert (out / "README.md").read_text() == "my own README"
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "distiset" / "mine.txt").read_text() == "my distiset"
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"] == ["train.jsonl"] and (out / MARKER).exists()
    # a second overwrite replaces the course's file, and still nothing of yours
    lean2 = _cfg(tmp_path, **{"output.card": False, "output.distiset": False, "mixing.share": 0.2})
    _export(lean2, out, "b")
    assert "b" in (out / "train.jsonl").read_text()
    assert (out / "README.md").read_text() == "my own README"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MANIFEST, MARKER, "README.md", "distiset", "notes.txt", "train.jsonl"])
    assert not [p for p in tmp_path.iterdir() if ".course-export-" in p.name]  # no temp left


def test_distiset_false_removes_the_previous_course_distiset(tmp_path):
    out = tmp_path / "out"
    cfg = _cfg(tmp_path, **{"output.card": False})
    _export(cfg, out, "a")
    assert (out / "distiset" / "default" / "data.txt").read_text() == "a"
    (out / "notes.txt").write_text("mine")
    _export(_cfg(tmp_path, **{"output.card": False, "output.distiset": False}), out, "b")
    assert not (out / "distiset").exists()  # the course wrote it: gone with distiset: false
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / MANIFEST).read_text())["files"] == ["train.jsonl"]


def test_the_distiset_config_and_the_card_hold_no_secret_and_link_real_images(tmp_path):
    cfg = _cfg(tmp_path, llm={"class": "OpenAILLM", "model": "m",
                              "base_url": "http://alice:s3cr3tpass@127.0.0.1:9/v1"})
    out = tmp_path / "out"
    capstone.export(_rows(6), cfg, out, [], distiset=FakeDistiset("a"))
    assert "s3cr3tpass" not in (out / "distiset" / "pipeline.yaml").read_text()
    card = (out / "README.md").read_text()
    images = [line.split("](", 1)[1].rstrip(")") for line in card.splitlines() if "![" in line]
    assert images and all((out / image).is_file() for image in images), images


def test_the_card_says_whether_there_is_a_system_message_and_how_to_train_assistant_only(
        tmp_path):
    """A real export's card states the system-message handling, quoting what SmolLM2's and
    Qwen2.5's real templates insert without one, and that assistant-only loss with TRL needs
    generation markers (`with_generation_markers`)."""
    from course_utils.assistant_mask import real_chat_template
    from course_utils.formats import SMOLLM2_DEFAULT_SYSTEM

    out = tmp_path / "out"
    capstone.build_dataset(_cfg(tmp_path, name="capstone-card"), out)
    records = read_jsonl(out / "train.jsonl")
    assert records and not [r for r in records if r["messages"][0]["role"] == "system"]
    card = (out / "README.md").read_text(encoding="utf-8")
    head, notes = card.split("## Training on it", 1)
    assert "read *Training on it* below" in head and "ready for TRL" not in card
    assert "**System message: none.**" in notes and "`output.system_prompt" in notes
    for name, default in (("smollm2", SMOLLM2_DEFAULT_SYSTEM),
                          ("qwen2_5", EXPORT.QWEN2_5_DEFAULT_SYSTEM)):
        assert default in real_chat_template(name) and f'"{default}"' in notes, name
    assert "assistant_only_loss=True" in notes and "{% generation %}" in notes
    assert "with_generation_markers(tokenizer.chat_template)" in notes

    # output.system_prompt set: every conversation carries it, and the card says so
    tutor = "You are a careful tutor."
    out2 = tmp_path / "out2"
    capstone.build_dataset(_cfg(tmp_path, name="capstone-card", **{"output.system_prompt": tutor}),
                           out2)
    records = read_jsonl(out2 / "train.jsonl")
    assert records and all(r["messages"][0] == {"role": "system", "content": tutor}
                           for r in records)
    notes = (out2 / "README.md").read_text(encoding="utf-8").split("## Training on it", 1)[1]
    assert "**System message: yes.**" in notes and f'the same one in all: "{tutor}"' in notes
    assert SMOLLM2_DEFAULT_SYSTEM not in notes

    # some with, some without: counted
    rows = _rows(4)
    rows[0]["messages"] = [{"role": "system", "content": tutor}, *rows[0]["messages"]]
    lean = _cfg(tmp_path, **{"output.distiset": False})
    capstone.export(rows, lean, tmp_path / "out3", [])
    notes = (tmp_path / "out3" / "README.md").read_text(encoding="utf-8")
    assert "**System message: in 1 of 4 conversations.**" in notes
    assert SMOLLM2_DEFAULT_SYSTEM in notes


def test_an_edited_manifest_never_leads_outside_the_folder(tmp_path):
    out = tmp_path / "out"
    cfg = _cfg(tmp_path, **{"output.card": False, "output.distiset": False})
    capstone.export(_rows(2), cfg, out, [])
    (tmp_path / "victim.txt").write_text("keep me")
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append("../victim.txt")
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CapstoneError, match="train.jsonl, which the course did not write"):
        EXPORT.check_paths(cfg, out, tmp_path / "cache", overwrite=True)  # not the course's now
    capstone.export(_rows(3), cfg, out, [])
    assert (tmp_path / "victim.txt").read_text() == "keep me"


def test_export_files_have_ordinary_permissions(tmp_path):
    out = tmp_path / "out"
    capstone.export(_rows(2), _cfg(tmp_path, **{"output.card": False}), out, [])
    mask = os.umask(0)
    os.umask(mask)
    assert (out / "train.jsonl").stat().st_mode & 0o777 == 0o666 & ~mask
    assert out.stat().st_mode & 0o777 == 0o777 & ~mask


# --- a kill during the export --------------------------------------------------------------------


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs in the export."""


def _kill_at(monkeypatch, k: int) -> None:
    """Make the k-th os.replace of the export (0-based) die before it happens."""
    calls = {"n": 0}
    real = os.replace

    def replace(src, dst):
        if calls["n"] == k:
            raise Killed(f"killed before os.replace #{k}")
        calls["n"] += 1
        return real(src, dst)

    monkeypatch.setattr(EXPORT.os, "replace", replace)
    monkeypatch.setattr(EXPORT.shutil, "rmtree", lambda *a, **kw: None)  # no clean-up either


def _looks_complete(out: Path) -> bool:
    return (out / MARKER).exists()


def test_a_kill_at_any_point_of_the_export_never_leaves_a_mixed_folder_that_looks_complete(
        tmp_path, monkeypatch):
    old_cfg = _cfg(tmp_path)
    new_cfg = _cfg(tmp_path, **{"mixing.share": 0.2})
    reference = tmp_path / "reference"
    _export(old_cfg, reference, "old")
    old = _snapshot(reference)
    fresh = tmp_path / "fresh-reference"
    _export(new_cfg, fresh, "new")
    new = _snapshot(fresh)
    k = 0
    while True:
        out = tmp_path / f"out-{k}"
        _export(old_cfg, out, "old")
        (out / "notes.txt").write_text("mine")
        with monkeypatch.context() as m:
            _kill_at(m, k)
            try:
                _export(new_cfg, out, "new")
                finished = True
            except Killed:
                finished = False
        state = {n: b for n, b in _snapshot(out).items() if n != "notes.txt"}
        assert (out / "notes.txt").read_text() == "mine"
        if _looks_complete(out):  # complete: wholly the old export, or wholly the new one
            assert state in (old, new), f"kill #{k}: a mixed folder that looks complete"
        # the same command again finishes it: the new export, whole, without the temp folders
        _export(new_cfg, out, "new")
        assert {n: b for n, b in _snapshot(out).items() if n != "notes.txt"} == new
        assert not [p for p in tmp_path.iterdir() if f".out-{k}.course-export-" in p.name]
        if finished:
            break
        k += 1
    assert k >= 8  # the swap was interrupted at every one of its steps


def test_a_kill_into_a_fresh_folder_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    for k in range(3):
        out = tmp_path / f"fresh-{k}"
        with monkeypatch.context() as m:
            _kill_at(m, k)
            with pytest.raises(Killed):
                _export(cfg, out, "x")
        assert not out.exists() or not _looks_complete(out)
        EXPORT.check_paths(cfg, out, tmp_path / "cache")  # the same command is accepted again


# --- the README's promise: re-running the same command --------------------------------------------


KILL_DURING_SWAP = textwrap.dedent("""
    import importlib, os, sys
    from course_utils.capstone import main

    export = importlib.import_module("course_utils.capstone.export")
    real_swap, real_replace, calls = export._swap_in, os.replace, [0]

    def swap(*args, **kwargs):  # kill -9 (no clean-up at all) at the 2nd move of the swap
        def replace(src, dst):
            calls[0] += 1
            if calls[0] == 2:
                os._exit(137)
            return real_replace(src, dst)
        export.os.replace = replace
        return real_swap(*args, **kwargs)

    export._swap_in = swap
    sys.exit(main(sys.argv[1:]))
""")


def _cli(tmp_path: Path, *args: str, script: str = "") -> subprocess.CompletedProcess:
    head = [sys.executable, "-c", script] if script else [sys.executable, "-m", "course_utils",
                                                          "build-dataset"]
    return subprocess.run([*head, *args], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=300)


def test_rerunning_the_same_command_reuses_or_finishes_the_export(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(_cfg(tmp_path, name="capstone-rerun")), encoding="utf-8")
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(_cfg(tmp_path, name="capstone-rerun",
                                         **{"mixing.share": 0.2})), encoding="utf-8")
    out = tmp_path / "out"
    args = ["--config", str(config), "--out", str(out)]
    r = _cli(tmp_path, *args)
    assert r.returncode == 0, r.stderr[-2000:]
    first = _snapshot(out)
    assert _looks_complete(out) and read_jsonl(out / "train.jsonl")

    r = _cli(tmp_path, *args)  # complete, same config: reused, nothing runs
    assert r.returncode == 0 and "already holds this config's complete export" in r.stdout, r.stderr
    assert _snapshot(out) == first

    # another config into the same folder needs --overwrite; killed half-way through the swap
    r = _cli(tmp_path, "--config", str(other), "--out", str(out))
    assert r.returncode == 2 and "another config" in r.stderr
    (out / "notes.txt").write_text("mine")
    r = _cli(tmp_path, "--config", str(other), "--out", str(out), "--overwrite",
             script=KILL_DURING_SWAP)
    assert r.returncode == 137 and not _looks_complete(out)
    # the same command again finishes it (and so does it without --overwrite: a partial export
    # of this config is the course's to finish)
    r = _cli(tmp_path, "--config", str(other), "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert _looks_complete(out) and (out / "notes.txt").read_text() == "mine"
    assert (out / MARKER).read_text().strip() == json.loads((out / MANIFEST).read_text())["config"]
    assert not [p for p in tmp_path.iterdir() if ".out.course-export-" in p.name]


def test_build_dataset_reuses_a_complete_export_and_finishes_a_partial_one(tmp_path):
    cfg = _cfg(tmp_path, name="capstone-reuse")
    out = tmp_path / "out"
    first = capstone.build_dataset(cfg, out)
    assert not first.reused and _looks_complete(out)
    again = capstone.build_dataset(cfg, out)
    assert again.reused and again.seconds < 15
    assert [r["messages"] for r in again.rows] == [r["messages"] for r in first.rows]
    assert again.dataset.num_rows == len(first.rows) and "distiset" in again.files
    (out / MARKER).unlink()  # as a kill during the swap leaves it
    finished = capstone.build_dataset(cfg, out)  # no --overwrite needed: the course's own folder
    assert not finished.reused and _looks_complete(out)
    assert read_jsonl(out / "train.jsonl") == [{"messages": r["messages"]} for r in first.rows]


def test_a_lone_surrogate_is_repaired_not_dropped(tmp_path, capsys):
    """A reply with a lone surrogate reaches train.jsonl repaired (U+FFFD), and the repair is counted."""
    import json as _json

    from course_utils.capstone import export as _export_fn, small_config

    cfg = small_config(**{"output.distiset": False, "output.card": False})
    row = {"instruction": "Say hi", "response": "hi \ud83d", "kind": "general", "source": "generated",
           "messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi \ud83d"}]}
    _export_fn([row], cfg, tmp_path / "out", [])
    lines = (tmp_path / "out" / cfg["output"]["jsonl"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and "\ufffd" in _json.loads(lines[0])["messages"][1]["content"]
    assert "repaired 2 text(s)" in capsys.readouterr().out
