"""Tokenizers for ROUGE-L ('rouge' = rouge-score's, 'auto' = the same plus Unicode, CJK, emoji).

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

# Pictographs (emoji) are one token each: characters of category So in these blocks
# (miscellaneous technical, miscellaneous symbols, dingbats, arrows-and-symbols, and
# U+1F000-U+1FAFF: mahjong and cards up to symbols & pictographs extended-A, flags included).
_EMOJI_RANGES = ((0x2300, 0x23FF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1F000, 0x1FAFF))
_SKIN_TONES = (0x1F3FB, 0x1F3FF)  # emoji modifiers (category Sk): part of the emoji before
_REGIONAL = (0x1F1E6, 0x1F1FF)  # regional indicators: two make one flag
_ZWJ = "\u200d"  # zero width joiner: joins two emoji into one (family, profession ...)
_TAGS = (0xE0020, 0xE007F)  # tag characters: part of a subdivision flag

# Ignored as if absent: Arabic harakat and Quranic marks, tatweel (kashida), Hebrew points
# (all optional vocalisation or elongation: "كَتَبَ" is "كتب"), variation selectors, the
# zero width non-joiner and the soft hyphen (invisible, they never separate words).
_DROP_MARK_RANGES = ((0x0591, 0x05C7), (0x0610, 0x061A), (0x064B, 0x065F), (0x0670, 0x0670),
                     (0x06D6, 0x06ED), (0x08D3, 0x08FF))
_DROP_CHARS = frozenset("\u0640\u00ad\u200c")
_DROP_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))

_SEP, _WORD, _CJK, _MARK, _EMOJI, _MODIFIER, _TAG, _JOINER, _DROP = range(9)


def _in(cp: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


@lru_cache(maxsize=65536)
def _char_kind(ch: str) -> int:
    """Classify one (NFKC, lower-cased) character for the auto tokenizer."""
    cp = ord(ch)
    if ch in _DROP_CHARS or _in(cp, _DROP_RANGES):
        return _DROP
    if ch.isalnum():
        return _CJK if _in(cp, _CJK_RANGES) else _WORD
    category = unicodedata.category(ch)
    if category.startswith("M"):
        return _DROP if category == "Mn" and _in(cp, _DROP_MARK_RANGES) else _MARK
    if ch == _ZWJ:
        return _JOINER
    if _in(cp, (_SKIN_TONES,)):
        return _MODIFIER
    if _in(cp, (_TAGS,)):
        return _TAG
    if category == "So" and _in(cp, _EMOJI_RANGES):
        return _EMOJI
    return _SEP


def _is_flag_half(chars: list[str], ch: str) -> bool:
    """True when `chars` is one regional indicator and `ch` another: together, one flag."""
    return len(chars) == 1 and all(_in(ord(c), (_REGIONAL,)) for c in (chars[0], ch))


def _tokenize_rouge(text: str) -> list[str]:
    return _ROUGE_TOKEN_RE.findall(text.lower())


def _tokenize_auto(text: str) -> list[str]:
    low = text.lower()
    if low.isascii():
        return _ROUGE_TOKEN_RE.findall(low)
    low = unicodedata.normalize("NFKC", text).lower()
    if low.isascii():  # e.g. fullwidth "ＡＢＣ" is "abc"
        return _ROUGE_TOKEN_RE.findall(low)
    tokens: list[str] = []
    current: list[str] = []  # the word or emoji being read
    current_kind = _SEP
    joined = False  # the previous character was a ZWJ after an emoji
    char_kind = _char_kind
    for ch in low:
        kind = char_kind(ch)
        if kind == _WORD:  # the common cases first
            if current_kind != _WORD:
                current, current_kind = _flush(tokens, current), _WORD
            current.append(ch)
        elif kind == _CJK or kind == _SEP:
            if current:
                current, current_kind = _flush(tokens, current), _SEP
            if kind == _CJK:
                tokens.append(ch)
        elif kind == _DROP or (kind == _TAG and current_kind != _EMOJI):
            continue
        elif kind == _JOINER:
            if current_kind == _EMOJI:
                joined = True
            elif current_kind != _WORD:  # inside a word a ZWJ is invisible, like a ZWNJ
                current, current_kind = _flush(tokens, current), _SEP
            continue
        elif (kind == _MARK and current_kind != _SEP) or (
            kind in (_MODIFIER, _TAG) and current_kind == _EMOJI
        ):
            current.append(ch)  # a mark on a word or emoji, a skin tone or tag on an emoji
        elif kind == _EMOJI and current_kind == _EMOJI and (joined or _is_flag_half(current, ch)):
            current.extend((_ZWJ, ch) if joined else (ch,))  # one family, profession or flag
        elif kind == _EMOJI or kind == _MODIFIER:  # a new emoji; a lone skin tone is a swatch
            current, current_kind = _flush(tokens, current) + [ch], _EMOJI
        # else: a mark with nothing to attach to is dropped
        joined = False
    _flush(tokens, current)
    return tokens


def _flush(tokens: list[str], current: list[str]) -> list[str]:
    """Append the token being read (if any) to `tokens`; return a fresh, empty buffer."""
    if current:
        tokens.append("".join(current))
    return []


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
    """Split `text` into ROUGE tokens ('rouge' = rouge-score's default; 'auto' adds Unicode).

    * ``"rouge"``: exactly ``rouge_score.tokenize.tokenize(text, None)``: lower-case, keep the
      runs of ``[a-z0-9]``, drop everything else (so any non-ASCII letter disappears).
    * ``"auto"`` (default): identical to ``"rouge"`` whenever the lower-cased text is ASCII.
      Otherwise the text is NFKC-normalised (fullwidth ``"ＡＢＣ"`` is ``"ABC"``, halfwidth
      ``"ｶﾅ"`` is ``"カナ"``), lower-cased, and: Han, Hiragana, Katakana, Hangul and Bopomofo
      give one token per character; runs of other Unicode letters/digits (with their combining
      marks, so Devanagari vowel signs stay inside the word) are words; emoji are one token
      each (a skin tone, a ZWJ sequence such as a family, or a flag stays one emoji); Arabic
      harakat, tatweel and Hebrew points are ignored (``"كَتَبَ"`` == ``"كتب"``), as are variation
      selectors, the soft hyphen and ZWNJ; ``_``, punctuation, other symbols and spaces separate.
      Examples: ``"Café au lait"`` -> ``["café", "au", "lait"]`` (rouge: ``["caf", "au",
      "lait"]``); ``"I love pizza 🍕"`` -> ``["i", "love", "pizza", "🍕"]``. Thai, Lao, Khmer
      etc. are written without spaces and stay one token per run.
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
