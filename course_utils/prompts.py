"""Prompts as versioned source code, and the measurements that compare versions.

A system prompt is code: it has versions, each with a reason for the change, and each version
is measured on the same budget before it replaces the last one (book chapter 9.2.1).

The token budgets of notebook 01 (`INSTRUCTION_LIST_TOKENS`, `RESPONSE_TOKENS`,
`FINANCE_JSON_TOKENS`) are defined here, with the measurement behind each.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from .evaluation.complexity import root_verb_object

# --- token budgets of notebook 01: at least twice the longest output each prompt asks for --------
# Measured with the offline teacher, failures off (`get_llm("offline", failure_rates=None)`), in
# `teacher.approx_tokens` (words and punctuation marks; a WordPiece tokenizer counts up to 13%
# more on these texts), and against the course's exemplars; `tests/test_budgets.py` re-measures.
# A budget below the need cuts every answer on a real model, while the offline teacher (which
# defaults to 1024) hardly notices: the V3 prompt, whose answers are ~500 tokens, then scores
# 0% valid JSON on Colab and the lesson inverts.
INSTRUCTION_LIST_TOKENS = 256  # a list of 4 instructions: longest 50 of 40 (a list of 10: 97)
RESPONSE_TOKENS = 512  # an answer: longest 109 of 111; one "in a few paragraphs" is ~250 tokens
FINANCE_JSON_TOKENS = 1280  # 10 questions as JSON: V3's longest 574 of 60 (its exemplar x 10: 501)


@dataclass(frozen=True)
class PromptVersion:
    """One version of a system prompt, with the reason it exists."""

    name: str
    text: str
    change: str


FINANCE_V1 = PromptVersion(
    "V1",
    "You generate questions about financial analysis.",
    "One line: says the topic, nothing about format, difficulty or what to avoid.",
)

FINANCE_V2 = PromptVersion(
    "V2",
    """You are an expert financial analyst who writes training questions for an AI assistant.
Return the questions as a JSON array of objects, each with a "question" field, and nothing else.""",
    "Adds a role and a machine-readable output format (JSON).",
)

FINANCE_V3 = PromptVersion(
    "V3",
    """You are a senior financial analyst who writes training questions for an AI assistant that helps analysts at small and mid-sized companies.

Objective: questions that a real analyst would ask at work, each answerable in a few paragraphs.

Complexity constraints:
- Every question describes a realistic scenario with concrete numbers (revenues, rates, margins, periods).
- Each question asks for a decision, an estimate or a comparison, with at least one constraint or trade-off.
- Vary the verbs and the structure: no two questions may start the same way.

Anti-patterns (avoid these):
- Do not ask definitional or textbook questions such as "What is a bond?" or "Define EBITDA."
- Do not ask questions that need real-time market data or personal investment advice.

Output format: a JSON array of objects with the fields "question" and "difficulty" ("medium" or "hard"), and nothing else.

