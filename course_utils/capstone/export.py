"""Export a capstone run: the JSONL, the Dataset, the Distiset and the dataset card, safely.

**Built aside, swapped in whole.** Everything is written into a temporary folder beside the
output folder, then moved in: a new (or empty) output folder is that temporary folder, renamed
at once; into an existing one each item replaces the previous one. Two hidden files make an
output folder safe to re-use:

- `.course-manifest.json` lists what the course wrote there, with the config's hash:
  `--overwrite` replaces or removes only those items, never a file of yours (a file of yours in
  the way, e.g. your own README.md, is an error before anything runs);
- `.course-export-complete` holds the config's hash and is written last: a folder without it is
  not a finished export. A kill during the swap leaves the marker missing, never a mixed folder
  that looks complete.

Re-running the same config on a complete folder reuses it at once (`reuse_export`); on a partial
one (manifest, no marker) the run finishes it, without `--overwrite`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from .. import formats
from ..text_safety import sanitize
from ..evaluation import report
from ..models import resolve_backend
from ..preference import write_preference_dataset
from .config import CapstoneError, preference_enabled, sft_config
from .preference_stage import summary_line
from .secrets import redact, redacted_config, secrets_of
from .stages import stage_table, zero_rows_reason

__all__ = ["BuildResult", "EXPORT_COLUMNS", "EXPORT_MARKER", "EXPORT_MANIFEST", "check_paths",
           "export", "export_key", "reuse_export"]

EXPORT_COLUMNS = ("messages", "instruction", "response", "kind", "origin", "operator", "answer",
                  "source", "complexity", "if_pass", "judge_score", "distilabel_metadata")
EXPORT_MANIFEST = ".course-manifest.json"
EXPORT_MARKER = ".course-export-complete"
_STAGE_PREFIX = ".course-export-"
_ENV_KEYS = ("COURSE_BACKEND", "COURSE_MODEL", "COURSE_MODEL_REVISION", "COURSE_BASE_URL")
PREFERENCE_DIR = "preference"  # the optional preference stage's export: train.jsonl + README.md


@dataclass
class BuildResult:
    """What `build_dataset` produced: rows, stage counts, files, the Dataset and the report."""

    rows: list[dict]
    stages: list[dict]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    dataset: Any = None
    distiset: Any = None
    report: Any = None
    seconds: float = 0.0
    reused: bool = False  # True: the folder already held a complete export of this config
    preference: Optional[dict] = None  # the preference stage's pairs and report (when enabled)

    def table(self) -> str:
        """The rows in and out per stage, as a fixed-width text table."""
        return stage_table(self.stages)

    def __repr__(self) -> str:  # no absolute paths: notebooks compare this text
        return f"BuildResult(rows={len(self.rows)}, files={sorted(self.files)})"


# --- what the course writes, and whether a folder holds it ---------------------------------------


def export_key(cfg: dict) -> str:
    """The hash that ties an export to its config (secrets redacted; the cache folder left out)."""
    shown = redacted_config(sft_config(cfg))  # a preference section that is off: the same hash
    shown["output"] = {k: v for k, v in shown["output"].items() if k != "cache_dir"}
    if cfg["backend"] in ("auto", "transformers"):  # the environment can choose the teacher
        shown["environment"] = redact({k: os.environ.get(k) for k in _ENV_KEYS})
    text = json.dumps(shown, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _planned_names(cfg: dict) -> list[str]:
    """The top-level items an export of `cfg` writes (the two hidden files aside)."""
    out = cfg["output"]
    names = [out["jsonl"]]
    if out["distiset"]:
        names.append("distiset")
    if out["card"]:
        names += ["README.md", "report"]
    if preference_enabled(cfg):
        names.append(PREFERENCE_DIR)
    return names


def _read_manifest(out: Path) -> Optional[dict]:
    try:
        manifest = json.loads((out / EXPORT_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not all(_plain_name(f) for f in files):
        return None  # not the course's (or edited): nothing in the folder counts as the course's
    return manifest


def _plain_name(name: Any) -> bool:
    """A name directly inside the folder: never a path that leads out of it."""
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name
            and "\\" not in name and "\0" not in name)


def _marker(out: Path) -> Optional[str]:
    try:
        return (out / EXPORT_MARKER).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _is_complete(out: Path, key: str) -> bool:
    manifest = _read_manifest(out)
    return (manifest is not None and manifest.get("config") == key and _marker(out) == key
            and all((out / name).exists() for name in manifest["files"]))


# --- checks before anything runs -----------------------------------------------------------------


def _probe_writable(folder: Path) -> bool:
    try:
        fd, probe = tempfile.mkstemp(prefix=".course-write-test-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _usable_folder(path: Path, what: str, fix: str) -> None:
    """`path` (a folder, or one to be created) can be written, else a CapstoneError."""
    if path.exists() and not path.is_dir():
        raise CapstoneError(f"{what} {str(path)!r} is a file, not a folder: {fix}")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CapstoneError(f"{what} {str(path)!r} cannot be created: {str(existing)!r} is a "
                            f"file; {fix}")
    if not _probe_writable(existing):
        raise CapstoneError(f"{what} {str(path)!r} is not writable (no permission to write in "
                            f"{str(existing)!r}): {fix}")


def check_paths(cfg: dict, out_dir: Any, cache_dir: Any, *, overwrite: bool = False,
                use_cache: bool = True) -> Path:
    """The output folder, checked with the cache folder before the pipeline runs.

    Each must be a folder (or creatable) and writable. A non-empty output folder needs
    `overwrite`, unless it holds this config's export (complete: reused; partial: finished);
    `overwrite` replaces only what the course wrote, and a file of yours in its way is an error.
    """
    if str(out_dir).strip() in ("", "."):
        raise CapstoneError("--out must name a folder for the export, e.g. --out build/my-dataset.")
    out = Path(out_dir).expanduser()
    _usable_folder(out, "Output folder", "pass another --out.")
    _usable_folder(Path(cache_dir).expanduser(), "Cache folder",
                   "set output.cache_dir (or DISTILABEL_CACHE_DIR) to a writable folder.")
    if not out.is_dir() or not [p for p in out.iterdir() if not p.name.startswith(_STAGE_PREFIX)]:
        return out
    manifest = _read_manifest(out)
    key = export_key(cfg)
    if manifest is None and not overwrite:
        raise CapstoneError(f"Output folder {out.name!r} already exists and is not empty: choose "
                            f"another folder, or pass --overwrite (overwrite=True) to write the "
                            f"export into it (your own files stay).")
    if manifest is not None and not overwrite:
        if manifest.get("config") != key:
            raise CapstoneError(f"Output folder {out.name!r} holds an export of another config: "
                                f"pass --overwrite to replace the course's files in it (yours "
                                f"stay), or choose another folder.")
        if not use_cache and _is_complete(out, key):
            raise CapstoneError(f"Output folder {out.name!r} already holds this config's complete "
                                f"export: pass --overwrite to build it again from scratch.")
    owned = set(manifest["files"]) if manifest else set()
    theirs = [n for n in _planned_names(cfg) if (out / n).exists() and n not in owned]
    if theirs:
        card = " or set output.card: false," if "README.md" in theirs else ""
        raise CapstoneError(f"Output folder {out.name!r} has {', '.join(theirs)}, which the course "
                            f"did not write: it never replaces your files. Move them,{card} or "
                            f"choose another folder.")
    return out


# --- reuse a complete export ---------------------------------------------------------------------


def reuse_export(cfg: dict, out_dir: Any) -> Optional[BuildResult]:
    """The BuildResult of a complete export of this config in `out_dir`, or None (run it)."""
    import datasets

    out = Path(out_dir).expanduser()
    key = export_key(cfg)
    if not out.is_dir() or not _is_complete(out, key):
        return None
    manifest = _read_manifest(out) or {}
    names = set(manifest["files"])
    rows: list[dict] = []
    if "distiset" in names and (out / "distiset" / "default").is_dir():
        stored = datasets.load_from_disk(str(out / "distiset" / "default"))["train"]
        rows = [{k: r.get(k) for k in EXPORT_COLUMNS} for r in stored]
    elif cfg["output"]["jsonl"] in names:
        rows = [{k: rec.get(k) for k in EXPORT_COLUMNS}
                for rec in formats.read_jsonl(out / cfg["output"]["jsonl"])]
    stages = [s for s in manifest.get("stages", []) if isinstance(s, dict)]
    stages.append({"stage": "export", "rows_in": len(rows), "rows_out": len(rows), "reused": 1})
    result = BuildResult(rows=rows, stages=stages, out_dir=out, reused=True)
    if isinstance(manifest.get("preference"), dict) and PREFERENCE_DIR in names:
        pairs = out / PREFERENCE_DIR / "train.jsonl"
        records = formats.read_jsonl(pairs) if pairs.is_file() else []
        result.preference = {**manifest["preference"], "records": records}
    result.files = _files(out, cfg, names)
    result.dataset = _dataset(rows)
    return result


def _files(out: Path, cfg: dict, names: set) -> dict[str, Path]:
    files = {"jsonl": out / cfg["output"]["jsonl"], "distiset": out / "distiset",
             "card": out / "README.md", "preference": out / PREFERENCE_DIR}
    return {k: p for k, p in files.items() if p.name in names}


def _dataset(rows: list[dict]) -> Any:
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        return datasets.Dataset.from_list(rows) if rows else \
            datasets.Dataset.from_dict({k: [] for k in EXPORT_COLUMNS})
    finally:
        if bars:
            datasets.enable_progress_bars()


# --- the card ------------------------------------------------------------------------------------


def _card(cfg: dict, rows: list[dict], stages: list[dict], report_md: str,
          preference: Optional[dict] = None) -> str:
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    lines = ["---", "language: [en]", "task_categories: [text-generation]",
             "tags: [synthetic, sft, distilabel]", "---", "", f"# {cfg['name']}", "",
             "Synthetic supervised fine-tuning data built with the capstone pipeline of the "
             "synthetic-sft-course (Self-Instruct → Evol-Instruct → answers, with chain-of-thought "
             "for the word problems with known answers → filters → quality scoring → exact, "
             "ROUGE-L and embedding dedup → dialogue mixing).", "",
             f"- rows: {len(rows)} ({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items()))})",
             f"- teacher: {_teacher_name(cfg)}",
             f"- seed: {cfg['seed']}; dialogue share: {cfg['mixing']['share']}",
             *([summary_line(preference)] if preference is not None else []), "",
             "Format: one `{\"messages\": [...]}` conversation per line (`"
             + cfg["output"]["jsonl"] + "`), the conversational format of TRL's `SFTTrainer`; "
             "read *Training on it* below first (system message, assistant-only loss).", "",
             "**Warning**: generated by a language model (or the course's rule-based offline "
             "teacher); check samples before training on them.", ""]
    lines += _card_notes(cfg, rows, stages)
    lines += ["## Rows in and out per stage", "", "```", stage_table(stages), "```", ""]
    body = report_md.split("\n", 1)[1] if report_md.startswith("# ") else report_md
    # the report's figures sit in report/, beside its own report.md: link them from the card too
    body = re.sub(r"\]\((?![a-z]+:|/|report/)([^)\s]+\.png)\)", r"](report/\1)", body)
    lines += ["## Evaluation report", "", *_if_note(cfg, stages), body.replace("\n## ", "\n### ")]
    lines += ["", *_training_notes(cfg, rows)]
    return redact("\n".join(lines).rstrip() + "\n", secrets_of(cfg))


QWEN2_5_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def _training_notes(cfg: dict, rows: list[dict]) -> list[str]:
    """The card's *Training on it*: whether the rows carry a system message, assistant-only loss."""
    if not rows:
        return []
    firsts = [(r.get("messages") or [{}])[0] for r in rows]
    systems = [m.get("content") for m in firsts
               if isinstance(m, dict) and m.get("role") == "system"]
    defaults = (f"SmolLM2's chat template inserts its default system prompt "
                f"\"{formats.SMOLLM2_DEFAULT_SYSTEM}\" when a conversation has none, and "
                f"Qwen2.5's inserts \"{QWEN2_5_DEFAULT_SYSTEM}\": every training example then "
                f"carries that sentence, and the model learns to expect it.")
    own = (f"To choose your own, set `output.system_prompt` in the config (it becomes the first "
           f"message of every conversation), or add it before training with `course_utils.formats."
           f"to_messages_records(read_jsonl(\"{cfg['output']['jsonl']}\"), system=\"...\")`; use "
           f"the same one at inference.")
    if not systems:
        system = (f"**System message: none.** No conversation in this export has a system message "
                  f"(`output.system_prompt: null`), so the chat template you train with decides "
                  f"what comes first. {defaults} {own}")
    elif len(systems) == len(rows):
        shown = systems[0] if len(systems[0]) <= 200 else systems[0][:200] + "..."
        which = (f"the same one in all: \"{shown}\"" if len(set(systems)) == 1
                 else f"{len(set(systems))} different ones")
        system = (f"**System message: yes.** Every conversation starts with a system message "
                  f"({which}), so no template inserts a default one. Use the same system message "
                  f"at inference.")
    else:
        system = (f"**System message: in {len(systems)} of {len(rows)} conversations.** In the "
                  f"others the chat template you train with decides what comes first. {defaults} "
                  f"{own}")
    loss = ("**Assistant-only loss**: TRL's `SFTConfig(assistant_only_loss=True)` needs a chat "
            "template that marks the assistant's turns with `{% generation %}` ... "
            "`{% endgeneration %}`. Most model templates have no such markers: TRL refuses "
            "SmolLM2's, and for Qwen2.5's it swaps in its own training template, which also trains "
            "on the newline before and after each assistant turn. `course_utils.assistant_mask."
            "with_generation_markers(tokenizer.chat_template)` returns an equivalent template with "
            "the markers (the same rendered text); set it as `tokenizer.chat_template` before "
            "you create the trainer (notebook 06, section 7). Without assistant-only loss, "
            "`SFTTrainer` trains on every token of these conversations, the prompts included.")
    return ["## Training on it", "", system, "", loss]


