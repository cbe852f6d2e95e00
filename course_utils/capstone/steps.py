"""The capstone's distilabel steps and its Pipeline class, defined at module level.

Ray (and any fresh worker process) unpickles a step by importing its class from this module, so
the classes are ordinary module-level definitions. `process` is annotated with distilabel's real
`StepInput` object (this module does not postpone annotations): distilabel finds the step's
input argument by that annotation.

**Why the three generation stages are one step.** distilabel runs every step in its own worker
process; a step that holds an LLM loads it in *its* process. Self-Instruct, Evol-Instruct and
the answers as three `Task`s would load three copies of the same weights. `GenerateStep` owns
the one model; every stage that needs no model is its own step (`stages.py` does the work).
"""

import json
import math
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from .._quiet import quiet_distilabel
from .config import preference_enabled
from .preference_stage import RESULT_FILE, run_guarded
from .secrets import redact, secrets_of
from .stages import (_batch_key, _checkpoint_path, _Meter, _record, _record_failure,
                     _write_atomic, dedup_embed, dedup_rouge, filter_rows, generate_batch,
                     mix_rows, score_rows)

quiet_distilabel()  # before distilabel is imported: its import-time warnings are filtered

from distilabel.models.llms.base import LLM  # noqa: E402
from distilabel.constants import STEP_ATTR_NAME  # noqa: E402
from distilabel.pipeline import Pipeline  # noqa: E402
from distilabel.pipeline.ray import RayPipeline  # noqa: E402
from distilabel.steps import GlobalStep, Step, StepInput  # noqa: E402
from distilabel.typing import StepOutput  # noqa: E402
from pydantic import Field  # noqa: E402

__all__ = ["CapstonePipeline", "DedupStep", "FilterStep", "GenerateStep", "MixStep",
           "PreferenceStep", "QualityStep"]

_UNSIGNED = {"stats_dir"}  # the stats folder never changes distilabel's cache key
RETRY_WAIT_S = 2.0  # before retry k of a failed generation batch: k * RETRY_WAIT_S seconds

# --- placeholders: a step never sends distilabel an empty batch ----------------------------------
#
# distilabel 1.5.3 never builds a batch with 0 rows for a step: a GlobalStep (dedup, mix) waits
# for rows that never come once the filters drop everything (`_ready_to_create_batch_accumulate`
# wants > 0 rows), and a normal step whose last input batch is empty never gets its last batch.
# The pipeline then waits forever. So a step with nothing to send sends ONE placeholder row,
# which every course step drops on input and `mix` never passes on. It carries every column
# (the GlobalSteps' input goes through parquet, whose schema comes from the first row).
PLACEHOLDER_KIND = "_placeholder"
_COLUMNS = ("instruction", "kind", "origin", "operator", "answer", "response", "judge_score",
            "distilabel_metadata", "complexity", "if_pass", "_id")
USE_PLACEHOLDERS = True  # tests turn it off to check that the stall watchdog ends such a run


def _real(rows: Any) -> list[dict]:
    """The rows of a batch without the placeholders."""
    return [r for r in rows if r.get("kind") != PLACEHOLDER_KIND]


def _or_placeholder(rows: list[dict], inputs: list[dict]) -> list[dict]:
    """`rows`, or one placeholder row when there are none (see above)."""
    if rows or not USE_PLACEHOLDERS:
        return rows
    return [{**{c: None for c in _COLUMNS}, "kind": PLACEHOLDER_KIND,
             "_id": f"placeholder:{_batch_key(inputs)}"}]


def _error_text(e: BaseException, cfg: dict) -> str:
    """`Type: message` on one line, without the config's secrets."""
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return redact(text, secrets_of(cfg))[:500]


class _Guarded:
    """A course step that records a failure (a lost batch) instead of letting distilabel hide it.

    distilabel 1.5.3 replaces the output of a failed batch with its inputs, their output
    columns set to None, and logs a warning that quiet mode hides: the rows would flow on,
    unfiltered. Here a failing batch is recorded (`failed/`), the run fails at the end with its
    name, and the step sends a placeholder on.
    """

    def _guard(self, stage: str, inputs: list[dict], work: Callable[[list[dict]], list[dict]]
               ) -> list[dict]:
        try:
            return work(inputs)
        except Exception as e:  # noqa: BLE001 - any failure is recorded, the run then fails
            _record_failure(self.stats_dir, stage, inputs,  # type: ignore[attr-defined]
                            {"rows": len(inputs), "attempts": 1,
                             "error": _error_text(e, self.config),  # type: ignore[attr-defined]
                             "traceback": redact(traceback.format_exc()[-2000:],
                                                 secrets_of(self.config))})  # type: ignore
            return []


