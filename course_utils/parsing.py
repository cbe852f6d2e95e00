"""Parse model output without ever raising: every parser returns a `ParseResult`.

Model output is untrusted text. It can be empty, a refusal, JSON wrapped in a Markdown fence or
after a chatty preamble, JSON cut off by the token budget, or not JSON at all. A parser that
raises loses the batch; these parsers return `ok`, the parsed `value`, and the `reason` it
failed, so a notebook can count failures by reason and keep going.

A damaged value is never half-read: `extract_json` considers only outermost bracketed spans, so a
list with one defect fails as a whole instead of yielding its first item, and it runs in linear
time (one pass over the text, whatever the nesting).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Optional

REFUSAL = re.compile(r"\b(sorry|as an ai|i can(?:no|')t|i am unable|i'm unable|unable to (?:help|provide|complete))\b", re.I)
QUESTION_KEYS = ("question", "instruction", "prompt", "query", "task")


@dataclass(frozen=True)
class ParseResult:
    """The outcome of parsing one model output."""

    ok: bool
    value: Any = None
    reason: Optional[str] = None  # why it failed: "empty", "refusal", "no_json", "invalid_json", ...

    def __bool__(self) -> bool:
        return self.ok


def is_refusal(text: str) -> bool:
    """Whether the text looks like a refusal ("Sorry, I can't ...", "As an AI ...")."""
    return bool(REFUSAL.search(text or ""))


_CLOSER = {"[": "]", "{": "}"}
_OPENER = re.compile(r"[\[{]")
_STRUCTURE = re.compile(r'[\[\]{}"]')
_STRING_END = re.compile(r'["\\]')
# A fenced block opens with ``` (optionally "json") at the end of a line and closes at the next line
# that holds only ```. A JSON string cannot hold a raw newline, so ``` inside a string never
# closes the fence.
_FENCE_OPEN = re.compile(r"```[ \t]*(?:json[5c]?)?[ \t]*\r?\n", re.I)
_FENCE_CLOSE = re.compile(r"^[ \t]*```[ \t]*\r?$", re.M)
# A bracketed span "looks like JSON" when it starts the way a JSON (or a damaged JSON) value
# does: a string, a number, a nested value, a comment, a literal, or an (unquoted) key. Prose in
# brackets ("[Note: ...]", "{name}", a "- [ ]" checkbox) does not, so it never blocks a value.
_JSON_LIKE = re.compile(
    r"""\[\s*(?:["'\[{\]\-\d/#]|(?:None|True|False|null|true|false|NaN)\b)"""
    r"""|\{\s*(?:["'{}\[/#]|[A-Za-z_]\w*\s*:)"""
)


def _fenced_blocks(text: str) -> list[str]:
    """The contents of the ```/```json fenced blocks of `text`, in order (linear time)."""
    closes = list(_FENCE_CLOSE.finditer(text))
    blocks, c, pos = [], 0, 0
    for m in _FENCE_OPEN.finditer(text):
        if m.start() < pos:  # inside a block already taken (or on its closing line)
            continue
        while c < len(closes) and closes[c].start() < m.end():
            c += 1
        if c == len(closes):
            break
        blocks.append(text[m.end() : closes[c].start()])
        pos = closes[c].end()
    return blocks


def _skip_string(text: str, i: int) -> int:
    """The index after the JSON string whose opening quote is at `i - 1`; -1 if it never closes."""
    while True:
        m = _STRING_END.search(text, i)
        if m is None:
            return -1
        if m.group() == '"':
            return m.end()
        i = m.end() + 1  # a backslash escapes the next character


def _top_level_spans(text: str) -> list[tuple[int, int, bool]]:
    """Every outermost bracketed span as (start, end, closed), honouring strings; linear time.

    A span ends where its brackets balance, at a closing bracket of the wrong kind (a damaged
    value), or, never closed, at the end of the text. Inner values are never spans of their own,
    so a damaged list can never yield one of its items.
    """
    spans, pos, n = [], 0, len(text)
    while (m := _OPENER.search(text, pos)) is not None:
        start, stack, i = m.start(), [_CLOSER[m.group()]], m.end()
        while stack:
            m = _STRUCTURE.search(text, i)
            if m is None:
                break
            ch, i = m.group(), m.end()
            if ch == '"':
                i = _skip_string(text, i)
                if i < 0:
                    break
            elif ch in _CLOSER:
                stack.append(_CLOSER[ch])
            elif ch == stack[-1]:
                stack.pop()
            else:
                stack.clear()  # "[1, 2}": a damaged span ends here; json.loads will reject it
        if stack:
            spans.append((start, n, False))
            break
        spans.append((start, i, True))
        pos = i
    return spans


def _unclosed_reason(span: str) -> str:
    """"truncated_json" when `span` reads as valid JSON cut short, else "invalid_json"."""
    try:
        json.loads(span)
    except json.JSONDecodeError as e:
        cut = e.msg.startswith("Unterminated string") or e.pos >= len(span.rstrip())
        return "truncated_json" if cut else "invalid_json"
    except RecursionError:
        return "truncated_json"
    return "invalid_json"


def _loads(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False, None


def _from_candidate(text: str) -> ParseResult:
    """The JSON value of one candidate text (a fenced block, or the whole output).

    ok: the whole candidate is JSON, or else the largest outermost bracketed span that parses
    (prose around it may hold brackets too). Not ok when any span that looks like JSON does not
    parse ("invalid_json", "truncated_json"): a damaged list is never half-read. "no_json" when
    no span looks like JSON.
    """
    ok, value = _loads(text.strip())
    if ok:
        return ParseResult(True, value)
    best: Optional[tuple[int, Any]] = None
    for start, end, closed in _top_level_spans(text):
        span = text[start:end]
        ok, value = _loads(span) if closed else (False, None)
        if ok:
            if best is None or end - start > best[0]:
                best = (end - start, value)
        elif _JSON_LIKE.match(text, start):
            return ParseResult(False, None, "invalid_json" if closed else _unclosed_reason(span))
    if best is not None:
        return ParseResult(True, best[1])
    return ParseResult(False, None, "no_json")


def extract_json(text: Any) -> ParseResult:
    """Find and parse the JSON value in model output (fenced, after a preamble, or bare).

    Every ```json (or bare ```) fenced block is tried in order, then the whole text; a block or
    text holding a damaged JSON value (a trailing comma, a comment, single quotes, a missing
    comma, an unquoted key, Python's None/True, a cut-off end) is not ok, never a fragment of it.
    Reasons: "empty", "truncated_json", "refusal", "invalid_json", "no_json". Linear time.
    """
    if not isinstance(text, str) or not text.strip():
        return ParseResult(False, None, "empty")
    for block in _fenced_blocks(text):
        result = _from_candidate(block)
        if result.ok:
            return result
    result = _from_candidate(text)
    if result.ok or result.reason == "truncated_json":
        return result
    if is_refusal(text):
        return ParseResult(False, None, "refusal")
    return result


def parse_json_list(text: Any, keys: Iterable[str] = QUESTION_KEYS) -> ParseResult:
    """Parse a JSON list of objects and return the strings under the first matching key.

    All or nothing: a damaged list (see `extract_json`), an item without a key ("missing_key"),
    an item that is neither a string nor an object ("wrong_shape") or a blank item
    ("empty_item") fails the whole output, so a valid rate never counts a half-read list.
    """
    result = extract_json(text)
    if not result.ok:
        return result
    value = result.value
    if isinstance(value, dict):  # {"questions": [...]} is a common variant
        lists = [v for v in value.values() if isinstance(v, list)]
        value = lists[0] if len(lists) == 1 else [value]
    if not isinstance(value, list):
        return ParseResult(False, None, "wrong_shape")
    keys = tuple(keys)
    items = []
    for item in value:
        if isinstance(item, str):
            items.append(item.strip())
        elif isinstance(item, dict):
            found = next((item[k] for k in keys if isinstance(item.get(k), str)), None)
            if found is None:
                return ParseResult(False, None, "missing_key")
            items.append(found.strip())
        else:
            return ParseResult(False, None, "wrong_shape")
    if not items:
        return ParseResult(False, None, "empty_list")
    if not all(items):  # a blank item is a defect of the list: nothing is dropped silently
        return ParseResult(False, None, "empty_item")
    return ParseResult(True, items)


_LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*\u2022])\s+")


def parse_lines(text: Any, min_words: int = 3) -> ParseResult:
    """Parse a plain-text list (one item per line, numbered or bulleted) into strings."""
    if not isinstance(text, str) or not text.strip():
        return ParseResult(False, None, "empty")
    if is_refusal(text) and len(text.split()) < 25:
        return ParseResult(False, None, "refusal")
    items = []
    for line in text.splitlines():
        line = _LIST_MARKER.sub("", line).strip()
        if len(line.split()) >= min_words and not line.endswith(":"):
            items.append(line)
    if not items:
        return ParseResult(False, None, "no_items")
    return ParseResult(True, items)


def count_reasons(results: Iterable[ParseResult]) -> Counter:
    """Count results by outcome: "ok" or the failure reason."""
    return Counter("ok" if r.ok else r.reason for r in results)
