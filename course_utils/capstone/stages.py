"""The capstone's stages as plain functions: generation, filters, quality, dedup, mixing.

Each takes rows and the validated config and returns `(rows, counts)`; the distilabel steps
(`steps.py`) only call them and record the counts. Tested on their own, without a pipeline.
Bookkeeping lives here too: one small JSON file per (stage, batch) with the rows in and out,
and one checkpoint file per generated batch, both written atomically and idempotent on resume.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Optional

from ..cot import Problem, cot_messages, has_cot_tags, mix, parse_cot, strip_tags, verify
from ..dedup import embedding_dedup, exact_dedup, rouge_l_dedup
from ..evaluation import check, complexity, judge_prompt, parse_constraints, parse_judge
from ..evol import _embed_quietly, evolve
from ..formats import alpaca_to_messages, write_jsonl_atomic
from ..magpie import turn_problem
from ..parsing import is_refusal
from ..progress import generate_outputs
from ..self_instruct import self_instruct
from .preference_stage import RESULT_FILE as _PREFERENCE_RESULT

__all__ = ["STAGES", "dedup_embed", "dedup_rouge", "failures", "filter_rows", "generate_batch",
           "is_truncated", "mix_rows", "score_rows", "stage_counts", "stage_table",
           "zero_rows_reason"]

STAGES = ("load", "generate", "filter", "quality", "dedup_rouge", "dedup_embed", "mix")
_OPTIONAL_STAGES = ("preference",)  # after mix, only when the config enables it
_TABLE_ROW = re.compile(r"\|\s*$")  # a markdown table ends with "|": complete, not cut short


# --- the model: a meter around the loaded LLM ---------------------------------------------------


class _Meter:
    """Wraps a loaded LLM: merges the run's generation kwargs into every call and counts tokens."""

    def __init__(self, llm: Any, generation_kwargs: dict) -> None:
        self.llm = llm
        self.kwargs = {k: v for k, v in generation_kwargs.items() if k != "kwargs"}
        self.input_tokens = 0
        self.output_tokens = 0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.llm, name)

    def generate_outputs(self, inputs: list, num_generations: int = 1, **kwargs: Any) -> list:
        """The LLM's `generate_outputs`, with the run's kwargs, counting the tokens it reports."""
        outs = self.llm.generate_outputs(inputs, num_generations=num_generations,
                                         **{**self.kwargs, **kwargs})
        self.calls += len(inputs)
        for out in outs:
            stats = (out or {}).get("statistics") or {}
            self.input_tokens += _total(stats.get("input_tokens"))
            self.output_tokens += _total(stats.get("output_tokens"))
        return outs

    def take(self) -> tuple[int, int]:
        """The (input, output) tokens counted since the last call, and reset the counters."""
        got = (self.input_tokens, self.output_tokens)
        self.input_tokens = self.output_tokens = 0
        return got


def _total(x: Any) -> int:
    if isinstance(x, (list, tuple)):
        return sum(int(v or 0) for v in x)
    return int(x or 0)


def _first(out: Any) -> Optional[str]:
    gens = (out or {}).get("generations") or [None]
    text = gens[0]
    return text.strip() if isinstance(text, str) else None


# --- the generation stages as a plain function (tested on its own, called by GenerateStep) --------


def _batch_seed(seed: int, rows: list[dict]) -> int:
    digest = hashlib.sha1(json.dumps([r.get("instruction") for r in rows]).encode()).hexdigest()
    return (seed * 1_000_003 + int(digest[:8], 16)) % (2**31)


