"""Self-Instruct requests: distilabel's `SelfInstruct` template, the paper's loop prompt, and grid prompts.

Three request shapes are recognised here:

- distilabel's `SelfInstruct` template ("# Task Description ... Develop N user queries"):
  N user queries, one per line.
- the prompt of Wang et al. (2022) used by `course_utils.self_instruct`: "Come up with a series
  of tasks:" followed by numbered "Task k:" examples and an open "Task n:" line. The teacher
  continues the list (up to "Task 16:") with new tasks in the domains and with the verbs of the
  examples. When failures are enabled it also writes what real models write and the paper's
  filters exist for: near-copies of an example, fragments of 1-3 words, tasks about images,
  graphs or files, tasks that start with punctuation or a non-ASCII character, rambling tasks of
  more than 150 words, and lines that are not tasks at all.
- a task x theme grid prompt ("Task type: ...", "Theme: ..."): one instruction of that task
  type about that theme.
"""

from __future__ import annotations

import re

from ..content import cap, make_instruction, pick_style
from ..core import Request, _perturb, register

_N = re.compile(r"Develop (\d+) user queries")


def _section(text: str, name: str) -> str:
    m = re.search(rf"# {name}\n(.*?)(?:\n# |\Z)", text, re.S)
    return m.group(1).strip() if m else ""


def detect(req: Request) -> bool:
    return "# Task Description" in req.user and bool(_N.search(req.user))


@register("self_instruct", priority=60)(detect)
def respond(req: Request) -> str:
    n = min(int(_N.search(req.user).group(1)), 50)
    context = _section(req.user, "Context") + "\n" + _section(req.user, "AI Application")
    _, domain = req.domain(context)
    weights = {"definitional": 2, "simple": 3, "task": 3, "scenario": 2}
    lines = []
    for i in range(n):
        line = make_instruction(req, domain, pick_style(req, weights, f"q{i}"), f"q{i}")
        if lines and req.chance("near_duplicate", f"q{i}"):
            line = lines[-1].replace(" the ", " a ", 1)
        lines.append(line)
    return "\n".join(lines)


# --- the paper's loop prompt ---------------------------------------------------------------

LOOP_HEADER = "Come up with a series of tasks"
_TASK_LINE = re.compile(r"^Task (\d+):[ \t]*(.*)$", re.M)
LAST_TASK = 16  # the paper lets the model continue up to 16 tasks per prompt

# Rates of the quirks a real model shows on this prompt (only when failures are enabled).
LOOP_QUIRKS = {
    "copy": 0.12,  # a near-copy of one of the in-context examples (the ROUGE-L filter's job)
    "short": 0.05,  # a fragment of 1-3 words
    "blacklist": 0.08,  # a task a text-only model cannot do (image, graph, file, ...)
    "bad_start": 0.05,  # starts with punctuation or a non-ASCII character
    "long": 0.02,  # rambles past 150 words
    "malformed": 0.04,  # a line that is not a task (chatty text, an empty "Task k:")
}
_BLACKLISTED = [
    "Draw a diagram that shows {concept}.",
    "Plot {entity} on a graph and describe the trend.",
    "Look at the picture of {entity} and describe what you see.",
    "Open the attached file about {entity} and {task}.",
    "Watch the video about {concept} and summarise it.",
    "Create an image that illustrates {concept}.",
    "Go to the website of a bank and {task}.",
    "Draw a map of the places involved in {entity}.",
]
_BAD_STARTS = ["- ", "\u201c", "(", "\u2022 ", "* ", "\u00bf", "... "]
_SHORT = ["{verb} this.", "{concept_cap}?", "{verb} {concept}.", "Any ideas?", "{verb} it."]
_CHATTER = ["Sure, here are some more tasks:", "I hope these tasks are useful!", "Here are additional examples:", ""]
_VERB_TEMPLATES = [
    "{verb} {concept} for {persona}, {constraint}.",
    "{verb} a plan for how {entity} could be handled, {constraint}.",
    "{verb} the main risks of {entity} and how to reduce them.",
    "{verb} a short checklist to {task} for {entity}.",
    "{verb} what {persona} should know before trying to {task} for {entity}.",
]


