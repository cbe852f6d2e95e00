"""A model's list of new tasks, split into tasks, whatever shape the list comes in.

Self-Instruct's prompt ends with an open "Task 9:" and a base model continues the list in the
paper's format. A chat model answers in its own shapes, and the parser must split all of them,
or a whole list becomes one "task" that passes every filter:

- the paper's format: the continuation of "Task 9:", then "Task 10: ...", "Task 11: ...";
- markdown: "**Task 9:** ...", "**Task 9**: ...", "### Task 9" headings;
- a numbered list ("1. ...", "2) ...", "**3.** ...") or a bulleted one ("- ...", "* ", "• ");
- an inline list: "Sure! Here are some more tasks: 1. ... 2. ... 3. ..." (numbers in sequence);
- a preamble ("Sure! Here are ...:"), a closing ("Let me know if you need more!") and code
  fences around the list.

A marker style is chosen once per text ("Task k" labels first, then numbers, then bullets), so a
task that merely starts with "- " in a "Task k:" list stays as it is (the `bad_start` filter's
case). Preambles, closings and lines ending with ':' are chatter: counted, never kept. Within an
item, the text stops at an "Input:"/"Output:" line (the instance, generated separately in the
paper) and at a blank line in the last item (what follows is the model talking). Every expected
split is tested on `tests/data/real_outputs/outputs.jsonl` (the `parse_tasks` expectations).
"""

from __future__ import annotations

import re
from typing import Any

from .parsing import ParseResult, is_refusal

__all__ = ["parse_tasks", "split_tasks"]

_B = r"(?:\*\*|__)?"  # optional markdown bold around a marker
_FENCE = re.compile(r"^[ \t]*```[\w+.-]*[ \t]*$", re.M)
_LABEL = re.compile(rf"(?:^|(?<=\s)){_B}[ \t]*(?:#{{1,6}}[ \t]*)?{_B}[ \t]*Task[ \t]*(\d+)"
                    rf"[ \t]*{_B}(?:[ \t]*[:.)][ \t]*{_B}|[ \t]*(?=\n|$))[ \t]*", re.I | re.M)
_NUMBER = re.compile(rf"(?:^|(?<=\s)){_B}(\d{{1,3}})[.)]{_B}[ \t]+", re.M)
_BULLET = re.compile(r"^[ \t]*[-*\u2022+][ \t]+", re.M)
_PREAMBLE = re.compile(r"^(?:sure|certainly|of course|absolutely|okay|ok|great|alright|yes|"
                       r"here (?:are|is)|below (?:are|is)|i (?:have|'ve)|these are)\b", re.I)
_CLOSING = re.compile(r"^(?:let me know|i hope|hope (?:this|these|that)|feel free|"
                      r"if you(?:'d| would)? (?:like|need|want)|would you like|"
                      r"these (?:tasks|instructions|examples) |this list|enjoy|good luck|"
                      r"happy to help|note:)", re.I)
_TRAILING_CLOSING = re.compile(r"(?<=[.!?])\s+(?:let me know|i hope|hope this|feel free|"
                               r"if you(?:'d| would)? (?:like|need|want))\b.*$", re.I | re.S)
_INSTANCE = re.compile(r"^(?:example )?(?:input|output|response|answer)\s*:", re.I)
_BOLD_SPAN = re.compile(r"(\*\*|__)(\S(?:.*?\S)?)\1")
_INNER_LABEL = re.compile(r"^(?:instruction|task)\s*:\s*", re.I)
_QUOTED = re.compile(r'^(?:"(.+)"|\u201c(.+)\u201d)$', re.S)


def _at_line_start(text: str, pos: int) -> bool:
    return not text[text.rfind("\n", 0, pos) + 1:pos].strip(" \t*_#")


def _numbered_markers(text: str, pattern: re.Pattern) -> list[re.Match]:
    """Markers at line starts; or, in a list written on one line, the ones numbered in sequence.

    With two or more markers at line starts, only those count: "1. Explain step 2. of it" is one
    item. Otherwise an inline marker counts when it continues the sequence (1. then 2. then 3.),
    or starts one whose next number follows later.
    """
    candidates = list(pattern.finditer(text))
    at_start = [m for m in candidates if _at_line_start(text, m.start())]
    if len(at_start) >= 2:
        return at_start
    numbers = [int(m.group(1)) for m in candidates]
    kept: list[re.Match] = []
    expected = None
    for i, m in enumerate(candidates):
        n = numbers[i]
        if m in at_start or n == expected or (expected is None and n + 1 in numbers[i + 1:]):
            kept.append(m)
            expected = n + 1
    return kept


