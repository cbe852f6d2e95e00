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
from typing import Any

from .._quiet import quiet_distilabel
from .stages import (_checkpoint_path, _Meter, _record, _write_atomic, dedup_embed, dedup_rouge,
                     filter_rows, generate_batch, mix_rows, score_rows)

quiet_distilabel()  # before distilabel is imported: its import-time warnings are filtered

from distilabel.models.llms.base import LLM  # noqa: E402
from distilabel.pipeline import Pipeline  # noqa: E402
from distilabel.steps import GlobalStep, Step, StepInput  # noqa: E402
from distilabel.typing import StepOutput  # noqa: E402
from pydantic import Field  # noqa: E402

__all__ = ["CapstonePipeline", "DedupStep", "FilterStep", "GenerateStep", "MixStep",
           "QualityStep"]

_UNSIGNED = {"stats_dir"}  # the stats folder never changes distilabel's cache key


class _CourseStep(Step):
    """A Step with the run's config and the folder where it records its counts."""

    config: dict = Field(default_factory=dict)
    stats_dir: str = ""

    def model_post_init(self, ctx: Any) -> None:
        """Keep `stats_dir` out of the step's signature."""
        super().model_post_init(ctx)
        self.exclude_from_signature = set(self.exclude_from_signature) | _UNSIGNED


class _GlobalCourseStep(GlobalStep):
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
        inputs = list(inputs)
        checkpoint = _checkpoint_path(self.stats_dir, inputs)
        if checkpoint is not None and checkpoint.exists():  # generated before an interruption
            saved = json.loads(checkpoint.read_text(encoding="utf-8"))
            rows, counts = saved["rows"], saved["counts"]
        else:
            gen = dict(self.llm.generation_kwargs or {})
            rows, counts = generate_batch(_Meter(self.llm, gen), inputs, self.config)
            if checkpoint is not None:
                _write_atomic(checkpoint, json.dumps({"rows": rows, "counts": counts}))
        _record(self.stats_dir, "generate", inputs, counts)
        yield rows


class FilterStep(_CourseStep):
    """Parse and filter each answer: CoT format and known answer for math, empty/refusal/length."""

    @property
    def inputs(self) -> list[str]:
        """The columns this step reads."""
        return ["instruction", "response", "kind"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Keep the rows that pass the filters; record why the others were dropped."""
        kept, counts = filter_rows(list(inputs), self.config)
        _record(self.stats_dir, "filter", list(inputs), counts)
        yield kept


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
        kept, counts = score_rows(list(inputs), self.config)
        _record(self.stats_dir, "quality", list(inputs), counts)
        yield kept


class DedupStep(_GlobalCourseStep):
    """Exact and ROUGE-L near-duplicates, then embedding paraphrases (all rows: a GlobalStep)."""

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Both dedup passes over all rows, each with its own counts."""
        rows, counts = dedup_rouge(list(inputs), self.config)
        _record(self.stats_dir, "dedup_rouge", [], counts)
        rows, counts = dedup_embed(rows, self.config)
        _record(self.stats_dir, "dedup_embed", [], counts)
        yield rows


class MixStep(_GlobalCourseStep):
    """Add `mixing.share` plain dialogue and build the `messages` column (GlobalStep)."""

    @property
    def outputs(self) -> list[str]:
        """The columns this step writes."""
        return ["messages", "source"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Mix in the dialogue rows and add `messages`."""
        kept, counts = mix_rows(list(inputs), self.config)
        _record(self.stats_dir, "mix", [], counts)
        yield kept


class CapstonePipeline(Pipeline):
    """distilabel's Pipeline, remembering whether it was stopped early (a partial Distiset)."""

    interrupted = False
    _tearing_down = False

    def _stop(self, *args: Any, **kwargs: Any) -> None:
        if not self._tearing_down:  # distilabel also calls _stop at the normal end, from _teardown
            self.interrupted = True
        super()._stop(*args, **kwargs)

    def _teardown(self) -> None:
        self._tearing_down = True
        try:
            super()._teardown()
        finally:
            self._tearing_down = False
