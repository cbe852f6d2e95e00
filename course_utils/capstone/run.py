"""Build and run the capstone pipeline: the LLM, the cache, the steps wired together, the export.

**Cache and resume.** The pipeline is named by the config's `name`; distilabel caches it under
`cache_dir/name/<signature>` (`use_cache=True`), and a finished run is read back from there at
once. A *partial* run is resumed by the generation step's own checkpoints (one file per batch,
written atomically, in the same cache folder): distilabel 1.5.3 gets stuck resuming a partial
execution (argilla-io/distilabel#1065) and a hard kill can leave its state files half-written,
so `repair_cache` removes unfinished executions first.

**A run ends.** It finishes with the rows it has (0 is an answer, said with the stage that dropped
them) or fails with one message: a server that does not answer fails before any worker starts;
a generation batch that still fails after `generation.retries` is named (or, with
`generation.allow_lost_batches`, exported without, counted, never marked complete, so the next
run regenerates exactly it); a stalled distilabel is stopped by a watchdog (`steps.py`). One run
at a time per output and cache folder (`lock.py`), and no worker outlives it (`workers.py`).
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
from ..redaction import redact_url
from .config import (CapstoneError, _input_rows, check_environment, load_config,
                     preference_enabled, read_seeds, sft_config, validate_config)
from .export import EXPORT_MARKER, BuildResult, check_paths, export, reuse_export
from .lock import run_lock
from .preference_stage import read_result
from .stages import _clear_stats, _record, failures, stage_counts, zero_rows_reason
from .workers import workers_die_with_this_process

if TYPE_CHECKING:
    from .steps import CapstonePipeline

__all__ = ["COMPLETE_MARKER", "Interrupted", "RunFailed", "build_dataset", "build_pipeline",
           "cache_dir_for", "cache_lock_for", "make_llm", "repair_cache", "stats_dir_for"]

COMPLETE_MARKER = ".course-complete"
LOCK_NAME = ".course-lock"
_RUN_POLICY = ("retries", "allow_lost_batches")  # how failures are handled: not what is generated


class Interrupted(RuntimeError):
    """The run stopped before the end (Ctrl-C, a failed step): nothing was exported; run again."""


class RunFailed(RuntimeError):
    """The run ended without a complete result (a lost batch, a stall); the message says why."""


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
    cfg = sft_config(cfg)  # a preference section that is off changes nothing
    relevant = {k: v for k, v in cfg.items() if k != "output"}
    relevant["generation"] = {k: v for k, v in cfg["generation"].items() if k not in _RUN_POLICY}
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


def cache_lock_for(cfg: dict) -> Path:
    """The lock file of this config's cache folder (`cache_dir/name`): one run at a time."""
    return cache_dir_for(cfg) / cfg["name"] / LOCK_NAME


def _out_lock(out: Path) -> Path:
    """The lock file of an output folder: beside it, so the folder's contents stay the export's."""
    out = out.expanduser().absolute()
    return out.parent / f".{out.name}{LOCK_NAME}"


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
    # never another run's live state: the cache lock (re-entrant: build_dataset holds it already)
    with run_lock(cache_lock_for(cfg), f"cache folder {str(root)!r}"):
        for execution in sorted(root.glob("*/executions/*")):
            if not (execution / COMPLETE_MARKER).exists():
                shutil.rmtree(execution, ignore_errors=True)
                # distilabel's per-step data of that run would be picked up again: the same hang
                shutil.rmtree(root / "steps_data", ignore_errors=True)
                done.append("an unfinished run was found: resuming from its generation "
                            "checkpoints")
    return done


