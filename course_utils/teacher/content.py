"""Templated instructions and answers built from the content bank (shared by the kinds)."""

from __future__ import annotations

from .core import Request

STYLES = ("definitional", "simple", "task", "scenario")

DEFINITIONAL = ["What is {concept}?", "What does {concept} mean?", "Define {concept}.",
                "What is meant by {concept}?"]
SIMPLE = ["{verb} {concept}.", "{verb} {concept} in simple terms.", "{verb} the main uses of {concept}.",
          "{verb} the advantages and disadvantages of {concept}."]
TASK = ["{task_cap} for {entity}.", "How would you {task} for {entity}?",
        "{verb} how to {task} for {entity}.", "Given {entity}, {task}."]
SCENARIO = ["{persona_cap} is looking at {entity}. {task_cap}, {constraint}.",
            "Consider {entity}. As {persona}, {task}, {constraint}, and state your assumptions.",
            "You are advising {persona} about {entity}. {task_cap} and explain the trade-offs, {constraint}.",
            "{persona_cap} asks you to {task} for {entity}. Walk through the numbers, {constraint}."]
TEMPLATES = {"definitional": DEFINITIONAL, "simple": SIMPLE, "task": TASK, "scenario": SCENARIO}


def cap(s: str) -> str:
    """Capitalise the first letter only."""
    return s[:1].upper() + s[1:]


def make_instruction(req: Request, domain: dict, style: str, salt: str) -> str:
    """Fill one instruction template of `style` with bank content for `domain`."""
    bank = req.bank
    fields = {
        "concept": req.pick(domain["concepts"], f"{salt}:concept"),
        "entity": req.pick(domain["entities"], f"{salt}:entity"),
        "task": req.pick(domain["tasks"], f"{salt}:task"),
        "verb": req.pick(bank["verbs"] if style != "simple" else bank["explain_verbs"], f"{salt}:verb"),
        "persona": req.pick(bank["personas"], f"{salt}:persona"),
        "constraint": req.pick(bank["constraints"], f"{salt}:constraint"),
    }
    fields["task_cap"] = cap(fields["task"])
    fields["persona_cap"] = cap(fields["persona"])
    template = req.pick(TEMPLATES[style], f"{salt}:template")
    return template.format(**fields)


def pick_style(req: Request, weights: dict[str, float], salt: str) -> str:
    """Choose a style with the given weights (deterministic per request and salt)."""
    style = req.draw(weights, f"{salt}:style", total=sum(weights.values()))
    return style if style is not None else next(iter(weights))


def make_answer(req: Request, instruction: str, salt: str = "answer") -> str:
    """A structured, templated answer to an instruction, in the instruction's domain."""
    _, domain = req.domain(instruction)
    rng = req.rng(salt)
    concepts = rng.sample(domain["concepts"], k=min(3, len(domain["concepts"])))
    entity = req.pick(domain["entities"], salt + ":entity")
    topic = instruction.strip().rstrip("?.! ")
    if len(topic) > 80:
        topic = topic[:80].rsplit(" ", 1)[0] + " ..."
    points = [
        f"Clarify the goal and the quantities involved before choosing a method.",
        f"The key idea is {concepts[0]}: it explains most of what happens here.",
        f"Work through a concrete case, for example {entity}.",
        f"Check the result against {concepts[-1]} and state the assumptions you made.",
    ]
    n = 3 if rng.random() < 0.5 else 4
    body = "\n".join(f"{i + 1}. {p}" for i, p in enumerate(points[:n]))
    return f'Here is how I would approach "{topic}":\n\n{body}\n\nIn short: answer the question that was asked, with numbers where they exist.'
