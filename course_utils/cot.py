"""Chain-of-thought SFT data: <thinking>/<answer> prompts, strict and loose parsing, verification, mixing.

A chain-of-thought (CoT) sample shows its reasoning inside `<thinking>` tags and its final answer
inside `<answer>` tags. Writing the steps out gives the model more tokens, hence more computation,
before it commits to an answer (Wei et al., 2022), and the tags let a product hide the reasoning.

This module holds the pieces notebook 05 explains:
- the prompts (`COT_SYSTEM`, `COT_USER_TEMPLATE`, `cot_messages`);
- `parse_cot` (strict or loose, never raises) and `validate_cot` (all its format problems, by name);
- `format_cot` and `render_cot` (what a product shows: the answer, thinking hidden);
- seeded arithmetic word problems with known answers (`generate_problems`), and verification of
  a response against them (`verify`, `verify_batch`, `summarize`);
- self-consistency, the majority answer of k sampled reasoning paths (Wang et al., 2022);
- `mix`, which adds plain dialogue so a fine-tuned model does not "think" about "Hello".
"""

from __future__ import annotations

import html
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterable, Optional, Sequence

from .parsing import ParseResult
from .prompts import PromptVersion

# --- prompts ---------------------------------------------------------------------------------

COT_SYSTEM = PromptVersion(
    "cot-v1",
    """You are a careful math tutor who solves word problems step by step.

First, reason inside <thinking> and </thinking> tags: restate what is asked, list the known quantities,
work through the calculation one step at a time, and check your result against the problem (self-check)
before you commit to it.

Then give only the final answer inside <answer> and </answer> tags: a single number, without units
or explanation.

Write nothing outside these two blocks.""",
    "Asks for explicit reasoning, a self-check, and a machine-checkable answer in separate tags.",
)
COT_SYSTEM_PROMPT = COT_SYSTEM.text
# The user turn carries only the problem: the format lives in the system prompt, so a model that
# merely echoes the user turn does not produce tags by accident.
COT_USER_TEMPLATE = "Solve this problem.\n\nProblem: {question}"