def _tasks(meter: _Meter, rows: list[dict], cfg: dict, seed: int, counts: dict) -> list[dict]:
    """The rows to answer: Self-Instruct's new tasks (evolved), then the math and dialogue rows."""
    todo: list[dict] = []
    seeds = [r for r in rows if r["kind"] == "seed"]
    counts["seeds"] = len(seeds)
    if seeds:
        si = cfg["self_instruct"]
        new, _ = self_instruct(meter, seeds, rounds=si["rounds"],
                               prompts_per_round=si["prompts_per_batch"],
                               threshold=si["threshold"], seed=seed)
        counts["self_instruct_new"] = len(new)
        instructions = [r["instruction"] for r in new]
        operators = [None] * len(instructions)
        if instructions and cfg["evol"]["rounds"] > 0:
            result = evolve(meter, instructions, rounds=cfg["evol"]["rounds"],
                            operators=cfg["evol"]["operators"], seed=seed)
            last = {s["root_id"]: s for s in result.steps if s["eliminated"] is None}
            operators = [last[i]["operator"] if i in last else None
                         for i in range(len(instructions))]
            instructions = result.pool
            counts["evolved"] = len(last)
        for text, op in zip(instructions, operators):
            # CoT (and its answer check) only for rows the answer checker can verify: the word
            # problems with known answers below. A keyword regex ("compute", "solve") sent a
            # writing critique and a coding task to CoT, checked for nothing but the tags.
            todo.append({"instruction": text, "kind": "general",
                         "origin": "evol-instruct" if op else "self-instruct",
                         "operator": op, "answer": None})
    for r in rows:
        if r["kind"] == "math":
            todo.append({"instruction": r["instruction"], "kind": "math", "origin": "problem",
                         "operator": None, "answer": r["answer"]})
        elif r["kind"] == "dialogue":
            todo.append({"instruction": r["instruction"], "kind": "dialogue",
                         "origin": "dialogue", "operator": None, "answer": None})
    return todo


def _tokens(out: Any) -> tuple[int, int]:
    """The (input, output) tokens one output's statistics report."""
    stats = (out or {}).get("statistics") or {}
    return _total(stats.get("input_tokens")), _total(stats.get("output_tokens"))


def _generate_all(meter: _Meter, prompts: list, desc: str) -> list:
    """One output per prompt, all prompts in one call (chunked to the model's batch size)."""
    outs = list(generate_outputs(meter, prompts, desc=desc, unit="row"))
    meter.take()  # counted per row from each output's own statistics
    return outs + [None] * (len(prompts) - len(outs))


def _judge_score(out: Any) -> Optional[float]:
    res = parse_judge(_first(out))
    return float(res.value["score"]) if res.ok else None


