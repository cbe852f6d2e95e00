"""Magpie (Xu et al., 2024): extract user queries from an aligned model through its chat template.

An instruction-tuned model has seen thousands of conversations rendered with its chat template.
Render a conversation up to the point where a *user* turn starts (the **pre-query template**,
e.g. ChatML's ``<|im_start|>user\\n``) and the model continues with what it learned comes next:
a plausible user query. Answer it with the usual generation prompt, and you have an SFT pair
with no seed data at all. A system prompt placed before the pre-query steers the topic.

What this module adds to distilabel 1.5.3
- ``build_magpie_prompt``: the correct prompt: the conversation rendered *without* the generation
  prompt, then the pre-query template. distilabel renders *with* the generation prompt and then
  appends the pre-query template, which leaves an empty assistant turn
  (``<|im_start|>assistant\\n<|im_start|>user\\n``) whenever a system prompt or earlier turns
  exist; ``upstream_magpie_prompt`` calls distilabel's own code so you can see it.
- ``magpie_llm``: a copy of a ``TransformersLLM`` whose prompts are built by ``build_magpie_prompt``
  (the offline teacher renders no template, so it is returned unchanged).
- ``generate_magpie``: system-prompt-conditioned, single- or multi-turn conversations through
  distilabel's ``Magpie`` task, with clear errors for bad input.
- ``check_batching`` / ``magpie_generator``: ``MagpieGenerator`` never marks its last batch when
  ``num_rows`` is not a multiple of ``batch_size``, so a Pipeline waits forever; the course
  refuses that case with a ValueError that says which sizes work.
- ``filter_turns``: count and drop conversations with empty, truncated or echoed turns (model
  output is untrusted: this never raises).
- ``topic_of`` / ``on_topic_share``: how well a system prompt steered the generated queries, by
  embedding similarity to a short description of each domain (``data/magpie_topics.yaml``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from typing import Any, Callable, Mapping, Optional, Sequence

from ._quiet import quiet_distilabel
from ._validate import InputError, require_str
from .chat_templates import (BOS_PREFIXES, LLAMA3_CHAT_TEMPLATE, PRE_QUERY_TEMPLATES, ROLES, build_magpie_prompt,
                             check_messages, has_empty_assistant_turn, render_chatml, render_llama3, render_with,
                             resolve_pre_query_template)
from .dedup import embed
from .models import magpie_llm, magpie_transformers_llm_class, upstream_magpie_llm
from .progress import bar
from .prompts import grid_prompt
from .tiny import ensure_tiny_model

__all__ = [
    "BOS_PREFIXES", "LLAMA3_CHAT_TEMPLATE", "PRE_QUERY_TEMPLATES", "SYSTEM_PROMPTS", "build_magpie_prompt",
    "chat_tokenizer", "check_batching", "collect_generator", "domain_scores", "explicit_prompt", "filter_turns", "first_user_turn",
    "generate_magpie", "has_empty_assistant_turn", "llama3_tokenizer", "magpie_generator", "magpie_llm",
    "on_topic_share", "render_chatml", "render_llama3", "resolve_pre_query_template", "topic_of",
    "turn_problem", "upstream_magpie_prompt", "validation_message",
    "TOPICS_FILE", "TOPIC_MIN_SIMILARITY", "format_share", "topic_descriptions", "topics_of",
]

# System prompts that steer Magpie towards one domain each: the lesson's domains (see topic_of).
SYSTEM_PROMPTS = {
    "mathematics": "You are a patient math tutor. You help secondary-school students with algebra, equations, "
                   "geometry and probability, one step at a time.",
    "cooking": "You are a friendly cooking assistant. You help home cooks plan a meal, adapt a recipe and fix a "
               "dish that went wrong in the kitchen.",
    "python programming": "You are a senior Python developer. You help users write, debug and explain Python "
                          "code, from a short script to a pandas analysis.",
}


def upstream_magpie_prompt(tokenizer: Any, messages: Sequence[Mapping], pre_query_template: Any = "qwen2") -> str:
    """The prompt distilabel 1.5.3's ``TransformersLLM.prepare_input`` builds (its own code, no model loaded)."""
    llm = upstream_magpie_llm(tokenizer, pre_query_template)
    return llm.prepare_input(check_messages(messages))