def cot_messages(question: str, system: str = COT_SYSTEM_PROMPT) -> list[dict]:
    """The chat messages that ask the teacher for a CoT answer to `question`."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question must be a non-empty string: pass the text of a word problem.")
    return [{"role": "system", "content": system},
            {"role": "user", "content": COT_USER_TEMPLATE.format(question=question.strip())}]


# --- parsing ---------------------------------------------------------------------------------

_TAG = re.compile(r"<\s*(/?)\s*(thinking|answer)\s*>", re.I)
CANONICAL_TAGS = {"<thinking>", "</thinking>", "<answer>", "</answer>"}
REASONS = {
    "empty": "the output is empty",
    "no_tags": "no <thinking> or <answer> tag at all (plain text, a refusal, an echo)",
    "missing_thinking": "no <thinking> tag",
    "missing_answer": "no <answer> tag",
    "multiple_thinking": "more than one <thinking> block",
    "multiple_answer": "more than one <answer> block",
    "unclosed_thinking": "<thinking> is never closed",
    "unclosed_answer": "<answer> is never closed",
    "stray_closing_tag": "a closing tag without its opening tag",
    "wrong_order": "<answer> comes before <thinking>",
    "nested_tags": "one block is inside the other",
    "tag_spelling": "a tag is not written exactly <thinking>, </thinking>, <answer>, </answer>",
    "text_outside": "text outside the two blocks",
    "empty_thinking": "the <thinking> block is empty",
    "empty_answer": "the <answer> block is empty",
}


@dataclass(frozen=True)
class CoT:
    """A parsed chain-of-thought sample; `repairs` lists what loose mode had to forgive."""

    thinking: str
    answer: str
    repairs: tuple[str, ...] = ()


def _tags(text: str) -> list[tuple[str, str, int, int, str]]:
    """Every tag as (kind "open"/"close", name, start, end, literal text)."""
    return [("close" if m.group(1) else "open", m.group(2).lower(), m.start(), m.end(), m.group(0))
            for m in _TAG.finditer(text)]


def validate_cot(text: Any) -> list[str]:
    """Every strict-format problem in `text`, by name (see `REASONS`); an empty list means valid.

    Strict format: exactly one <thinking> block, then exactly one <answer> block, both closed and
    non-empty, tags spelled exactly, and nothing but whitespace outside them. The problems come in
    this order: tag counts (missing, multiple, unclosed, stray), spelling, order or nesting (only
    judged when the counts are right), then text outside the blocks and empty blocks, which are
    judged on every block the tags delimit. `parse_cot` reports the first one as its reason.
    """
    if not isinstance(text, str) or not text.strip():
        return ["empty"]
    tags = _tags(text)
    if not tags:
        return ["no_tags"]
    count = Counter((kind, name) for kind, name, *_ in tags)
    problems = []
    for name in ("thinking", "answer"):
        opens, closes = count[("open", name)], count[("close", name)]
        if opens == 0:
            problems.append(f"missing_{name}")
        elif opens > 1:
            problems.append(f"multiple_{name}")
        if opens >= 1 and closes < opens:
            problems.append(f"unclosed_{name}")
        if closes > opens:
            problems.append("stray_closing_tag")
    if any(literal not in CANONICAL_TAGS for *_, literal in tags):
        problems.append("tag_spelling")
    sequence = [(kind, name) for kind, name, *_ in tags]
    canonical = [("open", "thinking"), ("close", "thinking"), ("open", "answer"), ("close", "answer")]
    if not problems and sequence != canonical:
        problems.append("wrong_order" if sequence[0] == ("open", "answer") else "nested_tags")
    spans = _spans(text, tags)
    covered = [False] * len(text)
    for _, start, end, _, _ in spans:
        covered[start:end] = [True] * (end - start)
    for _, _, start, end, _ in tags:  # stray tags are markup, not text outside
        covered[start:end] = [True] * (end - start)
    if "".join(c for c, inside in zip(text, covered) if not inside).strip():
        problems.append("text_outside")
    for name in ("thinking", "answer"):
        if any(n == name and closed and not text[c0:c1].strip() for n, _, _, (c0, c1), closed in spans):
            problems.append(f"empty_{name}")
    return list(dict.fromkeys(problems))


def _spans(text: str, tags: list) -> list[tuple[str, int, int, tuple[int, int], bool]]:
    """Each opened block: (name, start, end, (content start, content end), closed).

    A block runs from its opening tag to the next closing tag of its name; an unclosed block runs
    to the next opening tag of the other name, or to the end of the text.
    """
    spans = []
    for i, (kind, name, start, end, _) in enumerate(tags):
        if kind != "open":
            continue
        close = next((t for t in tags[i + 1:] if t[0] == "close" and t[1] == name), None)
        if close:
            spans.append((name, start, close[3], (end, close[2]), True))
        else:
            stop = next((t[2] for t in tags[i + 1:] if t[0] == "open" and t[1] != name), len(text))
            spans.append((name, start, stop, (end, stop), False))
    return spans


def _block(text: str, tags: list, name: str) -> Optional[tuple[str, bool]]:
    """Loose: the content of the first `name` block and whether it was closed (None if never opened)."""
    for i, (kind, tag_name, _, end, _) in enumerate(tags):
        if kind == "open" and tag_name == name:
            for kind2, name2, start2, _, _ in tags[i + 1:]:
                if kind2 == "close" and name2 == name:
                    return text[end:start2].strip(), True
                if name2 != name:  # the other block starts (or ends): this one was never closed
                    return text[end:start2].strip(), False
            return text[end:].strip(), False
    return None


def _closed_thinking(tags: list) -> Optional[tuple[int, int]]:
    """Loose: where the first <thinking> block's content starts and ends, if its own tag closes it."""
    for i, (kind, name, _, end, _) in enumerate(tags):
        if kind == "open" and name == "thinking":
            close = next((t for t in tags[i + 1:] if t[0] == "close" and t[1] == "thinking"), None)
            return (end, close[2]) if close else None
    return None


