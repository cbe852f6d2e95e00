"""Score every candidate response three ways: verifiable checks, an LLM judge, and length.

- verifiable: the share of checks passed, from the constraints `parse_constraints` finds in
  the instruction (as notebook 08 does) plus, when the row has a reference "answer", whether
  the final number matches it (`cot.answers_match`). None when nothing is checkable.
- judge: the 1-10 score of the course's rubric judge (`evaluation.judge_prompt` and
  `parse_judge`), asked under `JUDGE_SYSTEM`; None when the reply does not parse.
- length: words (whitespace-separated).

An empty or refusing response scores 0 on verifiable when something is checkable (a refusal
is not a pass, even if it has no commas); every response is still sent to the judge.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .._validate import InputError, require_int, require_rows
from ..cot import answers_match, extract_answer
from ..evaluation.constraints import check, parse_constraints
from ..evaluation.judge import judge_prompt, parse_judge
from ..progress import generate_outputs
from .sampling import response_problem

__all__ = ["JUDGE_SYSTEM", "JUDGE_TOKENS", "final_number", "judge_scores", "score_responses",
           "verifiable_score", "word_length"]

JUDGE_SYSTEM = ("You grade candidate responses to the same instruction, one at a time, to build "
                "preference data. Grade each candidate response on its own merits.")
JUDGE_TOKENS = 64  # a JSON verdict: {"score": 7, "reason": "<one sentence>"}
_NUMBER = r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?"
_LAST_NUMBER = re.compile(_NUMBER)
# Where real models put the final answer, most explicit first (the last match of each wins):
# LaTeX `\boxed{4}`, a phrase ("The answer is 4", "**Final answer:** $4$"), a bold number
# ("They meet after **4 hours**."). Only then the last number, which a check after the answer
# ("Check: 90*4 + 40*4 = 520") would get wrong.
_ANSWER_SHAPES = (
    re.compile(r"\\boxed\{\s*\$?\s*(" + _NUMBER + r")"),
    re.compile(r"\banswer\b(?:\s+is)?\s*[:=]?\s*(?:\*\*|__)?\s*[:=]?\s*\$?\s*(" + _NUMBER + r")",
               re.IGNORECASE),
    re.compile(r"(?:\*\*|__)\s*\$?\s*(" + _NUMBER + r")[^*_\n]{0,30}(?:\*\*|__)"),
)


def word_length(text: Any) -> int:
    """Words in a response (0 for a missing one)."""
    return len(text.split()) if isinstance(text, str) else 0


def final_number(text: Any) -> Optional[str]:
    """The final answer: an <answer> block, a boxed/stated/bold number, else the last number."""
    if not isinstance(text, str):
        return None
    tagged = extract_answer(text) if "<answer>" in text.lower() else None
    if tagged is not None:
        return tagged
    for shape in _ANSWER_SHAPES:
        found = shape.findall(text)
        if found:
            return found[-1].strip()
    numbers = _LAST_NUMBER.findall(text)
    return numbers[-1].strip() if numbers else None


def verifiable_score(instruction: str, response: Any, answer: Any = None) -> Optional[float]:
    """Share of verifiable checks passed (constraints, reference answer); None if none apply."""
    constraints = parse_constraints(instruction)
    n_checks = len(constraints) + (answer is not None)
    if n_checks == 0:
        return None
    if response_problem(response) in ("empty", "refusal"):
        return 0.0
    passed = sum(check(response, c) for c in constraints)
    if answer is not None:
        passed += answers_match(final_number(response), answer)
    return passed / n_checks


def judge_scores(llm: Any, items: Sequence[tuple[str, str]], *,
                 max_new_tokens: int = JUDGE_TOKENS, system: Optional[str] = JUDGE_SYSTEM,
                 ) -> tuple[list[Optional[float]], Counter]:
    """Judge (instruction, response) pairs in one call: (scores 1-10 or None, reply outcomes)."""
    fn = "judge_scores"
    require_int(max_new_tokens, "max_new_tokens", 1, fn=fn)
    if not hasattr(llm, "generate_outputs"):
        raise InputError(f"{fn}(): llm must be a loaded distilabel LLM, e.g. get_llm(seed=0).")
    items = list(items)
    head = [{"role": "system", "content": system}] if system else []
    chats = [head + [{"role": "user", "content": judge_prompt(i, r if isinstance(r, str) else "")}]
             for i, r in items]
    outputs = generate_outputs(llm, chats, desc="judging candidates",
                               max_new_tokens=max_new_tokens) if chats else []
    scores: list[Optional[float]] = []
    outcomes: Counter = Counter()
    for j in range(len(items)):
        out = outputs[j] if j < len(outputs) and isinstance(outputs[j], Mapping) else {}
        text = (out.get("generations") or [None])[0]
        parsed = parse_judge(text)
        outcomes["ok" if parsed.ok else parsed.reason] += 1
        scores.append(float(parsed.value["score"]) if parsed.ok else None)
    return scores, outcomes


def score_responses(rows: Sequence[Mapping[str, Any]], llm: Any = None, *,
                    judge_tokens: int = JUDGE_TOKENS) -> tuple[list[dict], Counter]:
    """Add `scores` to each row: one {"verifiable", "judge", "length"} dict per response.

    `rows` come from `sample_responses` (an "answer" key, when present, is the reference
    number). Without `llm` no judge is asked (every judge score is None). Returns the rows
    and the judge's reply outcomes ("ok", or why a reply did not parse).
    """
    fn = "score_responses"
    rows = require_rows(rows, fn=fn, columns=("instruction", "responses"))
    for i, row in enumerate(rows):
        texts = row["responses"]
        if isinstance(texts, (str, Mapping)) or not isinstance(texts, Sequence):
            raise InputError(f"{fn}(): rows[{i}]['responses'] must be a list of strings: build "
                             "the rows with sample_responses().")
    items = [(row["instruction"], text) for row in rows for text in row["responses"]]
    judged, outcomes = (judge_scores(llm, items, max_new_tokens=judge_tokens) if llm is not None
                        else ([None] * len(items), Counter()))
    out, j = [], 0
    for row in rows:
        scores = []
        for text in row["responses"]:
            verifiable = verifiable_score(row["instruction"], text, row.get("answer"))
            scores.append({"verifiable": verifiable, "judge": judged[j],
                           "length": word_length(text)})
            j += 1
        out.append({**row, "scores": scores})
    return out, outcomes
