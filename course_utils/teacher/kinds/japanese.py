"""Japanese requests: task lists, Magpie user turns and answers, written in Japanese.

Rule-based like the rest of the offline teacher: templates filled from
`course_utils/data/teacher_bank_ja.yaml`. A request is Japanese when the text that carries it
(the last user message; in Magpie mode the system prompt) has kana and is mostly Han and kana
(`is_japanese`), so no English request of the lessons ever reaches these kinds. Three shapes:

- a task list ("...を6個書いてください" with numbered examples): numbered Japanese instructions in
  the domains of the examples;
- a Magpie request (a Japanese system prompt and no user turn yet): one Japanese user query in
  the system prompt's domain (some drift off topic, as in English), or a follow-up question;
- anything else: a Japanese answer that obeys the Japanese constraints it finds (「X」という言葉を
  使って / 使わないで, N文で, N字以内で / 未満で).

When failures are enabled (`failure_rates` not None) the teacher also writes what real models
write and the course's filters exist for: near-copies of a line (the same text in fullwidth or
halfwidth characters, or with one word changed), copies of an example, English lines and short
fragments in a task list (`LIST_QUIRKS`), an answer in English (`WRONG_LANGUAGE_RATE`, or the
rate "wrong_language" in `failure_rates`), constraints ignored (`DISOBEY_RATE`), and the global
failures truncation, empty output and (Magpie) an echoed system prompt.
"""

from __future__ import annotations

import random
import re
import unicodedata
from functools import lru_cache
from importlib import resources

from ...evaluation.constraints import _words
from ..core import Request, register

__all__ = ["BANK_FILE", "DISOBEY_RATE", "LIST_QUIRKS", "WRONG_LANGUAGE_RATE", "detect_answer",
           "detect_magpie", "detect_task_list", "is_japanese", "japanese_kinds", "load_ja_bank",
           "near_copy", "width_variant"]

BANK_FILE = "data/teacher_bank_ja.yaml"
LIST_QUIRKS = {"width": 0.10, "paraphrase": 0.08, "copy": 0.08, "english": 0.06, "fragment": 0.05}
WRONG_LANGUAGE_RATE = 0.08  # an answer in English although the request is Japanese
DISOBEY_RATE = 0.2  # the constraints of an instruction are ignored (as the English chat kind)
MAX_ITEMS = 20

_COUNT = re.compile(r"([0-9０-９]+)\s*個")
_LIST_NOUN = re.compile(r"依頼|タスク|指示|質問")  # what the list is of: "3つ挙げて" alone is an answer
_LIST_VERB = re.compile(r"書いて|作って|挙げて|考えて")
_EXAMPLE = re.compile(r"^\s*[0-9０-９]+\s*[.)．）]\s*(.+?)\s*$", re.M)
_INCLUDE = re.compile(r"「([^」]+)」という(?:言葉|単語)を(?:必ず)?(?:使って|入れて|含めて)")
_FORBID = re.compile(r"「([^」]+)」という(?:言葉|単語)(?:は|を)(?:使わないで|使わずに|使用しないで)")
_SENTENCES = re.compile(r"([0-9０-９]+)\s*文で")
_CHARS = re.compile(r"([0-9０-９]+)\s*(?:字|文字)(以内|未満)で")
_SENTENCE = re.compile(r"[^。！？!?]+[。！？!?]")


