"""Which language is a text written in? An offline check by script and stop words.

`detect_language(text)` returns an ISO 639-1 code ("ja", "en", ...) or None; the constraint
kind "response_language" (`response_language(language, response)`) asks whether a response
is written in the language an instruction asked for, as IFEval's `language:response_language`.

How it decides: code blocks, inline code and URLs are removed; letters are counted per
script. The script with the most weight wins, a Han or kana character weighing 3 letters and a
Hangul syllable 2 (one of them carries about as much as a short word), so a few English terms
in a Japanese answer do not make it English. Kana -> Japanese, Han without kana -> Chinese
(so a Japanese text of kanji only, such as 東京大学, reads as Chinese),
Hangul -> Korean, Devanagari -> Hindi, Arabic script -> Arabic (Persian, Urdu by their own
letters), Cyrillic -> Russian (Ukrainian by і ї є ґ), and one language per other script. Latin
text is told apart by frequent function words ("the", "der", "le", "el" ...) and a few letters
(ß, ñ, ã ...) of English, French, German, Spanish, Italian, Portuguese and Dutch; with none of
them ("OK.", "Paris") the answer is None. No dependency: on 72 held-out native sentences in
the nine languages of tests/test_multilingual.py this gets 72 right, langdetect 71 (and only
when seeded: it is random otherwise) and lingua 72 with a 96 MB wheel; the course needs only
"is this answer in the requested language?", which scripts and function words settle.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from .._validate import InputError, require_str
from .constraints import register_constraint

__all__ = ["LANGUAGES", "detect_language", "response_language"]

LANGUAGES = {  # code -> English name; the languages detect_language can return
    "ar": "Arabic", "bn": "Bengali", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "fa": "Persian", "fr": "French", "gu": "Gujarati", "he": "Hebrew",
    "hi": "Hindi", "hy": "Armenian", "it": "Italian", "ja": "Japanese", "ka": "Georgian",
    "km": "Khmer", "kn": "Kannada", "ko": "Korean", "lo": "Lao", "ml": "Malayalam",
    "my": "Burmese", "nl": "Dutch", "pa": "Punjabi", "pt": "Portuguese", "ru": "Russian",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "uk": "Ukrainian", "ur": "Urdu",
    "zh": "Chinese",
}
_NAMES = {name.lower(): code for code, name in LANGUAGES.items()}

# (first, last code point, script); the script of a language of its own is that code
_SCRIPTS = (
    (0x0041, 0x024F, "latin"), (0x1E00, 0x1EFF, "latin"), (0x0370, 0x03FF, "el"),
    (0x1F00, 0x1FFF, "el"), (0x0400, 0x052F, "cyrillic"), (0x0530, 0x058F, "hy"),
    (0x0590, 0x05FF, "he"), (0x0600, 0x06FF, "arabic"), (0x0750, 0x077F, "arabic"),
    (0x08A0, 0x08FF, "arabic"), (0xFB50, 0xFDFF, "arabic"), (0xFE70, 0xFEFF, "arabic"),
    (0x0900, 0x097F, "hi"), (0x0980, 0x09FF, "bn"), (0x0A00, 0x0A7F, "pa"),
    (0x0A80, 0x0AFF, "gu"), (0x0B80, 0x0BFF, "ta"), (0x0C00, 0x0C7F, "te"),
    (0x0C80, 0x0CFF, "kn"), (0x0D00, 0x0D7F, "ml"), (0x0E00, 0x0E7F, "th"),
    (0x0E80, 0x0EFF, "lo"), (0x1000, 0x109F, "my"), (0x10A0, 0x10FF, "ka"),
    (0x1780, 0x17FF, "km"), (0x1100, 0x11FF, "ko"), (0x3130, 0x318F, "ko"),
    (0xAC00, 0xD7AF, "ko"), (0x3040, 0x30FF, "kana"), (0x31F0, 0x31FF, "kana"),
    (0x3005, 0x3007, "han"), (0x3400, 0x4DBF, "han"), (0x4E00, 0x9FFF, "han"),
    (0xF900, 0xFAFF, "han"), (0x20000, 0x3134F, "han"),
)
_WEIGHTS = {"han": 3, "kana": 3, "ko": 2}

_STOP_WORDS = {
    "en": "the and is are was were of to in that it this with for you your be have has not on "
          "as at by from or but what which there they we can will would should an i he she his "
          "her my our their if so do does about how when",
    "fr": "le la les des du de un une et est sont que qui pour dans pas ne sur avec ce cette "
          "ces il elle ils nous vous je au aux mais ou où très plus être avoir son sa ses leur "
          "par en c l qu d",
    "de": "der die das und ist sind nicht ein eine einen einem einer zu mit den dem des von auf "
          "für sich auch es ich sie wir ihr du wird werden im zum zur bei aus oder aber wie "
          "dass nach kann noch sehr über in",
    "es": "el la los las de del y que es son en un una unos por para con no se su sus lo al "
          "como más pero muy está están este esta esto yo tú usted nosotros también hay ser "
          "era le les mi",
    "it": "il lo la gli le di del della che e è sono un una per con non si da nel nella ma "
          "come più anche questo questa io tu lui lei noi voi molto alla dei delle l sul sulla "
          "ha hanno ci",
    "pt": "o a os as de do da dos das e é que em no na nos um uma para com não se por mais "
          "mas como ao à seu sua você eu ele ela nós está são muito também isso este esta",
    "nl": "de het een en is zijn van dat die niet in op te met voor er ik je u we ze hij zij "
          "maar ook als bij aan om naar dit deze wat wordt worden heeft hebben kan geen",
}
_STOP_SETS = {lang: frozenset(words.split()) for lang, words in _STOP_WORDS.items()}
_HINT_LETTERS = {"de": "ßäöü", "es": "ñ¿¡ó", "fr": "œçêâîûëï", "pt": "ãõç", "it": "ìò"}

_CODE_OR_URL = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`|https?://\S+|www\.\S+", re.DOTALL)
_LATIN_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _script(ch: str) -> str | None:
    cp = ord(ch)
    for lo, hi, script in _SCRIPTS:
        if lo <= cp <= hi:
            return script
    return None


def _latin_language(text: str) -> str | None:
    """The Latin-script language whose function words and letters the text uses most."""
    words = [w for w in _LATIN_WORD.findall(text.lower()) if _script(w[0]) == "latin"]
    scores: Counter[str] = Counter()
    for lang, stops in _STOP_SETS.items():
        scores[lang] = sum(w in stops for w in words)
    for lang, letters in _HINT_LETTERS.items():
        scores[lang] += 0.5 * sum(text.lower().count(c) for c in letters)
    best = max(scores.values())
    if best <= 0:
        return None
    order = list(_STOP_WORDS)  # a tie goes to the language listed first (English)
    return min((lang for lang, s in scores.items() if s == best), key=order.index)


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the language `text` is written in, or None when it cannot tell.

    Offline and deterministic: script counts, then function words for Latin script (see the
    module docstring). Examples: "私は日本に住んでいます。" -> "ja", "我住在日本。" -> "zh",
    "The cat sleeps." -> "en", "Le chat dort sur le canapé." -> "fr", "42" -> None.
    """
    text = require_str(text, "text", fn="detect_language")
    text = unicodedata.normalize("NFKC", _CODE_OR_URL.sub(" ", text))
    weights: Counter[str] = Counter()
    for ch in text:
        if ch.isalpha():
            script = _script(ch)
            if script is not None:
                weights[script] += _WEIGHTS.get(script, 1)
    if not weights:
        return None
    kana = weights.pop("kana", 0)
    if kana or "han" in weights:  # Han and kana together are one group: Chinese or Japanese
        weights["cjk"] = weights.pop("han", 0) + kana
    script = max(weights, key=lambda s: (weights[s], s))
    if script == "cjk":
        return "ja" if kana >= 0.1 * weights["cjk"] else "zh"
    if script == "latin":
        return _latin_language(text)
    if script == "cyrillic":
        return "uk" if any(c in text.lower() for c in "іїєґ") else "ru"
    if script == "arabic":
        if any(c in text for c in "ٹڈڑںےۓھ"):
            return "ur"
        persian = sum(text.count(c) for c in "پچژگیک")
        return "fa" if persian > sum(text.count(c) for c in "يك") else "ar"
    return script


