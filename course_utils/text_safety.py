"""Text that is safe to export: no lone surrogates, no control characters.

Model output and seed files can carry text that is a valid Python `str` but not valid UTF-8: a
lone surrogate such as the `"\\ud83d"` of half an emoji in JSON. It passes through the pipeline
until the first UTF-8 encoder (a JSONL writer, `Dataset.from_list`, a tokenizer) raises
`UnicodeEncodeError` and loses the batch. Control characters (NUL, ESC, DEL, ...) are invisible,
break some tokenizers and terminals, and never belong in training text.

`sanitize_text` repairs both: a surrogate pair split in two code points is joined into its
character, a lone surrogate becomes U+FFFD (the replacement character), "\\r\\n" and a lone "\\r"
become "\\n", and every other control character except "\\n" and "\\t" is dropped (C0, DEL, C1).
Clean text is returned unchanged (one regex search).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REPLACEMENT", "UnsafeTextWarning", "find_unsafe", "sanitize", "sanitize_text"]

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but \t (09) and \n (0a)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class UnsafeTextWarning(UserWarning):
    """Text was repaired on its way to an export (the message says how many strings)."""


def find_unsafe(text: Any) -> list[str]:
    """What `sanitize_text` would repair in `text`: "lone_surrogate", "control_character"."""
    if not isinstance(text, str) or not _UNSAFE.search(text):
        return []
    checks = (("lone_surrogate", _SURROGATE), ("control_character", _CONTROL))
    return [name for name, pattern in checks if pattern.search(text)]


def sanitize_text(text: str) -> str:
    """`text` with surrogates repaired (U+FFFD for a lone one) and control characters dropped."""
    if not isinstance(text, str):
        raise TypeError(f"sanitize_text() takes a str, got {type(text).__name__}.")
    if not _UNSAFE.search(text):
        return text
    if _SURROGATE.search(text):
        # UTF-16 round trip: a split pair becomes its character, a lone half becomes U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def sanitize(value: Any) -> tuple[Any, int]:
    """`value` (str, list, tuple, dict, nested) with every string sanitized, and how many changed.

    Dict keys are sanitized too; other values (numbers, None, ...) are returned as they are.
    """
    if isinstance(value, str):
        clean = sanitize_text(value)
        return clean, int(clean != value)
    if isinstance(value, dict):
        out, changed = {}, 0
        for k, v in value.items():
            k2, n_k = sanitize(k) if isinstance(k, str) else (k, 0)
            v2, n_v = sanitize(v)
            out[k2] = v2
            changed += n_k + n_v
        return out, changed
    if isinstance(value, (list, tuple)):
        items = [sanitize(v) for v in value]
        changed = sum(n for _, n in items)
        if not changed:
            return value, 0
        clean = [v for v, _ in items]
        return (clean if isinstance(value, list) else tuple(clean)), changed
    return value, 0