def build_pipeline(cfg: dict, llm: Any = None) -> "CapstonePipeline":
    """The distilabel Pipeline for a validated config (not run).

    Run it with `.run(use_cache=True)`, or on a Ray cluster with `.ray().run(...)`.
    `llm`: the (unloaded) LLM, default `make_llm(cfg)`.
    """
    # the steps subclass distilabel's classes: importing them imports distilabel (seconds), once
    # its import-time warnings are filtered
    from .steps import (CapstonePipeline, DedupStep, FilterStep, GenerateStep, MixStep,
                        PreferenceStep, QualityStep)
    from distilabel.steps import LoadDataFromDicts

    # the steps see no preference section that is off: the same steps, cache and Distiset as
    # a config without one
    cfg = sft_config(validate_config(cfg))
    llm = make_llm(cfg) if llm is None else llm
    # each input row gets an id: batches are named by their rows, even when instructions repeat
    rows = [{**r, "_id": f"r{i}"} for i, r in enumerate(_input_rows(cfg))]
    stats = str(stats_dir_for(cfg))
    bs = cfg["generation"]["batch_size"]
    with CapstonePipeline(name=cfg["name"], description="synthetic-sft-course capstone",
                          cache_dir=cache_dir_for(cfg)) as pipeline:
        load = LoadDataFromDicts(name="load", data=rows, batch_size=bs)
        generate = GenerateStep(name="generate", llm=llm, config=cfg, stats_dir=stats,
                                n_inputs=len(rows), input_batch_size=bs)
        filt = FilterStep(name="filter", config=cfg, stats_dir=stats, input_batch_size=bs)
        quality = QualityStep(name="quality", config=cfg, stats_dir=stats, input_batch_size=bs)
        dedup = DedupStep(name="dedup", config=cfg, stats_dir=stats)
        mixer = MixStep(name="mix", config=cfg, stats_dir=stats)
        load >> generate >> filt >> quality >> dedup >> mixer
        if preference_enabled(cfg):  # optional: pairs for DPO from the final SFT rows
            mixer >> PreferenceStep(name="preference", llm=llm, config=cfg, stats_dir=stats)
    Path(stats).mkdir(parents=True, exist_ok=True)
    _record(stats, "load", [], {"rows_in": len(rows), "rows_out": len(rows)})
    return pipeline


def build_dataset(config: Any, out_dir: Any, *, overwrite: bool = False, use_cache: bool = True,
                  quiet: bool = True, llm: Any = None,
                  progress: Optional[bool] = None) -> BuildResult:
    """Run the capstone for `config` (a dict or a YAML path) and export into `out_dir`.

    Returns a BuildResult (rows, per-stage counts, files, Dataset, report). `use_cache=True`
    resumes an interrupted run from distilabel's cache. `quiet` keeps distilabel's logs to errors.
    Raises CapstoneError for bad input (before any work), RunFailed for a lost batch or a stall.
    """
    t0 = time.perf_counter()
    cfg = load_config(config) if not isinstance(config, Mapping) else validate_config(config)
    check_environment(cfg)  # COURSE_BACKEND, the model, the client package: before any work
    out = check_paths(cfg, out_dir, cache_dir_for(cfg), overwrite=overwrite, use_cache=use_cache)
    read_seeds(cfg["seeds"]["file"])  # a bad seed file fails here, before any worker starts
    root = cache_dir_for(cfg) / cfg["name"]
    with run_lock(_out_lock(out), f"output folder {str(out)!r}"), \
            run_lock(cache_lock_for(cfg), f"cache folder {str(root)!r}"):
        reused = reuse_export(cfg, out) if use_cache and not overwrite else None
        if reused is not None:  # the folder holds this config's complete export: nothing to run
            reused.seconds = time.perf_counter() - t0
            return reused
        llm = make_llm(cfg) if llm is None else llm
        _check_server(llm, cfg)  # a server that does not answer: one message, no worker started
        result = _run_and_export(cfg, out, llm, use_cache=use_cache, quiet=quiet,
                                 progress=progress)
    result.seconds = time.perf_counter() - t0
    return result


def _run_and_export(cfg: dict, out: Path, llm: Any, *, use_cache: bool, quiet: bool,
                    progress: Optional[bool]) -> BuildResult:
    """Run the pipeline (cache repaired first), check it ended whole, export."""
    from tqdm.auto import tqdm

    # None: tqdm's default (TQDM_DISABLE)
    bar_kwargs = {} if progress is None else {"disable": not progress}
    import datasets

    old_level = os.environ.get("DISTILABEL_LOG_LEVEL")
    if quiet:
        os.environ["DISTILABEL_LOG_LEVEL"] = "ERROR"
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    stats = stats_dir_for(cfg)
    try:
        with tqdm(total=2, desc="capstone", file=sys.stderr, **bar_kwargs) as bar:
            if use_cache:
                for message in repair_cache(cfg):
                    print(f"[course_utils] cache: {message}.")
            pipeline = build_pipeline(cfg, llm=llm)
            execution = pipeline._cache_location["batch_manager"].parent
            if not (use_cache and (execution / COMPLETE_MARKER).exists()):  # it runs: fresh counts
                _clear_stats(stats)
                n = len(_input_rows(cfg))
                _record(str(stats), "load", [], {"rows_in": n, "rows_out": n})
            bar.set_postfix_str("pipeline")
            with workers_die_with_this_process():
                distiset = pipeline.run(use_cache=use_cache, logging_handlers=[])
            _check_ended(pipeline, cfg)
            lost = failures(stats)
            _check_lost(lost, cfg)
            execution = pipeline._cache_location["batch_manager"].parent
            if execution.is_dir() and not lost:  # a run with a lost batch is never complete
                (execution / COMPLETE_MARKER).write_text("finished\n", encoding="utf-8")
            bar.update(1)
            rows = distiset["default"]["train"].to_list() if "default" in distiset else []
            stages = stage_counts(stats)
            bar.set_postfix_str("export")
            preference = read_result(stats) if preference_enabled(cfg) else None
            result = export(rows, cfg, out, stages, distiset, preference=preference)
            if lost:  # exported on request, but not complete: the next run regenerates it
                (out / EXPORT_MARKER).unlink(missing_ok=True)
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
    if lost:
        print(f"[course_utils] {_lost_summary(lost)}: exported without them "
              f"(generation.allow_lost_batches: true). Run the same command again to "
              f"regenerate exactly the missing batches.")
    if not result.rows:
        print(f"[course_utils] 0 rows passed the filters: {zero_rows_reason(result.stages)}.")
    if preference is not None and (preference.get("error") or not preference["records"]):
        print(f"[course_utils] preference: 0 pairs exported"
              + (f" (the stage failed: {preference['error']})" if preference.get("error")
                 else " (see the preference stage in the table)")
              + "; the SFT export is complete.")
    return result


