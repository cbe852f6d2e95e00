"""Plain instructions and small talk: the fallback kind, which always matches.

With the candidate marker in the system prompt (preference data), answers vary in quality
from one generation to the next; see `respond_candidate`.
"""

from __future__ import annotations

import re

from ...evaluation.constraints import check, parse_constraints
from ..content import make_answer
from ..core import Request, register
from .cot import _slip, solve

_SMALL_TALK = re.compile(r"^\s*(hello|hi|hey|thanks|thank you|how are you|bye|goodbye)\b[\s!.?,]*\w*[\s!.?]*$", re.I)


def _small_talk(req: Request) -> str | None:
    m = _SMALL_TALK.match(req.user)
    if not m:
        return None
    word = m.group(1).lower()
    key = {"hi": "hello", "hey": "hello", "thank you": "thanks", "goodbye": "bye"}.get(word, word)
    return req.pick(req.bank["small_talk"][key], "small-talk")


def _follow_constraints(req: Request, instruction: str, answer: str) -> str:
    """Obey simple verifiable constraints found in the instruction, most of the time."""
    if req.rng("disobey").random() < 0.2:  # real teachers miss constraints now and then
        return answer
    low = instruction.lower()
    if m := re.search(r"(?:exactly|use) (\d+|two|three|four|five) bullet", low):
        n = {"two": 2, "three": 3, "four": 4, "five": 5}.get(m.group(1)) or int(m.group(1))
        items = [ln.split(". ", 1)[-1] for ln in answer.splitlines() if re.match(r"\d+\. ", ln)]
        items = (items * 3)[:n]
        answer = "\n".join(f"* {it}" for it in items)
    if m := re.search(r"(?:fewer than|less than|under|no more than|at most) (\d+) words", low):
        limit = int(m.group(1))
        words = answer.split()
        if len(words) >= limit:
            answer = " ".join(words[: max(1, limit - 1)])
    if "no commas" in low or "not use any commas" in low or "without commas" in low or "do not use commas" in low:
        answer = answer.replace(",", "")
    if "lowercase" in low or "lower case" in low:
        answer = answer.lower()
    if m := re.search(r"end (?:your (?:answer|response) )?with (?:the phrase )?[\"']([^\"']+)[\"']", instruction, re.I):
        answer = answer.rstrip() + "\n" + m.group(1)
    return answer


def detect(req: Request) -> bool:
    return True


@register("chat", priority=0)(detect)
def respond(req: Request) -> str:
    if (reply := _small_talk(req)) is not None:
        return reply
    instruction = req.user or req.system
    if is_candidate(req) and req.user:
        return respond_candidate(req, instruction)
    solved = solve(instruction)
    if solved is not None:
        steps, answer = solved
        return " ".join(steps) + f" The answer is {answer}."
    return _follow_constraints(req, instruction, make_answer(req, instruction))


# --- candidate sampling: answers of varying quality for preference data ----------------------
#
# Only reachable when the system prompt contains CANDIDATE_MARKER (the preference lesson's
# sampling prompt, course_utils.preference.CANDIDATE_SYSTEM); every other request is answered
# exactly as above. Each generation draws a quality: "follows" obeys every constraint the
# instruction states; "slip" breaks exactly one (a word limit, a keyword, a forbidden word,
# commas, case, bullets, the end phrase) or, for a word problem, gets the final number wrong;
# "padded" adds filler sentences (which can break a word limit); "terse" answers in one point.

CANDIDATE_MARKER = "candidate response"
QUALITIES = (("follows", 0.4), ("slip", 0.25), ("padded", 0.2), ("terse", 0.15))
_FILLER = ("It is worth adding that the context matters a great deal here.",
           "Many people find this topic confusing at first so it helps to go slowly.",
           "There are several other details one could mention as well.",
           "In practice the details depend on the situation and on the people involved.")
_VAGUE = "That is a good question. It depends on many factors and there is no single answer."


def is_candidate(req: Request) -> bool:
    """Whether the request asks for candidate sampling (its system prompt carries the marker)."""
    return CANDIDATE_MARKER in req.system.lower()


def _quality(req: Request) -> str:
    """The quality of this generation (temperature 0: always "follows")."""
    if req.temperature <= 0:
        return "follows"
    return req.draw(QUALITIES, "candidate-quality") or QUALITIES[0][0]