Example:
[{"question": "A retailer's inventory turnover fell from 8 to 5 while revenue stayed at $40M. Estimate the extra working capital tied up and suggest two ways to release it.", "difficulty": "hard"}]""",
    "Adds the objective, complexity constraints, explicit anti-patterns and a one-shot exemplar.",
)

FINANCE_VERSIONS = (FINANCE_V1, FINANCE_V2, FINANCE_V3)
FINANCE_USER_PROMPT = "Generate 10 questions for the financial analysis assistant."

DEFINITIONAL = re.compile(r"^\s*(what (is|are|does|do) |what's |define |what is meant by |explain what )", re.I)


def is_definitional(question: str) -> bool:
    """Whether a question only asks for a definition ("What is ...?", "Define ...")."""
    return bool(DEFINITIONAL.match(question))


def first_verb(question: str) -> str:
    """The question's root verb as `evaluation.root_verb_object` reads it ("" when none is found).

    One verb measure for the whole course: notebooks 01, 02 and 08 count distinct verbs the same
    way ("Please write a poem" -> "write"; "Given a list of numbers, compute the mean" -> "compute").
    """
    verb, _ = root_verb_object(question)
    return verb or ""


def measure_batch(outputs: list[str], parse, text_fallback: Optional[Callable] = None) -> dict:
    """Measure one prompt version: JSON validity, mean length, definitional share, distinct verbs.

    `valid_rate` counts the outputs `parse` accepts. The other measures are over the questions a
    reader can get: the parsed ones, plus, with `text_fallback` (e.g. `parsing.parse_lines`), the
    items of outputs that hold no JSON at all (a plain numbered list), counted in `from_text`.
    Without it an output that is not JSON adds no question, and a version that never writes
    JSON would show 0 words and 0% definitional however its questions read.
    """
    results = [parse(o) for o in outputs]
    questions = [q for r in results if r.ok for q in r.value]
    from_text = []
    if text_fallback is not None:
        for o, r in zip(outputs, results):
            items = text_fallback(o) if not r.ok and r.reason == "no_json" else None
            from_text += list(items.value) if items is not None and items.ok else []
    questions += from_text
    verbs = [first_verb(q) for q in questions]
    return {
        "outputs": len(outputs),
        "valid_rate": sum(r.ok for r in results) / len(results) if results else 0.0,
        "questions": len(questions),
        "from_text": len(from_text),
        "mean_words": sum(len(q.split()) for q in questions) / len(questions) if questions else 0.0,
        "definitional_share": sum(map(is_definitional, questions)) / len(questions) if questions else 0.0,
        "distinct_verb_ratio": len(set(verbs)) / len(verbs) if verbs else 0.0,
        "failures": dict(Counter(r.reason for r in results if not r.ok)),
    }


def format_table(rows: dict[str, dict], columns: Iterable[str]) -> str:
    """A fixed-width text table of measurements, one row per prompt version."""
    columns = list(columns)
    head = f"{'version':<8}" + "".join(f"{c:>20}" for c in columns)
    lines = [head, "-" * len(head)]
    for name, m in rows.items():
        cells = []
        for c in columns:
            v = m[c]
            cells.append(f"{v:>20.2f}" if isinstance(v, float) else f"{str(v):>20}")
        lines.append(f"{name:<8}" + "".join(cells))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Evol-Instruct operators (notebook 03): versioned rewriting prompts, one per operator
# ---------------------------------------------------------------------------------------------
# WizardLM (Xu et al. 2023) rewrites an instruction with one *operator* per round: five in-depth
# operators make it harder, one in-breadth operator writes a new instruction. The course keeps
# the paper's two frames (the "Prompt Rewriter" for depth, the "Prompt Creator" for breadth) and
# its markers (#The Given Prompt# ... #Rewritten Prompt#), with its own wording: an explicit
# "return only the prompt" line, and breadth on a *new topic* at the same difficulty.


@dataclass(frozen=True)
class EvolOperator:
    """One Evol-Instruct operator: a method sentence slotted into the depth or breadth frame."""

    name: str
    family: str  # "in-depth" or "in-breadth"
    method: str  # the sentence that tells the rewriter what to do
    version: str = "V1"
    change: str = ""

    def render(self, instruction: str) -> str:
        """The full rewriting prompt for `instruction` (the instruction is inserted verbatim, once)."""
        frame = EVOL_BREADTH_FRAME if self.family == "in-breadth" else EVOL_DEPTH_FRAME
        # replace, not str.format: the instruction may contain braces (code, JSON).
        return frame.replace("{method}", self.method.strip()).replace("{instruction}", instruction.strip())


EVOL_DEPTH_FRAME = """I want you to act as a Prompt Rewriter.
Your objective is to rewrite a given prompt into a more complex version, to make it a bit harder for well-known AI assistants to handle.
The rewritten prompt must stay reasonable, and must be understood and answered by humans.
Keep every non-text part of #The Given Prompt# (tables, code, data).

Method: {method}

Do not make the rewritten prompt verbose: add 10 to 20 words to #The Given Prompt#, no more.
The words '#The Given Prompt#', '#Rewritten Prompt#', 'given prompt' and 'rewritten prompt' must not appear in your answer.
Return only the rewritten prompt, with no preamble.

