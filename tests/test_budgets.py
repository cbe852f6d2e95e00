"""Generation budgets from need: each max_new_tokens is >= 2x the longest output it asks for.

A budget below what the prompt asks for cuts every answer on a real model (the offline teacher
hardly notices), so a lesson that works offline can invert on Colab. This test reads each lesson
notebook's code cells (01-10, plus `course_utils/data/capstone.yaml` for 09) and finds every
budget:

- an explicit `max_new_tokens=...` (a literal, a notebook constant, or a course constant), a
  `{"max_new_tokens": ...}` dict, or the capstone's `"generation.max_new_tokens"`; also
  `judge_tokens=...`, the judge's budget of `preference.score_responses`;
- the default `max_new_tokens` of a course function that has one (`evolve` ->
  `evol.MAX_NEW_TOKENS`);
- a generation that passes no budget at all: it gets the backend default, the 256 tokens of
  `models.TRANSFORMERS_DEFAULTS` on Colab (counted as the budget "<default>").

Calls inside `try:` blocks and lambdas are error demos and generate nothing. It also checks the
budget constants of the course's modules (COURSE_BUDGETS). Each budget must be at least
NEED_FACTOR (2) times the longest output of the kind it is used for. The need of a kind is
measured here, on exemplar prompts of that kind, with the offline teacher
(`get_llm("offline", seed=0, failure_rates=None)`: its configured failures, such as a
Self-Instruct list that rambles on past 150 words, are what a budget is there to cut, not what a
prompt asks for), and raised to the book's exemplars where the book gives one (BOOK_TOKENS).
Tokens are counted with `teacher.approx_tokens` (words and punctuation marks): the unit the
offline teacher caps by, and close to a 49k-token BPE such as SmolLM2's on English. The tiny
course tokenizer (512 tokens) splits words into pieces and counts about twice as many. Japanese
outputs (the `ja_*` kinds of notebook 09) are counted in UTF-8 bytes instead: `approx_tokens`
counts a whole Japanese sentence as one word, and a byte-level BPE needs at most one token per
byte (3 per character; the tiny course tokenizer needs exactly that).

`BUDGETS` says which kind each budget of each notebook is for: a new budget (or a generation
without one) fails here until it is listed, and a listed one that is gone fails too, so the
table stays the truth. `python tests/test_budgets.py` prints the measured table.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import json
import random
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python tests/test_budgets.py` prints the table
    sys.path.insert(0, str(ROOT))

from course_utils.teacher import approx_tokens  # noqa: E402

NEED_FACTOR = 2
LESSONS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb") if p.name[:2] != "00")
# Keyword arguments that carry a generation budget (`judge_tokens`: preference.score_responses).
BUDGET_ARGS = ("max_new_tokens", "judge_tokens")
CAPSTONE_YAML = ROOT / "course_utils" / "data" / "capstone.yaml"
DEFAULT = "<default>"  # a generation that passes no budget: the backend's default applies
# The book's worked chain-of-thought example is 174 tokens (issue 11), longer than any the
# offline teacher writes (its longest is under 100): a CoT budget must hold the book's.
BOOK_TOKENS = {"cot": 174}
_MAGPIE = ("magpie_query", "magpie_response", "grid_instruction")
_CAPSTONE = ("response", "cot", "dialogue", "judge")
_JAPANESE = ("ja_task_list", "ja_response", "ja_magpie")  # counted in UTF-8 bytes (see above)

# Which kind of output each budget of each lesson generates. Keys: a constant's name (as written
# in the notebook, or `module.NAME`), a literal's value as text, "generation.max_new_tokens"
# (the capstone's), "capstone.yaml", or DEFAULT. A budget shared by several kinds lists them
# all: it must hold the longest.
BUDGETS: dict[str, dict[str, tuple[str, ...]]] = {
    "01_basic_prompting": {"INSTRUCTION_LIST_TOKENS": ("instruction_list",),
                           "RESPONSE_TOKENS": ("response",),
                           "FINANCE_JSON_TOKENS": ("finance_json",)},
    "02_self_instruct": {"TASK_LIST_TOKENS": ("task_list",),
                         "self_instruct.TASK_LIST_TOKENS": ("task_list",),
                         "QUERY_LIST_TOKENS": ("query_list",),
                         "GRID_INSTRUCTION_TOKENS": ("grid_instruction",),
                         "self_instruct.GRID_INSTRUCTION_TOKENS": ("grid_instruction",),
                         "RESPONSE_TOKENS": ("response",)},
    "03_evol_instruct": {"MAX_NEW_TOKENS": ("evol_rewrite",), "evol.MAX_NEW_TOKENS": ("evol_rewrite",)},
    "04_magpie": {"256": _MAGPIE},
    "05_chain_of_thought": {"COT_TOKENS": ("cot",), "DIALOGUE_TOKENS": ("dialogue",)},
    "06_chat_format_and_loss_masking": {"RESPONSE_TOKENS": ("response",)},
    "07_deduplication": {"QUERY_LIST_TOKENS": ("query_list",)},
    "08_evaluation": {"RESPONSE_TOKENS": ("response",), "JUDGE_TOKENS": ("judge",),
                      "TASK_LIST_TOKENS": ("task_list",), "EVOL_TOKENS": ("evol_rewrite",)},
    # The capstone's one budget answers rows (instructions, CoT problems, dialogue) and, with
    # quality.method "judge", judges them; its Self-Instruct and Evol-Instruct stages pass the
    # course's own budgets (self_instruct.TASK_LIST_TOKENS, evol.MAX_NEW_TOKENS).
    "09_end_to_end_pipeline": {"capstone.yaml": _CAPSTONE,
                               # §9, the Japanese path: its task lists, answers and Magpie turns
                               "JA_TASK_LIST_TOKENS": ("ja_task_list",),
                               "JA_RESPONSE_TOKENS": ("ja_response", "ja_magpie")},
    # k candidate answers per preference instruction, and the judge's verdict on each of them
    "10_preference_data": {"RESPONSE_TOKENS": ("candidate",), "JUDGE_TOKENS": ("preference_judge",)},
}

# The budgets the course's modules define (a lesson imports them, a loop uses them as its
# default): `module.NAME` -> its kinds. Every int constant named *TOKENS in course_utils is here.
COURSE_BUDGETS: dict[str, tuple[str, ...]] = {
    "prompts.INSTRUCTION_LIST_TOKENS": ("instruction_list",),
    "prompts.RESPONSE_TOKENS": ("response",),
    "prompts.FINANCE_JSON_TOKENS": ("finance_json",),
    "self_instruct.TASK_LIST_TOKENS": ("task_list",),
    "self_instruct.QUERY_LIST_TOKENS": ("query_list",),
    "self_instruct.GRID_INSTRUCTION_TOKENS": ("grid_instruction",),
    "evol.MAX_NEW_TOKENS": ("evol_rewrite",),
    "scoring.JUDGE_TOKENS": ("preference_judge",),
}

# distilabel tasks, whose llm=... generates with its own budget.
_TASKS = {"TextGeneration", "SelfInstruct", "EvolInstruct", "Magpie", "MagpieGenerator",
          "UltraFeedback"}
# Course loops that generate with the LLM's own budget. The others take `max_new_tokens` (its
# default is read from their signature) or set their budgets inside, from COURSE_BUDGETS.
_LOOPS = {"generate_magpie", "magpie_generator", "magpie_llm"}


# --- exemplar outputs of each kind, from the clean offline teacher ------------------------------

@functools.lru_cache(maxsize=1)
def _teacher():
    from course_utils.models import get_llm

    return get_llm("offline", seed=0, failure_rates=None)


def _texts(prompts: list, num_generations: int = 1, **kwargs) -> list[str]:
    """The teacher's answers to chat prompts (no budget: the whole answer, as it writes it)."""
    outs = _teacher().generate_outputs(prompts, num_generations=num_generations,
                                       max_new_tokens=100_000, **kwargs)
    return [g for out in outs for g in out["generations"] if isinstance(g, str)]


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _seed_tasks() -> list[str]:
    from course_utils.self_instruct import load_seed_tasks

    return [r["instruction"] for r in load_seed_tasks()]