def generate_batch(llm: Any, rows: list[dict], cfg: dict) -> tuple[list[dict], dict]:
    """Self-Instruct → Evol-Instruct → answers for one batch of input rows; returns (rows, counts).

    Seed rows form this batch's Self-Instruct pool; the new tasks are evolved; every instruction is
    answered (CoT with <thinking>/<answer> for math, plain otherwise); dialogue prompts get plain
    answers. Never raises on model output: garbage gives fewer (or zero) rows, counted.
    """
    meter = llm if isinstance(llm, _Meter) else _Meter(llm, {})
    seed = _batch_seed(cfg["seed"], rows)
    counts = {"rows_in": len(rows), "seeds": 0, "self_instruct_new": 0, "evolved": 0,
              "answered": 0, "failed": 0}
    todo = _tasks(meter, rows, cfg, seed, counts)
    shared_in, shared_out = meter.take()  # Self-Instruct + Evol-Instruct cost, shared by the rows
    out_rows = []
    if todo:
        prompts = [cot_messages(t["instruction"]) if t["kind"] == "math"
                   else [{"role": "user", "content": t["instruction"]}] for t in todo]
        outs = _generate_all(meter, prompts, "capstone: answers")  # one call: every row
        answers = [_first(o) for o in outs]
        if all(a is None for a in answers):  # no text at all: an API or server error, not garbage
            raise RuntimeError(f"the teacher returned no output for any of the {len(todo)} "
                               f"prompts of this batch (an API or server error?)")
        per_row = [_tokens(o) for o in outs]
        judged: list[Optional[float]] = [None] * len(todo)
        if cfg["quality"]["method"] == "judge":
            asked = [i for i, (t, a) in enumerate(zip(todo, answers)) if t["kind"] != "dialogue" and a]
            verdicts = _generate_all(meter, [[{"role": "user", "content": judge_prompt(
                todo[i]["instruction"], answers[i])}] for i in asked], "capstone: judge")
            for i, out in zip(asked, verdicts):
                judged[i] = _judge_score(out)
                tin, tout = _tokens(out)
                per_row[i] = (per_row[i][0] + tin, per_row[i][1] + tout)
        n = len(todo)
        for t, a, (tin, tout), j in zip(todo, answers, per_row, judged):
            counts["answered" if a else "failed"] += 1
            stats = {"input_tokens": tin + shared_in // n, "output_tokens": tout + shared_out // n}
            out_rows.append({**t, "response": a or "", "judge_score": j,
                             "distilabel_metadata": {"statistics_generate": stats}})
    counts["rows_out"] = len(out_rows)
    return out_rows, counts


# --- the model-free stages ---------------------------------------------------------------------


def is_truncated(text: Any) -> bool:
    """Whether an answer stops mid-sentence ("You're welcome! Let me"), as at max_new_tokens.

    `magpie.turn_problem`'s check (closing punctuation of any script, no open code block), with
    a markdown table row ("... |") counted as complete.
    """
    if not isinstance(text, str) or not text.strip():
        return False
    return turn_problem(text) == "truncated" and not (text.count("```") % 2 == 0
                                                      and _TABLE_ROW.search(text))


def _filter_reason(r: dict, f: dict) -> Optional[str]:
    text = r.get("response") or ""
    words = len(text.split())
    reason = None
    if not text.strip():
        reason = "empty"
    elif is_refusal(text) and words < 25:
        reason = "refusal"
    elif r["kind"] == "math":
        if r.get("answer") is not None and f["check_math_answers"]:
            v = verify(Problem("capstone", r["instruction"], r["answer"]), text)
            reason = None if v.ok else f"cot_{v.reason}"
        elif not parse_cot(text).ok:
            reason = f"cot_{parse_cot(text).reason}"
    elif r["kind"] == "dialogue" and has_cot_tags(text):
        reason = "dialogue_with_tags"
    if reason is None and is_truncated(text):
        reason = "truncated"
    if reason is None and r["kind"] != "dialogue":
        if words < f["min_response_words"]:
            reason = "too_short"
        elif words > f["max_response_words"]:
            reason = "too_long"
    return reason


def filter_rows(rows: list[dict], cfg: dict) -> tuple[list[dict], dict]:
    """Parse and filter: returns (kept rows, counts by reason)."""
    counts: dict[str, int] = {"rows_in": len(rows)}
    kept = []
    for r in rows:
        reason = _filter_reason(r, cfg["filters"])
        if reason:
            counts[reason] = counts.get(reason, 0) + 1
        else:
            kept.append(r)
    counts["rows_out"] = len(kept)
    return kept, counts


def _split(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    return ([r for r in rows if r["kind"] != "dialogue"],
            [r for r in rows if r["kind"] == "dialogue"])


def dedup_rouge(rows: list[dict], cfg: dict) -> tuple[list[dict], dict]:
    """Exact (normalised) duplicates, then ROUGE-L > threshold on the instructions; not dialogue."""
    main, dialogue = _split(rows)
    texts = [r["instruction"] for r in main]
    exact = exact_dedup(texts, normalize=True) if texts else []
    after = [main[i] for i in exact]
    keep = rouge_l_dedup([r["instruction"] for r in after],
                         threshold=cfg["dedup"]["rouge_threshold"], n_jobs=1) if after else []
    kept = [after[i] for i in keep] + dialogue
    return kept, {"rows_in": len(rows), "exact": len(main) - len(after),
                  "rouge_l": len(after) - len(keep), "rows_out": len(kept)}


def dedup_embed(rows: list[dict], cfg: dict) -> tuple[list[dict], dict]:
    """Cosine of sentence embeddings > threshold (null threshold: skipped); not dialogue."""
    main, dialogue = _split(rows)
    th = cfg["dedup"]["embedding_threshold"]
    if th is None or len(main) < 2:
        kept = main + dialogue
        return kept, {"rows_in": len(rows), "skipped": 1, "rows_out": len(kept)}
    emb = _embed_quietly([r["instruction"] for r in main], None)
    keep = embedding_dedup(embeddings=emb, threshold=th)
    kept = [main[i] for i in keep] + dialogue
    return kept, {"rows_in": len(rows), "embedding": len(main) - len(keep), "rows_out": len(kept)}


def _follows(response: str, constraints: list) -> bool:
    results = []
    for c in constraints:
        try:
            results.append(check(response, c))
        except Exception:  # a constraint the checker cannot run counts as not followed
            results.append(False)
    return all(results)


def score_rows(rows: list[dict], cfg: dict) -> tuple[list[dict], dict]:
    """Quality: complexity and instruction-following checks (rules) or the judge's score (judge)."""
    q = cfg["quality"]
    counts: dict[str, int] = {"rows_in": len(rows), "if_checked": 0, "if_passed": 0}
    kept = []
    for r in rows:
        cx = round(float(complexity(r["instruction"])["score"]), 3)
        constraints = parse_constraints(r["instruction"]) if r["kind"] != "dialogue" else []
        response = strip_tags(r["response"]) if r["kind"] == "math" else r["response"]
        if_pass = _follows(response, constraints)
        if constraints:  # instruction following measured BEFORE failing rows are dropped
            counts["if_checked"] += 1
            counts["if_passed"] += int(if_pass)
        reason = None
        if r["kind"] != "dialogue":
            if q["method"] == "judge":
                score = r.get("judge_score")
                if score is None:
                    reason = "judge_unparsed"
                elif score < q["min_judge_score"]:
                    reason = "judge_low"
            elif cx < q["min_complexity"]:
                reason = "too_simple"
            elif not if_pass:
                reason = "if_failed"
        if reason:
            counts[reason] = counts.get(reason, 0) + 1
            continue
        kept.append({**r, "complexity": cx, "if_pass": if_pass})
    if not counts["if_checked"]:  # nothing to measure: no clutter in the stage table
        del counts["if_checked"], counts["if_passed"]
    counts["rows_out"] = len(kept)
    return kept, counts


def mix_rows(rows: list[dict], cfg: dict) -> tuple[list[dict], dict]:
    """cot.mix: `share` of plain dialogue (as many as available), then the `messages` column."""
    main, dialogue = _split(rows)
    share = cfg["mixing"]["share"]
    counts = {"rows_in": len(rows)}
    if not main:
        counts.update({"no_generated_rows": 1, "dialogue_unused": len(dialogue), "rows_out": 0})
        return [], counts
    if dialogue and share > 0:
        fit = min(share, len(dialogue) / (len(main) + len(dialogue)))
        rows_mixed = mix(main, dialogue, share=fit, seed=cfg["seed"])
        counts["dialogue_short"] = int(fit < share - 0.05)  # too few dialogue rows for the share
    else:
        rows_mixed = [{**r, "source": "reasoning"} for r in main]
    out = []
    for r in rows_mixed:
        r["source"] = "dialogue" if r["kind"] == "dialogue" else r["kind"]
        try:
            r["messages"] = alpaca_to_messages({"instruction": r["instruction"],
                                                "response": r["response"]},
                                               system=cfg["output"]["system_prompt"])
        except ValueError:
            counts["invalid_messages"] = counts.get("invalid_messages", 0) + 1
            continue
        out.append(r)
    counts["dialogue"] = sum(r["kind"] == "dialogue" for r in out)
    counts["dialogue_unused"] = len(dialogue) - counts["dialogue"]
    counts["rows_out"] = len(out)
    return out, counts


# --- stage bookkeeping: one small JSON file per (stage, batch), idempotent on resume ------------


def _batch_key(inputs: list[dict]) -> str:
    """A batch's name: its rows' ids (unique, stable across runs), else their instructions.

    Ids matter: two batches with the same instructions (a seed file with repeats) would share
    one file, and the stage table would count one of them only.
    """
    text = json.dumps([r.get("_id", r.get("instruction")) for r in inputs], sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _record(stats_dir: str, stage: str, inputs: list[dict], counts: dict) -> None:
    """Write one stage's counts for one batch (the batch's key names the file: resume-safe)."""
    if not stats_dir:
        return
    folder = Path(stats_dir)
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(folder / f"{stage}-{_batch_key(inputs)}.jsonl", [{"stage": stage, **counts}])


def _checkpoint_path(stats_dir: str, inputs: list[dict]) -> Optional[Path]:
    return Path(stats_dir) / "generated" / f"{_batch_key(inputs)}.json" if stats_dir else None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _record_failure(stats_dir: str, stage: str, inputs: list[dict], info: dict) -> None:
    """Record that one batch of `stage` was lost (the run is then not complete)."""
    if stats_dir:
        _write_atomic(Path(stats_dir) / "failed" / f"{stage}-{_batch_key(inputs)}.json",
                      json.dumps({"stage": stage, **info}))


def failures(stats_dir: Any) -> list[dict]:
    """The batches this run lost (`_record_failure`), in a stable order."""
    found = []
    for path in sorted(Path(stats_dir).glob("failed/*.json")):
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            found.append({"stage": path.name.split("-")[0], "error": "unreadable failure record"})
    return sorted(found, key=lambda f: (f.get("batch") or 0, f.get("stage", "")))


def _clear_stats(stats_dir: Any) -> None:
    """Forget the last run's counts and failures (not the generation checkpoints)."""
    folder = Path(stats_dir)
    for path in [*folder.glob("*.jsonl"), *folder.glob("failed/*.json"),
                 folder / _PREFERENCE_RESULT]:
        path.unlink(missing_ok=True)


def zero_rows_reason(stages: list[dict]) -> str:
    """Which stages dropped the rows, and why: "quality dropped all 12 (too_simple=12)"."""
    parts = []
    for c in stages:
        n_in, n_out = c.get("rows_in", 0), c.get("rows_out", 0)
        if (c["stage"] in ("load", "generate", "export") and n_out) or c["stage"] == "preference":
            continue  # the preference stage makes pairs, not rows: it drops no SFT row
        if c["stage"] == "generate" and not n_out:
            parts.append(f"generate made no rows from {n_in} inputs")
            continue
        if n_in <= n_out:
            continue
        why = ", ".join(f"{k}={v}" for k, v in c.items() if k not in _NOT_REASONS
                        and isinstance(v, int) and not isinstance(v, bool) and v)
        dropped = f"all {n_in}" if not n_out else f"{n_in - n_out} of {n_in}"
        if c["stage"] == "mix" and c.get("no_generated_rows"):
            why = "only plain dialogue was left, with no generated row to mix it into"
        parts.append(f"{c['stage']} dropped {dropped}" + (f" ({why})" if why else ""))
    return "; ".join(parts) or "no stage reported rows"


_NOT_REASONS = ("stage", "rows_in", "rows_out", "if_checked", "if_passed", "dialogue",
                "skipped", "seeds", "self_instruct_new", "evolved", "answered")


def stage_counts(stats_dir: Any) -> list[dict]:
    """Rows in and out per stage (summed over batches), in pipeline order, with the details."""
    totals: dict[str, dict] = {}
    for path in sorted(Path(stats_dir).glob("*.jsonl")):
        rec = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
        agg = totals.setdefault(rec.pop("stage"), {})
        for k, v in rec.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                agg[k] = agg.get(k, 0) + v
            else:
                agg[k] = v
    return [{"stage": s, **totals[s]} for s in STAGES + _OPTIONAL_STAGES if s in totals]


def stage_table(counts: list[dict]) -> str:
    """A fixed-width text table: stage, rows in, rows out, and what happened."""
    lines = [f"{'stage':<12} {'in':>5} {'out':>5}  details", "-" * 60]
    for c in counts:
        details = ", ".join(f"{k}={v}" for k, v in c.items()
                            if k not in ("stage", "rows_in", "rows_out"))
        lines.append(f"{c['stage']:<12} {c.get('rows_in', 0):>5} {c.get('rows_out', 0):>5}  "
                     f"{details}")
    return "\n".join(lines)