def _card_notes(cfg: dict, rows: list[dict], stages: list[dict]) -> list[str]:
    """Lost generation batches, and why there are no rows: said on the card, not only on screen."""
    notes = []
    gen = next((s for s in stages if s.get("stage") == "generate"), {})
    if gen.get("lost_batches"):
        plural = "es" if gen["lost_batches"] != 1 else ""
        notes += [f"**Incomplete**: {gen['lost_batches']} generation batch{plural} "
                  f"({gen.get('lost_rows', '?')} input rows) failed after every retry and are "
                  f"missing from this export (generation.allow_lost_batches: true). Running the "
                  f"same command again regenerates exactly them.", ""]
    if not rows and stages:
        notes += [f"**0 rows passed the filters**: {zero_rows_reason(stages)}.", ""]
    return notes


def _if_note(cfg: dict, stages: list[dict]) -> list[str]:
    """What the instruction-following numbers are computed on (before or after the filter)."""
    quality = next((s for s in stages if s.get("stage") == "quality"), None)
    if quality is None:
        return []
    checked, passed = quality.get("if_checked", 0), quality.get("if_passed", 0)
    if not checked:
        before = "no row entering the quality step stated a constraint the checks can verify."
    else:
        before = (f"{passed} of {checked} rows with checkable constraints passed "
                  f"({100 * passed / checked:.0f}%).")
    if cfg["quality"]["method"] == "rules":
        after = ("The quality step then drops the rows that fail, so the instruction-following "
                 "section below, computed on the exported rows, measures only rows that passed.")
    else:
        after = ("The quality step keeps rows by the judge's score, not by these checks: the "
                 "section below measures the exported rows as they are.")
    return [f"Instruction following **before the quality filter**: {before} {after}", ""]