# Notebook 08's constraint menu (what its instruction-following prompts append to a seed task).
_MENU = [
    {"kind": "word_count", "relation": "less than", "n": 40}, {"kind": "no_commas"},
    {"kind": "lowercase"}, {"kind": "bullet_count", "n": 3},
    {"kind": "end_phrase", "phrase": "Is there anything else I can help with?"},
    {"kind": "include_keywords", "keywords": ["example"]}, {"kind": "json_format"},
]
# Notebook 06's conversation, with the follow-up question its teacher answers.
_TUTOR = [
    {"role": "system", "content": "You are a patient statistics tutor."},
    {"role": "user", "content": "What is the mean of 2, 4 and 9?"},
    {"role": "assistant", "content": "The mean is (2 + 4 + 9) / 3 = 5."},
    {"role": "user", "content": "And the median?"},
    {"role": "assistant",
     "content": "Sorted, the values are 2, 4, 9: the median is the middle one, 4."},
    {"role": "user", "content": "Which of the two would you report for house prices, and why?"},
]
# Notebook 07's request for a list of queries (distilabel's SelfInstruct template, 10 queries).
_QUERIES = ("# Task Description\nDevelop {n} user queries that can be received by the given AI "
            "application and applicable to the provided context.\n\n# AI Application\n{app}\n\n"
            "# Context\nEveryday questions from the application's users.")
