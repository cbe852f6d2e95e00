"""The offline teacher's engine: requests, deterministic sampling, dispatch and failures.

Nothing here is a neural network. A request (the chat messages) is matched against a list of
*kinds*; the first kind whose `detect` accepts it writes the answer by filling templates from
the content bank (`course_utils/data/teacher_bank.yaml`). Afterwards, failure modes that real
teachers show (refusals, echoes, truncation, ...) are injected at configurable rates.

Determinism: every random choice comes from a `random.Random` seeded with a hash of the
messages, the teacher's seed, the generation index and a salt. At temperature 0 the index is
left out and every choice takes the first ("most likely") option, so all generations of a
prompt are identical: mode collapse for real.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Callable, Optional

DEFAULT_FAILURE_RATES: dict[str, float] = {
    "refusal": 0.04,  # "Sorry, I can't help with that."
    "echo": 0.03,  # repeats the input instead of answering
    "truncate": 0.04,  # stops mid-sentence, as when max_new_tokens runs out
    "empty": 0.02,  # returns nothing at all
    "near_duplicate": 0.06,  # a near-copy of another generation or list item
    "invalid_json": 0.10,  # JSON kinds: broken brackets, trailing commas, single quotes
    "bad_tags": 0.10,  # reasoning kinds: missing, unclosed or misordered <thinking>/<answer>
    "wrong_answer": 0.08,  # reasoning kinds: an arithmetic slip in the final answer
    "template_copy": 0.05,  # Evol-Instruct: copies template words like "#Rewritten Prompt#"
    "overlong": 0.05,  # Evol-Instruct: piles on hallucinated constraints
    "shorter": 0.04,  # Evol-Instruct: returns a shortened parent
    "off_topic": 0.25,  # Magpie: the user turn drifts away from the system prompt's domain
}

GLOBAL_FAILURES = ("refusal", "echo", "truncate", "empty", "near_duplicate")


@lru_cache(maxsize=1)
def load_bank() -> dict:
    """Load the teacher's content bank (domains, verbs, constraints, personas, ...)."""
    import yaml

    text = resources.files("course_utils").joinpath("data/teacher_bank.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def approx_tokens(text: str) -> int:
    """Approximate token count (words and punctuation marks), used for statistics and budgets."""
    return len(re.findall(r"\w+|[^\w\s]", text))


@dataclass(frozen=True)
class Request:
    """One generation request, as the teacher sees it."""

    messages: tuple[tuple[str, str], ...]
    seed: int = 0
    index: int = 0
    temperature: float = 0.7
    magpie: bool = False
    failure_rates: Optional[dict] = field(default=None, compare=False, hash=False)

    @property
    def system(self) -> str:
        return "\n".join(c for r, c in self.messages if r == "system")

    @property
    def user(self) -> str:
        """The last user message ('' when there is none)."""
        for role, content in reversed(self.messages):
            if role == "user":
                return content
        return ""

    @property
    def text(self) -> str:
        return "\n".join(c for _, c in self.messages)

    @property
    def bank(self) -> dict:
        return load_bank()

    def rng(self, salt: str = "") -> random.Random:
        """A random generator determined by the messages, seed, index (if temperature > 0) and salt."""
        index = self.index if self.temperature > 0 else 0
        key = json.dumps([self.messages, self.seed, index, salt], ensure_ascii=False)
        return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))

    def width(self, n: int) -> int:
        """How many of n ranked options the temperature lets the teacher choose from."""
        if self.temperature <= 0:
            return 1
        return max(1, min(n, math.ceil(n * min(1.0, 0.15 + self.temperature))))

    def pick(self, options, salt: str):
        """Pick one option; low temperature restricts the choice to the first, most likely ones."""
        options = list(options)
        return options[self.rng(salt).randrange(self.width(len(options)))]

    def draw(self, weights: Mapping[str, float] | Sequence[tuple[str, float]], salt: str,
             total: float = 1.0) -> Optional[str]:
        """One name of `weights` (a dict or (name, weight) pairs), drawn with probability
        weight / total; None with the probability left over when the weights sum below total."""
        r = self.rng(salt).random() * total
        for name, weight in (weights.items() if isinstance(weights, Mapping) else weights):
            if r < weight:
                return name
            r -= weight
        return None

    def chance(self, name: str, salt: str = "") -> bool:
        """Whether failure `name` happens for this request (deterministic)."""
        rate = (self.failure_rates or {}).get(name, 0.0)
        return rate > 0 and self.rng(f"failure:{name}:{salt}").random() < rate

    def domain(self, text: Optional[str] = None) -> tuple[str, dict]:
        """The bank domain the text (default: the whole request) is about."""
        rng = self.rng("domain")
        if text is not None and not _hits(text):
            text = self.text  # nothing domain-specific in the text: use the whole conversation
        return detect_domain(text if text is not None else self.text, rng)