def _teacher_name(cfg: dict) -> str:
    if cfg["backend"] == "llm":
        return f"{cfg['llm']['class']} ({cfg['llm'].get('model', '?')})"
    try:
        choice = resolve_backend(cfg["backend"], cfg["model"], probe_timeout=1.0)
        if choice.backend == "offline":
            return "the course's offline teacher (rule-based)"
        return choice.model
    except Exception:  # the card must not fail on a backend question
        return cfg["backend"]


# --- the export ----------------------------------------------------------------------------------


def export(rows: list[dict], cfg: dict, out_dir: Any, stages: list[dict],
           distiset: Any = None, preference: Optional[dict] = None) -> BuildResult:
    """Write the JSONL, the Dataset, the Distiset and the card aside, then swap them in.

    `preference`: the preference stage's result (`preference_stage.preference_pairs`), written
    to `preference/` when the config enables the stage.
    """
    out = Path(out_dir).expanduser()
    clean = [{k: r.get(k) for k in EXPORT_COLUMNS} for r in rows]
    result = BuildResult(rows=clean, stages=stages, out_dir=out)
    if preference_enabled(cfg):
        result.preference = _preference_summary(preference)
    stage = _new_stage(out)
    try:
        names = _write_export(stage, clean, cfg, stages, distiset, result)
        manifest = {"config": export_key(cfg), "files": names, "rows": len(clean),
                    "stages": stages, "written_by": "course_utils build-dataset"}
        if result.preference is not None:  # the report; the pairs are in preference/
            manifest["preference"] = {k: v for k, v in result.preference.items()
                                      if k != "records"}
        _write_json(stage / EXPORT_MANIFEST, manifest)
        (stage / EXPORT_MARKER).write_text(export_key(cfg) + "\n", encoding="utf-8")
        _fix_modes(stage)
        _swap_in(stage, out, names, export_key(cfg))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    result.files = _files(out, cfg, set(names))
    if result.report is not None:  # its paths pointed into the temporary folder
        moved = {k: out / "report" / Path(p).name for k, p in result.report.figures.items()}
        result.report = replace(result.report, path=out / "report" / result.report.path.name,
                                figures=moved)
    return result


