"""Verifiable constraints in the style of IFEval (Zhou et al. 2023, arXiv:2311.07911).

A constraint such as "answer in fewer than 50 words" is checked by code, not by a model. It is a
plain dict `{"kind": ..., **params}`; each kind is one small function in a registry
(`CONSTRAINT_KINDS`), so adding a kind is writing one function. `check` applies one (strictly or
in IFEval's loose mode), `describe_constraint` turns one into the English sentence to append to
an instruction, and `parse_constraints` finds such sentences in an instruction.

The checkers read any script: keywords are whole words where words are separated by spaces and
plain substrings in Chinese, Japanese, Korean and Thai; length counts words, or characters in
Chinese and Japanese (see `_words`); sentences also end at 。！？ and the Hindi danda ।. The
"response_language" kind (does the answer use the language asked for?) lives in language.py.

The offline teacher imports this module, so it imports no course module but `_validate`.
"""

from __future__ import annotations

import inspect
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._validate import InputError, require_int, require_str

__all__ = ["CONSTRAINT_KINDS", "RELATIONS", "ConstraintKind", "check", "describe_constraint",
           "loose_variants", "parse_constraints", "register_constraint"]

_WORD_RE = re.compile(r"\w+(?:['’-]\w+)*")
_WORD_JOINERS = "'’-"

# Scripts written without spaces between words. Han (Chinese characters, kanji), Hiragana,
# Katakana and Bopomofo: every character is one unit of length (see `_words`).
_HAN_KANA = ((0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3031, 0x3035),
             (0x3038, 0x303C), (0x3040, 0x30FF), (0x3100, 0x312F), (0x31A0, 0x31BF),
             (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
             (0x1B000, 0x1B16F), (0x20000, 0x3134F))
# Hangul (Korean puts spaces between phrases, not before particles: 일본에 = 일본 + 에) and
# Thai, Lao, Myanmar, Khmer: with Han and kana, a keyword is found inside a longer run.
_HANGUL = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7FF))
_NO_BOUNDARY = _HAN_KANA + _HANGUL + ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF))


def _in_ranges(ch: str, ranges: Sequence[tuple[int, int]]) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ranges)


def _is_unit(ch: str) -> bool:
    """A Han or kana letter: one unit of length on its own."""
    return ch.isalnum() and _in_ranges(ch, _HAN_KANA)


def _is_word_char(ch: str) -> bool:
    """A letter, digit, "_" or combining mark (Devanagari vowel signs are inside a word)."""
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


def _joins(ch: str) -> bool:
    """True when `ch` continues a word of a script written with spaces (so blocks a match)."""
    return _is_word_char(ch) and not _in_ranges(ch, _NO_BOUNDARY)


def _words(text: str) -> list[str]:
    """Words as a reader counts them: "don't" and "well-known" are one word each.

    The unit depends on the script. Scripts written with spaces (Latin, Cyrillic, Greek,
    Arabic, Hebrew, Devanagari and other Indic scripts, and Korean, whose spaces separate
    eojeol) count words: runs of letters and digits with their combining marks ("नमस्ते दुनिया"
    is 2 words), joined by ' ’ -. Chinese and Japanese have no spaces and no agreed word
    boundaries, and their writers measure length in characters (字数, 文字数): every Han or
    kana character counts as one unit ("私は日本に住んでいます。" is 11). Non-ASCII text is
    NFKC-normalised first (fullwidth "ＡＩ" is "AI", halfwidth "ｶﾅ" is "カナ"). Thai, Lao,
    Khmer and Myanmar, written without spaces, count one word per run.
    """
    if text.isascii():
        return _WORD_RE.findall(text)
    return _unicode_words(unicodedata.normalize("NFKC", text))