@functools.lru_cache(maxsize=1)
def _tiny_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(ensure_tiny_model()))


def chat_tokenizer(llm: Any = None):
    """The tokenizer whose chat template the lesson renders.

    A loaded transformers LLM gives its own tokenizer (SmolLM2's on Colab); otherwise the course's
    tiny local tokenizer (ChatML, built offline in seconds) is used.
    """
    pipeline = getattr(llm, "_pipeline", None) if llm is not None else None
    tokenizer = getattr(pipeline, "tokenizer", None)
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer
    return _tiny_tokenizer()


@functools.lru_cache(maxsize=1)
def llama3_tokenizer():
    """A real tokenizer (the tiny local one) whose chat template is the Llama 3 format: no download."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(ensure_tiny_model()))
    tokenizer.chat_template = LLAMA3_CHAT_TEMPLATE
    return tokenizer


def validation_message(exc: BaseException) -> str:
    """The human part of a (pydantic) validation error: no links, no object dumps."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for line in lines:
        if line.lower().startswith("value error,"):
            return line.split(",", 1)[1].split(" [type=")[0].strip()
    return lines[0] if lines else type(exc).__name__


# --- generating conversations ---------------------------------------------------------------------------


def _check_int(value: Any, name: str, minimum: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}. {fix}")
    return value


def check_batching(num_rows: Any, batch_size: Any) -> None:
    """Refuse the sizes that make distilabel 1.5.3's MagpieGenerator wait forever, saying which sizes work.

    MagpieGenerator counts the rows it generated in steps of `batch_size` and marks a batch as the
    last one only when the count *equals* `num_rows`; with num_rows=10 and batch_size=4 the count
    goes 4, 8, 12 and never equals 10, so a Pipeline keeps waiting for the last batch.
    """
    _check_int(num_rows, "num_rows", 1, "Ask for at least one row.")
    _check_int(batch_size, "batch_size", 1, "Use a batch size of at least one row.")
    if num_rows > batch_size and num_rows % batch_size:
        lower = num_rows - num_rows % batch_size
        divisors = [d for d in range(batch_size, 0, -1) if num_rows % d == 0]
        raise ValueError(
            f"num_rows={num_rows} is not a multiple of batch_size={batch_size}: distilabel 1.5.3's MagpieGenerator "
            f"then never marks its last batch and the pipeline hangs. Use num_rows={lower} or "
            f"num_rows={lower + batch_size}, or batch_size={divisors[0]} (any divisor of {num_rows}).")


def magpie_generator(llm: Any, num_rows: int, batch_size: int = 50, **kwargs: Any):
    """distilabel's MagpieGenerator (instructions from nothing but the pre-query template), guarded and fixed.

    For a distilabel Pipeline (whose steps are pickled into worker processes), give the step a
    picklable LLM such as `MagpieTransformersLLM(model=..., magpie_pre_query_template="qwen2")`.
    """
    check_batching(num_rows, batch_size)
    quiet_distilabel()
    from distilabel.steps.tasks import MagpieGenerator

    return MagpieGenerator(llm=magpie_llm(llm), num_rows=num_rows, batch_size=batch_size, **kwargs)


def collect_generator(generator: Any) -> list[dict]:
    """Run a loaded generator step outside a Pipeline: collect its batches up to the one marked last."""
    rows: list[dict] = []
    for batch, last in generator.process():
        rows.extend(batch)
        if last:
            break
    return rows


def _conversation(output: Mapping) -> list[dict]:
    """The user/assistant turns of one Magpie output row, whatever shape distilabel gave it."""
    conv = output.get("conversation")
    if not isinstance(conv, list):
        conv = []
        if output.get("instruction") is not None:
            conv.append({"role": "user", "content": output.get("instruction")})
        if output.get("response") is not None:
            conv.append({"role": "assistant", "content": output.get("response")})
    return [dict(m) for m in conv if isinstance(m, Mapping) and m.get("role") != "system"]


