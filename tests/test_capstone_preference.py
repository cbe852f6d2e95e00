"""The capstone's optional preference stage (issue 14): off by default, pairs for DPO when on.

Enabled, the run samples k candidates for the kept instructions with the offline teacher
(rule-based), scores and pairs them (`course_utils.preference`), and the export gains
`preference/` (TRL's prompt/chosen/rejected + a card), listed in the manifest; the main card
gives the pair counts by deciding source and the judge-vs-verifiable agreement. Disabled (the
shipped default), nothing changes: the same steps, cache keys, export hash and files. A failing
stage (an error, bad model output, 0 pairs) is counted and said; the SFT export is never lost.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from course_utils import capstone
from course_utils.capstone import small_config
from course_utils.formats import read_jsonl

EXPORT = importlib.import_module("course_utils.capstone.export")
STAGE = importlib.import_module("course_utils.capstone.preference_stage")
RUN = importlib.import_module("course_utils.capstone.run")
SMALL = {"dedup.embedding_threshold": None, "seeds.n": 4, "seeds.math_problems": 2,
         "seeds.dialogue": 4}


def _cfg(folder: Path, name: str, **overrides) -> dict:
    return small_config(**{"name": name, "output.cache_dir": str(folder / "cache"), **SMALL,
                           **overrides})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run with the stage enabled and one with the shipped (disabled) section."""
    tmp = tmp_path_factory.mktemp("pref")
    on_cfg = _cfg(tmp, "capstone-pref-on", **{"preference.enabled": True, "preference.k": 3})
    off_cfg = _cfg(tmp, "capstone-pref-off")
    on = capstone.build_dataset(on_cfg, tmp / "on", progress=False)
    off = capstone.build_dataset(off_cfg, tmp / "off", progress=False)
    return {"on": on, "off": off, "on_cfg": on_cfg, "off_cfg": off_cfg, "tmp": tmp}


def test_the_shipped_config_has_the_stage_off():
    cfg = capstone.load_config()
    assert cfg["preference"]["enabled"] is False and cfg["preference"]["k"] >= 2


def test_enabled_the_export_gains_a_preference_folder_in_trl_format(runs):
    out = runs["on"].out_dir
    records = read_jsonl(out / "preference" / "train.jsonl")
    assert records, "the offline teacher's candidates (rule-based) vary in quality: pairs exist"
    for rec in records:
        assert set(rec) == {"prompt", "chosen", "rejected"}
        assert [m["role"] for m in rec["prompt"]] == ["user"]
        assert [m["role"] for m in rec["chosen"]] == ["assistant"] == \
            [m["role"] for m in rec["rejected"]]
        assert rec["chosen"][0]["content"].strip() and rec["chosen"] != rec["rejected"]
    sft = {r["instruction"] for r in runs["on"].rows if r["kind"] != "dialogue"}
    assert {rec["prompt"][0]["content"] for rec in records} <= sft  # the kept instructions only
    manifest = json.loads((out / EXPORT.EXPORT_MANIFEST).read_text())
    assert "preference" in manifest["files"] and manifest["preference"]["pairs"] == len(records)
    assert runs["on"].files["preference"] == out / "preference"
    card = (out / "preference" / "README.md").read_text()
    assert f"{len(records)} pairs in TRL's conversational preference format" in card
    assert "rule-based" in card


def test_the_main_card_gives_the_counts_of_the_file_and_the_agreement(runs):
    out = runs["on"].out_dir
    records = read_jsonl(out / "preference" / "train.jsonl")
    report = runs["on"].preference["report"]
    assert sum(report["decided_by"].values()) == len(records)
    line = next(ln for ln in (out / "README.md").read_text().splitlines()
                if ln.startswith("- preference pairs:"))
    assert f"pairs: {len(records)} in `preference/train.jsonl`" in line
    shown = dict(re.findall(r"(verifiable|judge|length): (\d+)", line.split("agree")[0]))
    assert {k: int(v) for k, v in shown.items()} == {k: v for k, v in
                                                     report["decided_by"].items() if v}
    agree = report["agreement"]
    assert f"agree on {agree['agree']}/{agree['both_separate']} pairs" in line
    stage = next(s for s in runs["on"].stages if s["stage"] == "preference")
    assert stage["rows_out"] == len(records) and stage["responses"] == 3 * stage["rows_in"]
    assert "preference" in runs["on"].table()


def test_enabled_the_sft_export_is_the_same_as_disabled(runs):
    on, off = runs["on"].out_dir, runs["off"].out_dir
    assert (on / "train.jsonl").read_bytes() == (off / "train.jsonl").read_bytes()


def test_disabled_nothing_changes(runs, tmp_path):
    off, cfg = runs["off"], runs["off_cfg"]
    assert not (off.out_dir / "preference").exists() and off.preference is None
    manifest = json.loads((off.out_dir / EXPORT.EXPORT_MANIFEST).read_text())
    assert "preference" not in manifest["files"] and "preference" not in manifest
    assert "preference" not in (off.out_dir / "README.md").read_text()
    assert all(s["stage"] != "preference" for s in off.stages)
    # a config without the section: the same hashes, cache folders and steps
    absent = {k: v for k, v in cfg.items() if k != "preference"}
    assert capstone.validate_config(absent) == absent
    assert EXPORT.export_key(absent) == EXPORT.export_key(cfg)
    assert capstone.stats_dir_for(absent) == capstone.stats_dir_for(cfg)
    pipeline = capstone.build_pipeline(cfg)
    assert "preference" not in pipeline.dag.G
    for name in pipeline.dag.G:
        assert "preference" not in (getattr(pipeline.dag.get_step(name)["step"], "config",
                                            None) or {})