def _unicode_words(text: str) -> list[str]:
    """`_WORD_RE.findall` with combining marks inside words and one word per Han/kana letter."""
    words: list[str] = []
    word: list[str] = []
    joiner = ""  # an apostrophe or hyphen right after a word character
    for ch in text:
        if _is_unit(ch):
            words.extend(["".join(word)] if word else [])
            words.append(ch)
            word, joiner = [], ""
        elif ch.isalnum() or ch == "_":
            word.extend([joiner, ch] if joiner and word else [ch])
            joiner = ""
        elif word and not joiner and (ch in _WORD_JOINERS
                                      or unicodedata.category(ch).startswith("M")):
            if ch in _WORD_JOINERS:
                joiner = ch
            else:
                word.append(ch)
        else:
            words.extend(["".join(word)] if word else [])
            word, joiner = [], ""
    words.extend(["".join(word)] if word else [])
    return words


RELATIONS = ("less than", "at most", "exactly", "at least", "more than")
_RELATION_WORDS = {  # how describe_constraint says each relation
    "less than": "fewer than",
    "at most": "at most",
    "exactly": "exactly",
    "at least": "at least",
    "more than": "more than",
}


def _compare(value: int, relation: str, n: int) -> bool:
    """`value <relation> n`, e.g. _compare(40, "less than", 50) is True."""
    return {
        "less than": value < n,
        "at most": value <= n,
        "exactly": value == n,
        "at least": value >= n,
        "more than": value > n,
    }[relation]


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _quote(phrase: str) -> str:
    """Quote a phrase for an instruction, with the quote character it does not contain."""
    return f"'{phrase}'" if '"' in phrase else f'"{phrase}"'


def _quoted_list(words: Sequence[str], joiner: str) -> str:
    items = [_quote(w) for w in words]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {joiner} " + items[-1]


# --- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConstraintKind:
    """One registered constraint kind: its checker, its English description and parameters."""

    name: str
    check: Callable[..., bool]
    describe: Callable[..., str]
    required: tuple[str, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)


CONSTRAINT_KINDS: dict[str, ConstraintKind] = {}


def register_constraint(kind: str, *, describe: Callable[..., str]) -> Callable:
    """Decorator: register `fn(response, *, **params) -> bool` as the checker for `kind`.

    The checker's keyword-only parameters are the constraint's parameters (those with a
    default are optional); `describe(**params)` returns the sentence to put in an instruction.
    Example (a learner's own kind)::

        @register_constraint("min_exclamations", describe=lambda n: f"Use at least {n} '!'.")
        def _exclaim(response: str, *, n: int) -> bool:
            return response.count("!") >= n
    """

    def decorator(fn: Callable[..., bool]) -> Callable[..., bool]:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind is p.KEYWORD_ONLY]
        CONSTRAINT_KINDS[kind] = ConstraintKind(
            name=kind,
            check=fn,
            describe=describe,
            required=tuple(p.name for p in params if p.default is p.empty),
            defaults={p.name: p.default for p in params if p.default is not p.empty},
        )
        return fn

    return decorator


def _validate_param(kind: str, name: str, value: Any) -> Any:
    """Validate the parameters the built-in kinds share; unknown names pass through."""
    where = f"constraint {kind!r} parameter {name}"
    if name == "relation":
        if value not in RELATIONS:
            raise InputError(f"{where} is {value!r}; use one of {', '.join(RELATIONS)}.")
    elif name in ("n", "min_count"):
        value = require_int(value, where, 1 if name == "min_count" else 0)
    elif name == "keywords":
        if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
            raise InputError(f"{where} must be a non-empty list of words, e.g. ['ocean'].")
        if not all(isinstance(w, str) and w.strip() for w in value):
            raise InputError(f"{where} must contain only non-empty strings.")
        value = [w.strip() for w in value]
    elif name == "phrase":
        value = require_str(value, where, allow_empty=False).strip()
    return value