def _write_export(stage: Path, clean: list[dict], cfg: dict, stages: list[dict], distiset: Any,
                  result: BuildResult) -> list[str]:
    """Every item of the export, written into `stage`; returns their names."""
    # looked up on the module at call time (tests interrupt the export by patching it there)
    clean, repaired = sanitize(clean)  # lone surrogates and control characters never reach a file
    if repaired:
        print(f"[course_utils] export: repaired {repaired} text(s) with lone surrogates or control "
              f"characters (text_safety.sanitize_text).")
    records = list(formats.to_messages_records([{"messages": r["messages"]} for r in clean],
                                               skip_invalid=True))
    if len(records) != len(clean):  # counted, never dropped silently
        print(f"[course_utils] export: {len(clean) - len(records)} row(s) with invalid messages were "
              f"left out of {cfg['output']['jsonl']} (formats.validate_messages says why).")
    formats.write_jsonl_atomic(stage / cfg["output"]["jsonl"], records)
    names = [cfg["output"]["jsonl"]]
    result.dataset = _dataset(clean)
    if distiset is not None and cfg["output"]["distiset"]:
        _save_distiset(distiset, stage / "distiset", secrets_of(cfg))
        result.distiset = distiset
        names.append("distiset")
    if result.preference is not None:
        _write_preference(stage / PREFERENCE_DIR, cfg, result.preference)
        names.append(PREFERENCE_DIR)
    if cfg["output"]["card"]:
        rep = report(clean, stage / "report", title=f"{cfg['name']} evaluation",
                     response_key="response") if clean else None
        result.report = rep
        md = rep.markdown if rep is not None else \
            "No rows survived the pipeline: nothing to evaluate."
        (stage / "README.md").write_text(_card(cfg, clean, stages, md, result.preference),
                                         encoding="utf-8")
        names.append("README.md")
        if (stage / "report").exists():
            names.append("report")
    return names