def _loose(text: str, tags: list, problems: list[str]) -> ParseResult:
    """Loose parse: forgive what a reader would, but never take an answer from inside the thinking."""
    span = _closed_thinking(tags)
    nested = [t for t in tags if span and t[1] == "answer" and span[0] <= t[2] < span[1]]
    answer = _block(text, [t for t in tags if t not in nested], "answer")
    if span and nested:  # the reasoning holds (and hides) an answer tag: keep its text, not its tags
        thinking: Optional[tuple[str, bool]] = (strip_tags(text[span[0]:span[1]]), True)
    else:
        thinking = _block(text, tags, "thinking")
    if answer is None:
        return ParseResult(False, None, "nested_tags" if nested else "missing_answer")
    if thinking is None:
        return ParseResult(False, None, "missing_thinking")
    if not answer[0]:
        return ParseResult(False, None, "empty_answer")
    if not thinking[0]:
        return ParseResult(False, None, "empty_thinking")
    return ParseResult(True, CoT(thinking[0], answer[0], tuple(problems)))


def parse_cot(text: Any, mode: str = "strict") -> ParseResult:
    """Parse a CoT response into `CoT(thinking, answer, repairs)`; never raises.

    mode="strict": the response must pass `validate_cot`; otherwise `reason` is its first problem.
    mode="loose": recover what a reader would: missing closing tags, text outside the blocks,
    reversed order, tag spelling. It still fails without a non-empty thinking and answer, and
    never takes an <answer> written inside a closed <thinking> block (that is part of the
    reasoning: "nested_tags" when it is the only one); what it forgave is in `value.repairs`.
    """
    if mode not in ("strict", "loose"):
        return ParseResult(False, None, "unknown_mode")
    problems = validate_cot(text)
    if problems in (["empty"], ["no_tags"]):
        return ParseResult(False, None, problems[0])
    tags = _tags(text)
    if mode == "strict":
        if problems:
            return ParseResult(False, None, problems[0])
        thinking, _ = _block(text, tags, "thinking")
        answer, _ = _block(text, tags, "answer")
        return ParseResult(True, CoT(thinking, answer))
    return _loose(text, tags, problems)


def format_cot(thinking: str, answer: str) -> str:
    """The canonical strict-format text of a sample."""
    return f"<thinking>\n{str(thinking).strip()}\n</thinking>\n<answer>\n{str(answer).strip()}\n</answer>"


def has_cot_tags(text: Any) -> bool:
    """Whether the text contains any <thinking> or <answer> tag (opening or closing)."""
    return isinstance(text, str) and bool(_TAG.search(text))


def strip_tags(text: Any) -> str:
    """The text with every <thinking>/<answer> tag removed."""
    return _TAG.sub("", text).strip() if isinstance(text, str) else ""


def render_cot(text: Any, show_thinking: bool = False) -> str:
    """What a product shows the user: the answer alone, or the reasoning too; never raises.

    Falls back to the text without its tags when no answer can be recovered.
    """
    parsed = parse_cot(text, mode="loose")
    if not parsed.ok:
        return strip_tags(text)
    if show_thinking:
        return f"Reasoning:\n{parsed.value.thinking}\n\nAnswer: {parsed.value.answer}"
    return parsed.value.answer


def render_cot_html(text: Any, show_thinking: bool = False) -> str:
    """`render_cot` as escaped HTML (for the notebook viewer); never raises."""
    parsed = parse_cot(text, mode="loose")
    if not parsed.ok:
        return f"<pre>{html.escape(strip_tags(text))}</pre><p><i>(no answer could be recovered: {parsed.reason})</i></p>"
    body = f"<p><b>Answer:</b> {html.escape(parsed.value.answer)}</p>"
    if show_thinking:
        body = f"<pre style='color:#555'>{html.escape(parsed.value.thinking)}</pre>" + body
    return body