def _normalise(constraint: Any) -> tuple[ConstraintKind, dict[str, Any]]:
    """Validate a constraint dict; return its kind and its full parameter dict (defaults in)."""
    if not isinstance(constraint, Mapping):
        raise InputError(f"a constraint must be a dict like {{'kind': 'no_commas'}}, "
                         f"got {type(constraint).__name__}.")
    kind_name = constraint.get("kind")
    if kind_name not in CONSTRAINT_KINDS:
        raise InputError(f"unknown constraint kind {kind_name!r}; known kinds: "
                         f"{', '.join(sorted(CONSTRAINT_KINDS))}.")
    kind = CONSTRAINT_KINDS[kind_name]
    params = {k: v for k, v in constraint.items() if k != "kind"}
    allowed = set(kind.required) | set(kind.defaults)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InputError(f"constraint {kind_name!r} has unknown parameter(s) {unknown}; it takes "
                         f"{sorted(allowed) or 'no parameters'}.")
    missing = [p for p in kind.required if p not in params]
    if missing:
        raise InputError(f"constraint {kind_name!r} is missing parameter(s) {missing}.")
    full = {**kind.defaults, **params}
    return kind, {k: _validate_param(kind_name, k, v) for k, v in full.items()}


# --- the built-in checkers -------------------------------------------------------------------

_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e", "etc", "no", "fig",
                  "approx"}
_CLOSERS = "\"'”’)\\]」』）】〕〉》"
_CJK_LETTER = "[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _HAN_KANA + _HANGUL) + "]"
_SENTENCE_END = re.compile(
    # . ! ? (and the Hindi danda । ॥, Arabic ؟, Urdu ۔) end a sentence when a space follows
    rf"(?<=[.!?।॥؟۔])[{_CLOSERS}]*\s+"
    # Chinese and Japanese 。！？ end one even without a space, except a quotation closed
    # before a quotative と/っ (「はい。」と言った is one sentence); ! or ? right before a CJK
    # letter end one too
    rf"|(?<=[。｡！？‼⁇⁈⁉])(?:[{_CLOSERS}]+(?![{_CLOSERS}]|[とっ])|(?![{_CLOSERS}]))\s*"
    rf"|(?<=[!?])(?:[{_CLOSERS}]+(?![とっ])|)(?={_CJK_LETTER})"
)


def _count_sentences(text: str) -> int:
    """Sentences end at . ! ? followed by space, or at a line break; common abbreviations and
    decimals ("e.g.", "Dr.", "3.5") do not end one. Chinese and Japanese sentences end at
    。！？ (no space needed), Hindi ones at । and ॥, Arabic questions at ؟."""
    count = 0
    for line in text.splitlines():
        pieces = _SENTENCE_END.split(line.strip())
        for i, piece in enumerate(pieces):
            if not re.search(r"\w", piece):
                continue
            last = piece.rsplit(None, 1)[-1].lower().rstrip(".") if piece.split() else ""
            if i < len(pieces) - 1 and last in _ABBREVIATIONS:
                continue  # "e.g. this" continues the same sentence
            count += 1
    return count