def generate_magpie(llm: Any, rows: Sequence[Mapping], *, n_turns: int = 1, system_prompt_column: str = "system_prompt",
                    batch_size: int = 8, end_with_user: bool = False, **generation_kwargs: Any) -> list[dict]:
    """Conversations conditioned on each row's system prompt, through distilabel's `Magpie` task.

    Each input row needs a non-empty `system_prompt_column`; its other columns are kept. Returns one
    row per input: its columns, `system_prompt`, `conversation` (user/assistant turns, system prompt
    left out) and `model_name`. Nothing is filtered here: pass the rows to `filter_turns`.
    """
    if isinstance(rows, (str, Mapping)) or not isinstance(rows, Sequence):
        raise ValueError("rows must be a list of dicts such as [{'system_prompt': 'You are a math tutor ...'}].")
    for i, row in enumerate(rows):
        value = row.get(system_prompt_column) if isinstance(row, Mapping) else None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"Row {i} has no {system_prompt_column!r} column (or it is empty): give every row a "
                             f"system prompt, e.g. {{'system_prompt': SYSTEM_PROMPTS['mathematics']}}, or pass "
                             f"system_prompt_column= the name of the column that holds it. Without a system prompt, "
                             f"use magpie_generator().")
    _check_int(n_turns, "n_turns", 1, "One turn is a user message and its answer: use n_turns=1 for single "
                                      "instruction/response pairs, 2 or more for multi-turn conversations.")
    _check_int(batch_size, "batch_size", 1, "Use a batch size of at least one row.")
    if not rows:
        return []
    quiet_distilabel()
    from distilabel.steps.tasks import Magpie

    task = Magpie(llm=magpie_llm(llm, **generation_kwargs), n_turns=n_turns, include_system_prompt=True,
                  end_with_user=end_with_user)
    task.load()
    out: list[dict] = []
    with bar(len(rows), "Magpie", unit="row") as shown:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            results = next(task.process([{"system_prompt": r[system_prompt_column]} for r in chunk]))
            for row, result in zip(chunk, results):
                out.append({**{k: v for k, v in row.items() if k != system_prompt_column},
                            "system_prompt": row[system_prompt_column], "conversation": _conversation(result),
                            "model_name": result.get("model_name")})
            shown.update(len(chunk))
    return out


# --- quality of the turns ------------------------------------------------------------------------------------

_COMPLETE_END = re.compile(r"""[.?!…:;)\]}>"'`*]\s*$""")
# Beyond ASCII, a turn is complete when it ends with closing punctuation of any script: 。？！．
# (Po), 」』）》】 (Pe), ” ’ (Pf), or a symbol such as an emoji or ♪ (So, Sk); never with a comma
# (、，): the sentence goes on. Emoji variation selectors and joiners are skipped first.
_COMPLETE_CATEGORIES = {"Po", "Pe", "Pf", "So", "Sk"}
_CONTINUING = set(",，、､﹐﹑")


def _ends_complete(text: str) -> bool:
    """Whether `text` ends the way a finished answer does (closing punctuation, any script)."""
    if _COMPLETE_END.search(text):
        return True
    last = text.rstrip().rstrip("\ufe0e\ufe0f\u200d")[-1:]
    return bool(last) and not last.isascii() and last not in _CONTINUING \
        and unicodedata.category(last) in _COMPLETE_CATEGORIES


def turn_problem(text: Any, system_prompt: Optional[str] = None) -> Optional[str]:
    """Why a generated turn is unusable ("empty", "truncated", "echo"), or None when it looks fine.

    "truncated" is a heuristic: the text stops without closing punctuation (of any script: "." and
    "。", "?" and "？", "」", an emoji, ...), or leaves a code block open, as when generation hits
    max_new_tokens. "echo": the turn repeats the system prompt (a non-string one is ignored).
    """
    if not isinstance(text, str) or not text.strip():
        return "empty"
    if isinstance(system_prompt, str) and system_prompt.strip() and text.strip() == system_prompt.strip():
        return "echo"
    if text.count("```") % 2 == 1 or not _ends_complete(text):
        return "truncated"
    return None