_APPS = ["a personal finance assistant", "a statistics tutor", "a cooking assistant",
         "a travel planner"]


def _responses() -> list[str]:
    from course_utils import evaluation as ev

    tasks = _seed_tasks()
    constrained = [f"{t} {ev.describe_constraint(c)}" for t in tasks for c in _MENU]
    return (_texts([_user(t) for t in tasks], 3) + _texts([_user(t) for t in constrained])
            + _texts([_TUTOR], 5))


def _judge() -> list[str]:
    from course_utils import evaluation as ev

    tasks = _seed_tasks()[:20]
    answers = _texts([_user(t) for t in tasks])
    return _texts([_user(ev.judge_prompt(t, a, _MENU[:2])) for t, a in zip(tasks, answers)])


def _cot() -> list[str]:
    from course_utils.cot import cot_messages, generate_problems

    problems = [p for seed in range(3) for p in generate_problems(40, seed=seed)]
    return _texts([cot_messages(p.question) for p in problems], 5)


def _dialogue() -> list[str]:
    from course_utils.cot import DIALOGUE_PROMPTS

    return _texts([_user(q) for q in DIALOGUE_PROMPTS], 5)


def _instruction_list() -> list[str]:
    ask = "Write {n} instructions that a {app} could receive, one per line."
    return _texts([_user(ask.format(n=n, app=app[2:])) for n in (4, 10) for app in _APPS], 3)


def _finance_json() -> list[str]:
    from course_utils.prompts import FINANCE_USER_PROMPT, FINANCE_VERSIONS

    chats = [[{"role": "system", "content": v.text}, _user(FINANCE_USER_PROMPT)[0]]
             for v in FINANCE_VERSIONS]
    return _texts(chats, 12)


def _query_list() -> list[str]:
    from course_utils._quiet import quiet_distilabel

    quiet_distilabel()
    from distilabel.steps.tasks import SelfInstruct

    prompts = [_user(_QUERIES.format(n=10, app=app)) for app in _APPS]
    task = SelfInstruct(llm=_teacher(), num_instructions=5)
    task.load()
    prompts += [task.format_input({"input": f"{app} that helps students"}) for app in _APPS]
    return _texts(prompts, 5, temperature=0.3) + _texts(prompts, 2)