def _points(req: Request, instruction: str) -> list[str]:
    answer = make_answer(req, instruction, salt="candidate")
    return [ln.split(". ", 1)[-1] for ln in answer.splitlines() if re.match(r"\d+\. ", ln)]


def _breaks(c: dict) -> bool:
    """Whether `_compose` knows how to break constraint `c` on purpose."""
    if c["kind"] == "word_count":
        return c["relation"] in ("less than", "at most")
    return c["kind"] in ("bullet_count", "include_keywords", "forbidden_words", "no_commas",
                         "lowercase", "end_phrase")


def _compose(points: list[str], constraints: list[dict], broken: dict | None, pad: int) -> str:
    """An answer from `points` that obeys `constraints`, except `broken`, which it breaks."""
    obey = [c for c in constraints if c is not broken]
    kinds = {c["kind"]: c for c in obey}
    body = [*points]
    if "bullet_count" in kinds:
        n = kinds["bullet_count"]["n"]
        body = [f"* {p}" for p in (body * n)[:n]]
    elif broken is not None and broken["kind"] == "bullet_count":
        body = [f"* {p}" for p in (body * (broken["n"] + 1))[: broken["n"] + 1]]
    body = body + list(_FILLER[:pad])
    tail = []
    for c in obey:
        if c["kind"] == "include_keywords":
            tail.append(" ".join(f"This also involves {k}." for k in c["keywords"] for _ in
                                 range(c.get("min_count", 1))))
    if broken is not None and broken["kind"] == "forbidden_words":
        tail.append(f"Put simply {broken['keywords'][0]} matters here.")
    if broken is not None and broken["kind"] == "no_commas":
        tail.append("In short, it depends, as always.")
    end = next((c["phrase"] for c in obey if c["kind"] == "end_phrase"), None)

    def render(lines: list[str]) -> str:
        text = "\n".join(lines + tail)
        for c in obey:
            if c["kind"] == "forbidden_words":
                for k in c["keywords"]:
                    text = re.sub(rf"\b{re.escape(k)}\b", "this", text, flags=re.I)
            if c["kind"] == "no_commas":
                text = text.replace(",", "")
        text += f"\n{end}" if end else ""
        if "lowercase" in kinds:
            return text.lower()
        return "Note: " + text if broken is not None and broken["kind"] == "lowercase" else text

    while broken is not None and broken["kind"] == "word_count" and check(render(body), broken):
        body.append(_FILLER[len(body) % len(_FILLER)])  # pad past the word limit
    limits = [c for c in obey
              if c["kind"] == "word_count" and c["relation"] in ("less than", "at most")]

    def fits(lines: list[str]) -> bool:
        return all(check(render(lines), c) for c in limits)

    while len(body) > 1 and not body[-1].startswith("* ") and not fits(body):
        body = body[:-1]  # drop whole sentences first, so the answer still ends cleanly
    while not fits(body):
        i = max(range(len(body)), key=lambda k: len(body[k].split()))
        words = body[i].rstrip(".").split()
        if len(words) <= 2:
            break
        body[i] = " ".join(words[:-1]) + "."
    return render(body)


def _word_problem(req: Request, steps: list[str], answer: str, quality: str) -> str:
    if quality == "terse":
        return f"The answer is {answer}."
    if quality == "slip":
        answer = _slip(answer, req)
    filler = " ".join(_FILLER[:2]) + " " if quality == "padded" else ""
    return " ".join(steps) + f" {filler}The answer is {answer}."


def respond_candidate(req: Request, instruction: str) -> str:
    """One candidate answer of the quality this generation draws (see the comment above)."""
    quality = _quality(req)
    solved = solve(instruction)
    if solved is not None:
        return _word_problem(req, solved[0], solved[1], quality)
    constraints = parse_constraints(instruction)
    breakable = [c for c in constraints if _breaks(c)]
    if not constraints:
        if quality == "slip":
            return _VAGUE
        if quality == "terse":
            return _points(req, instruction)[0]
        answer = make_answer(req, instruction)
        return answer + ("\n\n" + " ".join(_FILLER) if quality == "padded" else "")
    points = _points(req, instruction)
    if quality == "terse":
        points = points[:1]
    broken = req.pick(breakable, "candidate-slip") if quality == "slip" and breakable else None
    return _compose(points, constraints, broken, pad=len(_FILLER) if quality == "padded" else 0)