def filter_turns(rows: Any, n_turns: Optional[int] = None) -> tuple[list[dict], Counter]:
    """Keep conversations whose every turn is usable; count the others by reason. Never raises.

    Reasons: "malformed" (no conversation list), "bad_system_prompt" (a system prompt that is
    neither a string nor None), "missing_turn" (fewer than `n_turns` user/assistant pairs, or a
    conversation that does not alternate user, assistant), "empty_turn", "truncated_turn",
    "echoed_system_prompt"; "kept" counts the survivors.
    """
    kept: list[dict] = []
    counts: Counter = Counter()
    names = {"empty": "empty_turn", "truncated": "truncated_turn", "echo": "echoed_system_prompt"}
    for row in rows if isinstance(rows, (list, tuple)) else []:
        conv = row.get("conversation") if isinstance(row, Mapping) else None
        if not isinstance(conv, list) or not all(isinstance(m, Mapping) for m in conv):
            counts["malformed"] += 1
            continue
        system = row.get("system_prompt")
        if system is not None and not isinstance(system, str):
            counts["bad_system_prompt"] += 1
            continue
        roles = [m.get("role") for m in conv]
        expected = ["user", "assistant"] * (len(conv) // 2) + (["user"] if len(conv) % 2 else [])
        if not conv or roles != expected or (n_turns is not None and len(conv) < 2 * n_turns):
            counts["missing_turn"] += 1
            continue
        problem = next((p for p in (turn_problem(m.get("content"), system if m.get("role") == "user" else None)
                                    for m in conv) if p), None)
        if problem:
            counts[names[problem]] += 1
            continue
        kept.append(row)
        counts["kept"] += 1
    return kept, counts


def first_user_turn(row: Mapping) -> str:
    """The first user message of a row's conversation ('' when there is none)."""
    for m in row.get("conversation") or []:
        if isinstance(m, Mapping) and m.get("role") == "user":
            return m.get("content") or ""
    return ""


# --- how well did the system prompt steer? -----------------------------------------------------------------------
# A real model's queries do not use a fixed vocabulary, so a query's topic is measured by meaning:
# the cosine similarity of its sentence embedding (all-MiniLM-L6-v2, `dedup.embed`) with the
# one- or two-sentence descriptions of each domain in `course_utils/data/magpie_topics.yaml`.

TOPICS_FILE = "data/magpie_topics.yaml"

# Below this best cosine, topic_of says None: no description is really similar. Chosen on the
# "dev" queries of tests/data/topic_queries.jsonl: MiniLM gives a query and the description of a
# domain it is NOT about a cosine of 0.05 (median) and under 0.09 three times in four, while 95%
# of the queries score at least 0.094 with their own domain. 0.1 sends the weakest matches, such
# as "how do I fix a leaking tap" (0.08, cooking), to None and keeps the real ones.
TOPIC_MIN_SIMILARITY = 0.1


@functools.lru_cache(maxsize=1)
def topic_descriptions() -> dict[str, tuple[str, ...]]:
    """The domains of the topic measure and their description sentences (lesson domains first)."""
    import yaml

    text = resources.files("course_utils").joinpath(TOPICS_FILE).read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not all(
            isinstance(v, list) and v and all(isinstance(s, str) and s.strip() for s in v)
            for v in raw.values()):
        raise ValueError(f"{TOPICS_FILE}: map each domain name to a list of one or two sentences.")
    missing = [d for d in SYSTEM_PROMPTS if d not in raw]
    if missing:
        raise ValueError(f"{TOPICS_FILE}: describe the lesson's domain(s) {missing} too.")
    order = list(SYSTEM_PROMPTS) + [d for d in raw if d not in SYSTEM_PROMPTS]
    return {d: tuple(s.strip() for s in raw[d]) for d in order}


@functools.lru_cache(maxsize=1)
def _description_embeddings() -> tuple[tuple[str, ...], Any]:
    """(the domain of each description sentence, their embeddings): embedded once per process."""
    owners = tuple(d for d, sentences in topic_descriptions().items() for _ in sentences)
    sentences = [s for d in topic_descriptions() for s in topic_descriptions()[d]]
    return owners, embed(sentences)


def _text_items(texts: Any, fn: str) -> list[Optional[str]]:
    """`texts` as a list whose items are str or None (an empty turn), else an InputError."""
    if texts is None or isinstance(texts, (str, bytes, Mapping)) or not isinstance(texts, Iterable):
        what = "None" if texts is None else f"a single {type(texts).__name__}"
        raise InputError(f"{fn}(): texts is {what}: pass a list of strings, e.g. the first "
                         f"user turns.")
    items = list(texts)
    for i, t in enumerate(items):
        if t is not None and not isinstance(t, str):
            raise InputError(f"{fn}(): texts[{i}] is {type(t).__name__}, not str: pass the text of "
                             f"each turn, e.g. [first_user_turn(row) for row in rows].")
    return items


def _similarities(texts: list[Optional[str]]) -> list[Optional[dict[str, float]]]:
    """Per text: the cosine with each domain (best of its sentences); None for an empty text."""
    import numpy as np

    todo = [i for i, t in enumerate(texts) if t is not None and t.strip()]
    out: list[Optional[dict[str, float]]] = [None] * len(texts)
    if not todo:
        return out
    owners, desc = _description_embeddings()
    sims = embed([texts[i] for i in todo]) @ desc.T
    domains = list(topic_descriptions())
    columns = {d: [j for j, o in enumerate(owners) if o == d] for d in domains}
    best = np.stack([sims[:, columns[d]].max(axis=1) for d in domains], axis=1)
    for row, i in enumerate(todo):
        out[i] = {d: round(float(best[row, k]), 4) for k, d in enumerate(domains)}
    return out


def _best(scores: Optional[dict[str, float]]) -> Optional[str]:
    if not scores:
        return None
    domain = max(scores, key=scores.__getitem__)  # ties: the first domain (lesson domains first)
    return domain if scores[domain] >= TOPIC_MIN_SIMILARITY else None


def domain_scores(text: Any) -> dict[str, float]:
    """Cosine of `text` with each domain's description (its best sentence); {} if empty."""
    if text is not None and not isinstance(text, str):
        raise InputError(f"domain_scores(): text must be a str, got {type(text).__name__}.")
    return _similarities([text])[0] or {}


def topics_of(texts: Sequence[Optional[str]]) -> list[Optional[str]]:
    """`topic_of` for many texts at once (one embedding batch)."""
    return [_best(s) for s in _similarities(_text_items(texts, "topics_of"))]


def topic_of(text: Any) -> Optional[str]:
    """The domain whose description is the most similar to `text`; None if empty or none is close.

    "Close" means a cosine of at least TOPIC_MIN_SIMILARITY. The domains are the lesson's
    (SYSTEM_PROMPTS) and a few distractors (travel, small talk, ...): see `topic_descriptions()`.
    """
    if text is not None and not isinstance(text, str):
        raise InputError(f"topic_of(): text must be a str, got {type(text).__name__}.")
    return topics_of([text])[0]


def on_topic_share(texts: Sequence[Optional[str]], domain: str) -> Optional[float]:
    """Share of `texts` whose topic is `domain`; None when there are no texts (print it as "n/a").

    An empty text (None or blank) counts as off topic.
    """
    require_str(domain, "domain", fn="on_topic_share")
    if domain not in topic_descriptions():
        raise InputError(f"on_topic_share(): unknown domain {domain!r}; use one of "
                         f"{list(topic_descriptions())}.")
    items = _text_items(texts, "on_topic_share")
    if not items:
        return None
    return sum(t == domain for t in topics_of(items)) / len(items)


def format_share(share: Optional[float]) -> str:
    """A share as a percentage for a table, "n/a" for None (no text left to measure)."""
    return "n/a" if share is None else f"{share:.0%}"


def explicit_prompt(domain: str) -> str:
    """The alternative to steering by system prompt: name the topic in the request itself (notebook 02's grid)."""
    return grid_prompt("a question a user would ask", domain)


def __getattr__(name: str):
    if name == "MagpieTransformersLLM":  # for your own models: MagpieTransformersLLM(model=..., magpie_pre_query_template=...)
        return magpie_transformers_llm_class()
    raise AttributeError(name)