def detect_loop(req: Request) -> bool:
    return LOOP_HEADER in req.user and bool(_TASK_LINE.search(req.user))


def _examples(user: str) -> tuple[list[str], int]:
    """The example tasks of the prompt and the number of the first task to write."""
    found = [(int(n), t.strip()) for n, t in _TASK_LINE.findall(user)]
    examples = [t for _, t in found if t]
    open_numbers = [n for n, t in found if not t]
    start = open_numbers[-1] if open_numbers else (max((n for n, _ in found), default=0) + 1)
    return examples, start


def _lead_verb(example: str, verbs: list[str]) -> str:
    first = example.split(" ", 1)[0].strip(",.:;").capitalize()
    return first if first in verbs else ""


def _quirk(req: Request, salt: str) -> str:
    """Which quirk (or '') the teacher shows for one task; none when failures are disabled."""
    if not req.failure_rates:
        return ""
    return req.draw(LOOP_QUIRKS, f"quirk:{salt}") or ""


def _fields(req: Request, domain: dict, salt: str) -> dict:
    bank = req.bank
    concept = req.pick(domain["concepts"], f"{salt}:concept")
    return {
        "concept": concept,
        "concept_cap": cap(re.sub(r"^(a|an|the)\s+", "", concept)),
        "entity": req.pick(domain["entities"], f"{salt}:entity"),
        "task": req.pick(domain["tasks"], f"{salt}:task"),
        "persona": req.pick(bank["personas"], f"{salt}:persona"),
        "constraint": req.pick(bank["constraints"], f"{salt}:constraint"),
        "verb": req.pick(bank["verbs"], f"{salt}:verb"),
    }


def _new_task(req: Request, examples: list[str], i: int) -> str:
    salt = f"task{i}"
    rng = req.rng(salt)
    example = examples[rng.randrange(len(examples))] if examples else ""
    _, domain = req.domain(example) if example else req.domain()
    f = _fields(req, domain, salt)
    quirk = _quirk(req, salt)
    if quirk == "copy" and example:
        return _perturb(example, rng)
    if quirk == "short":
        return rng.choice(_SHORT).format(**f)
    if quirk == "blacklist":
        return rng.choice(_BLACKLISTED).format(**f)
    if quirk == "long":
        filler = " ".join(f"Also consider {c} and how it relates to {f['entity']}." for c in domain["concepts"])
        return f"{f['verb']} {f['concept']} in detail. " + " ".join([filler] * 4)
    verb = _lead_verb(example, req.bank["verbs"])
    if verb and rng.random() < 0.45:  # imitate the example's verb, as in-context learning does
        text = rng.choice(_VERB_TEMPLATES).format(**{**f, "verb": verb})
    else:
        weights = {"definitional": 1, "simple": 3, "task": 4, "scenario": 3}
        text = make_instruction(req, domain, pick_style(req, weights, salt), salt)
    if quirk == "bad_start":
        text = rng.choice(_BAD_STARTS) + text
    return text


@register("self_instruct_loop", priority=75, failures=("refusal", "truncate", "empty"))(detect_loop)
def respond_loop(req: Request) -> str:
    examples, start = _examples(req.user)
    rng = req.rng("loop")
    lines = []
    for n in range(start, max(start, LAST_TASK) + 1):
        task = _new_task(req, examples, n)
        if _quirk(req, f"line{n}") == "malformed":
            lines.append(rng.choice(_CHATTER) if lines else "")
            lines.append(f"Task {n}:")
            continue
        lines.append(task if not lines else f"Task {n}: {task}")
    return "\n".join(lines)