def _check_ended(pipeline: Any, cfg: dict) -> None:
    """RunFailed for a stalled pipeline, Interrupted for a stopped one."""
    if pipeline.stalled:
        raise RunFailed(f"The pipeline made no progress for {pipeline.stall_after_s:.0f} s (every "
                        f"step idle while distilabel waited for more batches) and was stopped: "
                        f"nothing was exported. Run the same command again (finished generation "
                        f"batches are kept); if it stalls again, report it with your config.")
    if pipeline.interrupted:
        raise Interrupted("The pipeline stopped before the end (interrupted, or a step "
                          "failed): nothing was exported. Run the same command again: it "
                          "resumes from the cache.")


def _lost_summary(lost: list[dict]) -> str:
    gen = [f for f in lost if f.get("stage") == "generate"]
    rows = sum(int(f.get("rows") or 0) for f in gen)
    names = "; ".join(f"{f.get('name', 'a batch')}: {f.get('error', '?')}" for f in gen[:3])
    more = f"; and {len(gen) - 3} more" if len(gen) > 3 else ""
    plural = "es" if len(gen) != 1 else ""
    return (f"{len(gen)} generation batch{plural} ({rows} input rows) lost after "
            f"{gen[0].get('attempts', 1) if gen else 1} attempts ({names}{more})")


def _check_lost(lost: list[dict], cfg: dict) -> None:
    """RunFailed naming the lost batches, unless generation.allow_lost_batches accepts them."""
    broken = [f for f in lost if f.get("stage") != "generate"]
    if broken:
        f = broken[0]
        raise RunFailed(f"The {f.get('stage')} step failed on a batch of {f.get('rows', '?')} rows "
                        f"({f.get('error', '?')}): nothing was exported. This is a bug in the "
                        f"course or in your own step: please report it with the config.")
    if lost and not cfg["generation"]["allow_lost_batches"]:
        raise RunFailed(f"{_lost_summary(lost)}: nothing was exported. Run the same command again: "
                        f"it regenerates only the missing batches (the others are checkpointed). "
                        f"To export without them, set generation.allow_lost_batches: true.")


def _check_server(llm: Any, cfg: dict) -> None:
    """A server-backed LLM must answer before the pipeline starts (CapstoneError otherwise)."""
    import requests

    base_url = getattr(llm, "base_url", None)
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        return
    key = getattr(llm, "api_key", None)
    key = key.get_secret_value() if hasattr(key, "get_secret_value") else key
    headers = {"Authorization": f"Bearer {key}"} if isinstance(key, str) and key else {}
    url = base_url.rstrip("/") + "/models"
    shown = redact_url(base_url)
    try:
        response = requests.get(url, headers=headers, timeout=SERVER_PROBE_S)
    except requests.RequestException as e:
        raise CapstoneError(f"No server answers at {shown} ({type(e).__name__}): start it first "
                            f"(e.g. `vllm serve MODEL`, `ollama serve`), or fix llm.base_url in "
                            f"the config.") from None
    if response.status_code in (401, 403):
        raise CapstoneError(f"The server at {shown} refused the API key (HTTP "
                            f"{response.status_code}): set the environment variable named by "
                            f"llm.api_key_env.")
    model = getattr(llm, "model", None)
    try:
        served = [str(m["id"]) for m in response.json().get("data", [])]
    except (ValueError, AttributeError, KeyError, TypeError):
        served = []  # not a model list: the server answers, that is what this checks
    if response.status_code == 200 and served and model and model not in served:
        raise CapstoneError(f"The server at {shown} does not serve {model!r}. It serves: "
                            f"{', '.join(served[:10])}. Set llm.model to one of them.")


SERVER_PROBE_S = 5.0