def cot_viewer(texts: Sequence[str]):
    """An ipywidgets viewer: pick a sample, toggle its <thinking> (basic widgets only, ipywidgets 7 and 8)."""
    import ipywidgets as widgets

    texts = [t if isinstance(t, str) else "" for t in texts] or [""]
    pick = widgets.IntSlider(value=0, min=0, max=len(texts) - 1, description="sample")
    toggle = widgets.ToggleButton(value=False, description="Show thinking")
    view = widgets.HTML(value=render_cot_html(texts[0]))

    def update(_change=None):
        view.value = render_cot_html(texts[pick.value], toggle.value)

    pick.observe(update, names="value")
    toggle.observe(update, names="value")
    return widgets.VBox([widgets.HBox([pick, toggle]), view])


# --- answers ---------------------------------------------------------------------------------

# A number: an optional minus (ASCII, or U+2212 MINUS SIGN and its small/fullwidth forms), an
# integer part, a decimal part, an exponent, and an optional "/ denominator". A comma followed by
# exactly three digits (and no fourth) is a thousands separator ("1,200" = 1200); any other comma
# between digits is a decimal comma ("1,5" = 1.5, "3,14" = 3.14), unless another ",<digit>"
# follows ("1,2,3" is a list: 1).
_MINUS = "-\u2212\ufe63\uff0d"  # ASCII, then U+2212 MINUS SIGN and its small and fullwidth forms
_ASCII_MINUS = str.maketrans({c: "-" for c in _MINUS[1:]})
_NUMBER = re.compile(
    rf"(?P<sign>[{_MINUS}])?(?P<int>\d{{1,3}}(?:,\d{{3}})+(?!\d)|\d+)"
    r"(?:(?P<sep>[.,])(?P<frac>\d+))?"
    rf"(?:[eE](?P<exp>[{_MINUS}+]?\d+))?"
    r"(?:\s*/\s*(?P<den>\d+))?"
)
_LIST_AFTER = re.compile(r"[.,]\d")
_MAX_EXPONENT = 1000  # "1e999999" would build a huge integer; no answer is that large


def parse_number(text: Any) -> Optional[Fraction]:
    """The first number in `text` as a Fraction, or None; never raises.

    Reads "7", "$1,200" (1200), "2.5 hours", "7/3", "-4", "\u221242" (U+2212 minus: -42),
    "4.2e1" (42) and "1,5" (1.5). The comma rule: a comma followed by exactly three digits
    separates thousands ("1,200", "12,345.6"); any other comma between digits is a decimal
    comma ("1,5", "3,14"), unless another ",<digit>" follows ("1,2,3" is a list: 1).
    """
    if not isinstance(text, str):
        return None
    head = text[:1000]
    m = _NUMBER.search(head)
    if not m:
        return None
    whole = m.group("int").replace(",", "")
    sign = -1 if m.group("sign") else 1
    if m.group("sep") == "," and _LIST_AFTER.match(head, m.end("frac")):
        return sign * Fraction(whole)  # "1,2,3": a list of numbers, not 1.2
    try:
        value = Fraction(f"{whole}.{m.group('frac')}" if m.group("frac") else whole)
        if m.group("exp"):
            power = int(m.group("exp").translate(_ASCII_MINUS))
            if abs(power) > _MAX_EXPONENT:
                return None
            value *= Fraction(10) ** power
        if m.group("den"):
            value /= int(m.group("den"))
    except (ValueError, ZeroDivisionError):
        return None
    return sign * value


def _as_number(x: Any) -> Optional[Fraction]:
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, Fraction)) or (isinstance(x, float) and math.isfinite(x)):
        return Fraction(x)
    return parse_number(x)


