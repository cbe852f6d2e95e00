"""Tokenizers for ROUGE-L ('rouge' = rouge-score's, 'auto' = the same plus Unicode/CJK words).

Also the normalisation key of the normalised exact filter (`normalize_text`). Named `tokens`,
not `tokenize`, so that the submodule never shadows the `tokenize` function of the package.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

from .._validate import InputError, require_str

__all__ = ["Tokenizer", "normalize_text", "tokenize"]

Tokenizer = str | Callable[[str], Sequence[str]]

# rouge_score.tokenize: lower-case, replace [^a-z0-9]+ by a space, split, drop empty tokens.
# That is exactly "the runs of [a-z0-9] in the lower-cased text".
_ROUGE_TOKEN_RE = re.compile(r"[a-z0-9]+")

# Scripts written without spaces between words (plus fullwidth/halfwidth forms): one token per
# character in the "auto" tokenizer.
_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3031, 0x3035),  # kana repeat marks
    (0x3038, 0x303C),
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x31A0, 0x31BF),  # Bopomofo extended
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul Jamo extended-A
    (0xAC00, 0xD7FF),  # Hangul syllables, Jamo extended-B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # halfwidth and fullwidth forms
    (0x1B000, 0x1B16F),  # kana supplement / extended
    (0x20000, 0x3134F),  # CJK extensions B-G, compatibility supplement
)

_WORD, _CJK, _MARK, _SEP = 1, 2, 3, 0


@lru_cache(maxsize=65536)
def _char_kind(ch: str) -> int:
    """Classify one (lower-cased, NFC) character for the auto tokenizer."""
    if ch.isalnum():
        cp = ord(ch)
        for lo, hi in _CJK_RANGES:
            if lo <= cp <= hi:
                return _CJK
        return _WORD
    if unicodedata.category(ch).startswith("M"):
        return _MARK
    return _SEP


def _tokenize_rouge(text: str) -> list[str]:
    return _ROUGE_TOKEN_RE.findall(text.lower())


def _tokenize_auto(text: str) -> list[str]:
    low = text.lower()
    if low.isascii():
        return _ROUGE_TOKEN_RE.findall(low)
    low = unicodedata.normalize("NFC", low)
    tokens: list[str] = []
    word: list[str] = []
    for ch in low:
        kind = _char_kind(ch)
        if kind == _WORD or (kind == _MARK and word):
            word.append(ch)
            continue
        if word:
            tokens.append("".join(word))
            word = []
        if kind == _CJK:
            tokens.append(ch)
    if word:
        tokens.append("".join(word))
    return tokens


def _resolve_tokenizer(tokenizer: Tokenizer, fn: str) -> Callable[[str], list[str]]:
    """The tokenizer function for 'auto', 'rouge' or a callable (wrapped to check its output)."""
    if tokenizer == "rouge":
        return _tokenize_rouge
    if tokenizer == "auto":
        return _tokenize_auto
    if isinstance(tokenizer, str):
        raise InputError(
            f"{fn}(): unknown tokenizer {tokenizer!r}; use 'auto', 'rouge' or a callable "
            "that maps a str to a list of str tokens."
        )
    if not callable(tokenizer):
        raise InputError(
            f"{fn}(): tokenizer must be 'auto', 'rouge' or a callable, "
            f"got {type(tokenizer).__name__}."
        )

    def _checked(text: str) -> list[str]:
        toks = tokenizer(text)
        if isinstance(toks, (str, bytes)) or not isinstance(toks, Sequence):
            raise InputError(
                f"{fn}(): the custom tokenizer returned {type(toks).__name__}; it must return a "
                "list of str tokens."
            )
        toks = list(toks)
        for t in toks:
            if not isinstance(t, str):
                raise InputError(
                    f"{fn}(): the custom tokenizer returned a {type(t).__name__} token "
                    f"({t!r:.40}); tokens must be str."
                )
        return toks

    return _checked


def tokenize(text: str, tokenizer: Tokenizer = "auto") -> list[str]:
    """Split `text` into ROUGE tokens ('rouge' = rouge-score's default; 'auto' adds CJK/Unicode).

    * ``"rouge"``: exactly ``rouge_score.tokenize.tokenize(text, None)``: lower-case, keep the
      runs of ``[a-z0-9]``, drop everything else (so any non-ASCII letter disappears).
    * ``"auto"`` (default): identical to ``"rouge"`` whenever the lower-cased text is ASCII.
      Otherwise the text is NFC-normalised and: Han, Hiragana, Katakana, Hangul, Bopomofo and
      fullwidth/halfwidth forms give one token per letter/digit; runs of other Unicode
      letters/digits (with their combining marks, so Devanagari vowel signs stay inside the
      word) are words; ``_``, punctuation, symbols and spaces separate. Example:
      ``"Café au lait"`` -> ``["café", "au", "lait"]`` (rouge: ``["caf", "au", "lait"]``).
      Thai, Lao, Khmer etc. are written without spaces and stay one token per run.
    * a callable ``str -> list[str]``.
    """
    require_str(text, "text", fn="tokenize")
    return _resolve_tokenizer(tokenizer, "tokenize")(text)


# ----------------------------------------------------------------------------------------------
# Normalisation key of the normalised exact filter
# ----------------------------------------------------------------------------------------------

_WS_RE = re.compile(r"\s+")


@lru_cache(maxsize=65536)
def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def normalize_text(text: str) -> str:
    """NFKC, case-fold, drop punctuation, collapse whitespace (exact_dedup's normalize=True key)."""
    require_str(text, "text", fn="normalize_text")
    t = unicodedata.normalize("NFKC", text).casefold()
    t = "".join(ch for ch in t if not _is_punct(ch))
    return _WS_RE.sub(" ", t).strip()