class _CourseStep(_Guarded, Step):
    """A Step with the run's config and the folder where it records its counts."""

    config: dict = Field(default_factory=dict)
    stats_dir: str = ""

    def model_post_init(self, ctx: Any) -> None:
        """Keep `stats_dir` out of the step's signature."""
        super().model_post_init(ctx)
        self.exclude_from_signature = set(self.exclude_from_signature) | _UNSIGNED


class _GlobalCourseStep(_Guarded, GlobalStep):
    """A GlobalStep (it receives all rows at once) with the run's config and stats folder."""

    config: dict = Field(default_factory=dict)
    stats_dir: str = ""

    def model_post_init(self, ctx: Any) -> None:
        """Keep `stats_dir` out of the step's signature."""
        super().model_post_init(ctx)
        self.exclude_from_signature = set(self.exclude_from_signature) | _UNSIGNED


class GenerateStep(_CourseStep):
    """Self-Instruct → Evol-Instruct → answers, with the ONE model this pipeline loads."""

    llm: LLM
    n_inputs: int = 0  # rows the load step yields: names a lost batch "batch 2 of 5"

    @property
    def inputs(self) -> list[str]:
        """The columns this step reads."""
        return ["instruction", "kind"]

    @property
    def outputs(self) -> list[str]:
        """The columns this step writes."""
        return ["instruction", "kind", "origin", "operator", "answer", "response", "judge_score"]

    def load(self) -> None:
        """Load the step, then its LLM (in this worker process)."""
        super().load()
        self.llm.load()

    def unload(self) -> None:
        """Unload the LLM, then the step."""
        self.llm.unload()
        super().unload()

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Generate one batch, or read it back from its checkpoint (a resumed run)."""
        inputs = _real(inputs)
        checkpoint = _checkpoint_path(self.stats_dir, inputs)
        if checkpoint is not None and checkpoint.exists():  # generated before an interruption
            saved = json.loads(checkpoint.read_text(encoding="utf-8"))
            rows, counts = saved["rows"], saved["counts"]
        else:
            rows, counts = self._generate_retrying(inputs)
            if checkpoint is not None and "lost_batches" not in counts:
                _write_atomic(checkpoint, json.dumps({"rows": rows, "counts": counts}))
        _record(self.stats_dir, "generate", inputs, counts)
        key = _batch_key(inputs)
        yield _or_placeholder([{**r, "_id": f"{key}.{j}"} for j, r in enumerate(rows)], inputs)

    def _batch_name(self, inputs: list[dict]) -> tuple[int, int, str]:
        """(batch number, number of batches, "batch 2 of 5 (input rows 5-8)")."""
        size = int(self.config["generation"]["batch_size"])
        ids = [int(r["_id"][1:]) for r in inputs if str(r.get("_id", "")).startswith("r")]
        total = self.n_inputs
        if not ids:
            return 0, 0, f"a batch of {len(inputs)} input rows"
        number, of = ids[0] // size + 1, math.ceil(total / size) if total else 0
        where = f"batch {number}" + (f" of {of}" if of else "")
        return number, of, f"{where} (input rows {ids[0] + 1}-{ids[-1] + 1})"

    def _generate_retrying(self, inputs: list[dict]) -> tuple[list[dict], dict]:
        """`generate_batch`, tried 1 + generation.retries times; a batch that still fails is lost.

        A lost batch is recorded (`failed/`) and yields no rows: the run then fails naming it, or,
        with generation.allow_lost_batches, exports without it, counted. It gets no checkpoint, so
        the next run generates exactly the batches that are missing.
        """
        retries = int(self.config["generation"].get("retries", 0))
        number, of, name = self._batch_name(inputs)
        error = ""
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(RETRY_WAIT_S * attempt)
                _free_accelerator_memory()
            try:
                gen = dict(self.llm.generation_kwargs or {})
                # looked up in this module at call time: tests replace it to inject failures
                return generate_batch(_Meter(self.llm, gen), inputs, self.config)
            except Exception as e:  # noqa: BLE001 - OOM, API errors and timeouts alike
                error = _error_text(e, self.config)
                left = retries - attempt
                print(f"[course_utils] generation {name} failed ({error[:200]})"
                      + (f": trying again ({left} retr{'y' if left == 1 else 'ies'} left)."
                         if left else f": lost after {retries + 1} attempts."),
                      file=sys.stderr, flush=True)
        _record_failure(self.stats_dir, "generate", inputs,
                        {"batch": number, "batches": of, "name": name, "rows": len(inputs),
                         "attempts": retries + 1, "error": error})
        return [], {"rows_in": len(inputs), "lost_batches": 1, "lost_rows": len(inputs),
                    "rows_out": 0}


def _free_accelerator_memory() -> None:
    """After a failed attempt (CUDA out of memory...), give cached GPU memory back."""
    torch = sys.modules.get("torch")  # only when the model already imported it
    try:
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort
        pass


class FilterStep(_CourseStep):
    """Parse and filter each answer: CoT format and known answer for math, empty/refusal/length."""

    @property
    def inputs(self) -> list[str]:
        """The columns this step reads."""
        return ["instruction", "response", "kind"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Keep the rows that pass the filters; record why the others were dropped."""
        rows = _real(inputs)
        # distilabel fills a failed batch of `generate` with None: lost rows, never "empty" ones
        lost = [r for r in rows if r.get("response") is None]
        if lost:
            _record_failure(self.stats_dir, "generate", lost,
                            {"rows": len(lost), "attempts": 1, "name": f"{len(lost)} rows",
                             "error": "the generation step failed and distilabel filled its "
                                      "output with None"})
        rows = [r for r in rows if r.get("response") is not None]
        yield _or_placeholder(self._guard("filter", rows, self._filter), rows)

    def _filter(self, rows: list[dict]) -> list[dict]:
        kept, counts = filter_rows(rows, self.config)
        _record(self.stats_dir, "filter", rows, counts)
        return kept


