"""Surface complexity of instructions, and their root verb and object.

`complexity` counts constraint cues (length, "at least 3 bullet points", "must", "JSON"),
reasoning cues ("step by step", "explain why") and words; `root_verb_object` guesses the
instruction's root verb and object, the view the Self-Instruct paper draws as a verb/object
sunburst (`plots.plot_verb_sunburst`); `verb_diversity` counts the different root verbs of a
set (breadth); `syntax_depth` estimates how deeply an instruction's clauses nest (depth), with
a parser when you give it one and a documented parser-free proxy otherwise.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .._validate import require_int, require_str, require_texts
from .constraints import _NUMBER_WORDS, _words

__all__ = [
    "complexity",
    "complexity_table",
    "root_verb_object",
    "syntax_depth",
    "top_verb_objects",
    "verb_diversity",
]

_UNITS = (
    r"words?|sentences?|paragraphs?|lines?|bullet(?:ed)?\s*points?|bullets|items?|points?|"
    r"characters?|letters?|syllables?|examples?|steps?|questions?|options?|ideas?|tips?|"
    r"reasons?|times|placeholders?|stanzas?|verses?|minutes?|hours?|days?|calories|pages?|"
    r"rows?|columns?|keywords?"
)
_CONSTRAINT_CUE_RE = re.compile(
    r"\b(?:(?:at least|at most|no more than|no less than|no fewer than|fewer than|less than|"
    r"more than|exactly|under|over|up to|between|within)\s+)?"
    rf"(?:\d+|{'|'.join(list(_NUMBER_WORDS)[1:])})(?:\s*[-–]\s*\d+)?\+?[\s-]*(?:{_UNITS})\b"
    r"|\b(?:at least|at most|no more than|no less than|fewer than|less than|more than|exactly|"
    r"only|limit(?:ed)? to|maximum|minimum|must|should|needs? to|have to|has to|required?|"
    r"ensure|make sure|be sure to|without|do not|don't|never|avoid|refrain|includ(?:e|es|ing)|"
    r"mention|json|yaml|csv|markdown|table|numbered list|bullet(?:ed)?\s*(?:list|points?)|"
    r"in the style of|tone|format(?:ted)?|lower[- ]?case|upper[- ]?case|capital letters|"
    r"all caps|commas?|exact phrase|(?:start|begin|end|finish) (?:your|the) "
    r"(?:answer|response|reply)|placeholders?)\b",
    flags=re.IGNORECASE,
)
_REASONING_CUE_RE = re.compile(
    r"\b(?:step[- ]by[- ]step|show (?:your|the|all) (?:work|steps|reasoning)|explain (?:why|how)|"
    r"pros and cons|trade-?offs?|first(?:ly)?|second(?:ly)?|then|next|finally|after that|explain|"
    r"justify|compare|contrast|derive|prove|reason(?:ing)?|why|analy[sz]e|evaluate|calculate|"
    r"solve|deduce|infer|because|therefore|consider|critique|assess|predict)\b",
    flags=re.IGNORECASE,
)


def complexity(text: str) -> dict[str, Any]:
    """Surface complexity of one instruction: words, constraint cues, reasoning cues, root verb.

    `constraints` counts cues such as "must", "at least", "without", "include", "exactly 3
    bullet points" (a number with its unit and relation counts once), formats ("JSON",
    "table"); `reasoning` counts cues such as "step by step", "first", "then", "explain why",
    "justify", "compare", "derive". `score = constraints + reasoning + words / 25` is a rough
    ranking aid (Evol-Instruct's "add constraints" and "deepen" steps both raise it), not a
    calibrated difficulty measure: the cues are counted, not understood.
    """
    require_str(text, "text", fn="complexity")
    words = len(_words(text))
    constraints = len(_CONSTRAINT_CUE_RE.findall(text))
    reasoning = len(_REASONING_CUE_RE.findall(text))
    verb, obj = root_verb_object(text)
    return {
        "words": words,
        "constraints": constraints,
        "reasoning": reasoning,
        "root_verb": verb,
        "object": obj,
        "score": constraints + reasoning + words / 25,
    }


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of an already sorted, non-empty sequence."""
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def complexity_table(texts: Sequence[str]) -> dict[str, float]:
    """Aggregate `complexity` over a set: means, medians and p90s, and shares with cues."""
    texts = require_texts(texts, fn="complexity_table")
    rows = [complexity(t) for t in texts]
    table: dict[str, float] = {"n": len(rows)}
    for key in ("words", "constraints", "reasoning", "score"):
        values = sorted(r[key] for r in rows)
        table[f"{key}_mean"] = statistics.fmean(values)
        table[f"{key}_median"] = _quantile(values, 0.5)
        table[f"{key}_p90"] = _quantile(values, 0.9)
    table["share_with_constraints"] = sum(r["constraints"] > 0 for r in rows) / len(rows)
    table["share_with_reasoning"] = sum(r["reasoning"] > 0 for r in rows) / len(rows)
    table["share_with_verb"] = sum(r["root_verb"] is not None for r in rows) / len(rows)
    return table


# --- root verb / object heuristic ----------------------------------------------------------

_VERBS = set(
    """
    add adjust advise analyse analyze answer apply argue arrange ask assess assign brainstorm
    break build calculate categorize categorise change check choose cite clarify classify
    come compare compile complete compose compute condense construct continue convert correct
    count craft create critique debug decide decode define delete demonstrate derive describe
    design detect determine develop devise diagnose discuss distinguish divide do draft draw
    edit elaborate eliminate encode estimate evaluate examine expand explain express extract
    fill find fix flag format formulate generate give group guess help highlight identify
    illustrate imagine implement improve infer insert interpret introduce invent judge justify
    label link list locate make map mark match measure mention merge modify name note offer
    order organize organise outline output paraphrase parse pick plan point polish predict prepare
    present pretend produce proofread propose prove provide put rank rate read recommend
    recognize reduce refactor reformat rephrase replace reply report represent request
    respond restate restructure return reverse review rewrite say score search select sell
    schedule separate share shorten show simplify solve sort specify spell split state suggest
    summarize summarise supply tag take talk teach tell test think transform translate turn use
    verify write indicate notify enter retrieve capitalize include look
    """.split()
)
_PHRASAL = {
    tuple(p.split())
    for p in "come up with|come up|write down|fill in|point out|figure out|find out|make up|sum up|"
    "break down".split("|")
}
_PHRASAL_HEADS = {p[0] for p in _PHRASAL}
_POLITE = (  # stripped from the start of a clause; a phrase comes before any prefix of it
    "please|kindly|can you|could you|would you|will you|can u|now|i want you to|i need you to|"
    "i would like you to|i'd like you to|help me|you should|you need to|you must|you have to|"
    "you will need to|you will|you are to|your task is to|the task is to|let's|lets|ok|okay|so|"
    "also|just|then|and|hey|hi|pls|need to|try to|try"
).split("|")
_WH = {"what", "how", "why", "which", "who", "whom", "whose", "where", "when"}
_AUX = set(
    "is are was were am be been do does did can could would should will shall may might must has "
    "have had 's isn't aren't don't doesn't can't won't wouldn't shouldn't".split()
)
_SUBJECTS = {"i", "you", "we", "they", "he", "she", "it", "one", "there", "people", "someone"}
_SKIP_BEFORE_OBJECT = set(
    """
    a an the this that these those some any each every all both either my your our their his
    her its me us him them you it i we they one there few several many much more most couple
    various different possible other another following given above below next new same such
    short brief long little good great best better simple creative interesting funny fun
    appropriate detailed healthy random correct proper main key whole entire original
    specific general common basic complete full top own single unique suitable relevant
    important useful clear concise formal informal positive negative famous popular
    descriptive persuasive informative effective attractive expensive impressive alternative
    catchy quick easy hard difficult small large big old young real
    briefly concisely clearly exactly only really quickly simply properly carefully politely
    to for of in on at about with into from by as out up down how what why which who what's
    if whether that than based between among across through during without within under over
    after before like via per against toward towards around behind beyond near upon using
    and or but nor yet not so
    """.split()
)
_ADJ_SUFFIXES = ("ous", "ful", "less", "ible")
_CLAUSE_WORDS = {"that", "which", "who", "where", "when", "and", "or", "but", "if", "so", "than"}


def _rvo_tokens(sentence: str) -> list[str]:
    """Lower-cased words, with commas and semicolons kept as tokens (they end a noun phrase)."""
    return re.findall(r"[a-z0-9]+(?:['-][a-z0-9]+)*|[,;]", sentence.lower().replace("’", "'"))


def _strip_polite(tokens: list[str]) -> list[str]:
    changed = True
    while changed and tokens:
        changed = False
        for phrase in _POLITE:
            parts = phrase.split()
            if tokens[: len(parts)] == parts and len(tokens) > len(parts):
                tokens = tokens[len(parts) :]
                changed = True
                break
    return tokens


def _noun_like(tok: str) -> bool:
    if tok in _SKIP_BEFORE_OBJECT or tok in _AUX or tok in _NUMBER_WORDS or tok in ",;":
        return False
    head = tok.split("-")[0]
    if tok.isdigit() or ("-" in tok and (head.isdigit() or head in _NUMBER_WORDS)):
        return False  # "5", "one-sentence", "5-paragraph": a number or a modifier
    return not (tok.endswith("'s") or tok.endswith(_ADJ_SUFFIXES))  # possessive, adjective


def _object_after(tokens: list[str]) -> str | None:
    """The first noun-ish word, extended over a noun compound: "a grocery list" -> "list"."""
    window = tokens[:8]
    for i, tok in enumerate(window):
        if not _noun_like(tok):
            continue
        if tok.endswith("ing") and window[i + 1 : i + 2] in (["and"], ["or"]):
            continue  # "an engaging and funny story": the -ing word is an adjective
        obj, j = tok, i + 1
        while j < min(len(window), i + 4):
            nxt = window[j]
            if not _noun_like(nxt) or nxt.endswith(("ed", "ly")) or nxt in _CLAUSE_WORDS:
                break
            if nxt.endswith("ing"):  # "birthday planning checklist" goes on; "haiku using" stops
                after = window[j + 1] if j + 1 < len(window) else ""
                if not (_noun_like(after) and not after.endswith("ing")):
                    break
            else:
                obj = nxt
            j += 1
        return obj
    return None


def _base_form(tok: str) -> str:
    """'converting' -> 'convert', 'solving' -> 'solve', 'planning' -> 'plan' (if a known verb)."""
    if tok.endswith("ing") and len(tok) > 5:
        stem = tok[:-3]
        for base in (stem, stem + "e", stem[:-1]):
            if base in _VERBS or base in _PHRASAL_HEADS:
                return base
    return tok


def _verb_at_start(tokens: list[str]) -> tuple[str, list[str]] | None:
    """If the tokens start with a known verb (or phrasal verb), return it and the rest.
    A gerund counts as its verb ("Converting 85 F to Celsius" -> "convert")."""
    if not tokens:
        return None
    tokens = [_base_form(tokens[0])] + tokens[1:]
    for phrase in sorted(_PHRASAL, key=len, reverse=True):
        if tuple(tokens[: len(phrase)]) == phrase:
            return " ".join(phrase), tokens[len(phrase) :]
    if tokens[0] in _VERBS:
        return tokens[0], tokens[1:]
    return None


def _clause_verb_object(tokens: list[str], question: bool) -> tuple[str | None, str | None]:
    tokens = _strip_polite(tokens)
    if not tokens:
        return None, None
    hit = _verb_at_start(tokens)
    if hit:
        verb, rest = hit
        return verb, _object_after(rest)
    first = tokens[0]
    if first in _WH:
        rest = tokens[1:]
        # "which/what <noun> ... <aux>": move to the auxiliary if one comes soon.
        if rest and rest[0] not in _AUX:
            aux_at = next((i for i, t in enumerate(rest[:4]) if t in _AUX), None)
            if aux_at is None:
                return f"{first} {rest[0]}", _object_after(rest[1:])
            rest = rest[aux_at:]
        if rest and rest[0] in _AUX:
            aux, after = rest[0], rest[1:]
            if after and after[0] in _SUBJECTS and len(after) > 1:
                after = after[1:]
                while after and after[0] in _AUX | {"not", "best", "really", "actually"}:
                    after = after[1:]
                if after:
                    return f"{first} {after[0]}", _object_after(after[1:])
            return f"{first} {aux}", _object_after(after)
        return first, _object_after(rest)
    if question and first in _AUX and len(tokens) > 1:  # yes/no: "Is it safe to ...?"
        after = tokens[1:]
        if after[0] in _SUBJECTS and len(after) > 1 and after[1] in _VERBS:
            return after[1], _object_after(after[2:])
        return first, _object_after(after)
    return None, None


def root_verb_object(text: str) -> tuple[str | None, str | None]:
    """The instruction's root verb and its object, e.g. ("write", "poem"); a spaCy-free guess.

    Heuristic, sentence by sentence, stopping at the first clause that yields a verb. A clause
    is the sentence, or what follows one of its commas ("Given a list of numbers, find ...").
    Politeness and framing are dropped first ("please", "can you", "I want you to", "you need
    to"). Then:
    - imperative: the first word, if it is one of ~200 instruction verbs; a gerund counts as
      its verb ("Converting ..." -> "convert"); "come up with" and a few other phrasal verbs
      are kept whole;
    - wh-question: the wh-word plus the main verb after auxiliary and subject ("How do you
      answer ...?" -> "how answer"), or the wh-word plus the copula ("What is ...?" -> "what is");
    - yes/no question (ends with "?"): the main verb after auxiliary and subject if it is a
      known verb, else the auxiliary ("Is there ...?" -> "is").
    The object is the next noun-ish word, skipping determiners, pronouns, prepositions,
    numbers, possessives, a list of common adjectives and adverbs, and words ending in -ous,
    -ful, -less or -ible; a noun compound gives its head ("a birthday planning checklist" ->
    "checklist").
    Limits: there is no part-of-speech tagger. A verb outside the list is missed (passive or
    indirect requests such as "A list ... should be compiled" give (None, None): about 6% of
    the 427 real Self-Instruct instructions); noun/verb homographs ("list", "answer") at the
    start of a clause are read as verbs; an adjective outside the list can become the object
    ("Write a sad, lonely poem" -> "sad"; "Make the article available" -> "available"), and
    so can a verb ("Describe how to prepare ..." -> "prepare"); "a list of X" gives "list".
    """
    require_str(text, "text", fn="root_verb_object")
    sentences = [s for s in re.split(r"(?<=[.!?:])\s+|\n+", text) if s.strip()]
    for sentence in sentences:
        tokens = _rvo_tokens(sentence)
        # "Given X, do Y" / "In your opinion, how ...": also try the clause after each comma.
        candidates = [tokens] + [tokens[i + 1 :] for i, t in enumerate(tokens) if t == ","]
        for toks in candidates:
            verb, obj = _clause_verb_object(toks, sentence.rstrip().endswith("?"))
            if verb is not None:
                return verb, obj
    return None, None


def top_verb_objects(texts: Sequence[str], k: int = 20) -> list[tuple[str, str | None, int]]:
    """The k most frequent (verb, object, count) triples; ties broken alphabetically."""
    texts = require_texts(texts, fn="top_verb_objects")
    k = require_int(k, "k", 1, fn="top_verb_objects")
    counts = Counter(root_verb_object(t) for t in texts)
    counts.pop((None, None), None)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or ""))
    return [(verb, obj, n) for (verb, obj), n in ranked[:k]]