def test_a_rerun_reuses_the_preference_export(runs):
    again = capstone.build_dataset(runs["on_cfg"], runs["on"].out_dir, progress=False)
    assert again.reused and again.preference["records"] == runs["on"].preference["records"]


def test_a_failing_stage_is_reported_and_the_sft_export_is_kept(tmp_path, monkeypatch):
    def boom(llm, rows, cfg):
        raise RuntimeError("the server fell over")

    monkeypatch.setattr(STAGE, "preference_pairs", boom)  # workers are forked: they see it
    cfg = _cfg(tmp_path, "capstone-pref-fail", **{"preference.enabled": True})
    result = capstone.build_dataset(cfg, tmp_path / "out", progress=False)
    out = tmp_path / "out"
    assert result.rows and (out / EXPORT.EXPORT_MARKER).exists()  # complete SFT export
    assert read_jsonl(out / "preference" / "train.jsonl") == []
    assert "the server fell over" in (out / "preference" / "README.md").read_text()
    assert "the preference stage failed" in (out / "README.md").read_text()
    stage = next(s for s in result.stages if s["stage"] == "preference")
    assert stage["failed"] == 1 and stage["rows_out"] == 0


def test_zero_rows_reach_the_stage_and_the_run_still_ends(tmp_path):
    cfg = _cfg(tmp_path, "capstone-pref-zero", **{"preference.enabled": True, "seeds.dialogue": 0,
                                                  "quality.min_complexity": 1000.0})
    result = capstone.build_dataset(cfg, tmp_path / "out", progress=False)
    assert result.rows == [] and result.preference["records"] == []
    stage = next(s for s in result.stages if s["stage"] == "preference")
    assert stage["no_instructions"] == 1
    assert "0 pairs" in (tmp_path / "out" / "README.md").read_text()


class _Garbage:
    """A loaded LLM whose every reply is empty or cut off (as a random model's can be)."""

    def load(self) -> None:
        """Nothing to load."""

    def unload(self) -> None:
        """Nothing to unload."""

    def generate_outputs(self, inputs, num_generations=1, **kwargs):
        """Empty or truncated text for every prompt."""
        return [{"generations": ["", "And then the"][:num_generations] +
                 [None] * max(0, num_generations - 2)} for _ in inputs]


def test_bad_model_output_gives_zero_pairs_counted_never_a_crash():
    cfg = small_config(**{"preference.enabled": True})
    rows = [{"instruction": "List three fruits. Answer in no more than 20 words.",
             "kind": "general", "answer": None},
            {"instruction": "Good morning!", "kind": "dialogue", "answer": None}]
    result, counts = STAGE.run_guarded(_Garbage(), rows, cfg, str)
    assert result["error"] is None and result["records"] == []
    assert counts["rows_in"] == 1 and counts["rows_out"] == 0  # dialogue is not paired
    assert counts["flagged_empty"] >= 1 and counts["judge_unparsed"] >= 1
    assert "0 pairs" in STAGE.summary_line(result)


def test_an_llm_that_cannot_load_is_a_counted_failure():
    class _NoLoad(_Garbage):
        def load(self) -> None:
            raise OSError("no such model")

    cfg = small_config(**{"preference.enabled": True})
    rows = [{"instruction": "Name a colour.", "kind": "general", "answer": None}]
    result, counts = STAGE.run_guarded(_NoLoad(), rows, cfg, lambda e: f"{type(e).__name__}: {e}")
    assert result["error"] == "OSError: no such model" and counts["failed"] == 1


@pytest.mark.parametrize("key, value, needle", [
    ("preference.k", 1, "preference.k"),
    ("preference.k", "4", "preference.k"),
    ("preference.temperature", 0, "preference.temperature is 0"),
    ("preference.prefer", ["verifiable", "vibes"], "unknown source"),
    ("preference.prefer", "judge", "preference.prefer must be a list"),
    ("preference.margin", {"verifiable": 0.25, "judge": -1, "length": 0.25},
     "preference.margin.judge"),
    ("preference.enabled", "yes", "preference.enabled"),
    ("preference.max_longer_share", 1.5, "preference.max_longer_share"),
    ("preference.max_per_prompt", 0, "preference.max_per_prompt"),
])
def test_bad_preference_values_are_explained(key, value, needle):
    with pytest.raises(capstone.CapstoneError, match=re.escape(needle)):
        small_config(**{key: value})


def test_a_present_section_needs_every_key():
    cfg = small_config()
    del cfg["preference"]["k"]
    with pytest.raises(capstone.CapstoneError, match=r"Missing config key preference\.k"):
        capstone.validate_config(cfg)
    cfg = small_config()
    cfg["preference"]["kk"] = 4
    with pytest.raises(capstone.CapstoneError, match=r"Unknown config key preference\.'kk'"):
        capstone.validate_config(cfg)
    assert RUN.sft_config(small_config(**{"preference.enabled": True}))["preference"]["enabled"]