def _task_list() -> list[str]:
    from course_utils.self_instruct import build_prompt

    seeds, rng = _seed_tasks(), random.Random(0)
    narrow = [s for s in seeds if "Python" in s]
    prompts = [_user(build_prompt(rng.sample(seeds, 8))) for _ in range(24)]
    prompts += [_user(build_prompt(rng.sample(narrow, len(narrow)))) for _ in range(4)]
    return _texts(prompts, 2, temperature=1.0) + _texts(prompts, 1, temperature=0.0)


def _grid_instruction() -> list[str]:
    from course_utils.self_instruct import STATS_TASKS, STATS_THEMES, task_theme_grid

    return _texts([_user(g["prompt"]) for g in task_theme_grid(STATS_TASKS, STATS_THEMES)], 3)


def _evol_rewrite() -> list[str]:
    import numpy as np

    from course_utils._quiet import quiet_distilabel
    from course_utils.evol import EXAMPLE_INSTRUCTIONS, evolve

    quiet_distilabel()
    from distilabel.steps.tasks import EvolInstruct

    result = evolve(_teacher(), list(EXAMPLE_INSTRUCTIONS), rounds=4, seed=0,
                    max_new_tokens=100_000)
    texts = [s["candidate"] for s in result.steps if isinstance(s.get("candidate"), str)]
    task = EvolInstruct(llm=_teacher(), num_evolutions=3, store_evolutions=True)
    task.load()
    np.random.seed(0)
    rows = next(task.process([{"instruction": s} for s in _seed_tasks()[:30]]))
    evolved = [t for row in rows for t in (row["evolved_instructions"] or [])]
    return texts + [t for t in evolved if isinstance(t, str)]


@functools.lru_cache(maxsize=1)
def _magpie() -> tuple[dict, ...]:
    from course_utils.magpie import SYSTEM_PROMPTS, generate_magpie

    rows = [{"system_prompt": text} for text in SYSTEM_PROMPTS.values() for _ in range(10)]
    out = generate_magpie(_teacher(), rows, n_turns=2)
    return tuple(m for row in out for m in row["conversation"] or [] if m["content"])


# Notebook 09's Japanese path (§9): its seed tasks, its prompt, its constraints and system prompts.
_JA_SEEDS = ["味噌汁の作り方を初心者向けに説明してください。", "京都で雨の日に楽しめる観光地を教えてください。",
             "家計簿を長く続けるコツを教えてください。", "平均と中央値の違いを、例を使って説明してください。",
             "Pythonのエラーメッセージの読み方を教えてください。", "一人暮らしの自炊で食費を抑える方法を教えてください。"]
_JA_PHRASES = ["「ポイント」という言葉を必ず使ってください。", "「大切」という言葉は使わないでください。",
               "80字未満で答えてください。", "ちょうど3文で答えてください。", ""]
_JA_SYSTEM = ["あなたは料理の先生です。家庭料理について、初心者の質問にやさしく日本語で答えます。",
              "あなたは旅行プランナーです。日本国内の旅行の計画について、日本語で具体的に答えます。"]


def _ja_task_prompt(examples: list[str], n: int = 6) -> str:
    lines = ["あなたは日本語の指示データを作るアシスタントです。",
             f"次の例のような、日本語のユーザーの依頼を新しく{n}個書いてください。",
             "1行に1つ、番号を付けて書いてください。例と同じ依頼は書かないでください。", "", "例:"]
    return "\n".join(lines + [f"{k}. {t}" for k, t in enumerate(examples, start=1)])