def verb_diversity(texts: Sequence[str]) -> dict[str, Any]:
    """How many different tasks a set asks for, by root verb (`root_verb_object`).

    Returns `n` (texts), `with_verb` (texts whose root verb was found), `distinct` (different
    verbs), `ratio` (distinct / with_verb; 0.0 when no verb was found) and `top` (the five most
    frequent (verb, count) pairs). `distinct` grows with the size of the set, so compare sets of
    the same size (e.g. the first 25 texts of each), as notebook 08 does.
    """
    texts = require_texts(texts, fn="verb_diversity")
    verbs = [root_verb_object(t)[0] for t in texts]
    counts = Counter(v for v in verbs if v is not None)
    found = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {"n": len(texts), "with_verb": found, "distinct": len(counts),
            "ratio": len(counts) / found if found else 0.0, "top": ranked}


# Words that open an embedded clause or phrase: subordinating conjunctions, relative and
# interrogative words inside a sentence, and infinitive purpose markers. Each one, past the
# first word of its sentence, adds one level to the proxy depth.
_EMBEDDERS = frozenset(
    """that which who whom whose where when while whereas because although though if unless
    until since whether how why what once after before whenever wherever""".split()
)
_EMBEDDER_PHRASES = ("so that", "such that", "in order to", "as long as", "as soon as", "even if")


