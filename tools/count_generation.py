"""Count what every lesson notebook asks a model for, and turn it into Colab minutes.

Runs the lesson notebooks (01 onwards) on the tiny local transformers model (the Colab code
path, with COURSE_BACKEND=transformers) with the call log on (`course_utils.call_log`), then writes
`course_utils/data/generation_budget.json`: per notebook the generation calls, prompts,
generations and token budget, and minutes for the setups in SETUPS. Notebook 00 and
INSTRUCTORS.md print it with `course_utils.run_times.colab_time_table()`.

    python tools/count_generation.py                  # run the notebooks, write the JSON, print it
    python tools/count_generation.py --from-logs      # recompute from build/generation_calls/
    python tools/count_generation.py --only 02 05     # re-count some notebooks, keep the others

With --only, a notebook not run keeps its log's numbers, or, without a log in
build/generation_calls/, its previous row of the JSON as it was.

The token budget is an upper bound: every generation is counted at its full max_new_tokens,
whatever the model wrote; real models usually stop before it. The throughputs in SETUPS are
assumptions, not measurements: change them here, then run with --from-logs.
Not part of the installed package.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: this course_utils, not an installed one

from course_utils.call_log import ENV_FILE, ENV_NOTEBOOK, read_calls  # noqa: E402
from course_utils.run_times import BUDGET_FILE, colab_time_table  # noqa: E402

LOG_DIR = ROOT / "build" / "generation_calls"
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb") if p.name[:2] != "00")
CELL_TIMEOUT = 900

# seconds(call) = ceil(prompts / prompts_in_flight) * max_new_tokens / rate, where
# rate = min(per_sequence_tok_s, max_aggregate_tok_s / sequences_in_flight) and
# sequences_in_flight = min(prompts, prompts_in_flight) * num_generations.
SETUPS = {
    "t4_transformers": {
        "label": "T4 + transformers",
        "per_sequence_tok_s": 20,
        "max_aggregate_tok_s": 160,
        "prompts_in_flight": 8,
        "assumption": (
            "get_llm('transformers') on a Colab T4 with SmolLM2-1.7B-Instruct (16-bit weights): "
            "about 20 new tokens/s for one sequence (Hugging Face generate, no compilation). "
            "The course hands the pipeline 8 prompts per forward pass (COURSE_BATCH_SIZE, left "
            "padding); up to 8 sequences are assumed to decode as fast as one (decoding is "
            "memory-bound; measured here on CPU: 4.4x the tokens/s of batch 1 at batch 8), so the "
            "aggregate is capped at 8 x 20 = 160 tokens/s."),
    },
    "t4_vllm": {
        "label": "T4 + vLLM",
        "per_sequence_tok_s": 50,
        "max_aggregate_tok_s": 1000,
        "prompts_in_flight": 8,
        "assumption": (
            "`vllm serve HuggingFaceTB/SmolLM2-1.7B-Instruct --dtype half` on a T4, reached with "
            "get_llm('openai'), which keeps at most 8 requests in flight (COURSE_MAX_CONCURRENCY); "
            "continuous batching decodes every sequence in flight at about 50 tokens/s each, up to "
            "an assumed aggregate of 1000 tokens/s."),
    },
}
MEANING = (
    "Upper bound: every generation is counted at its full max_new_tokens, whatever the model "
    "wrote; real models usually stop earlier, so expect less. Decoding only: model download and "
    "loading, prompt processing and the notebook's other cells are not included. The calls come "
    "from one run on the tiny random model: where a next step depends on what the model wrote (a "
    "parsed list, a retry, a stopping rule), a real model makes somewhat more or fewer calls. "
    "The throughputs are assumptions, not measurements.")


def call_seconds(call: dict, setup: dict) -> float:
    """Seconds one logged call takes under `setup` if every generation uses its whole budget."""
    prompts, gens = int(call["prompts"]), int(call["num_generations"])
    budget = int(call["max_new_tokens"] or 0)
    if prompts == 0 or budget == 0:
        return 0.0
    waves = math.ceil(prompts / setup["prompts_in_flight"])
    in_flight = min(prompts, setup["prompts_in_flight"]) * gens
    rate = min(setup["per_sequence_tok_s"], setup["max_aggregate_tok_s"] / in_flight)
    return waves * budget / rate


def summarise(calls: list[dict]) -> dict:
    """Calls, prompts, generations, token budget and minutes per setup for one notebook's calls."""
    unknown = sum(1 for c in calls if not c.get("max_new_tokens"))
    return {
        "calls": len(calls),
        "prompts": sum(c["prompts"] for c in calls),
        "generations": sum(c["prompts"] * c["num_generations"] for c in calls),
        "token_budget": sum(c["prompts"] * c["num_generations"] * (c["max_new_tokens"] or 0)
                            for c in calls),
        "calls_without_max_new_tokens": unknown,
        "minutes": {k: round(sum(call_seconds(c, s) for c in calls) / 60, 2)
                    for k, s in SETUPS.items()},
    }


