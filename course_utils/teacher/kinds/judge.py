"""LLM-as-judge prompts: rate a response on a 1-10 scale, answering in JSON.

The score is derived from real checks of the response text, not from a neural network:
empty or refusing answers, echoes of the instruction, length, and the verifiable constraints
(word counts, bullets, lowercase, ...) that `course_utils.evaluation.constraints` can detect
and check.
"""

from __future__ import annotations

import json
import re

from ...evaluation.constraints import check, parse_constraints
from ..core import Request, register

_IS_JUDGE = re.compile(r"(strict grader|rate|score|grade|judge)[\s\S]{0,400}(1-10|1 to 10|1 and 10|\"score\")", re.I)
_SECTION = re.compile(r"#*\s*(Instruction|Response)\s*:?\s*\n(.*?)(?=\n#*\s*(?:Instruction|Response|Constraints|Output|Respond)\b|\Z)", re.S | re.I)


def detect(req: Request) -> bool:
    return bool(_IS_JUDGE.search(req.text)) and "response" in req.text.lower()


def score_response(instruction: str, response: str) -> tuple[int, str]:
    """A 1-10 score and a one-sentence reason from rule-based checks of the response."""
    text = response.strip()
    low = text.lower()
    if not text:
        return 1, "The response is empty."
    if any(p in low for p in ("sorry", "as an ai", "i cannot", "i can't", "unable to")):
        return 1, "The response refuses the task."
    if text == instruction.strip():
        return 2, "The response only repeats the instruction."
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


@register("judge", priority=70, failures=("refusal", "truncate", "empty"))(detect)
def respond(req: Request) -> str:
    sections = {k.lower(): v.strip() for k, v in _SECTION.findall(req.user)}
    score, reason = score_response(sections.get("instruction", ""), sections.get("response", ""))
    text = json.dumps({"score": score, "reason": reason})
    if req.chance("invalid_json"):
        text = text.replace('"score"', "score", 1)
    return text
