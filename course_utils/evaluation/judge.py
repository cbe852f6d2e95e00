"""LLM-as-judge: a rating prompt (`JUDGE_PROMPT_V1`, filled by `judge_prompt`) and a parser
that never raises (`parse_judge`, returning `course_utils.parsing.ParseResult`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._validate import InputError, require_str
from ..parsing import ParseResult, extract_json
from .constraints import describe_constraint

__all__ = ["JUDGE_PROMPT_V1", "judge_prompt", "parse_judge"]


JUDGE_PROMPT_V1 = """You are a strict grader of instruction-following data.
Rate how well the RESPONSE follows the INSTRUCTION on a scale from 1 to 10:
1 = ignores the instruction or is wrong; 5 = partly correct or misses a constraint;
10 = correct, complete, and follows every constraint. Do not reward length or politeness.

INSTRUCTION:
{instruction}

CONSTRAINTS THE RESPONSE MUST FOLLOW:
{constraints}

RESPONSE:
{response}

Respond with JSON: {"score": <1-10>, "reason": "<one sentence>"}"""


def judge_prompt(
    instruction: str, response: str, constraints: Sequence[Mapping[str, Any] | str] | None = None
) -> str:
    """Fill JUDGE_PROMPT_V1 for one example; constraint dicts are written as English sentences."""
    require_str(instruction, "instruction", fn="judge_prompt")
    require_str(response, "response", fn="judge_prompt")
    if isinstance(constraints, (str, Mapping)):
        raise InputError("judge_prompt(): constraints must be a list of constraint dicts or "
                         "sentences, or None.")
    items = list(constraints or [])
    rendered = (
        "\n".join(f"- {c if isinstance(c, str) else describe_constraint(c)}" for c in items)
        or "(none beyond the instruction itself)"
    )
    values = {"instruction": instruction.strip(), "response": response.strip(),
              "constraints": rendered}
    # One pass, so a "{response}" inside the instruction text is never substituted again.
    return re.sub(r"\{(instruction|response|constraints)\}", lambda m: values[m.group(1)],
                  JUDGE_PROMPT_V1)


def _score_from(value: Any) -> float | None:
    """A number from 8, 8.5, "8" or "8/10" (inf if too large); None for anything else or NaN."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*", value)
        value = m.group(1) if m else None
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an integer too large for a float: a number, far out of range
        return math.inf
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


_MAX_JUDGE_CHARS = 20_000  # a judge reply is short; this bounds the work on a runaway one
_PROSE_SCORE = re.compile(r"score\W{0,5}(\d+(?:\.\d+)?)|\b(\d+(?:\.\d+)?)\s*/\s*10\b",
                          re.IGNORECASE)


def parse_judge(text: Any) -> ParseResult:
    """Parse a judge reply into a ParseResult; never raises (like all of course_utils.parsing).

    ok: `value` is {"score": 1-10, "reason": "<the judge's sentence or ''>"}. The JSON object
    may sit in a ```json fence or after a preamble (`extract_json`); a score may be a number or
    a string ("8", "8/10"). Without usable JSON, "score: 8" or "8/10" in prose is accepted
    (reason ""). Not ok: `reason` says why, for `count_reasons`: "empty", "refusal",
    "truncated_json", "no_score", "score_not_a_number" or "score_out_of_range". Only the
    first 20,000 characters are read.
    """
    try:
        parsed = extract_json(text[:_MAX_JUDGE_CHARS] if isinstance(text, str) else text)
        if parsed.ok and isinstance(parsed.value, dict) and "score" in parsed.value:
            why = parsed.value.get("reason")
            reason = why.strip() if isinstance(why, str) else ""
            return _judged(_score_from(parsed.value["score"]), reason)
        if not isinstance(text, str) or not text.strip():
            return ParseResult(False, None, "empty")
        m = _PROSE_SCORE.search(text[:_MAX_JUDGE_CHARS])
        if m:
            return _judged(_score_from(m.group(1) or m.group(2)), "")
        if parsed.reason in ("refusal", "truncated_json"):
            return parsed
        return ParseResult(False, None, "no_score")
    except Exception:  # noqa: BLE001 - a judge reply must never stop a pipeline
        return ParseResult(False, None, "unparseable")


def _judged(score: float | None, why: str) -> ParseResult:
    if score is None:
        return ParseResult(False, None, "score_not_a_number")
    if not 1 <= score <= 10:
        return ParseResult(False, None, "score_out_of_range")
    return ParseResult(True, {"score": int(score) if score.is_integer() else score, "reason": why})