@functools.lru_cache(maxsize=1)
def _ja_task_lists() -> tuple[str, ...]:
    rng = random.Random(0)
    prompts = [_user(_ja_task_prompt(rng.sample(_JA_SEEDS, 3))) for _ in range(12)]
    return tuple(_texts(prompts, 3, temperature=1.0) + _texts(prompts, 1, temperature=0.0))


def _ja_responses() -> list[str]:
    tasks = [line.split(". ", 1)[-1] for text in _ja_task_lists() for line in text.splitlines()]
    return _texts([_user(t + phrase) for t in _JA_SEEDS + tasks[:60] for phrase in _JA_PHRASES])


def _ja_magpie() -> list[str]:
    from course_utils.magpie import generate_magpie

    rows = [{"system_prompt": s} for s in _JA_SYSTEM for _ in range(10)]
    out = generate_magpie(_teacher(), rows, n_turns=2)
    return [m["content"] for row in out for m in row["conversation"] or [] if m["content"]]


@functools.lru_cache(maxsize=1)
def _candidates() -> tuple[tuple[str, str], ...]:
    """Notebook 10's candidates: (instruction, answer), 8 per preference instruction."""
    from course_utils.preference import load_preference_instructions, sample_responses

    rows, _ = sample_responses(_teacher(), load_preference_instructions(), k=8,
                               max_new_tokens=100_000)
    return tuple((r["instruction"], t) for r in rows for t in r["responses"] if t)


def _preference_judge() -> list[str]:
    from course_utils.evaluation.judge import judge_prompt
    from course_utils.preference import JUDGE_SYSTEM

    return _texts([[{"role": "system", "content": JUDGE_SYSTEM}, *_user(judge_prompt(i, a))]
                   for i, a in _candidates()])


KINDS: dict[str, Callable[[], list[str]]] = {
    "cot": _cot,
    "dialogue": _dialogue,
    "response": _responses,
    "judge": _judge,
    "instruction_list": _instruction_list,
    "finance_json": _finance_json,
    "query_list": _query_list,
    "task_list": _task_list,
    "grid_instruction": _grid_instruction,
    "evol_rewrite": _evol_rewrite,
    "magpie_query": lambda: [m["content"] for m in _magpie() if m["role"] == "user"],
    "magpie_response": lambda: [m["content"] for m in _magpie() if m["role"] == "assistant"],
    "ja_task_list": lambda: list(_ja_task_lists()),
    "ja_response": _ja_responses,
    "ja_magpie": _ja_magpie,
    "candidate": lambda: [a for _, a in _candidates()],
    "preference_judge": _preference_judge,
}


@functools.lru_cache(maxsize=None)
def longest(kind: str) -> int:
    """The longest output of `kind`, in tokens: the offline teacher's, or the book's if longer.

    Japanese kinds count UTF-8 bytes: the most tokens a byte-level BPE can need.
    """
    texts = KINDS[kind]()
    assert len(texts) >= 5, f"too few exemplars of {kind!r} to measure ({len(texts)})"
    count = (lambda t: len(t.encode("utf-8"))) if kind in _JAPANESE else approx_tokens
    return max(max(count(t) for t in texts), BOOK_TOKENS.get(kind, 0))


def need(kinds: tuple[str, ...]) -> int:
    """The smallest budget the kinds allow: NEED_FACTOR times the longest output of any of them."""
    return NEED_FACTOR * max(longest(k) for k in kinds)


# --- the budgets a notebook uses ------------------------------------------------------------------