def run_notebook(path: Path, model_dir: Path, log: Path) -> str:
    """Execute one notebook on the tiny model with the call log on; '' if it ran, else the error."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    log.unlink(missing_ok=True)
    log.touch()
    env = {"COURSE_BACKEND": "transformers", "COURSE_MODEL": str(model_dir), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1",
           "MPLBACKEND": "Agg", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", ENV_FILE: str(log), ENV_NOTEBOOK: path.stem}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        return ""
    except CellExecutionError as e:
        return str(e).strip().splitlines()[-1][:200]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_budget(results: dict[str, str]) -> dict:
    """The generation_budget.json document: LOG_DIR's logs and each notebook's run status."""
    notebooks = {}
    for stem, error in results.items():
        calls = read_calls(LOG_DIR / f"{stem}.jsonl")
        entry = {"status": "failed" if error else "ok", **summarise(calls)}
        if error:
            entry["error"] = error
            entry["note"] = f"failed on the tiny model ({error}): left out of the table"
        elif not calls:
            entry["note"] = "no calls through get_llm()"
        notebooks[stem] = entry
    return {
        "generated_by": "python tools/count_generation.py",
        "counted_with": "the tiny random transformers model (COURSE_BACKEND=transformers), "
                        "so every notebook takes its real-model code path",
        "meaning": MEANING,
        "formula": "seconds(call) = ceil(prompts / prompts_in_flight) * max_new_tokens / rate; "
                   "rate = min(per_sequence_tok_s, max_aggregate_tok_s / sequences_in_flight); "
                   "sequences_in_flight = min(prompts, prompts_in_flight) * num_generations",
        "setups": SETUPS,
        "notebooks": notebooks,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks (or reuse their logs), write the JSON and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from-logs", action="store_true",
                        help=f"reuse {LOG_DIR.relative_to(ROOT)}/ instead of running the notebooks")
    parser.add_argument("--only", nargs="+", metavar="NN",
                        help="run only these notebooks (e.g. 02 05); the others keep their logs")
    args = parser.parse_args(argv)

    previous = json.loads(BUDGET_FILE.read_text()) if BUDGET_FILE.exists() else {"notebooks": {}}
    results: dict[str, str] = {}
    if not args.from_logs:
        from course_utils.tiny import ensure_tiny_model

        model_dir = Path(os.environ.get("COURSE_TINY_MODEL_DIR") or ensure_tiny_model())
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        for path in NOTEBOOKS:
            if args.only and path.stem[:2] not in args.only:
                continue
            start = time.perf_counter()
            results[path.stem] = run_notebook(path, model_dir, LOG_DIR / f"{path.stem}.jsonl")
            status = results[path.stem] or "ok"
            print(f"{path.stem}: {status} ({time.perf_counter() - start:.0f} s)", flush=True)
    for path in NOTEBOOKS:  # notebooks not run now keep their logs and their previous status
        if path.stem not in results and (LOG_DIR / f"{path.stem}.jsonl").exists():
            old = previous["notebooks"].get(path.stem, {})
            results[path.stem] = old.get("error", "") if old.get("status") == "failed" else ""
    results = dict(sorted(results.items()))
    document = build_budget(results)
    for path in NOTEBOOKS:  # no run and no log (a fresh checkout): keep the previous row as it was
        if path.stem not in results and path.stem in previous["notebooks"]:
            document["notebooks"][path.stem] = previous["notebooks"][path.stem]
    document["notebooks"] = dict(sorted(document["notebooks"].items()))
    BUDGET_FILE.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nWrote {BUDGET_FILE.relative_to(ROOT)}\n")
    print(colab_time_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