def language_code(language: str, fn: str = "response_language") -> str:
    """'ja', 'ja-JP', 'Japanese' or 'japanese' -> 'ja'; InputError for a language not known."""
    name = require_str(language, "language", allow_empty=False, fn=fn).strip()
    code = name.lower().replace("_", "-").split("-")[0]
    if code in LANGUAGES:
        return code
    if name.lower() in _NAMES:
        return _NAMES[name.lower()]
    raise InputError(f"{fn}(): unknown language {language!r}; use an ISO 639-1 code or an "
                     f"English name, e.g. 'ja' or 'Japanese' (known: {', '.join(LANGUAGES)}).")


def response_language(instruction_language: str, response: str) -> bool:
    """True when `response` is written in `instruction_language` (a code or English name).

    "Written in" means `detect_language(response)` gives that language: the main script and,
    for Latin script, the function words. A response with no detectable language (only
    numbers, code or a name) is not counted as following the instruction.
    """
    code = language_code(instruction_language)
    response = require_str(response, "response", fn="response_language")
    return detect_language(response) == code


@register_constraint(
    "response_language",
    describe=lambda language: (
        f"Your entire answer must be in {LANGUAGES[language_code(language)]}; "
        "no other language is allowed."
    ),
)
def _check_response_language(response: str, *, language: str) -> bool:
    return response_language(language, response)
