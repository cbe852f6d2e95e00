"""The capstone: the whole course as ONE distilabel `Pipeline`, configured by one YAML file.

    load seeds ─► generate (Self-Instruct → Evol-Instruct → answers: CoT for the word problems
                            with known answers, plain otherwise)
               ─► filter (parsing, answer check, truncation, length, refusals)
               ─► quality (complexity + instruction-following checks, or the judge's score)
               ─► dedup (GlobalStep: exact + ROUGE-L, then embeddings)
               ─► mix (GlobalStep: 10-20% plain dialogue)
               [─► preference (GlobalStep, optional, off by default: DPO pairs)]
               ─► export (Distiset, JSONL, card[, preference/])

**Why the three generation stages are one step.** distilabel runs every step in its own worker
process. A step that holds an LLM loads it in *its* process, so Self-Instruct, Evol-Instruct and
the answer step as three `Task`s would load three copies of the same weights: that is how a
Colab session runs out of memory. Here one `GenerateStep` owns the model, loads it once, and runs
the course's tested loops (`self_instruct.self_instruct`, `evol.evolve`, `cot.cot_messages`) on
each batch of seeds. Every stage that needs no model (filters, dedup, scoring, mixing) is its own
step, so each can be inspected, cached and replaced on its own. The price: the generation stages
are not separately cached; the generation step checkpoints per batch instead (`batch_size`).

**Why quality comes before dedup, and dedup is one step.** distilabel starts a new *load stage*
at every `GlobalStep` and at every step after one, and waits for each stage to load (it polls
every 2.5 s). Scoring is per row, so it streams with the filters in the first stage; the two
dedup passes need all rows and share one `GlobalStep` (their counts are still reported
separately); mixing needs all rows too. Three stages instead of five: a small run takes about
half the time, and dedup compares fewer rows.

**Cache and resume.** The pipeline is named by the config's `name`; distilabel caches it under
`cache_dir/name/<signature>` (`use_cache=True`), and a finished run is read back from there at
once. A *partial* run is resumed by the generation step's own checkpoints (one file per batch,
written atomically, in the same cache folder): distilabel 1.5.3 gets stuck resuming a partial
execution (argilla-io/distilabel#1065) and a hard kill can leave its state files half-written,
so `repair_cache` removes unfinished executions first. Generation is deterministic per batch
(seeded from the config seed and the batch's rows), so a resumed run yields exactly the rows of
an uninterrupted one, and the batches finished before the interruption are not generated again.

`build_dataset(config, out_dir)` runs it all; `python -m course_utils build-dataset --config FILE
--out DIR` is the same from a terminal. Errors in the input raise `CapstoneError` with a message
that says how to fix it.

**The optional preference stage** (`preference.enabled: true`, issue 14): after mixing, a
`PreferenceStep` samples `k` candidates for the kept instructions with the same teacher (loaded
in its own worker, after the generation step unloaded its copy), scores and pairs them with
`course_utils.preference`, and the export gains `preference/` (TRL's prompt/chosen/rejected and
a card). Its failures are counted and said, never the SFT export lost. Off (or left out), the
section changes nothing: not the steps, the cache keys, the export's hash nor its files.

The modules: `config` (defaults, validation, seeds), `stages` (the stages as plain functions),
`steps` (the distilabel steps; importing it imports distilabel, so this package imports it only
when a pipeline is built or a step class is asked for), `run` (the pipeline, the cache,
`build_dataset`), `export` (files and card), `cli` (the command line), `lock` (one run per
output and cache folder), `workers` (no worker outlives its run), `preference_stage` (the
optional preference stage as plain functions).
"""

# Besides __all__, the names tests, notebooks and checks use are importable from here too.
from .config import (BACKENDS, DEFAULT_CONFIG_FILE, CapstoneError, _input_rows,  # noqa: F401
                     default_config, load_config, preference_enabled, read_seeds, sft_config,
                     small_config, validate_config)
from .stages import (STAGES, _Meter, dedup_embed, dedup_rouge, filter_rows,  # noqa: F401
                     generate_batch, mix_rows, score_rows, stage_counts, stage_table)
from .run import (COMPLETE_MARKER, Interrupted, RunFailed, build_dataset,  # noqa: F401
                  build_pipeline, cache_dir_for, make_llm, repair_cache, stats_dir_for)
from .cli import main  # noqa: F401
# last: the function `export` replaces the submodule of the same name as this package's attribute
from .export import EXPORT_COLUMNS, BuildResult, export  # noqa: F401

__all__ = [
    "CapstoneError", "Interrupted", "RunFailed", "STAGES", "repair_cache", "COMPLETE_MARKER",
    "DEFAULT_CONFIG_FILE", "BuildResult", "build_dataset", "build_pipeline", "default_config",
    "export", "generate_batch", "load_config", "make_llm", "read_seeds", "small_config",
    "stage_counts", "stage_table", "validate_config",
]

_STEP_NAMES = ("CapstonePipeline", "DedupStep", "FilterStep", "GenerateStep", "MixStep",
               "PreferenceStep", "QualityStep")


def __getattr__(name: str) -> type:
    """The distilabel Step classes, imported on first use (importing distilabel takes seconds)."""
    if name in _STEP_NAMES:
        from . import steps

        return getattr(steps, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
