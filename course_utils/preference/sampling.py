"""Sample k candidate responses per instruction, in one model call, counting bad outputs.

The candidate system prompt (`CANDIDATE_SYSTEM`) is an ordinary instruction for a real model.
The offline teacher recognises its marker ("candidate response") and then answers each
generation at a quality it draws (rule-based: some follow every constraint, some break one,
some are padded or terse, some get a word problem's number wrong), so there are real pairs
to find. Without the marker it answers as in notebooks 01-09.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, Optional

from .._validate import InputError, require_int, require_number, require_str
from ..generation import seed_sampling
from ..magpie import turn_problem
from ..parsing import is_refusal
from ..progress import generate_outputs

__all__ = ["CANDIDATE_SYSTEM", "PROBLEMS", "load_preference_instructions", "response_problem",
           "sample_responses"]

CANDIDATE_SYSTEM = ("You write one candidate response to the user's instruction. Follow the "
                    "instruction and every constraint it states.")
# Why a sampled response is suspect (kept and flagged, or dropped with `drop_bad`): no text, a
# refusal, or a text that stops mid-sentence (`magpie.turn_problem`'s heuristic: as when the
# generation hits max_new_tokens). Verifiable checks score the first two 0; a truncated answer
# keeps its scores (it may still follow every constraint), so look at the flag.
PROBLEMS = ("empty", "refusal", "truncated")


def load_preference_instructions() -> list[dict]:
    """The course's preference instruction set: rows {instruction, answer (or None), kind}.

    26 instructions: 14 with verifiable constraints, 6 word problems with a known answer and
    6 open questions that only a judge (or length) can rank.
    """
    text = resources.files("course_utils").joinpath("data/preference_instructions.jsonl")
    return [json.loads(line) for line in text.read_text(encoding="utf-8").splitlines() if line]


def response_problem(text: Any) -> Optional[str]:
    """Why a sampled response is suspect ("empty", "refusal", "truncated"), or None."""
    if not isinstance(text, str) or not text.strip():
        return "empty"
    if is_refusal(text) and len(text.split()) < 25:
        return "refusal"
    return "truncated" if turn_problem(text) == "truncated" else None


def _instruction_rows(instructions: Any) -> list[dict]:
    fn = "sample_responses"
    if isinstance(instructions, (str, Mapping)) or not isinstance(instructions, Sequence):
        raise InputError(f"{fn}(): instructions must be a list of strings or of dicts with an "
                         "'instruction' key, e.g. load_preference_instructions().")
    if not instructions:
        raise InputError(f"{fn}(): instructions is empty: pass at least one instruction.")
    rows = []
    for i, item in enumerate(instructions):
        row = dict(item) if isinstance(item, Mapping) else {"instruction": item}
        require_str(row.get("instruction"), f"instructions[{i}]['instruction']", fn=fn,
                    allow_empty=False)
        rows.append(row)
    return rows


def sample_responses(llm: Any, instructions: Sequence[Any], *, k: int = 4,
                     temperature: float = 1.0, max_new_tokens: int = 256,
                     system: Optional[str] = CANDIDATE_SYSTEM, seed: int = 0,
                     drop_bad: bool = False) -> tuple[list[dict], Counter]:
    """k responses per instruction in one call: (rows {..., responses, problems}, counts).

    `instructions`: strings, or dicts with "instruction" (other keys, such as a reference
    "answer", are kept). Each row gets `responses` (k strings; a missing output becomes "")
    and `problems` (None or one of PROBLEMS per response). With `drop_bad` the flagged
    ones are removed instead. `counts` has "responses", "usable" and one entry per
    problem. Never raises on model output.
    """
    fn = "sample_responses"
    rows = _instruction_rows(instructions)
    require_int(k, "k", 2, fn=fn)
    require_number(temperature, "temperature", fn=fn, minimum=0.0, maximum=2.0)
    if temperature == 0:
        raise InputError(f"{fn}(): at temperature=0 the k responses are identical (greedy "
                         "decoding): pass temperature > 0, e.g. 1.0.")
    require_int(max_new_tokens, "max_new_tokens", 1, fn=fn)
    if system is not None:
        require_str(system, "system", fn=fn, allow_empty=False)
    if not hasattr(llm, "generate_outputs"):
        raise InputError(f"{fn}(): llm must be a loaded distilabel LLM, e.g. get_llm(seed=0).")
    head = [{"role": "system", "content": system}] if system else []
    chats = [head + [{"role": "user", "content": r["instruction"]}] for r in rows]
    outputs = generate_outputs(llm, chats, desc="sampling candidates", num_generations=k,
                               temperature=temperature, max_new_tokens=max_new_tokens,
                               **seed_sampling(llm, seed))
    counts: Counter = Counter()
    out_rows = []
    for i, row in enumerate(rows):
        out = outputs[i] if i < len(outputs) and isinstance(outputs[i], Mapping) else {}
        texts = list(out.get("generations") or [])[:k]
        texts += [None] * (k - len(texts))
        responses, problems = [], []
        for text in texts:
            problem = response_problem(text)
            counts["responses"] += 1
            counts[problem or "usable"] += 1
            if problem and drop_bad:
                continue
            responses.append(text if isinstance(text, str) else "")
            problems.append(problem)
        out_rows.append({**row, "responses": responses, "problems": problems})
    return out_rows, counts