def _cells(path: Path) -> list[ast.Module]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    trees = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines()
            trees.append(ast.parse("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                                             for ln in lines)))
    return trees


def _name(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _key(node: ast.AST) -> str:
    """How BUDGETS names a budget expression: a literal's value, or the constant's name."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    name = _name(node)
    assert name, f"a budget must be a literal or a named constant, not {ast.unparse(node)}"
    return name


def _passes(call: ast.Call) -> bool:
    """The call passes a budget: max_new_tokens=..., or **kw (its dict literal is scanned too)."""
    return any(k.arg in (*BUDGET_ARGS, None) for k in call.keywords)


def _short(call: ast.Call) -> str:
    return ast.unparse(call)[:100]


class _Scan:
    """The budgets (key -> value) and the generations without one, in one notebook."""

    def __init__(self, trees: list[ast.Module]):
        self.constants: dict[str, int] = {}  # NAME = 384
        self.imports: dict[str, str] = {}  # local name -> "course_utils.module[.NAME]"
        self.budgeted_llms: set[str] = set()  # names bound to get_llm(..., max_new_tokens=...)
        self.budgets: dict[str, int] = {}
        self.unbudgeted: list[str] = []
        for tree in trees:
            self._bindings(tree)
        for tree in trees:
            self._visit(tree, demo=False)

    def _visit(self, node: ast.AST, demo: bool) -> None:
        """Every call and dict; a call in `try:` or a lambda is an error demo, not a generation."""
        if isinstance(node, ast.Call):
            self._call(node, demo)
        elif isinstance(node, ast.Dict):
            self._dict(node)
        for child in ast.iter_child_nodes(node):
            in_try = isinstance(node, ast.Try) and child in node.body
            inside = isinstance(node, ast.Lambda) or in_try
            self._visit(child, demo or inside)

    def _bindings(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
                if not isinstance(target, ast.Name):
                    continue
                if isinstance(value, ast.Constant) and type(value.value) is int:
                    self.constants[target.id] = value.value
                if isinstance(value, ast.Call) and _passes(value):
                    self.budgeted_llms.add(target.id)

    def _value(self, node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        name = _name(node)
        if name in self.constants:
            return self.constants[name]
        head, _, attr = (name or "").partition(".")
        target = self.imports.get(head)
        if target:
            module, _, obj = target.rpartition(".")
            try:  # `from course_utils import evol`, then evol.NAME
                value = importlib.import_module(target)
            except ModuleNotFoundError:  # `from course_utils.evol import NAME [as ALIAS]`
                value = getattr(importlib.import_module(module), obj)
            value = getattr(value, attr, None) if attr else value
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        raise AssertionError(f"cannot resolve the budget {ast.unparse(node)}: "
                             f"use a literal or a named constant")

    def _dict(self, node: ast.Dict) -> None:
        for k, v in zip(node.keys, node.values):
            if isinstance(k, ast.Constant) and k.value == "generation.max_new_tokens":
                self.budgets["generation.max_new_tokens"] = self._value(v)
            elif isinstance(k, ast.Constant) and k.value == "max_new_tokens":
                self.budgets[_key(v)] = self._value(v)

    def _budgeted(self, llm: ast.AST | None) -> bool:
        """An LLM with its own budget: `get_llm(..., max_new_tokens=...)`, or a name bound to it."""
        return (isinstance(llm, ast.Call) and _passes(llm)) or _name(llm) in self.budgeted_llms

    def _call(self, call: ast.Call, demo: bool) -> None:
        for kw in call.keywords:
            if kw.arg in BUDGET_ARGS:
                self.budgets[_key(kw.value)] = self._value(kw.value)
        if demo:
            return
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name == "generate_outputs":
            receiver = func.value if isinstance(func, ast.Attribute) else None
            if not _passes(call) and not self._budgeted(receiver):
                self.unbudgeted.append(_short(call))
        elif name in _TASKS:
            llm = next((k.value for k in call.keywords if k.arg == "llm"), None)
            if llm is not None and not self._budgeted(llm):
                self.unbudgeted.append(_short(call))
        elif (default := self._function_default(name)) is not None:
            if not _passes(call):  # the function's own budget wins over the LLM's
                self.budgets[default[0]] = default[1]
        elif name in _LOOPS and call.args and not (self._budgeted(call.args[0]) or _passes(call)):
            self.unbudgeted.append(_short(call))

    def _function_default(self, name: str | None) -> tuple[str, int] | None:
        """A course function's own default budget, as ("module.CONSTANT", value), if it has one."""
        target = self.imports.get(name or "")
        if not target:
            return None
        module, _, attr = target.rpartition(".")
        try:
            func = getattr(importlib.import_module(module), attr)
            param = inspect.signature(func).parameters.get("max_new_tokens")
        except (ImportError, AttributeError, TypeError, ValueError):
            return None
        if param is None or not isinstance(param.default, int):
            return None
        args = ast.parse(textwrap.dedent(inspect.getsource(func))).body[0].args
        defaults = dict(zip([a.arg for a in args.args][::-1], args.defaults[::-1]))
        defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d})
        label = _name(defaults.get("max_new_tokens"))
        short = module.rsplit(".", 1)[-1]
        return (f"{short}.{label}" if label else f"{short}.{attr}()", param.default)


@functools.lru_cache(maxsize=None)
def budgets_of(stem: str) -> dict[str, int]:
    """Every budget notebook `stem` uses, by BUDGETS key."""
    from course_utils.models import TRANSFORMERS_DEFAULTS

    scan = _Scan(_cells(ROOT / "notebooks" / f"{stem}.ipynb"))
    found = dict(scan.budgets)
    if scan.unbudgeted:
        found[DEFAULT] = TRANSFORMERS_DEFAULTS["max_new_tokens"]
    if stem.startswith("09_"):
        config = yaml.safe_load(CAPSTONE_YAML.read_text(encoding="utf-8"))
        found["capstone.yaml"] = config["generation"]["max_new_tokens"]
    return found


def _course_token_constants() -> dict[str, int]:
    """Every module-level int constant named *TOKENS in course_utils, as `module.NAME`."""
    found = {}
    for path in (ROOT / "course_utils").rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
                continue
            target, value = node.targets[0], node.value
            if (isinstance(target, ast.Name) and target.id.endswith("TOKENS")
                    and isinstance(value, ast.Constant) and type(value.value) is int):
                found[f"{path.stem}.{target.id}"] = value.value
    return found


def budget_table() -> list[dict]:
    """One row per budget: its value, the kinds it serves, their longest output, the need."""
    rows = []
    tables = [(stem, budgets_of(stem), table) for stem, table in BUDGETS.items()]
    tables.append(("course_utils", _course_token_constants(), COURSE_BUDGETS))
    for where, found, table in tables:
        for key, kinds in table.items():
            value = found.get(key)
            rows.append({"where": where, "budget": key, "value": value, "kinds": kinds,
                         "longest": max(longest(k) for k in kinds), "need": need(kinds),
                         "ok": value is not None and value >= need(kinds)})
    return rows


def _shortfalls(found: dict[str, int], table: dict[str, tuple[str, ...]]) -> list[str]:
    short = []
    for key, kinds in table.items():
        if key in found and found[key] < need(kinds):
            kind = max(kinds, key=longest)
            short.append(f"{key} = {found[key]} < {need(kinds)} = {NEED_FACTOR} x {longest(kind)} "
                         f"(the longest {kind} output)")
    return short


# --- tests ----------------------------------------------------------------------------------

def test_every_lesson_is_in_the_table():
    assert sorted(BUDGETS) == [p.stem for p in LESSONS]


@pytest.mark.parametrize("stem", sorted(BUDGETS))
def test_the_table_lists_exactly_the_budgets_the_notebook_uses(stem):
    """A budget (or a generation without one) not in BUDGETS has no measured need: list it."""
    found, listed = set(budgets_of(stem)), set(BUDGETS[stem])
    unbudgeted = _Scan(_cells(ROOT / "notebooks" / f"{stem}.ipynb")).unbudgeted
    assert found == listed, (f"{stem}: used but not listed {sorted(found - listed)}, listed but "
                             f"not used {sorted(listed - found)}; generations without a budget: "
                             f"{unbudgeted}")


@pytest.mark.parametrize("stem", sorted(BUDGETS))
def test_each_budget_is_at_least_twice_the_longest_output_it_asks_for(stem):
    short = _shortfalls(budgets_of(stem), BUDGETS[stem])
    assert not short, f"{stem}: " + "; ".join(short)


def test_every_course_budget_constant_is_listed():
    assert set(_course_token_constants()) == set(COURSE_BUDGETS)


def test_each_course_budget_constant_is_at_least_twice_the_longest_output():
    short = _shortfalls(_course_token_constants(), COURSE_BUDGETS)
    assert not short, "; ".join(short)


def test_the_need_is_measured_not_assumed():
    """The measure sees real differences: a CoT holds the book's 174 tokens, a reply is short."""
    assert longest("cot") == BOOK_TOKENS["cot"]
    assert 40 < max(approx_tokens(t) for t in _cot()) < BOOK_TOKENS["cot"]
    assert longest("dialogue") < 32 < longest("response")
    assert longest("task_list") > longest("grid_instruction")


def test_the_scanner_finds_every_form_of_budget():
    cells = [ast.parse(src) for src in (
        "from course_utils.evol import evolve\nfrom course_utils import evol\n"
        "from course_utils.models import get_llm\n"
        "from course_utils.prompts import RESPONSE_TOKENS as ANSWER\n"
        "COT_TOKENS = 384\nllm = get_llm(seed=0)\nshort = get_llm(seed=0, max_new_tokens=7)",
        "llm.generate_outputs(p, max_new_tokens=COT_TOKENS)\n"
        "llm.generate_outputs(p, max_new_tokens=64)\n"
        "GEN = {'max_new_tokens': 24}\nllm.generate_outputs(p, **GEN)\nshort.generate_outputs(p)",
        "evolve(llm, xs)\nTextGeneration(llm=short)\ncfg = {'generation.max_new_tokens': 128}\n"
        "TextGeneration(llm=get_llm(seed=0, max_new_tokens=ANSWER))\nx = evol.MAX_NEW_TOKENS + 0",
        "llm.generate_outputs(p)\nEvolInstruct(llm=llm)\n"
        "TextGeneration(llm=with_budget(llm, **GEN))",
        "evolve(short, xs, max_new_tokens=9)\n"  # passed: the function's default does not apply
        "score_responses(rows, llm, judge_tokens=33)",  # the preference judge's budget
        "try:\n    Magpie(llm=llm)\nexcept ValueError as e:\n    print(e)\n"  # error demos
        "bad = {'zero rounds': lambda: evolve(llm, [], rounds=0)}",
    )]
    scan = _Scan(cells)
    constants = _course_token_constants()
    assert scan.budgets == {"COT_TOKENS": 384, "64": 64, "24": 24, "7": 7, "9": 9, "33": 33,
                            "evol.MAX_NEW_TOKENS": constants["evol.MAX_NEW_TOKENS"],
                            "ANSWER": constants["prompts.RESPONSE_TOKENS"],
                            "generation.max_new_tokens": 128}
    assert scan.unbudgeted == ["llm.generate_outputs(p)", "EvolInstruct(llm=llm)"]
    with pytest.raises(AssertionError, match="cannot resolve"):
        _Scan([ast.parse("llm.generate_outputs(p, max_new_tokens=UNKNOWN)")])


if __name__ == "__main__":  # the measured budget table
    print(f"{'where':<34}{'budget':<40}{'value':>6}{'longest':>8}{'need':>6}  kinds")
    for row in budget_table():
        flag = "" if row["ok"] else "  <-- too small"
        print(f"{row['where']:<34}{row['budget']:<40}{row['value']!s:>6}{row['longest']:>8}"
              f"{row['need']:>6}  {', '.join(row['kinds'])}{flag}")