@lru_cache(maxsize=1)
def load_ja_bank() -> dict:
    """The Japanese content bank (domains, templates, flaws), read once."""
    import yaml

    text = resources.files("course_utils").joinpath(BANK_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _kana(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff" or "\uff66" <= ch <= "\uff9d"


def _han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or ch in "々〆"


def is_japanese(text: str) -> bool:
    """Whether a text is Japanese: some kana, and Han plus kana are >= 30% of its letters."""
    if not isinstance(text, str):
        return False
    letters = [c for c in text if c.isalpha()]
    kana = sum(_kana(c) for c in letters)
    cjk = kana + sum(_han(c) for c in letters)
    return kana >= 2 and cjk >= 0.3 * len(letters)


def _failures_on(req: Request) -> bool:
    return bool(req.failure_rates)


def _domain(req: Request, text: str, salt: str = "domain") -> dict:
    """The bank domain whose keywords and concepts occur most often in `text` (seeded on ties)."""
    domains = load_ja_bank()["domains"]
    scores = {name: sum(text.count(k) for k in d["keywords"] + d["concepts"])
              for name, d in domains.items()}
    best = max(scores.values())
    names = [n for n, s in scores.items() if s == best]
    name = names[0] if best > 0 and len(names) == 1 else req.rng(salt).choice(sorted(names))
    return domains[name]


def _instruction(req: Request, domain: dict, salt: str) -> str:
    """One Japanese instruction from a template of the bank, filled for `domain`."""
    bank = load_ja_bank()
    concept = req.pick(domain["concepts"], f"{salt}:concept")
    others = [c for c in domain["concepts"] if c != concept]
    return req.pick(bank["templates"], f"{salt}:template").format(
        concept=concept, concept2=req.pick(others, f"{salt}:concept2"),
        entity=req.pick(domain["entities"], f"{salt}:entity"),
        persona=req.pick(bank["personas"], f"{salt}:persona"),
        task=req.pick(bank["tasks"], f"{salt}:task"))


# --- near-copies -------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _halfwidth_kana() -> dict[str, str]:
    """Fullwidth katakana -> its halfwidth spelling (voiced ones as base + ﾞ or ﾟ)."""
    table = {}
    for cp in range(0xFF61, 0xFFA0):
        half = chr(cp)
        full = unicodedata.normalize("NFKC", half)
        if len(full) == 1 and "\u30a0" <= full <= "\u30ff":
            table.setdefault(full, half)
    for cp in range(0x30A0, 0x3100):
        full = chr(cp)
        base, *marks = unicodedata.normalize("NFD", full)
        if marks and base in table:
            table.setdefault(full, table[base] + {"\u3099": "ﾞ", "\u309a": "ﾟ"}[marks[0]])
    return table


def width_variant(text: str) -> str:
    """The same text in other widths: ASCII letters and digits fullwidth, katakana halfwidth."""
    kana = _halfwidth_kana()
    out = []
    for ch in text:
        if ch.isascii() and ch.isalnum():
            out.append(chr(ord(ch) + 0xFEE0))
        else:
            out.append(kana.get(ch, ch))
    return "".join(out)


def near_copy(text: str, rng: random.Random) -> str:
    """A near-duplicate: the text in other widths, or with one small change of wording."""
    variant = width_variant(text)
    if variant != text and rng.random() < 0.5:
        return variant
    swaps = list(load_ja_bank()["paraphrases"])
    rng.shuffle(swaps)
    for old, new in swaps:
        if old in text:
            return text.replace(old, new, 1)
    return variant if variant != text else text + "！"


# --- task lists ----------------------------------------------------------------------------------

def _is_task_list(req: Request) -> bool:
    user = req.user
    return bool(_COUNT.search(user) and _LIST_NOUN.search(user) and _LIST_VERB.search(user))


def detect_task_list(req: Request) -> bool:
    """A Japanese request for a number of tasks ("...を6個書いてください")."""
    return not req.magpie and is_japanese(req.user) and _is_task_list(req)


def _quirk(req: Request, salt: str) -> str:
    if not _failures_on(req):
        return ""
    return req.draw(LIST_QUIRKS, f"ja-quirk:{salt}") or ""


def _count(text: str) -> int:
    return int(unicodedata.normalize("NFKC", text))


@register("japanese_task_list", priority=110, failures=("truncate", "empty"))(detect_task_list)
def respond_task_list(req: Request) -> str:
    """Numbered Japanese tasks in the domains of the examples, with the list's quirks."""
    bank = load_ja_bank()
    n = max(1, min(_count(_COUNT.search(req.user).group(1)), MAX_ITEMS))
    examples = _EXAMPLE.findall(req.user)
    lines: list[str] = []
    for i in range(n):
        salt = f"ja-task{i}"
        rng = req.rng(salt)
        quirk = _quirk(req, salt)
        previous = next((x for x in reversed(lines) if is_japanese(x)), None)
        if quirk in ("width", "paraphrase") and previous:
            line = width_variant(previous) if quirk == "width" else near_copy(previous, rng)
            if line == previous:
                line = near_copy(previous, rng)
        elif quirk == "copy" and examples:
            line = near_copy(rng.choice(examples), rng)
        elif quirk == "english":
            line = rng.choice(bank["english_tasks"])
        elif quirk == "fragment":
            line = rng.choice(bank["fragments"])
        else:
            source = rng.choice(examples) if examples else req.user
            line = _instruction(req, _domain(req, source, f"{salt}:domain"), salt)
        lines.append(line)
    return "\n".join(f"{k}. {line}" for k, line in enumerate(lines, start=1))


# --- Magpie user turns -------------------------------------------------------------------------

def detect_magpie(req: Request) -> bool:
    """Magpie mode (no user turn to answer) with a Japanese system prompt."""
    return (req.magpie and (not req.messages or req.messages[-1][0] != "user")
            and is_japanese(req.system))


def _echo_system(req: Request) -> str:
    return req.system


def _query(req: Request, index: int) -> str:
    bank = load_ja_bank()
    one = Request(req.messages, req.seed, index, req.temperature, req.magpie, req.failure_rates)
    turn = sum(1 for r, _ in req.messages if r == "user")
    if turn > 0:
        return one.pick(bank["follow_ups"], f"ja-follow{turn}")
    if one.chance("off_topic"):
        domain = bank["domains"][one.rng("ja-off").choice(sorted(bank["domains"]))]
    else:
        domain = _domain(one, req.system)
    return one.pick(bank["openers"], "ja-opener") + _instruction(one, domain, "ja-magpie")


@register("japanese_magpie", priority=110, failures=("echo", "truncate", "empty"),
          echo=_echo_system)(detect_magpie)
def respond_magpie(req: Request) -> str:
    """A Japanese user query (or follow-up question); sometimes a near-copy of another draw."""
    if req.index > 0 and req.temperature > 0 and req.chance("near_duplicate", "ja"):
        return near_copy(_query(req, 0), req.rng("ja-near"))
    return _query(req, req.index)


# --- answers -------------------------------------------------------------------------------------

def detect_answer(req: Request) -> bool:
    """A Japanese last user message that is not Magpie mode."""
    return not req.magpie and is_japanese(req.user)


def _topic(instruction: str, domain: dict) -> str:
    for name in domain["concepts"] + domain["entities"]:
        if name in instruction:
            return name
    return domain["name"]


def _units(text: str) -> int:
    return len(_words(text))


def _constrained(instruction: str, sentences: list[str], extra: list[str],
                 keyword_lines: list[str]) -> str:
    """The answer as one paragraph that obeys the constraints found in the instruction.

    `sentences` is the answer in order, `extra` more sentences for a longer answer.
    """
    forbidden = _FORBID.findall(instruction)
    allowed = [s for s in sentences + extra if not any(f in s for f in forbidden)]
    body, pool = allowed[:len(sentences)], allowed[len(sentences):]
    required = []
    for k in _INCLUDE.findall(instruction):
        lines = [line.format(keyword=k) for line in keyword_lines]
        line = next((x for x in lines if not any(f in x for f in forbidden)), None)
        if k not in forbidden and line and not any(k in s for s in body):
            required.append(line)
    body[1:1] = required
    if m := _SENTENCES.search(instruction):
        n = max(1, _count(m.group(1)))
        if len(body) < n:
            body = (body + pool)[:n]
        else:
            keep, out = n - len(required), []
            for s in body:
                if s in required or keep > 0:
                    keep -= s not in required
                    out.append(s)
            body = out[:n]
    if m := _CHARS.search(instruction):
        limit = _count(m.group(1)) + (1 if m.group(2) == "以内" else 0)
        while len(body) > 1 and _units("".join(body)) >= limit:
            body.pop()
    return "".join(body)


@register("japanese", priority=105, failures=("truncate", "empty"))(detect_answer)
def respond_answer(req: Request) -> str:
    """A Japanese answer that obeys the Japanese constraints it finds (mostly)."""
    bank = load_ja_bank()
    instruction = req.user
    domain = _domain(req, instruction if _hits(instruction) else req.text)
    rate = (req.failure_rates or {}).get("wrong_language", WRONG_LANGUAGE_RATE)
    if _failures_on(req) and req.rng("ja-language").random() < rate:
        return " ".join(domain["english"].split())
    rng = req.rng("ja-answer")
    a = bank["answer"]
    points = rng.sample(domain["points"], k=3)
    concept = req.pick(domain["concepts"], "ja-answer:concept")
    opening = a["opening"].format(topic=_topic(instruction, domain))
    closing = req.pick(a["closing"], "ja-answer:closing").format(concept=concept)
    steps = [f"{a['first']}、{points[0]}。", f"{a['next']}、{points[1]}。", f"{a['last']}、{points[2]}。"]
    constrained = any(p.search(instruction) for p in (_INCLUDE, _FORBID, _SENTENCES, _CHARS))
    if constrained and not (_failures_on(req) and req.rng("ja-disobey").random() < DISOBEY_RATE):
        extra = [f"{a['also']}、{p}。" for p in domain["points"] if p not in points]
        return _constrained(instruction, [opening, *steps, closing], extra, a["keyword"])
    return opening + "\n\n" + "\n".join(f"・{s}" for s in steps) + "\n\n" + closing


def _hits(text: str) -> int:
    return sum(text.count(k) for d in load_ja_bank()["domains"].values()
               for k in d["keywords"] + d["concepts"])


def japanese_kinds() -> tuple[str, ...]:
    """The names of the Japanese request kinds (for statistics and tests)."""
    return ("japanese_task_list", "japanese_magpie", "japanese")