#The Given Prompt#:
{instruction}
#Rewritten Prompt#:
"""

EVOL_BREADTH_FRAME = """I want you to act as a Prompt Creator.
Draw inspiration from #The Given Prompt# to create a brand new prompt.

Method: {method}

The new prompt must be reasonable, and must be understood and answered by humans.
The words '#The Given Prompt#', '#Created Prompt#', 'given prompt' and 'created prompt' must not appear in your answer.
Return only the new prompt, with no preamble.

#The Given Prompt#:
{instruction}
#Created Prompt#:
"""

EVOL_OPERATORS: dict[str, EvolOperator] = {
    op.name: op
    for op in (
        EvolOperator("constraints", "in-depth",
                     "Add one more constraint or requirement to #The Given Prompt#.",
                     change="WizardLM's 'add constraints'."),
        EvolOperator("deepening", "in-depth",
                     "If #The Given Prompt# asks about an issue, deepen the inquiry: ask about causes, "
                     "consequences or the limits of the approach.",
                     change="WizardLM's 'deepening'."),
        EvolOperator("concretizing", "in-depth",
                     "Replace general concepts with more specific concepts (a named case, a number, a period).",
                     change="WizardLM's 'concretizing'."),
        EvolOperator("reasoning", "in-depth",
                     "If #The Given Prompt# can be solved with a few simple thinking steps, rewrite it to "
                     "explicitly request multi-step reasoning.",
                     change="WizardLM's 'increased reasoning steps'."),
        EvolOperator("complicate_input", "in-depth",
                     "Complicate the input: add input data that the answer must use (a small table, a list of "
                     "numbers or a code snippet), written out in the prompt.",
                     change="WizardLM's 'complicate input' (its code and data variants)."),
        EvolOperator("breadth", "in-breadth",
                     "Create a brand new prompt on a new topic, different from the topic of #The Given Prompt#, "
                     "with the same difficulty and a similar length.",
                     change="In-breadth mutation; the course asks for a new topic at the same difficulty."),
    )
}


# --- one instruction per (task, theme) cell (notebook 02's grid, notebook 04's explicit request) ---

GRID_TEMPLATE = """Write one instruction for a dataset that trains a helpful assistant.
Task type: {task}
Theme: {theme}
Requirements: the instruction is self-contained and concrete (specific numbers, or a short code snippet when the task type is about code), and can be answered in a few paragraphs. Return only the instruction, with no preamble."""

# Appended when the task type is about code: rules a code instruction must follow, and three
# worked examples (few-shot) on other themes, so the model sees the shape without a theme to copy.
GRID_CODE_RULES = """Rules for code:
- Put the code in the instruction itself, in a ```python block of at most 12 lines.
- The code runs as written: imports included, no placeholders such as "..." or "your_data".
- A bug to fix is real: name the input on which the code gives a wrong result or an error.
- Code to write: name the function, its inputs and its output, and give one example call with its result.
- Use only the standard library, unless the theme needs a named library (numpy, pandas, scipy).

Three examples on other themes (follow their shape, do not copy them):

[explain code, text processing]
Explain what this function returns for "level" and for "Level", and why the two results differ:
```python
def is_palindrome(s):
    return s == s[::-1]
```

[fix code, dates]
This function should return how many days lie between two dates given as "YYYY-MM-DD", whatever their order, but days_between("2024-03-01", "2024-02-01") returns -29. Find the bug, fix it and add a test that would have caught it:
```python
from datetime import date

def days_between(a, b):
    return (date.fromisoformat(b) - date.fromisoformat(a)).days
```

[write code, lists]
Write a Python function chunk(items, size) that splits a list into consecutive pieces of at most size items and raises ValueError when size < 1. Example: chunk([1, 2, 3, 4, 5], 2) returns [[1, 2], [3, 4], [5]].

Return only the instruction, with no preamble."""


def grid_prompt(task: str, theme: str) -> str:
    """The request for one cell of the task x theme grid (with GRID_CODE_RULES for a code task type)."""
    prompt = GRID_TEMPLATE.format(task=task, theme=theme)
    return f"{prompt}\n\n{GRID_CODE_RULES}" if "code" in task.lower() else prompt