def _markers(text: str) -> list[tuple[int, int]]:
    """(start, end) of every item marker, in one style: "Task k" labels, numbers, or bullets."""
    for pattern in (_LABEL, _NUMBER):
        found = _numbered_markers(text, pattern)
        if found:
            return [m.span() for m in found]
    return [m.span() for m in _BULLET.finditer(text)]


def _clean(task: str, last: bool) -> tuple[str, bool]:
    """One item as a task, and whether chatter was cut from its end."""
    task = " ".join(task.split())
    chatter = False
    if last:
        cut = _TRAILING_CLOSING.sub("", task)
        chatter, task = cut != task, cut
    task = _INNER_LABEL.sub("", _BOLD_SPAN.sub(r"\2", task))
    quoted = _QUOTED.match(task)
    if quoted:  # "Instruction: ..." inside quotes, or a quoted task after the label
        task = _INNER_LABEL.sub("", quoted.group(1) or quoted.group(2))
    return task.strip(), chatter


def _piece(text: str, lead: bool, last: bool, has_items: bool) -> tuple[str, int]:
    """A piece of the text as (task or "", chatter count)."""
    lines = [ln.strip() for ln in text.strip("\n").splitlines()]
    bad = 0
    if last and "" in lines:  # what follows a blank line after the last item is the model talking
        blank = lines.index("")
        tail = [ln for ln in lines[blank:] if ln]
        lines = lines[:blank]
        bad += bool(tail) and (has_items or any(_CLOSING.match(ln) for ln in tail))
        if tail and not has_items and not any(_CLOSING.match(ln) for ln in tail):
            lines += tail  # a single answer in paragraphs: keep it whole
    cut = [i for i, ln in enumerate(lines) if _INSTANCE.match(ln)]
    if cut:
        lines = lines[:cut[0]]
    chatter = False
    while lines and (not lines[-1] or lines[-1].endswith(":") or _CLOSING.match(lines[-1])):
        chatter = chatter or bool(lines[-1])
        lines.pop()
    task, closing = _clean(" ".join(lines), last)
    if lead and has_items and task and _PREAMBLE.match(task):
        return "", bad + 1
    return task, bad + int(chatter or closing)


def split_tasks(text: Any) -> tuple[list[str], int]:
    """Split a model's list into tasks; returns (tasks, number of malformed pieces).

    The text before the first marker continues the prompt's open task (or is a preamble). A
    piece is malformed when it is empty or is chatter rather than a task (a preamble, a line
    ending with ':', a closing such as "Let me know if you need more").
    """
    if not isinstance(text, str) or not text.strip():
        return [], 1
    text = _FENCE.sub("", text.replace("\r\n", "\n"))
    spans = _markers(text)
    starts = [s for s, _ in spans]
    pieces = [(text[:starts[0]] if spans else text, True)]
    pieces += [(text[end:(starts[i + 1] if i + 1 < len(spans) else len(text))], False)
               for i, (_, end) in enumerate(spans)]
    tasks, bad = [], 0
    for i, (piece, lead) in enumerate(pieces):
        task, chatter = _piece(piece, lead, last=i == len(pieces) - 1, has_items=bool(spans))
        bad += chatter
        if task:
            tasks.append(task)
        elif not lead and not chatter:
            bad += 1  # an empty item ("Task 11:" and nothing); an empty lead is normal
    return tasks, bad


def parse_tasks(text: Any) -> ParseResult:
    """Parse a model's list into new tasks; never raises (reason: empty, refusal, no_tasks)."""
    if not isinstance(text, str) or not text.strip():
        return ParseResult(False, [], "empty")
    if is_refusal(text) and len(text.split()) < 25:
        return ParseResult(False, [], "refusal")
    tasks, _ = split_tasks(text)
    if not tasks:
        return ParseResult(False, [], "no_tasks")
    return ParseResult(True, tasks)
