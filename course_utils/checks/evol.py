"""Checks for notebook 03 (Evol-Instruct). Import as `from course_utils.checks import evol as evol_checks`."""

from __future__ import annotations

from typing import Any

from .common import _safe_call, exercise_check, report
from ..dedup import rouge_l
from ..evol import EliminationRules, EvolResult, eliminate, evolve
from ..prompts import EVOL_OPERATORS, EvolOperator

# Exercise 03-2: hand-labelled evolutions (parent, candidate, operator, expected reason or None = keep).
# The good ones are what WizardLM asks for (10 to 20 new words, a specific concept in place of a
# general one); the bad ones are what teachers really return.
RULE_CASES = [
    ("Write a function that sorts a list.", "Write a Python function that sorts a list.", "concretizing", None),
    ("Explain how compound interest works.",
     "Explain how compound interest works. Answer in fewer than 5 sentences.", "constraints", None),
    ("Describe the water cycle.",
     "Describe the water cycle. Also explain how rising temperatures change evaporation and rainfall, and which "
     "regions will face more droughts.", "deepening", None),
    ("Plan a three-day trip to Lisbon for a family with two children.",
     "Suggest a winter hiking route in the Alps for beginners.", "breadth", None),
    ("Summarize the causes of the French Revolution.",
     "Summarize the causes of the French Revolution. First list the economic causes, then the political ones, and "
     "finally explain how they interacted.", "reasoning", None),
    ("Describe the water cycle.", "Describe the water cycle!", "constraints", "unchanged"),
    ("Explain how compound interest works.", "Explain how compound interest works, please.", "constraints",
     "no_new_info"),
    ("Give tips for a first job interview.",
     "Give tips for a first job interview. Answer in exactly 3 bullet points, in a formal tone, citing two studies, "
     "in under 50 words, as a table with two columns, and ending with a haiku about courage.", "constraints",
     "overlong"),
    ("Explain what a p-value means.",
     "Explain what a p-value means. Use this input: a survey of 1,200 voters, a table of 12 monthly sales figures, "
     "a Python snippet, a list of 8 exam scores, and a 300-word essay about climate policy in Europe.",
     "complicate_input", "overlong"),
    ("Compare renting and buying a home.", "#Rewritten Prompt#: Compare renting and buying a home in Berlin.",
     "concretizing", "template_copy"),
    ("Describe how vaccines train the immune system.", "Describe how vaccines", "reasoning", "shorter"),
    ("Explain how a hash table works.", "I'm sorry, but as an AI I cannot rewrite this prompt.", "deepening",
     "refusal"),
]

BROKEN_BELOW = 0.25  # exercise 03-3: ROUGE-L F1 with the root under which the meaning is considered lost
BREAK_ROUNDS = 4
DEPTH_OPERATORS = ("constraints", "deepening", "concretizing", "reasoning", "complicate_input")


@exercise_check
def check_new_operator(op: Any, result: Any) -> bool:
    """Exercise 03-1: a new, well-formed operator, used in an evolution run."""
    if not isinstance(op, EvolOperator):
        return report(False, "", "my_operator must be an EvolOperator(name, family, method), e.g. "
                                 "EvolOperator('persona', 'in-depth', 'Rewrite it as asked by ...').")
    if op.name in EVOL_OPERATORS:
        return report(False, "", f"{op.name!r} is one of the course's operators: give yours a new name.")
    if op.family not in ("in-depth", "in-breadth"):
        return report(False, "", f"family is {op.family!r}: use 'in-depth' (harder) or 'in-breadth' (new instruction).")
    method = op.method if isinstance(op.method, str) else ""
    if len(method.split()) < 6:
        return report(False, "", "The method sentence is too short to guide a rewriter: say in at least 6 words what "
                                 "to change, e.g. 'Add a realistic persona who asks the question and their situation.'")
    if any(method.strip() == o.method for o in EVOL_OPERATORS.values()):
        return report(False, "", "The method sentence copies an existing operator: write your own.")
    parent = "Explain how compound interest works."
    ok, prompt = _safe_call(op.render, parent)
    if not ok:
        return report(False, "", f"my_operator.render(...) failed: {prompt}")
    if prompt.count(parent) != 1 or "{" in prompt.replace(parent, ""):
        return report(False, "", "The rendered prompt must contain the instruction exactly once and no unfilled "
                                 "{placeholders}.")
    if not isinstance(result, EvolResult):
        return report(False, "", "Pass the EvolResult of evolve(llm, ..., operators=[..., my_operator]).")
    if op.name not in result.operators:
        return report(False, "", f"Your run did not use {op.name!r}: pass operators=[*DEFAULT_OPERATORS, my_operator].")
    used = [s for s in result.steps if s["operator"] == op.name]
    if not used:
        return report(False, "", f"{op.name!r} was never drawn: use more instructions or rounds, or another seed.")
    kept = sum(s["eliminated"] is None for s in used)
    return report(True, f"{op.name!r} was drawn {len(used)} times and {kept} of its rewrites passed elimination. "
                        f"Read a few of them: does the rewrite do what your method sentence asks?", "")


