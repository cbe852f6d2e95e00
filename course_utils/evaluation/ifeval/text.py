"""How IFEval counts words, sentences and capital words, and detects a language.

IFEval (Zhou et al. 2023) measures text with three outside tools: a `\\w+` regular expression
for words, NLTK's Punkt model for sentences and NLTK's Treebank tokenizer for capital words,
and `langdetect` for the language. The course reproduces the first exactly and the two NLTK
ones with small rules written here, so it needs no NLTK download; `langdetect` is used as is,
imported only when a language is asked for, and seeded so that it answers the same every time.

Known divergences:
- sentences: Punkt learned its abbreviations, and which words start sentences, from a corpus;
  `count_sentences` uses a short abbreviation list and simple rules after a number or an
  initial ("1. Item" ends a sentence, "J. Smith" does not). Counts can differ on text full of
  abbreviations; on the GPT-4 responses every sentence-count verdict, strict and loose,
  equals that of IFEval's own code.
- capital words: `capital_words` splits contractions (DON'T -> DO, N'T) and punctuation as
  Treebank does; on the 541 GPT-4 responses and their loose variants (2,416 texts) it gives
  the same count as NLTK's Treebank tokenizer. Rare rules are left out ("'TWAS" -> "'T", "WAS").
"""

from __future__ import annotations

import re

__all__ = ["capital_words", "count_sentences", "count_words", "langdetect_language"]

# A word is a run of letters, digits or underscores, so "don't" is two words and "well-known" two.
_WORD = re.compile(r"\w+")

# Abbreviations after which a full stop does not end a sentence (lower case, without the stop):
# the everyday ones among those Punkt's English model learned from news text. That model lacks
# "e.g.", "i.e." and "etc.", so Punkt (and IFEval) end a sentence after them; so does this count.
_ABBREVIATIONS = frozenset(
    "mr mrs ms messrs dr prof gen col lt maj sen rep st jr sr bros inc ltd co corp vs ft yr "
    "u.s u.s.a u.k ph.d a.m p.m jan feb aug sep sept oct nov dec".split()
)
# Words that, capitalised after an abbreviation or an initial, show that a new sentence began.
_SENTENCE_STARTERS = frozenset(
    "the a an i it its this that these those there they we you he she let's let in on at for "
    "if but and so what how when why where please my our your his her their".split()
)
# Characters that may close a sentence after its . ? or ! (quotes, brackets, emphasis).
_CLOSERS = "\"')]}*»”’"
# Characters that may open a word before its letters (for the abbreviation test).
_OPENERS = "\"'([{*«“‘"


def count_words(text: str) -> int:
    """IFEval's word count: the number of `\\w+` runs (so "don't" and "well-known" count 2)."""
    return len(_WORD.findall(text))


def _ends_sentence(token: str, next_token: str) -> bool:
    """Whether a full stop, question or exclamation mark at the end of `token` ends a sentence."""
    core = token.rstrip(_CLOSERS)
    if not core or core[-1] not in ".?!":
        return False
    if core[-1] in "?!":
        return True
    following = next_token.lstrip(_OPENERS)
    starts_sentence = following[:1].isupper() and following.lower() in _SENTENCE_STARTERS
    if core.endswith(".."):  # an ellipsis ends a sentence only before a capital
        return following[:1].isupper()
    word = core[:-1].lstrip(_OPENERS).lower()
    if word in _ABBREVIATIONS or word.split("-")[-1] in _ABBREVIATIONS:
        return starts_sentence  # "Smith Inc. The firm" ends; "Mr. Smith" goes on
    if len(word) == 1 and word.isalpha():  # an initial: "J. Smith" goes on, "in o. Let's" ends
        return starts_sentence
    if word.isdigit():  # "1. Item" ends a "sentence" (as Punkt does) unless lower case follows
        return not following[:1].islower()
    return True


def count_sentences(text: str) -> int:
    """Sentences as Punkt finds them: ends at . ? ! before a space, not after abbreviations."""
    tokens = text.split()
    if not tokens:
        return 0
    breaks = sum(_ends_sentence(tok, nxt) for tok, nxt in zip(tokens, tokens[1:]))
    return breaks + 1


# Treebank-style splitting: punctuation that becomes its own token, and contraction endings.
# (a comma or colon splits only when no digit follows: "1,000" and "12:30" stay whole).
_SPLIT_PUNCT = re.compile(r"(--|\.\.\.|[\[\](){}<>\"“”«»;?!@#$%&]|[,:](?!\d))")
_CONTRACTION = re.compile(r"(?i)^(.*[^'])(n't|'s|'m|'d|'ll|'re|'ve)$")
_TWO_WORDS = re.compile(r"(?i)^(can)(not)$|^(gon|wan)(na)$|^(got)(ta)$|^(gim|lem)(me)$")


def _treebank_tokens(chunk: str) -> list[str]:
    """Split one whitespace-free chunk as NLTK's Treebank tokenizer would (close enough)."""
    out: list[str] = []
    for piece in _SPLIT_PUNCT.split(chunk):
        if not piece:
            continue
        match = _CONTRACTION.match(piece) or _TWO_WORDS.match(piece)
        out.extend([g for g in match.groups() if g] if match else [piece])
    return out


def capital_words(text: str) -> list[str]:
    """The tokens written all in capitals ("NASA", "I", "N'T"), Treebank-style tokenisation."""
    return [tok for chunk in text.split() for tok in _treebank_tokens(chunk) if tok.isupper()]


def langdetect_language(text: str) -> str | None:
    """The ISO 639-1 code `langdetect` gives `text` (seed 0), or None when it finds no feature."""
    from langdetect import DetectorFactory, detect  # lazily: it loads 55 language profiles
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    try:
        return detect(text)
    except LangDetectException:
        return None