class QualityStep(_CourseStep):
    """Score each row: complexity + instruction-following checks (or the judge's score)."""

    @property
    def inputs(self) -> list[str]:
        """The columns this step reads."""
        return ["instruction", "response"]

    @property
    def outputs(self) -> list[str]:
        """The columns this step writes."""
        return ["complexity", "if_pass"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Score the rows and keep those good enough."""
        rows = _real(inputs)
        yield _or_placeholder(self._guard("quality", rows, self._score), rows)

    def _score(self, rows: list[dict]) -> list[dict]:
        kept, counts = score_rows(rows, self.config)
        _record(self.stats_dir, "quality", rows, counts)
        return kept


class DedupStep(_GlobalCourseStep):
    """Exact and ROUGE-L near-duplicates, then embedding paraphrases (all rows: a GlobalStep)."""

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Both dedup passes over all rows, each with its own counts."""
        rows = _real(inputs)
        yield _or_placeholder(self._guard("dedup", rows, self._dedup), rows)

    def _dedup(self, rows: list[dict]) -> list[dict]:
        rows, counts = dedup_rouge(rows, self.config)
        _record(self.stats_dir, "dedup_rouge", [], counts)
        rows, counts = dedup_embed(rows, self.config)
        _record(self.stats_dir, "dedup_embed", [], counts)
        return rows


class MixStep(_GlobalCourseStep):
    """Add `mixing.share` plain dialogue and build the `messages` column (GlobalStep)."""

    @property
    def outputs(self) -> list[str]:
        """The columns this step writes."""
        return ["messages", "source"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Mix in the dialogue rows and add `messages` (last step unless preference follows)."""
        rows = self._guard("mix", _real(inputs), self._mix)
        # the preference stage follows when enabled: it must get a batch, even an empty one
        yield _or_placeholder(rows, inputs) if preference_enabled(self.config) else rows

    def _mix(self, rows: list[dict]) -> list[dict]:
        kept, counts = mix_rows(rows, self.config)
        _record(self.stats_dir, "mix", [], counts)
        return [{k: v for k, v in r.items() if k != "_id"} for r in kept]


class PreferenceStep(_GlobalCourseStep):
    """The optional preference stage (after mix): k candidates per kept instruction, scored and
    paired; the SFT rows pass through unchanged. Its pairs go to the stats folder (`RESULT_FILE`)
    for the export. The LLM is loaded when the rows arrive, in this worker (the generation step
    has unloaded its copy by then: a GlobalStep starts a later load stage)."""

    llm: LLM

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Build the pairs (never fails the run: a failure is counted), pass the rows on."""
        rows = _real(inputs)
        result, counts = run_guarded(self.llm, rows, self.config,
                                     lambda e: _error_text(e, self.config))
        if self.stats_dir:
            _write_atomic(Path(self.stats_dir) / RESULT_FILE, json.dumps(result))
        _record(self.stats_dir, "preference", [], counts)
        yield rows


class _NoSecrets:
    """A Pipeline whose serialized form (pipeline.yaml: cache and Distiset) holds no secret."""

    def dump(self, **kwargs: Any) -> dict:
        """distilabel's dump with header tokens, URL credentials and keys replaced by ***."""
        found: set = set()
        for name in self.dag:  # type: ignore[attr-defined]
            step = self.dag.get_step(name)[STEP_ATTR_NAME]  # type: ignore[attr-defined]
            found.update(secrets_of(getattr(step, "config", None) or {}))
        dumped = super().dump(**kwargs)  # type: ignore[misc]
        return redact(dumped, sorted(found, key=len, reverse=True))

    def _refresh_pipeline_from_cache(self) -> None:
        """Keep the live steps: the cached pipeline.yaml lacks the secrets (steps keep no state)."""


class CapstoneRayPipeline(_NoSecrets, RayPipeline):
    """distilabel's RayPipeline, without secrets in its pipeline.yaml."""


class CapstonePipeline(_NoSecrets, Pipeline):
    """distilabel's Pipeline, remembering whether it was stopped early (a partial Distiset).

    A watchdog stops a run that makes no progress: every batch sent to a step has come back,
    yet distilabel still waits for more (how 1.5.3 hangs when a step gets no rows; the
    placeholders above prevent the known cases). After `stall_after_s` seconds of that, the
    run is stopped and `stalled` is set: `build_dataset` then fails with a clear message.
    """

    interrupted = False
    stalled = False
    stall_after_s = 120.0
    _tearing_down = False

    def _output_queue_loop(self) -> None:
        done = threading.Event()
        threading.Thread(target=self._watch, args=(done,), daemon=True,
                         name="capstone-stall-watchdog").start()
        try:
            super()._output_queue_loop()
        finally:
            done.set()

    def _idle(self) -> bool:
        """Whether distilabel waits for batches while no step has one to work on."""
        manager = self._batch_manager
        if manager is None:
            return False
        sent = dict(manager._last_batch_sent)
        received = dict(manager._last_batch_received)
        if not any(sent.values()):  # nothing sent yet: the steps are loading
            return False
        for name, batch in sent.items():
            back = received.get(name)
            if batch is not None and (back is None or back.seq_no < batch.seq_no):
                return False  # a step is working on a batch
        return manager.can_generate()

    def _watch(self, done: threading.Event) -> None:
        idle_since = None
        while not done.wait(1.0):
            try:
                idle = self._idle()
            except Exception:  # noqa: BLE001 - the manager changed under us: look again
                idle = False
            if not idle:
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= self.stall_after_s:
                self.stalled = True
                self._stop()
                return

    def _stop(self, *args: Any, **kwargs: Any) -> None:
        if not self._tearing_down:  # distilabel also calls _stop at the normal end, from _teardown
            self.interrupted = True
        super()._stop(*args, **kwargs)

    def ray(self, *args: Any, **kwargs: Any) -> RayPipeline:
        """distilabel's `ray()`, as a RayPipeline that keeps secrets out of its pipeline.yaml."""
        ray_head_node_url = kwargs.get("ray_head_node_url", args[0] if args else None)
        ray_init_kwargs = kwargs.get("ray_init_kwargs", args[1] if len(args) > 1 else None)
        pipeline = CapstoneRayPipeline(  # what distilabel's ray() builds, with this pipeline's class
            name=self.name, description=self.description, cache_dir=self._cache_dir,
            enable_metadata=self._enable_metadata, requirements=self.requirements,
            ray_head_node_url=ray_head_node_url, ray_init_kwargs=ray_init_kwargs)
        pipeline.dag = self.dag
        return pipeline

    def _teardown(self) -> None:
        self._tearing_down = True
        try:
            super()._teardown()
        finally:
            self._tearing_down = False