def answers_match(given: Any, truth: Any, tol: float = 0.01) -> bool:
    """Whether the first number in `given` equals `truth` within `tol` (answers are rounded to 2 decimals)."""
    a, b = _as_number(given), _as_number(truth)
    return a is not None and b is not None and abs(a - b) <= Fraction(tol)


def fmt(x: Any) -> str:
    """A number as answers are written: "7", "2.67" (two decimals, no trailing zeros)."""
    x = Fraction(x).limit_denominator(1000)
    if x.denominator == 1:
        return str(x.numerator)
    r = round(x, 2)  # exact arithmetic: no float overflow on huge numbers
    sign, r = ("-" if r < 0 else ""), abs(r)
    whole = r.numerator // r.denominator
    cents = int((r - whole) * 100)
    return (sign + f"{whole}.{cents:02d}".rstrip("0").rstrip(".")) or "0"


# --- seeded word problems with known answers -------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """A word problem with its known answer (computed when it was generated)."""

    family: str
    question: str
    answer: str


_NAMES = ["Ana", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko", "Liam"]
_PRONOUN = {"Ana": "her", "Chloe": "her", "Emma": "her", "Grace": "her", "Ines": "her", "Keiko": "her"}


def _pronoun(name: str) -> str:
    return _PRONOUN.get(name, "his")


def chickens_and_cows(rng: random.Random) -> tuple[str, Fraction]:
    two_name, four_name = rng.choice([("chickens", "cows"), ("ducks", "sheep"), ("hens", "goats"), ("chickens", "pigs")])
    two, four = rng.randint(3, 40), rng.randint(3, 40)
    heads, legs = two + four, 2 * two + 4 * four
    ask_two = rng.random() < 0.5
    asked = two_name if ask_two else four_name
    question = rng.choice([
        f"A farm has {two_name} and {four_name} with {heads} heads and {legs} legs in total. How many {asked} are there?",
        f"A farmer keeps only {two_name} and {four_name}. Together they have {heads} heads and {legs} legs. "
        f"How many {asked} does the farmer keep?",
    ])
    return question, Fraction(two if ask_two else four)


def ages(rng: random.Random) -> tuple[str, Fraction]:
    name = rng.choice(_NAMES)
    his = _pronoun(name)
    if rng.random() < 0.5:
        young, k, years = rng.randint(3, 15), rng.choice([2, 3]), rng.randint(1, 12)
        old = k * (young + years) - years
        relative = rng.choice(["father", "mother", "aunt", "uncle"])
        word = {2: "twice", 3: "three times"}[k]
        question = (f"{name} is {young} years old and {his} {relative} is {old} years old. "
                    f"In how many years will {his} {relative} be {word} as old as {name}?")
        return question, Fraction(years)
    older, diff, years = rng.randint(8, 40), rng.randint(2, 7), rng.randint(2, 10)
    younger = older - diff
    sibling = rng.choice(["sister", "brother", "cousin"])
    total = older + younger + 2 * years
    ask_older = rng.random() < 0.5
    asked = name if ask_older else f"{his} {sibling}"
    question = (f"{name} is {diff} years older than {his} {sibling}. In {years} years, the sum of their ages "
                f"will be {total}. How old is {asked} now?")
    return question, Fraction(older if ask_older else younger)


_WORK_PAIRS = [(a, b) for a in range(2, 31) for b in range(a, 31) if (a * b) % (a + b) == 0 and a != b]


def rates(rng: random.Random) -> tuple[str, Fraction]:
    kind = rng.choice(["work", "meet", "speed"])
    a_name, b_name = rng.sample(_NAMES, 2)
    if kind == "work":
        a, b = rng.choice(_WORK_PAIRS)
        if rng.random() < 0.5:
            a, b = b, a
        job = rng.choice(["paint a fence", "clean the office", "weed the garden", "sort the archive"])
        question = (f"{a_name} can {job} in {a} hours, and {b_name} can do the same job in {b} hours. "
                    f"Working together, how many hours will it take them?")
        return question, Fraction(a * b, a + b)
    if kind == "meet":
        v1, v2, t = rng.randint(4, 12) * 10, rng.randint(4, 12) * 10, rng.randint(1, 5)
        question = (f"Two trains leave stations {(v1 + v2) * t} km apart at the same time and travel towards each "
                    f"other at {v1} km/h and {v2} km/h. After how many hours do they meet?")
        return question, Fraction(t)
    speed, t, t2 = rng.randint(8, 30), rng.randint(2, 6), rng.randint(2, 9)
    question = (f"{a_name} rides a bike {speed * t} km in {t} hours. At the same speed, how many km will "
                f"{a_name} ride in {t2} hours?")
    return question, Fraction(speed * t2)


def mixtures(rng: random.Random) -> tuple[str, Fraction]:
    kind = rng.choice(["concentration", "amount", "blend"])
    if kind == "concentration":
        what = rng.choice(["salt", "sugar", "acid"])
        for _ in range(200):
            x, y = rng.randint(1, 12) * 5, rng.randint(1, 12) * 5
            p, q = rng.sample(range(5, 65, 5), 2)
            if (x * p + y * q) % (x + y) == 0:
                break
        question = (f"A chemist mixes {x} litres of a {p}% {what} solution with {y} litres of a {q}% {what} solution. "
                    f"What is the {what} concentration of the mixture, in percent?")
        return question, Fraction(x * p + y * q, x + y)
    if kind == "amount":
        what = rng.choice(["acid", "alcohol", "salt"])
        for _ in range(200):
            p, r, q = sorted(rng.sample(range(5, 95, 5), 3))
            x = rng.randint(1, 10) * 10
            if (x * (r - p)) % (q - r) == 0:
                break
        question = (f"How many litres of a {q}% {what} solution must be added to {x} litres of a {p}% {what} "
                    f"solution to make a {r}% {what} solution?")
        return question, Fraction(x * (r - p), q - r)
    what = rng.choice(["coffee", "tea", "nuts"])
    for _ in range(200):
        x, y = rng.randint(1, 10) * 2, rng.randint(1, 10) * 2
        p, q = rng.sample(range(4, 31), 2)
        if (x * p + y * q) % (x + y) == 0:
            break
    question = (f"A shop blends {x} kg of {what} costing ${p} per kg with {y} kg costing ${q} per kg. "
                f"What is the price per kg of the blend, in dollars?")
    return question, Fraction(x * p + y * q, x + y)


FAMILIES: dict[str, Callable[[random.Random], tuple[str, Fraction]]] = {
    "chickens_cows": chickens_and_cows,
    "ages": ages,
    "rates": rates,
    "mixtures": mixtures,
}


def generate_problems(n: int, seed: int = 0, families: Optional[Iterable[str]] = None,
                      registry: Optional[dict] = None) -> list[Problem]:
    """`n` word problems with known answers, cycling through `families`; the same seed gives the same problems.

    `registry` maps family names to generators `rng -> (question, answer)` (default `FAMILIES`).
    """
    registry = FAMILIES if registry is None else registry
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer (got {n!r}): ask for at least one problem.")
    names = list(registry) if families is None else list(families)
    if not names:
        raise ValueError("families is empty: pass at least one of " + ", ".join(registry) + " (or None for all).")
    unknown = [f for f in names if f not in registry]
    if unknown:
        raise ValueError(f"Unknown problem families {unknown}: use names from {list(registry)}.")
    rng = random.Random(seed)
    problems = []
    for i in range(n):
        family = names[i % len(names)]
        question, answer = registry[family](rng)
        problems.append(Problem(family, question, fmt(answer)))
    return problems


# --- verification ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """Whether one response is kept: well-formed and (if checked) the right answer."""

    ok: bool
    reason: str  # "ok", a format reason from REASONS, "unparseable_answer" or "wrong_answer"
    answer: Optional[str] = None
    cot: Optional[CoT] = field(default=None, compare=False)

    @property
    def well_formed(self) -> bool:
        return self.cot is not None


def verify(problem: Problem, text: Any, mode: str = "strict", check_answer: bool = True) -> Verdict:
    """Check one response against a problem: the format first (`parse_cot`), then the answer; never raises."""
    parsed = parse_cot(text, mode=mode)
    if not parsed.ok:
        return Verdict(False, parsed.reason)
    cot = parsed.value
    if not check_answer:
        return Verdict(True, "ok", cot.answer, cot)
    if parse_number(cot.answer) is None:
        return Verdict(False, "unparseable_answer", cot.answer, cot)
    if not answers_match(cot.answer, problem.answer):
        return Verdict(False, "wrong_answer", cot.answer, cot)
    return Verdict(True, "ok", cot.answer, cot)


def verify_batch(problems: Sequence[Problem], texts: Sequence[Any], mode: str = "strict",
                 check_answer: bool = True) -> list[Verdict]:
    """`verify` for each (problem, response) pair."""
    if len(problems) != len(texts):
        raise ValueError(f"Got {len(problems)} problems but {len(texts)} responses: pass one response per problem "
                         f"(e.g. the first generation of each).")
    return [verify(p, t, mode, check_answer) for p, t in zip(problems, texts)]


def summarize(verdicts: Sequence[Verdict]) -> dict:
    """Counts and rates: kept fraction (of all), accuracy (of the well-formed; None when there are none), reasons."""
    total = len(verdicts)
    well_formed = sum(v.well_formed for v in verdicts)
    kept = sum(v.ok for v in verdicts)
    correct = sum(v.ok and v.well_formed for v in verdicts)
    return {"total": total, "well_formed": well_formed, "kept": kept,
            "kept_fraction": kept / total if total else 0.0,
            "accuracy": correct / well_formed if well_formed else None,
            "reasons": Counter(v.reason for v in verdicts)}


def fmt_rate(x: Optional[float]) -> str:
    """A rate as a percentage, or "n/a" when it is undefined (nothing to measure)."""
    return "n/a" if x is None else f"{x:.0%}"


def reasons_table(reasons: Counter, total: Optional[int] = None) -> str:
    """A text table of outcomes by reason, most frequent first, with their share."""
    total = total if total is not None else sum(reasons.values())
    lines = [f"{'reason':<20}{'count':>7}{'share':>8}", "-" * 35]
    for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        share = f"{count / total:.0%}" if total else "n/a"
        lines.append(f"{reason:<20}{count:>7}{share:>8}")
    if not reasons:
        lines.append("(no samples)")
    return "\n".join(lines)


# --- self-consistency ------------------------------------------------------------------------

def extract_answer(text: Any) -> Optional[str]:
    """The numeric answer of a response in canonical form ("7", "2.67"), recovered loosely; None if none."""
    parsed = parse_cot(text, mode="loose")
    if not parsed.ok:
        return None
    number = parse_number(parsed.value.answer)
    return fmt(number) if number is not None else None


def majority_answer(texts: Sequence[Any]) -> Optional[str]:
    """The most frequent answer among sampled reasoning paths (ties: the earliest); None if none parses."""
    answers = [a for a in (extract_answer(t) for t in texts) if a is not None]
    if not answers:
        return None
    counts = Counter(answers)
    best = max(counts.values())
    return next(a for a in answers if counts[a] == best)


def self_consistency(problems: Sequence[Problem], generations: Sequence[Sequence[Any]],
                     ks: Iterable[int] = (1, 3, 5)) -> dict:
    """Accuracy of one sample (mean over all samples) and of the majority of the first k samples, for each k.

    `generations[i]` holds the sampled responses for `problems[i]` (e.g. from `num_generations=k`).
    """
    ks = list(ks)
    if not problems:
        raise ValueError("problems is empty: generate some with generate_problems(n).")
    if len(problems) != len(generations):
        raise ValueError(f"Got {len(problems)} problems but {len(generations)} lists of generations: "
                         f"pass one list of sampled responses per problem.")
    shortest = min(len(g) for g in generations)
    for k in ks:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be an integer >= 1 (got {k!r}): k is the number of sampled reasoning paths.")
        if k > shortest:
            raise ValueError(f"k={k} but some problems have only {shortest} generations: "
                             f"sample more with num_generations={k}, or use a smaller k.")
    samples = [(p, t) for p, gens in zip(problems, generations) for t in gens]
    single = sum(answers_match(extract_answer(t), p.answer) for p, t in samples) / len(samples) if samples else 0.0
    majority = {k: sum(answers_match(majority_answer(gens[:k]), p.answer) for p, gens in zip(problems, generations))
                / len(problems) for k in ks}
    return {"single": single, "majority": majority}


# --- mixing in plain dialogue ----------------------------------------------------------------

REQUIRED_COLUMNS = ("instruction", "response")
DIALOGUE_PROMPTS = ["Hello!", "Hi there!", "Hey!", "Thanks!", "Thank you!", "How are you?", "Bye!", "Goodbye!"]


def _check_rows(rows: Any, name: str) -> None:
    if not isinstance(rows, (list, tuple)):
        raise ValueError(f"{name} must be a list of dicts with the columns {list(REQUIRED_COLUMNS)}.")
    if not rows:
        raise ValueError(f"{name} is empty: generate (and keep) some rows before mixing.")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{name}[{i}] is a {type(row).__name__}, not a dict: rows are dicts with the columns "
                             f"{list(REQUIRED_COLUMNS)}.")
        missing = [c for c in REQUIRED_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"{name}[{i}] lacks the column(s) {missing}: every row needs {list(REQUIRED_COLUMNS)} "
                             f"(rename your columns, e.g. 'generation' -> 'response').")


