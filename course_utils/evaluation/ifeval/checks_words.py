"""IFEval's 13 checks about words: keywords, language, length, letter case, commas.

Each check takes the response and the instruction's keyword arguments exactly as IFEval's
`input_data.jsonl` names them (`num_words`, `relation`, ...) and returns True when the
response follows the instruction. The semantics are those of Zhou et al. (2023); the comments
say where they surprise (keywords match inside words, "don't" is two words).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from .text import capital_words, count_sentences, count_words, langdetect_language

__all__ = ["WORD_CHECKS", "compare"]


def compare(count: int, relation: str, threshold: int) -> bool:
    """IFEval's two relations: "less than" is count < threshold, "at least" is count >= it."""
    if relation == "less than":
        return count < threshold
    if relation == "at least":
        return count >= threshold
    raise ValueError(f"relation must be 'less than' or 'at least', got {relation!r}")


def _occurrences(keyword: str, response: str) -> int:
    # Case-insensitive and *inside* words too: "cat" is found in "concatenate".
    return len(re.findall(re.escape(keyword.strip()), response, flags=re.IGNORECASE))


def keywords_existence(response: str, *, keywords: list[str]) -> bool:
    """Every keyword appears somewhere (case-insensitive, also inside a longer word)."""
    return all(_occurrences(k, response) > 0 for k in keywords)


def keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> bool:
    """The keyword appears less than / at least `frequency` times (inside words too)."""
    return compare(_occurrences(keyword, response), relation, frequency)


def keywords_forbidden_words(response: str, *, forbidden_words: list[str]) -> bool:
    """No forbidden word appears as a whole word (case-insensitive)."""
    return not any(
        re.search(r"\b" + re.escape(w) + r"\b", response, flags=re.IGNORECASE)
        for w in forbidden_words
    )


def keywords_letter_frequency(
    response: str, *, letter: str, let_frequency: int, let_relation: str
) -> bool:
    """The letter (either case) occurs less than / at least `let_frequency` times."""
    # Two IFEval prompts ask for a symbol ("#", "!"): it is counted here, while IFEval's code
    # swaps any non-letter for a random letter (so its verdict on those two is a coin toss).
    return compare(Counter(response.lower())[letter.lower()], let_relation, let_frequency)


def language_response_language(response: str, *, language: str) -> bool:
    """langdetect names `language` for the response (text it cannot read counts as followed)."""
    found = langdetect_language(response)
    return found is None or found == language


def length_number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    """The response has less than / at least `num_sentences` sentences (Punkt-like count)."""
    return compare(count_sentences(response), relation, num_sentences)


def length_number_paragraphs(response: str, *, num_paragraphs: int) -> bool:
    """Exactly `num_paragraphs` paragraphs separated by the markdown divider `***`."""
    # Only *** separates (a blank line does not), even inside a line; an empty piece is
    # allowed before the first or after the last divider, nowhere else.
    pieces = re.split(r"\s?\*\*\*\s?", response)
    inner_empty = any(not p.strip() for p in pieces[1:-1])
    if inner_empty:
        return False
    count = len(pieces) - (not pieces[0].strip()) - (len(pieces) > 1 and not pieces[-1].strip())
    return count == num_paragraphs


def length_number_words(response: str, *, num_words: int, relation: str) -> bool:
    """The response has less than / at least `num_words` words (`\\w+` runs)."""
    return compare(count_words(response), relation, num_words)


def _first_word(paragraph: str) -> str:
    # The first whitespace-separated word, without leading quotes, cut at its first
    # punctuation mark and lower-cased: '"Hello," she said' -> "hello".
    word = paragraph.split()[0].lstrip("'").lstrip('"')
    return re.split(r"[.,?!'\"]", word, maxsplit=1)[0].lower()


def length_nth_paragraph_first_word(
    response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str
) -> bool:
    """Exactly `num_paragraphs` paragraphs (split on a blank line, "\\n\\n") and paragraph
    `nth_paragraph` starts with `first_word`."""
    pieces = response.split("\n\n")
    count = sum(bool(p.strip()) for p in pieces)
    # As in IFEval, the n-th piece is taken from the raw split (empty pieces included).
    if nth_paragraph > count or not pieces[nth_paragraph - 1].strip():
        return False
    paragraph = pieces[nth_paragraph - 1].strip()
    return count == num_paragraphs and _first_word(paragraph) == first_word.lower()


def change_case_capital_word_frequency(
    response: str, *, capital_frequency: int, capital_relation: str
) -> bool:
    """Words in all capitals occur less than / at least `capital_frequency` times."""
    return compare(len(capital_words(response)), capital_relation, capital_frequency)


def change_case_english_capital(response: str) -> bool:
    """All cased letters are capitals and langdetect says English (or cannot tell)."""
    return response.isupper() and langdetect_language(response) in (None, "en")


def change_case_english_lowercase(response: str) -> bool:
    """All cased letters are lower case and langdetect says English (or cannot tell)."""
    return response.islower() and langdetect_language(response) in (None, "en")


def punctuation_no_comma(response: str) -> bool:
    """No ASCII comma anywhere (a full-width "，" is not checked, as in IFEval)."""
    return "," not in response


WORD_CHECKS: dict[str, Callable[..., bool]] = {
    "keywords:existence": keywords_existence,
    "keywords:frequency": keywords_frequency,
    "keywords:forbidden_words": keywords_forbidden_words,
    "keywords:letter_frequency": keywords_letter_frequency,
    "language:response_language": language_response_language,
    "length_constraints:number_sentences": length_number_sentences,
    "length_constraints:number_paragraphs": length_number_paragraphs,
    "length_constraints:number_words": length_number_words,
    "length_constraints:nth_paragraph_first_word": length_nth_paragraph_first_word,
    "change_case:capital_word_frequency": change_case_capital_word_frequency,
    "change_case:english_capital": change_case_english_capital,
    "change_case:english_lowercase": change_case_english_lowercase,
    "punctuation:no_comma": punctuation_no_comma,
}