def _keyword_count(text: str, keyword: str) -> int:
    """Case-insensitive occurrences of `keyword` as a whole word: "cat" does not match
    "category", nor "नम" "नमस्ते".

    Where the keyword begins or ends with a letter of a script written without spaces
    between words (Chinese, Japanese, Thai ...) or Korean (particles attach to the noun),
    that end of it needs no word boundary: 日本 is found in 私は日本に住んでいます, 일본 in
    일본에. A keyword in a spaced script only needs a boundary against letters of spaced
    scripts ("AI" is found in "AIは便利です"). Text and keyword are compared NFKC-normalised
    and case-folded ("ＡＩ" matches "ai"). The cost of no segmenter: パン is found in パンダ.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    keyword = unicodedata.normalize("NFKC", keyword).casefold()
    if not keyword:
        return 0
    check_start = not _in_ranges(keyword[0], _NO_BOUNDARY)
    check_end = not _in_ranges(keyword[-1], _NO_BOUNDARY)
    count = start = 0
    while (i := text.find(keyword, start)) >= 0:
        end = i + len(keyword)
        if (check_start and i > 0 and _joins(text[i - 1])) or (
            check_end and end < len(text) and _joins(text[end])
        ):
            start = i + 1  # not a whole word here: look again one character later
        else:
            count, start = count + 1, end
    return count


def _strip_code_fence(text: str) -> str:
    text = text.strip()
    m = re.fullmatch(r"```[a-zA-Z]*\s*\n?(.*?)\n?\s*```", text, flags=re.DOTALL)
    return m.group(1).strip() if m else text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


@register_constraint(
    "word_count",
    describe=lambda relation, n: f"Answer in {_RELATION_WORDS[relation]} {_plural(n, 'word')}.",
)
def _check_word_count(response: str, *, relation: str, n: int) -> bool:
    return _compare(len(_words(response)), relation, n)


@register_constraint(
    "sentence_count",
    describe=lambda relation, n: (
        f"Answer in {_RELATION_WORDS[relation]} {_plural(n, 'sentence')}."
    ),
)
def _check_sentence_count(response: str, *, relation: str, n: int) -> bool:
    return _compare(_count_sentences(response), relation, n)


@register_constraint(
    "paragraph_count",
    describe=lambda relation, n: (
        f"Write {_RELATION_WORDS[relation]} {_plural(n, 'paragraph')}, separated by blank lines."
    ),
)
def _check_paragraph_count(response: str, *, relation: str, n: int) -> bool:
    # Blank lines separate paragraphs; a line of *** (IFEval's own separator) does too.
    chunks = re.split(r"\n\s*\n|^\s*\*\*\*\s*$", response, flags=re.MULTILINE)
    return _compare(sum(1 for c in chunks if c and c.strip()), relation, n)


@register_constraint(
    "bullet_count",
    describe=lambda n, relation="exactly": (
        f"Answer with {_RELATION_WORDS[relation]} {_plural(n, 'markdown bullet point')} "
        "(lines starting with '* ')."
    ),
)
def _check_bullet_count(response: str, *, n: int, relation: str = "exactly") -> bool:
    bullets = re.findall(r"^[ \t]*[*-][ \t]+\S", response, flags=re.MULTILINE)
    return _compare(len(bullets), relation, n)


@register_constraint(
    "include_keywords",
    describe=lambda keywords, min_count=1: (
        f"Include the {'keyword' if len(keywords) == 1 else 'keywords'} "
        f"{_quoted_list(keywords, 'and')} in your answer."
        if min_count == 1
        else f"Mention the {'word' if len(keywords) == 1 else 'words'} "
        f"{_quoted_list(keywords, 'and')} at least {min_count} times each."
    ),
)
def _check_include_keywords(response: str, *, keywords: list[str], min_count: int = 1) -> bool:
    return all(_keyword_count(response, k) >= min_count for k in keywords)


@register_constraint(
    "forbidden_words",
    describe=lambda keywords: (
        f"Do not use the {'word' if len(keywords) == 1 else 'words'} "
        f"{_quoted_list(keywords, 'or')} anywhere in your answer."
    ),
)
def _check_forbidden_words(response: str, *, keywords: list[str]) -> bool:
    return not any(_keyword_count(response, k) for k in keywords)


@register_constraint("json_format", describe=lambda: "Format your entire answer as valid JSON.")
def _check_json_format(response: str) -> bool:
    # As in IFEval, a surrounding ```json fence is allowed; NaN/Infinity are not JSON.
    try:
        json.loads(_strip_code_fence(response), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return False
    return True


@register_constraint("lowercase",
                     describe=lambda: "Write your entire answer in lowercase letters only.")
def _check_lowercase(response: str) -> bool:
    return response.islower()  # no capital letter, and at least one letter


@register_constraint("uppercase",
                     describe=lambda: "Write your entire answer in capital letters only.")
def _check_uppercase(response: str) -> bool:
    return response.isupper()


@register_constraint(
    "end_phrase",
    describe=lambda phrase: (
        f"End your answer with the exact phrase {_quote(phrase)}. No other words should follow it."
    ),
)
def _check_end_phrase(response: str, *, phrase: str) -> bool:
    # Like IFEval: case-insensitive, ignoring surrounding whitespace and a closing quote.
    return response.strip().strip("\"'”").lower().endswith(phrase.strip().lower())


@register_constraint(
    "start_phrase",
    describe=lambda phrase: f"Start your answer with the exact phrase {_quote(phrase)}.",
)
def _check_start_phrase(response: str, *, phrase: str) -> bool:
    return response.strip().strip("\"'“").lower().startswith(phrase.strip().lower())


@register_constraint("no_commas", describe=lambda: "Do not use any commas in your answer.")
def _check_no_commas(response: str) -> bool:
    # the ASCII comma, the fullwidth and ideographic commas (，、､) and the Arabic one (،)
    return not any(c in response for c in ",，、､،")


@register_constraint(
    "placeholder_count",
    describe=lambda n, relation="at least": (
        f"Include {_RELATION_WORDS[relation]} {_plural(n, 'placeholder')} in square brackets, "
        "such as [name]."
    ),
)
def _check_placeholder_count(response: str, *, n: int, relation: str = "at least") -> bool:
    return _compare(len(re.findall(r"\[[^\[\]\n]+\]", response)), relation, n)


# --- applying a constraint -------------------------------------------------------------------


def loose_variants(response: str) -> list[str]:
    """The response variants IFEval's loose mode tries: first/last/both lines removed, '*' removed.

    Exactly as in IFEval's `test_instruction_following_loose`: split on "\\n"; build the
    response without its first line, without its last line, and without both (each stripped);
    then each of those four (the original included) with every "*" deleted: eight variants in
    all. Duplicates are dropped here (order kept); that changes no verdict.
    """
    require_str(response, "response", fn="loose_variants")
    lines = response.split("\n")
    base = [
        response,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    variants = base + [v.replace("*", "") for v in base]
    return list(dict.fromkeys(variants))


def check(response: str, constraint: Mapping[str, Any], *, loose: bool = False) -> bool:
    """True when `response` satisfies `constraint` (strictly, or in IFEval's loose mode).

    Strict: the checker sees the response as it is. Loose (`loose=True`): the constraint
    counts as followed when *any* of `loose_variants(response)` passes, which forgives a
    preamble line ("Sure, here it is:"), a closing remark, and markdown emphasis. As in IFEval,
    an empty or whitespace-only response (or variant) never passes, even "no_commas".
    """
    kind, params = _normalise(constraint)
    if not isinstance(response, str):
        raise InputError(f"check(): response must be a str, got {type(response).__name__}; "
                         "if_rate() counts missing responses as failures instead.")
    return _follows(response, kind, params, loose)


def _follows(response: str, kind: ConstraintKind, params: dict[str, Any], loose: bool) -> bool:
    candidates = loose_variants(response) if loose else [response]
    return any(bool(c.strip()) and kind.check(c, **params) for c in candidates)


def describe_constraint(constraint: Mapping[str, Any]) -> str:
    """The English sentence to add to an instruction, e.g. "Answer in fewer than 50 words."."""
    kind, params = _normalise(constraint)
    return kind.describe(**params)


# --- parse_constraints: find constraint sentences in an instruction --------------------------

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER = r"\d+|" + "|".join(_NUMBER_WORDS) + r"|a single|single"
_NUM = rf"(?P<n>{_NUMBER})"
_REL_PATTERNS = {  # phrase in an instruction -> relation
    "less than": r"fewer than|less than|under|below|shorter than",
    "at most": r"at most|no more than|not more than|up to|a maximum of|maximum of|max\.?|"
    r"no longer than|not exceeding|within",
    "exactly": r"exactly|precisely",
    "at least": r"at least|no less than|no fewer than|a minimum of|minimum of",
    "more than": r"more than|over|longer than|above",
}
_REL = "(?P<rel>" + "|".join(p for p in _REL_PATTERNS.values()) + ")"
_QUOTED = r"(?:\"[^\"\n]+\"|“[^”\n]+”|(?<!\w)'[^'\n]+?'(?=[\s.,;:!?)]|$)|‘[^’\n]+’)"
_QUOTED_LIST = rf"(?P<list>{_QUOTED}(?:\s*,?\s*(?:and|or)?\s*{_QUOTED})*)"


def _number(text: str) -> int:
    text = text.lower()
    if text.isdigit():
        return int(text)
    return 1 if "single" in text else _NUMBER_WORDS[text]


def _relation(text: str | None, default: str) -> str:
    if not text:
        return default
    text = text.lower()
    for relation, pattern in _REL_PATTERNS.items():
        if re.fullmatch(pattern, text):
            return relation
    return default  # pragma: no cover - every alternative of _REL is in _REL_PATTERNS


def _unquote_all(text: str) -> list[str]:
    return [q[1:-1].strip() for q in re.findall(_QUOTED, text)]


def _count_pattern(unit: str) -> re.Pattern[str]:
    """'<relation> N unit', 'N+ unit' (at least N), or 'in/using/with N unit' (exactly N)."""
    return re.compile(
        rf"(?:\b{_REL}\s+(?P<n>{_NUMBER})|\b(?:in|using|with|use|write|into)\s+"
        rf"(?P<bare>{_NUMBER})|\b(?P<plain>\d+)(?=\+))(?P<plus>\+)?[\s-]+(?:{unit})\b",
        flags=re.IGNORECASE,
    )


def _count_finder(kind: str, unit: str, default: str = "exactly"):
    pattern = _count_pattern(unit)

    def find(text: str, original: str) -> list[tuple[int, dict[str, Any]]]:
        found = []
        for m in pattern.finditer(text):
            relation = "at least" if m.group("plus") else _relation(m.group("rel"), default)
            n = _number(m.group("n") or m.group("bare") or m.group("plain"))
            found.append((m.start(), {"kind": kind, "relation": relation, "n": n}))
        return found

    return find


def _negated(text: str, start: int) -> bool:
    """True when a negation ("no", "not", "n't", "never", "without", "avoid") comes earlier in
    the same clause, e.g. "do not use capital letters" is not an uppercase rule."""
    clause = re.split(r"[.,;:!?]", text[max(0, start - 30) : start])[-1]
    negation = r"\b(?:no|not|never|without|avoid)\b|n't\b"
    return re.search(negation, clause, re.IGNORECASE) is not None


def _regex_finder(kind: str, pattern: str, negatable: bool = False):
    compiled = re.compile(pattern, flags=re.IGNORECASE)

    def find(text: str, original: str) -> list[tuple[int, dict[str, Any]]]:
        starts = [m.start() for m in compiled.finditer(text)]
        if negatable:
            starts = [s for s in starts if not _negated(text, s)]
        return [(starts[0], {"kind": kind})] if starts else []

    return find


def _phrase_finder(kind: str, verbs: str):
    compiled = re.compile(
        rf"\b(?:{verbs})\s+(?:your\s+(?:entire\s+)?(?:answer|response|reply|email|letter|"
        rf"message|essay|story|poem)\s+)?with\s+(?:the\s+(?:exact\s+)?(?:phrase|words?|sentence)"
        rf"\s+)?(?P<q>{_QUOTED})",
        flags=re.IGNORECASE,
    )

    def find(text: str, original: str) -> list[tuple[int, dict[str, Any]]]:
        return [
            (m.start(),
             {"kind": kind, "phrase": original[m.start("q") + 1 : m.end("q") - 1].strip()})
            for m in compiled.finditer(text)
        ]

    return find


def _keywords_finder(kind: str, pattern: str):
    compiled = re.compile(
        pattern + r"\s+" + _QUOTED_LIST + r"(?P<tail>\s+at least\s+" + _NUM + r"\s+times)?",
        flags=re.IGNORECASE,
    )

    def find(text: str, original: str) -> list[tuple[int, dict[str, Any]]]:
        found = []
        for m in compiled.finditer(text):
            if kind == "include_keywords" and _negated(text, m.start()):
                continue  # "do not use the words ..." is the forbidden_words finder's
            words = _unquote_all(original[m.start("list") : m.end("list")])
            c: dict[str, Any] = {"kind": kind, "keywords": words}
            if kind == "include_keywords":
                c["min_count"] = _number(m.group("n")) if m.group("tail") else 1
            found.append((m.start(), c))
        return found

    return find


# Every finder searches the instruction with the inside of quotes blanked (so a quoted phrase
# such as "in three words" is not read as a rule) and reads quoted words from the original.
_FINDERS = [
    _count_finder("word_count", r"words?"),
    _count_finder("sentence_count", r"sentences?"),
    _count_finder("paragraph_count", r"paragraphs?"),
    _count_finder("bullet_count", r"(?:markdown\s+)?(?:bullet(?:ed)?[\s-]*points?|bullets)"),
    _count_finder("placeholder_count", r"placeholders?", default="at least"),
    _regex_finder(
        "no_commas",
        r"\b(?:(?:do not|don't|never|without|avoid|refrain from)\s+"
        r"(?:us(?:e|ing)\s+|includ(?:e|ing)\s+)?(?:any\s+)?commas?|no commas)\b",
    ),
    _regex_finder(
        "lowercase",
        r"\b(?:all\s+)?lower[- ]?case\b|"
        r"\b(?:no|(?:do not|don't|never)\s+use(?:\s+any)?|without(?:\s+any)?)"
        r"\s+(?:capital|upper[- ]?case) letters\b",
    ),
    _regex_finder(
        "uppercase",
        r"\b(?:all\s+)?(?:upper[- ]?case|capital letters|all caps|block capitals)\b",
        negatable=True,
    ),
    _regex_finder(
        "json_format",
        r"\b(?:in|as|into|using)\s+(?:a\s+)?(?:valid\s+)?json\b|\bjson\s+(?:format|object)\b",
    ),
    _phrase_finder("end_phrase", r"end|finish|conclude|close"),
    _phrase_finder("start_phrase", r"start|begin|open"),
    _keywords_finder(
        "include_keywords",
        r"\b(?:include|use|mention)\s+the\s+(?:key)?words?",
    ),
    _keywords_finder(
        "forbidden_words",
        r"\b(?:(?:do not|don't|never)\s+(?:use|include|mention|say)|avoid(?:\s+using)?|"
        r"without(?:\s+using)?)\s+the\s+(?:key)?words?",
    ),
]


def parse_constraints(instruction: str) -> list[dict[str, Any]]:
    """Find verifiable constraints stated in an instruction, in order of appearance.

    Regex-based, so it understands the phrasings `describe_constraint` writes plus common
    variants: "in under 100 words", "no more than 3 sentences", "in 300+ words", "use exactly
    3 bullet points", "do not use commas", "in all lowercase", "as valid JSON", "end your
    answer with 'Any questions?'", "include the keywords 'AI' and 'ethics'", "avoid the word
    'very'". Keywords and phrases must be quoted. A bare count needs a preposition ("in 3
    sentences" is read as exactly 3; "the 3 words below" is not a constraint). It will miss
    paraphrases it has no pattern for, and it cannot tell a constraint on the answer from a
    description of the input ("convert this text to lowercase" is read as a lowercase rule).
    """
    require_str(instruction, "instruction", fn="parse_constraints")
    masked = re.sub(
        _QUOTED,
        lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1],
        instruction,
    )
    found = [hit for finder in _FINDERS for hit in finder(masked, instruction)]
    result: list[dict[str, Any]] = []
    for _, c in sorted(found, key=lambda item: item[0]):
        c = {"kind": c["kind"], **_normalise(c)[1]}
        if c not in result:
            result.append(c)
    return result
