"""Build and run the capstone pipeline: the LLM, the cache, the steps wired together, the export.

**Cache and resume.** The pipeline is named by the config's `name`; distilabel caches it under
`cache_dir/name/<signature>` (`use_cache=True`), and a finished run is read back from there at
once. A *partial* run is resumed by the generation step's own checkpoints (one file per batch,
written atomically, in the same cache folder): distilabel 1.5.3 gets stuck resuming a partial
execution (argilla-io/distilabel#1065) and a hard kill can leave its state files half-written,
so `repair_cache` removes unfinished executions first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from ..call_log import maybe_wrap
from ..models import BackendError, unloaded_llm
from .config import CapstoneError, _input_rows, load_config, read_seeds, validate_config
from .export import BuildResult, _check_out_dir, export
from .stages import _record, stage_counts

if TYPE_CHECKING:
    from .steps import CapstonePipeline

__all__ = ["COMPLETE_MARKER", "Interrupted", "build_dataset", "build_pipeline", "cache_dir_for",
           "make_llm", "repair_cache", "stats_dir_for"]

COMPLETE_MARKER = ".course-complete"


class Interrupted(RuntimeError):
    """The run stopped before the end (Ctrl-C, a failed step): nothing was exported; run again."""


def make_llm(cfg: dict, *, announce: bool = True) -> Any:
    """The distilabel LLM for the generation step (NOT loaded: the step loads it in its worker).

    `models.unloaded_llm` decides (the course's one place for that): offline/transformers/auto
    through `models.resolve_backend`; backend llm: the class named in the `llm` section (vLLM,
    TGI, OpenAI-compatible servers...), with the API key read from `api_key_env`.
    """
    gen = {"max_new_tokens": cfg["generation"]["max_new_tokens"],
           "temperature": cfg["generation"]["temperature"]}
    backend = cfg["backend"]
    try:
        llm = unloaded_llm(backend, cfg["model"], seed=cfg["seed"], generation_kwargs=gen,
                           llm_section=cfg["llm"] if backend == "llm" else None,
                           announce=announce)
    except BackendError as e:
        raise CapstoneError(str(e)) from None
    return maybe_wrap(llm)  # COURSE_COUNT_CALLS set: log every call (tools/count_generation.py)


def _config_key(cfg: dict) -> str:
    relevant = {k: v for k, v in cfg.items() if k != "output"}
    return hashlib.sha1(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cache_dir_for(cfg: dict) -> Path:
    """The distilabel cache: output.cache_dir, else DISTILABEL_CACHE_DIR, else ~/.cache/..."""
    if cfg["output"]["cache_dir"]:
        return Path(cfg["output"]["cache_dir"]).expanduser()
    if os.environ.get("DISTILABEL_CACHE_DIR"):
        return Path(os.environ["DISTILABEL_CACHE_DIR"]).expanduser()
    return Path.home() / ".cache" / "distilabel" / "pipelines"


def stats_dir_for(cfg: dict) -> Path:
    """Where the steps record rows in/out per batch (inside the cache, one folder per config)."""
    return cache_dir_for(cfg) / cfg["name"] / "course_stage_counts" / _config_key(cfg)


def repair_cache(cfg: dict) -> list[str]:
    """Keep only distilabel executions that finished; returns what was done.

    distilabel 1.5.3 can resume a *finished* run from its cache (the Distiset is read back at
    once), but resuming a *partial* one gets stuck waiting for batches (argilla-io/distilabel#1065),
    and a hard kill can leave `pipeline.yaml` or `batch_manager.json` half-written (they are
    rewritten in place after every batch). So an execution without the course's completion
    marker is removed; the re-run then resumes from the generation step's own checkpoints (one
    file per batch, written atomically): finished batches are read back, not generated again.
    """
    done: list[str] = []
    root = cache_dir_for(cfg) / cfg["name"]
    for execution in sorted(root.glob("*/executions/*")):
        if not (execution / COMPLETE_MARKER).exists():
            shutil.rmtree(execution, ignore_errors=True)
            # distilabel's per-step data of that run would be picked up again, with the same hang
            shutil.rmtree(root / "steps_data", ignore_errors=True)
            done.append("an unfinished run was found: resuming from its generation checkpoints")
    return done


def build_pipeline(cfg: dict, llm: Any = None) -> "CapstonePipeline":
    """The distilabel Pipeline for a validated config (not run).

    Run it with `.run(use_cache=True)`, or on a Ray cluster with `.ray().run(...)`.
    `llm`: the (unloaded) LLM, default `make_llm(cfg)`.
    """
    # the steps subclass distilabel's classes: importing them imports distilabel (seconds), once
    # its import-time warnings are filtered
    from .steps import CapstonePipeline, DedupStep, FilterStep, GenerateStep, MixStep, QualityStep
    from distilabel.steps import LoadDataFromDicts

    cfg = validate_config(cfg)
    llm = make_llm(cfg) if llm is None else llm
    rows = _input_rows(cfg)
    stats = str(stats_dir_for(cfg))
    bs = cfg["generation"]["batch_size"]
    with CapstonePipeline(name=cfg["name"], description="synthetic-sft-course capstone",
                          cache_dir=cache_dir_for(cfg)) as pipeline:
        load = LoadDataFromDicts(name="load", data=rows, batch_size=bs)
        generate = GenerateStep(name="generate", llm=llm, config=cfg, stats_dir=stats,
                                input_batch_size=bs)
        filt = FilterStep(name="filter", config=cfg, stats_dir=stats, input_batch_size=bs)
        quality = QualityStep(name="quality", config=cfg, stats_dir=stats, input_batch_size=bs)
        dedup = DedupStep(name="dedup", config=cfg, stats_dir=stats)
        mixer = MixStep(name="mix", config=cfg, stats_dir=stats)
        load >> generate >> filt >> quality >> dedup >> mixer
    Path(stats).mkdir(parents=True, exist_ok=True)
    _record(stats, "load", [], {"rows_in": len(rows), "rows_out": len(rows)})
    return pipeline


def build_dataset(config: Any, out_dir: Any, *, overwrite: bool = False, use_cache: bool = True,
                  quiet: bool = True, llm: Any = None,
                  progress: Optional[bool] = None) -> BuildResult:
    """Run the capstone for `config` (a dict or a YAML path) and export into `out_dir`.

    Returns a BuildResult (rows, per-stage counts, files, Dataset, report). `use_cache=True`
    resumes an interrupted run from distilabel's cache. `quiet` keeps distilabel's logs to errors.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    cfg = load_config(config) if not isinstance(config, Mapping) else validate_config(config)
    out = _check_out_dir(out_dir, overwrite)
    read_seeds(cfg["seeds"]["file"])  # a bad seed file fails here, before any worker starts
    # None: tqdm's default (TQDM_DISABLE)
    bar_kwargs = {} if progress is None else {"disable": not progress}
    import datasets

    old_level = os.environ.get("DISTILABEL_LOG_LEVEL")
    if quiet:
        os.environ["DISTILABEL_LOG_LEVEL"] = "ERROR"
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with tqdm(total=2, desc="capstone", file=sys.stderr, **bar_kwargs) as bar:
            if use_cache:
                for message in repair_cache(cfg):
                    print(f"[course_utils] cache: {message}.")
            pipeline = build_pipeline(cfg, llm=llm)
            bar.set_postfix_str("pipeline")
            distiset = pipeline.run(use_cache=use_cache, logging_handlers=[])
            if pipeline.interrupted:
                raise Interrupted("The pipeline stopped before the end (interrupted, or a step "
                                  "failed): nothing was exported. Run the same command again: it "
                                  "resumes from the cache.")
            execution = pipeline._cache_location["batch_manager"].parent
            if execution.is_dir():
                (execution / COMPLETE_MARKER).write_text("finished\n", encoding="utf-8")
            bar.update(1)
            rows = distiset["default"]["train"].to_list() if "default" in distiset else []
            stages = stage_counts(stats_dir_for(cfg))
            bar.set_postfix_str("export")
            result = export(rows, cfg, out, stages, distiset)
            bar.update(1)
    finally:
        if quiet:
            if old_level is None:
                os.environ.pop("DISTILABEL_LOG_LEVEL", None)
            else:
                os.environ["DISTILABEL_LOG_LEVEL"] = old_level
        if bars:
            datasets.enable_progress_bars()
    result.stages.append({"stage": "export", "rows_in": len(rows), "rows_out": len(result.rows)})
    result.seconds = time.perf_counter() - t0
    return result