@exercise_check
def check_tuned_rules(rules: Any) -> bool:
    """Exercise 03-2: elimination rules that judge every hand-labelled case right."""
    if not isinstance(rules, EliminationRules):
        return report(False, "", "my_rules must be an EliminationRules(...), e.g. EliminationRules(min_new_words=1).")
    wrong = []
    for parent, candidate, op, want in RULE_CASES:
        ok, got = _safe_call(eliminate, parent, candidate, op, rules, parent)
        if not ok:
            return report(False, "", f"eliminate(...) failed with your rules: {got}")
        if (got is None) != (want is None):
            wrong.append((candidate, want, got))
    if wrong:
        candidate, want, got = wrong[0]
        verdict = f"eliminated as {got!r}" if got else "kept"
        should = f"be eliminated ({want})" if want else "be kept"
        return report(False, "", f"{len(wrong)} of {len(RULE_CASES)} cases judged wrong. For example "
                                 f"{candidate[:90]!r} "
                                 f"is {verdict} but should {should}. Look at how many words it adds or how many new "
                                 f"content words it has, and move the matching knob.")
    return report(True, f"All {len(RULE_CASES)} cases judged right (min_new_words={rules.min_new_words}, "
                        f"max_added_words={rules.max_added_words}). Rules are a trade-off: check them on your own "
                        f"labelled examples whenever the teacher changes.", "")


# A long, specific instruction whose in-depth evolutions keep its meaning: a drift rule must keep them.
ROBUST_INSTRUCTION = "Compare renting and buying a home in a large city when interest rates are high."


def _depth_run(llm: Any, instruction: str, rules: Any = None) -> EvolResult:
    kwargs = {} if rules is None else {"rules": rules}
    return evolve(llm, [instruction], rounds=BREAK_ROUNDS, operators=DEPTH_OPERATORS, seed=0, **kwargs)


def _worst(instruction: str, run: EvolResult) -> float:
    return min((rouge_l(instruction, s["candidate"]) for s in run.steps if s["eliminated"] is None), default=1.0)


def _similarity_problem(fn: Any, llm: Any, instruction: str) -> str | None:
    """What is wrong with the learner's worst_similarity (None when it agrees with the reference)."""
    if not callable(fn):
        return ("Pass your worst_similarity function too: check_broken_instruction(llm, fragile, drift_rules, "
                "worst_similarity).")
    for text in (instruction, ROBUST_INSTRUCTION):
        ok, got = _safe_call(fn, text)
        if not ok:
            return f"worst_similarity({text!r}) failed: {got}"
        want = _worst(text, _depth_run(llm, text))
        if isinstance(got, bool) or not isinstance(got, (int, float)) or abs(float(got) - want) > 1e-6:
            return (f"worst_similarity({text!r}) returned {got!r}; expected {want:.3f}: the LOWEST ROUGE-L between "
                    f"the instruction and a rewrite that passed elimination (1.0 when none passed), with the "
                    f"five in-depth operators, {BREAK_ROUNDS} rounds, seed 0.")
    return None


@exercise_check
def check_broken_instruction(llm: Any, instruction: Any, rules: Any, worst_similarity: Any = None) -> bool:
    """Exercise 03-3: an instruction whose in-depth evolution loses its meaning, and a rule that catches it."""
    if not isinstance(instruction, str) or not instruction.strip():
        return report(False, "", "fragile must be a non-empty instruction (a string).")
    if not isinstance(rules, EliminationRules):
        return report(False, "", "drift_rules must be an EliminationRules(..., min_root_similarity=...).")
    ok, plain = _safe_call(_depth_run, llm, instruction)
    if not ok:
        return report(False, "", f"evolve(...) failed on your instruction: {plain}")
    problem = _similarity_problem(worst_similarity, llm, instruction)
    if problem:
        return report(False, "", problem)
    if not any(s["eliminated"] is None for s in plain.steps):
        return report(False, "", "Every evolution of your instruction was eliminated, so nothing drifted: "
                                 "try another one.")
    worst = _worst(instruction, plain)
    if worst >= BROKEN_BELOW:
        return report(False, "", f"The evolved versions keep a ROUGE-L of at least {worst:.2f} with your instruction "
                                 f"(needed: below {BROKEN_BELOW}). Short, vague instructions are the easiest to drown.")
    if rules.min_root_similarity <= 0:
        return report(False, "", "Evolution breaks it (good find), but drift_rules does not switch the drift rule on: "
                                 "set min_root_similarity above 0.")
    ok, guarded = _safe_call(_depth_run, llm, instruction, rules)
    if not ok:
        return report(False, "", f"evolve(..., rules=drift_rules) failed: {guarded}")
    drift = sum(s["eliminated"] == "drift" for s in guarded.steps)
    kept = sum(s["eliminated"] is None for s in guarded.steps)
    if not drift:
        return report(False, "", f"With your rules no evolution is eliminated as 'drift': raise min_root_similarity "
                                 f"(the worst rewrite has ROUGE-L {worst:.2f} with the root).")
    if not kept:
        return report(False, "", f"With min_root_similarity={rules.min_root_similarity} every rewrite of your "
                                 f"instruction is eliminated: that stops evolution instead of catching drift. "
                                 f"Lower it until only the rewrites that lost the meaning go.")
    ok, robust = _safe_call(_depth_run, llm, ROBUST_INSTRUCTION, rules)
    robust_drift = sum(s["eliminated"] == "drift" for s in robust.steps) if ok else 0
    if robust_drift:
        return report(False, "", f"Your rule also eliminates {robust_drift} rewrite(s) of {ROBUST_INSTRUCTION!r}, "
                                 f"which keep its meaning (the worst keeps ROUGE-L "
                                 f"{_worst(ROBUST_INSTRUCTION, _depth_run(llm, ROBUST_INSTRUCTION)):.2f}): "
                                 f"min_root_similarity is too high.")
    return report(True, f"Evolution drowned {instruction!r} (ROUGE-L with the root down to {worst:.2f}) and every "
                        f"surface rule let it through; your drift rule eliminated {drift} rewrite(s), kept {kept}, "
                        f"and leaves a long, specific instruction alone. The parent stays in the pool, so nothing "
                        f"is lost.", "")