def _preference_summary(preference: Optional[dict]) -> dict:
    """The stage's result, complete (a missing one is a failure, said): records, report, error."""
    if not isinstance(preference, dict) or not isinstance(preference.get("records"), list):
        preference = {"records": [], "error": "the preference stage returned no result"}
    return {"records": preference["records"], "pairs": len(preference["records"]),
            "report": preference.get("report") or {}, "error": preference.get("error")}


def _write_preference(folder: Path, cfg: dict, preference: dict) -> None:
    """preference/train.jsonl (TRL's prompt/chosen/rejected) and its card; 0 pairs: still both."""
    name = _teacher_name(cfg)
    teacher = "offline-teacher" if "offline teacher" in name else name
    report = {**preference["report"]}
    write_preference_dataset(preference["records"], folder, report=report or None,
                             teacher=teacher)
    if preference.get("error"):  # said on the card, not only on screen
        card = folder / "README.md"
        card.write_text(card.read_text(encoding="utf-8") + f"\n**The preference stage failed**: "
                        f"{preference['error']}. The SFT export beside this folder is complete.\n",
                        encoding="utf-8")


def _save_distiset(distiset: Any, target: Path, secrets: list[str]) -> None:
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise CapstoneError("Saving the Distiset needs pillow (distilabel 1.5.3 imports PIL "
                            "without declaring it): pip install pillow, or set "
                            "output.distiset: false.") from None
    if target.exists():
        shutil.rmtree(target)
    distiset.save_to_disk(target, save_card=False, save_pipeline_config=True,
                          save_pipeline_log=False)
    for path in target.rglob("*.yaml"):  # the pipeline's config: never a secret in it
        text = path.read_text(encoding="utf-8")
        clean = redact(text, secrets)
        if clean != text:
            path.write_text(clean, encoding="utf-8")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --- the swap ------------------------------------------------------------------------------------