def _proxy_depth(sentence: str) -> int:
    """1 + embedded-clause openers after the first word + the deepest bracket nesting."""
    low = f" {sentence.lower()} "
    openers = 0
    for phrase in _EMBEDDER_PHRASES:  # a phrase counts once ("so that" is not also "that")
        openers += low.count(f" {phrase} ")
        low = low.replace(f" {phrase} ", " , ")
    tokens = re.findall(r"[a-z']+|,", low)
    openers += sum(t in _EMBEDDERS for t in tokens[1:])
    nesting = deepest = 0
    for ch in sentence:
        if ch in "([{":
            nesting += 1
            deepest = max(deepest, nesting)
        elif ch in ")]}":
            nesting = max(0, nesting - 1)
    return 1 + openers + deepest


def syntax_depth(text: str, nlp: Any = None) -> int:
    """Depth of the instruction's syntax tree: with a parser if given, else a parser-free proxy.

    With `nlp` (a spaCy pipeline, e.g. `spacy.load("en_core_web_sm")`, or any callable that
    returns tokens with `.head`), the depth is the longest head chain from a word to its
    sentence root, counting both ends ("Write a poem." -> 2: poem -> Write), over all sentences.
    Without a parser (the course installs none) it is a proxy, per sentence:
    1 + the words that open an embedded clause after the first word ("that", "which",
    "because", "if", "whether", "so that", "in order to", ...) + the deepest bracket nesting,
    the maximum over sentences. The proxy counts embeddings, not their nesting: two sister
    clauses ("Explain why X and why Y") score as deep as one clause inside another, and a
    clause without an opener ("the dish I cooked") adds nothing. It ranks "Explain tides."
    (1) below "Explain why tides happen twice a day where the coast is open." (3), which is
    what Evol-Instruct's deepening is meant to do; it is not a parse. Empty text: 0.
    """
    require_str(text, "text", fn="syntax_depth")
    if not text.strip():
        return 0
    if nlp is not None:
        deepest = 0
        for token in nlp(text):
            depth, node, seen = 1, token, {id(token)}
            while node.head is not node and id(node.head) not in seen:
                node = node.head
                seen.add(id(node))
                depth += 1
            deepest = max(deepest, depth)
        return deepest
    sentences = [s for s in re.split(r"(?<=[.!?;])\s+|\n+", text) if s.strip()]
    return max(_proxy_depth(s) for s in sentences)
