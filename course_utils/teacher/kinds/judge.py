"""LLM-as-judge prompts: rate a response on a 1-10 scale, answering in JSON.

The score is derived from real checks of the response text, not from a neural network:
empty or refusing answers, echoes of the instruction, length, and the verifiable constraints
(word counts, bullets, lowercase, ...) that `course_utils.evaluation.constraints` can detect
and check.

Asked to grade *candidate responses* (the system prompt carries `CANDIDATE_MARKER`, as the
preference lesson's judge prompt does), it grades like a skimming judge instead
(`skim_score`): it prefers longer answers, sees only the format slips visible at a glance
(bullets, case, JSON, the first or last phrase) and evasive non-answers, misses the ones
that need counting or a careful read (word limits, keywords, forbidden words, commas) and
does not check arithmetic. So it disagrees with the verifiable checks on some pairs, as real
judges do. Rule-based, like the rest of the offline teacher.
"""

from __future__ import annotations

import json
import re

from ...evaluation.constraints import check, parse_constraints
from ..core import Request, register
from .chat import CANDIDATE_MARKER

_IS_JUDGE = re.compile(r"(strict grader|rate|score|grade|judge)[\s\S]{0,400}(1-10|1 to 10|1 and 10|\"score\")", re.I)
_SECTION = re.compile(r"#*\s*(Instruction|Response)\s*:?\s*\n(.*?)(?=\n#*\s*(?:Instruction|Response|Constraints|Output|Respond)\b|\Z)", re.S | re.I)


def detect(req: Request) -> bool:
    return bool(_IS_JUDGE.search(req.text)) and "response" in req.text.lower()


def _unusable(instruction: str, text: str) -> tuple[int, str] | None:
    """A low score for an empty, refusing or echoing response; None for a real answer."""
    if not text:
        return 1, "The response is empty."
    if any(p in text.lower() for p in ("sorry", "as an ai", "i cannot", "i can't", "unable to")):
        return 1, "The response refuses the task."
    if text == instruction.strip():
        return 2, "The response only repeats the instruction."
    return None


def score_response(instruction: str, response: str) -> tuple[int, str]:
    """A 1-10 score and a one-sentence reason from rule-based checks of the response."""
    text = response.strip()
    if (bad := _unusable(instruction, text)) is not None:
        return bad
    score, reasons = 7, []
    n = len(text.split())
    if n < 5:
        score -= 3
        reasons.append("it is too short to be useful")
    elif n > 40:
        score += 1
    constraints = parse_constraints(instruction)
    failed = [c for c in constraints if not check(response, c)]
    if constraints and not failed:
        score += 2
        reasons.append(f"it satisfies all {len(constraints)} verifiable constraints")
    elif failed:
        score -= 2 * len(failed)
        reasons.append(f"it breaks {len(failed)} of {len(constraints)} verifiable constraints")
    score = max(1, min(10, score))
    return score, ("The response is adequate" + (": " + "; ".join(reasons) if reasons else "") + ".")


# Constraints a skimming judge notices: their slips show at a glance.
VISIBLE_KINDS = frozenset({"bullet_count", "lowercase", "uppercase", "json_format", "end_phrase",
                           "start_phrase"})
LENGTH_STEPS = (30, 60, 100)  # +1 point for each of these word counts the response reaches
_EVASIVE = re.compile(r"\b(it depends on many factors|no single answer|good question)\b", re.I)


def skim_score(instruction: str, response: str) -> tuple[int, str]:
    """A 1-10 score like a skimming judge's: length-biased, blind to slips that need counting."""
    text = response.strip()
    if (bad := _unusable(instruction, text)) is not None:
        return bad
    n = len(text.split())
    score = 5 + sum(n >= step for step in LENGTH_STEPS)
    score -= 3 if n < 5 else 1 if n < 15 else 0
    if _EVASIVE.search(text):
        score -= 3
    seen = [c for c in parse_constraints(instruction) if c["kind"] in VISIBLE_KINDS]
    failed = [c for c in seen if not check(response, c)]
    score += 1 if seen and not failed else -2 * len(failed)
    detail = "thorough" if n >= LENGTH_STEPS[1] else "brief" if n < 15 else "reasonable"
    reason = f"The response is {detail}" + (f" but breaks {len(failed)} formatting rule(s)"
                                           if failed else "") + "."
    return max(1, min(10, score)), reason


@register("judge", priority=70, failures=("refusal", "truncate", "empty"))(detect)
def respond(req: Request) -> str:
    sections = {k.lower(): v.strip() for k, v in _SECTION.findall(req.user)}
    grade = skim_score if CANDIDATE_MARKER in req.system.lower() else score_response
    score, reason = grade(sections.get("instruction", ""), sections.get("response", ""))
    text = json.dumps({"score": score, "reason": reason})
    if req.chance("invalid_json"):
        text = text.replace('"score"', "score", 1)
    return text