@lru_cache(maxsize=1)
def _keyword_patterns() -> dict[str, re.Pattern]:
    """One regex per domain from its keywords and concepts: whole words (plural allowed); "financ*" matches any ending."""
    def one(k: str) -> str:
        k = k.strip().lower()
        if k.endswith("*"):
            return r"\b" + re.escape(k[:-1]) + r"\w*"
        return r"\b" + re.escape(k) + r"(?:s|es)?\b"

    def concept(c: str) -> str:  # "a bond" -> "bond", matched as a whole phrase
        return re.sub(r"^(a|an|the)\s+", "", c.strip().lower())

    return {name: re.compile("|".join([one(k) for k in d["keywords"]] + [one(concept(c)) for c in d["concepts"]]))
            for name, d in load_bank()["domains"].items()}


def _scores(text: str) -> dict[str, int]:
    low = f" {text.lower()} "
    return {name: len(p.findall(low)) for name, p in _keyword_patterns().items()}


def _hits(text: str) -> int:
    return sum(_scores(text).values())


def detect_domain(text: str, rng: Optional[random.Random] = None) -> tuple[str, dict]:
    """Score each bank domain by keyword hits; ties and no hits fall back to a seeded choice."""
    domains = load_bank()["domains"]
    scores = _scores(text)
    best = max(scores.values())
    names = [n for n, s in scores.items() if s == best]
    if best == 0 or len(names) > 1:
        name = (rng or random.Random(0)).choice(names)
    else:
        name = names[0]
    return name, domains[name]


@dataclass
class Kind:
    """A request kind: how to recognise it and how to answer it."""

    name: str
    detect: Callable[[Request], bool]
    respond: Callable[[Request], str]
    priority: int = 50
    failures: tuple[str, ...] = GLOBAL_FAILURES
    echo: Optional[Callable[[Request], str]] = None


KINDS: list[Kind] = []


def register(name: str, *, priority: int = 50, failures: tuple[str, ...] = GLOBAL_FAILURES,
             echo: Optional[Callable[[Request], str]] = None):
    """Decorator-factory: register `respond` for the kind recognised by `detect`."""

    def wrap(detect: Callable[[Request], bool]):
        def with_respond(respond: Callable[[Request], str]):
            KINDS[:] = [k for k in KINDS if k.name != name]
            KINDS.append(Kind(name, detect, respond, priority, failures, echo))
            KINDS.sort(key=lambda k: -k.priority)
            return respond

        return with_respond

    return wrap


def classify(req: Request) -> Kind:
    """The first registered kind (highest priority) that recognises the request."""
    for kind in KINDS:
        if kind.detect(req):
            return kind
    raise LookupError("no request kind matched; the 'chat' kind should always match")


def _truncate(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    if len(words) < 4:
        return text[: max(1, len(text) // 2)]
    return " ".join(words[: max(2, int(len(words) * rng.uniform(0.35, 0.7)))])


def _perturb(text: str, rng: random.Random) -> str:
    """A near-duplicate: the same text with one small edit."""
    swaps = [("Explain", "Describe"), ("Describe", "Explain"), ("Write", "Draft"), ("List", "Give"),
             ("What is", "What's"), (" the ", " a "), ("?", " ?"), (".", "!")]
    rng.shuffle(swaps)
    for a, b in swaps:
        if a in text:
            return text.replace(a, b, 1)
    return text + " Please."


def respond(req: Request) -> tuple[str, str, Optional[str]]:
    """Answer a request: returns (text, kind name, failure name or None).

    The built-in kinds register themselves when `course_utils.teacher` is imported (its __init__
    imports `kinds`), which always happens before this module can be used.
    """
    kind = classify(req)
    rng = req.rng("global-failure")
    for failure in GLOBAL_FAILURES:
        if failure not in kind.failures or not req.chance(failure):
            continue
        if failure == "refusal":
            return rng.choice(req.bank["refusals"]), kind.name, failure
        if failure == "echo":
            return (kind.echo(req) if kind.echo else req.user), kind.name, failure
        if failure == "empty":
            return "", kind.name, failure
        if failure == "truncate":
            return _truncate(kind.respond(req), rng), kind.name, failure
        if failure == "near_duplicate" and req.index > 0:
            sibling = kind.respond(replace(req, index=0))
            return _perturb(sibling, rng), kind.name, failure
    return kind.respond(req), kind.name, None