# --- task x theme grid prompts -------------------------------------------------------------

_GRID = re.compile(r"^Task type:[ \t]*([^\n]+)\n(?:[^\n]*\n)*?Theme:[ \t]*([^\n]+)", re.M)

# Concrete material for the lesson's statistics grid (code snippets and goals per theme).
_THEME_CODE = {
    "mean": [("def spread(xs):\n    m = sum(xs) / len(xs)\n    return sum((x - m) ** 2 for x in xs) / len(xs)",
              "compute the sample variance of a list of numbers"),
             ("def average(xs):\n    return sum(xs) / (len(xs) - 1)", "compute the mean of a list of numbers")],
    "hypothesis": [("from scipy import stats\nt, p = stats.ttest_ind(a, b)\nprint('significant' if p > 0.05 else 'not significant')",
                    "decide whether two groups differ at the 5% level"),
                   ("def z_test(mean, mu0, sd, n):\n    return (mean - mu0) / sd * n ** 0.5",
                    "compute the z statistic for a one-sample test")],
    "regression": [("import numpy as np\nslope, intercept = np.polyfit(x, y, 1)\nprint(slope * x + intercept)",
                    "fit a straight line and predict y for new x values"),
                   ("def r_squared(y, y_hat):\n    ss_res = sum((a - b) ** 2 for a, b in zip(y, y_hat))\n    return 1 - ss_res / sum(y)",
                    "compute the R^2 of a regression")],
}
_CODE_TEMPLATES = {
    "explain": ["Explain what this Python code does and when its result about {theme} would mislead you:\n{code}",
                "Walk a first-year student through this snippet on {theme}, line by line, and say what it prints:\n{code}",
                "Describe, for {persona}, which assumptions about {theme} this code makes silently:\n{code}"],
    "fix": ["This function should {goal}, but it has a bug. Find the bug, fix it and add a test that would have caught it:\n{code}",
            "A colleague's code on {theme} gives wrong numbers. Diagnose the error and correct it:\n{code}",
            "Debug this snippet, which should {goal}: name the failing case, then rewrite it correctly:\n{code}"],
    "write": ["Write a Python function to {goal}, with a docstring, input validation and two unit tests.",
              "Implement from scratch (no libraries) a function to {goal}, then compare it with the library version on {entity}.",
              "Using only the standard library, code a small command-line tool to {goal}; show it on {entity}."],
}
_GENERIC_TEMPLATES = [
    "{task_cap} about {theme} for {persona}: use {entity} as the example, {constraint}.",
    "As {persona}, {task} focused on {theme}. Base it on {entity} and explain each step.",
    "{task_cap} on the theme of {theme}, {constraint}, and finish with one common mistake to avoid.",
    "Consider {entity}. {task_cap} that deals with {theme} and state your assumptions.",
]


def detect_grid(req: Request) -> bool:
    return bool(_GRID.search(req.user))


@register("task_theme_grid", priority=75, failures=("refusal", "truncate", "empty"))(detect_grid)
def respond_grid(req: Request) -> str:
    m = _GRID.search(req.user)
    task, theme = m.group(1).strip().rstrip("."), m.group(2).strip().rstrip(".")
    _, domain = req.domain(theme)
    f = _fields(req, domain, "grid")
    head = task.split(" ", 1)[0].lower()
    code_key = next((k for k in _THEME_CODE if k in theme.lower()), None)
    if head in _CODE_TEMPLATES and "code" in task.lower() and code_key:
        code, goal = req.pick(_THEME_CODE[code_key], "grid:code")
        template = req.pick(_CODE_TEMPLATES[head], "grid:template")
        return template.format(theme=theme, code=code, goal=goal, entity=f["entity"], persona=f["persona"])
    template = req.pick(_GENERIC_TEMPLATES, "grid:template")
    return template.format(**{**f, "theme": theme, "task": task, "task_cap": cap(task)})