def mix(reasoning_rows: Sequence[dict], dialogue_rows: Sequence[dict], share: float = 0.15, seed: int = 0) -> list[dict]:
    """Shuffle reasoning rows with enough plain-dialogue rows that dialogue is `share` of the result.

    The book recommends 10-20% dialogue without tags, so that the fine-tuned model does not open a
    <thinking> block for "Hello". Each returned row is a copy with a "source" column added
    ("reasoning" or "dialogue"). Dialogue rows must not contain CoT tags.
    """
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ValueError(f"share must be a number between 0 and 1 (got {share!r}): it is the fraction of dialogue "
                         f"rows in the result, e.g. 0.15 for 15%.")
    _check_rows(reasoning_rows, "reasoning_rows")
    _check_rows(dialogue_rows, "dialogue_rows")
    tagged = [i for i, row in enumerate(dialogue_rows) if has_cot_tags(row["response"])]
    if tagged:
        raise ValueError(f"dialogue_rows {tagged[:5]} contain <thinking>/<answer> tags: filter them out with "
                         f"has_cot_tags() first; dialogue rows teach the model when NOT to think.")
    if share == 1:
        n_reason, n_dialogue = 0, len(dialogue_rows)
    else:
        n_reason = len(reasoning_rows)
        n_dialogue = round(share * n_reason / (1 - share))
    if n_dialogue > len(dialogue_rows):
        raise ValueError(f"share={share} with {n_reason} reasoning rows needs {n_dialogue} dialogue rows, but only "
                         f"{len(dialogue_rows)} were given: generate more dialogue rows or lower share.")
    rng = random.Random(seed)
    chosen = rng.sample(list(dialogue_rows), n_dialogue)
    rows = [{**r, "source": "reasoning"} for r in list(reasoning_rows)[:n_reason]] + \
           [{**r, "source": "dialogue"} for r in chosen]
    rng.shuffle(rows)
    return rows