def _new_stage(out: Path) -> Path:
    """A temporary folder for the export: beside `out` (same file system), else inside it."""
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    stale = [p for p in parent.iterdir() if p.name.startswith(f".{out.name}{_STAGE_PREFIX}")]
    if out.is_dir():
        stale += [p for p in out.iterdir() if p.name.startswith(_STAGE_PREFIX)]
    for old in stale:  # left behind by a killed export of this folder
        shutil.rmtree(old, ignore_errors=True)
    same_device = not out.exists() or out.stat().st_dev == parent.stat().st_dev
    if same_device and _probe_writable(parent):
        return Path(tempfile.mkdtemp(prefix=f".{out.name}{_STAGE_PREFIX}", dir=parent))
    out.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX, dir=out))


def _fix_modes(stage: Path) -> None:
    """Ordinary permissions (the umask's), not the private ones temporary files are made with."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(stage, 0o777 & ~mask)
    for path in stage.rglob("*"):
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _swap_in(stage: Path, out: Path, names: list[str], key: str) -> None:
    """Move the export from `stage` into `out`; the completion marker moves last."""
    if out.is_dir() and stage.parent != out and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.replace(stage, out)  # a new folder: the whole export appears at once
        return
    old = _read_manifest(out)
    owned = set(old["files"]) if old else set()
    (out / EXPORT_MARKER).unlink(missing_ok=True)  # from here on the folder is not complete
    pending = {"config": key, "files": sorted(owned | set(names)), "complete": False}
    _write_json(out / EXPORT_MANIFEST, pending)  # a kill from here on: every item is listed
    trash = Path(tempfile.mkdtemp(prefix=".old-", dir=stage))
    for name in names:
        target = out / name
        if target.exists() or target.is_symlink():
            os.replace(target, trash / name)
        os.replace(stage / name, target)
    for name in sorted(owned - set(names) - {EXPORT_MANIFEST, EXPORT_MARKER}):
        _remove(out / name)  # written by an earlier export, not by this one
    os.replace(stage / EXPORT_MANIFEST, out / EXPORT_MANIFEST)
    os.replace(stage / EXPORT_MARKER, out / EXPORT_MARKER)

