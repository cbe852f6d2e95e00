"""Evol-Instruct (Xu et al., 2023, WizardLM) as a small, seeded loop with an elimination step.

The loop, round by round:

1. every instruction in the pool gets **one operator**, drawn with a seeded generator from the
   in-depth operators (add constraints, deepening, concretizing, increased reasoning steps,
   complicate input) and the in-breadth one (a new instruction on a new topic, same difficulty);
   the operators are versioned prompt templates in `course_utils.prompts.EVOL_OPERATORS`;
2. the model rewrites the instruction with that operator's prompt;
3. **elimination** (described in the paper, absent from its repository) decides whether the
   evolution failed: empty output, a refusal ("sorry", "as an AI"), template words copied
   into the rewrite ("#Rewritten Prompt#", "given prompt"), an unchanged rewrite or one that
   adds no information, a rewrite shorter than its parent, or one over the length cap (a pile
   of hallucinated constraints);
4. a successful rewrite replaces its parent in the pool; a **failed one keeps the parent**, as
   WizardLM does, so nothing already generated is lost.

`evolve` returns an `EvolResult`: every attempt (operator, parent, candidate, verdict, ROUGE-L
with the parent and with the root), the eliminations by reason per round, the complexity of the
pool per round (`course_utils.evaluation.complexity`) and its similarity to the roots, which is
the double edge of evolution: harder instructions that may no longer mean what they meant.

Everything is seeded: the same seed, pool, operators and LLM give the same result. Model output
is untrusted: empty, refused or garbage output is counted under its reason, never raised.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

from .dedup import embed, rouge_l
from .evaluation import complexity
from .generation import seed_sampling
from ._validate import InputError, require_int, require_unit
from .parsing import is_refusal
from .progress import generate_outputs
from .prompts import EVOL_OPERATORS, EvolOperator

__all__ = [
    "DEFAULT_OPERATORS", "EXAMPLE_INSTRUCTIONS", "MAX_NEW_TOKENS", "REASONS", "TEMPLATE_WORDS", "EliminationRules",
    "EvolResult", "eliminate", "evolve", "evolve_once", "new_words", "resolve_operators",
]

DEFAULT_OPERATORS: tuple[str, ...] = tuple(EVOL_OPERATORS)  # five in-depth, one in-breadth
# The token budget of notebook 03 for one rewrite: at least twice the longest rewrite the prompt
# asks for. Measured with the offline teacher (approx tokens, words and punctuation marks; a
# WordPiece tokenizer counts up to 13% more): over 720 rewrites of 4 rounds from three seeds, the
# longest is 105 (the parents grow each round); distilabel's EvolInstruct
# rewrites, at most 84. The prompt asks for the parent plus 10 to 20 words, and elimination
# accepts up to 150 words (`max_words`, about 200 tokens): 256 keeps an overlong rewrite long
# enough for the `overlong` rule to see it, instead of cutting it into one that passes.
MAX_NEW_TOKENS = 256
# Why an evolution failed, in the order the rules are tried (the first that fires is counted).
REASONS = ("empty", "refusal", "template_copy", "unchanged", "shorter", "no_new_info", "overlong", "drift")
# Words of the rewriting prompt that must never reach the rewrite (compared lowercased).
TEMPLATE_WORDS = ("#the given prompt#", "#given prompt#", "#rewritten prompt#", "#created prompt#",
                  "given prompt", "rewritten prompt", "created prompt")

# A small, varied starting pool for the lesson: short instructions, as in WizardLM's Alpaca seeds.
EXAMPLE_INSTRUCTIONS = (
    "Explain what a bond is.",
    "Write a function that computes the variance of a list of numbers.",
    "Suggest a weekly menu for a family of four.",
    "Describe how vaccines train the immune system.",
    "Compare renting and buying a home.",
    "Summarize the causes of the French Revolution.",
    "Plan a three-day trip to Lisbon.",
    "Explain the difference between weather and climate.",
    "Give tips for a first job interview.",
    "Explain how compound interest works.",
    "Describe the water cycle.",
    "Write a short poem about autumn.",
    "Explain how a hash table works.",
    "Give advice on growing tomatoes on a balcony.",
    "Explain what a p-value means.",
    "Draft an email asking a customer for feedback.",
)

_STOPWORDS = frozenset("""a an the and or but if of to in on at by for with from as is are was were be been being
this that these those it its into than then so such do does did can could would should will shall may might
must you your yours we our i me my he she they them their his her what which who whom how why when where
also not no any all each every some more most very just about over under up down out please kindly""".split())
_WORD = re.compile(r"[a-z0-9]+(?:['’-][a-z0-9]+)*")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def new_words(parent: str, candidate: str) -> list[str]:
    """Content words of `candidate` that `parent` does not have (stopwords ignored), in order, once each."""
    seen = set(_words(parent)) | _STOPWORDS
    out: list[str] = []
    for w in _words(candidate):
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


# --- elimination -----------------------------------------------------------------------------------


def _require(check: Callable[[], Any], fix: str) -> Any:
    """Run a `_validate` check; its InputError gets the lesson's advice appended."""
    try:
        return check()
    except InputError as err:
        raise InputError(f"{err} {fix}") from None


def _unit(value: Any, name: str, fix: str, fn: str = "EliminationRules", example: str = "0.5") -> float:
    return _require(lambda: require_unit(value, name, fn=fn, example=example), fix)


def _count(value: Any, name: str, minimum: int, fix: str, fn: str = "EliminationRules") -> int:
    return _require(lambda: require_int(value, name, minimum, fn=fn), fix)


@dataclass(frozen=True)
class EliminationRules:
    """When an evolution counts as failed. Each field is one rule's knob.

    - `min_new_words`: fewer new content words than this = "no_new_info" (0 turns it off);
    - `max_added_words`: an in-depth rewrite that adds more words than this = "overlong"
      (WizardLM asks for 10 to 20 more words; a longer one piles on hallucinated constraints);
    - `max_words`: any rewrite longer than this = "overlong";
    - `breadth_min_ratio`: a breadth rewrite shorter than this fraction of its parent = "shorter"
      (an in-depth rewrite is "shorter" as soon as it has fewer words than its parent);
    - `min_root_similarity`: ROUGE-L F1 with the root below this = "drift", the meaning is lost
      (in-depth rewrites only; 0.0, the default, turns it off, as in WizardLM).
    """

    min_new_words: int = 2
    max_added_words: int = 30
    max_words: int = 150
    breadth_min_ratio: float = 0.5
    min_root_similarity: float = 0.0

    def __post_init__(self) -> None:
        _count(self.min_new_words, "min_new_words", 0, "Use 2 (a rewrite must add at least two new words).")
        _count(self.max_added_words, "max_added_words", 1,
               "Use 30: WizardLM asks for 10 to 20 more words, so 30 is lenient.")
        _count(self.max_words, "max_words", 1, "Use 150, the Self-Instruct length cap.")
        _unit(self.breadth_min_ratio, "breadth_min_ratio", "Use 0.5: a new instruction at least half as long.")
        _unit(self.min_root_similarity, "min_root_similarity",
              "Use 0.0 to switch the drift rule off, or a small ROUGE-L such as 0.2.", example="0.2")


def _family(op: Union[str, EvolOperator, None]) -> str:
    if isinstance(op, EvolOperator):
        return op.family
    known = EVOL_OPERATORS.get(op) if isinstance(op, str) else None
    return known.family if known else "in-depth"


def eliminate(parent: str, candidate: Any, operator: Union[str, EvolOperator, None] = "constraints",
              rules: Optional[EliminationRules] = None, root: Optional[str] = None) -> Optional[str]:
    """Why the evolution `parent` -> `candidate` failed (one of REASONS), or None if it passed.

    Never raises on model output: `candidate` may be anything (None, "", garbage). The rules are
    tried in the order of REASONS and the first that fires is returned.
    """

    rules = rules or EliminationRules()
    if not isinstance(rules, EliminationRules):
        raise ValueError("rules must be an EliminationRules, e.g. EliminationRules(max_added_words=25).")
    parent = parent if isinstance(parent, str) else ""
    if not isinstance(candidate, str) or not candidate.strip():
        return "empty"
    text = candidate.strip()
    if is_refusal(text):
        return "refusal"
    low = text.lower()
    if any(w in low for w in TEMPLATE_WORDS):
        return "template_copy"
    if " ".join(_words(text)) == " ".join(_words(parent)):
        return "unchanged"
    n_parent, n_child = len(_words(parent)), len(_words(text))
    depth = _family(operator) != "in-breadth"
    if (n_child < n_parent) if depth else (n_child < rules.breadth_min_ratio * n_parent):
        return "shorter"
    if len(new_words(parent, text)) < rules.min_new_words:
        return "no_new_info"
    if n_child > rules.max_words or (depth and n_child - n_parent > rules.max_added_words):
        return "overlong"
    if depth and rules.min_root_similarity > 0 and root is not None \
            and rouge_l(root, text) < rules.min_root_similarity:
        return "drift"
    return None


# --- operators and input --------------------------------------------------------------------------


def resolve_operators(operators: Any = None) -> list[EvolOperator]:
    """Operators as a list of EvolOperator: names from EVOL_OPERATORS, EvolOperator objects, or a dict of them."""
    if operators is None:
        return list(EVOL_OPERATORS.values())
    if isinstance(operators, (str, EvolOperator)):
        operators = [operators]
    if isinstance(operators, Mapping):
        operators = list(operators.values())
    if not isinstance(operators, Iterable):
        raise ValueError("operators must be a list of operator names or EvolOperator objects, e.g. "
                         f"{list(DEFAULT_OPERATORS)!r}.")
    out: list[EvolOperator] = []
    for op in operators:
        if isinstance(op, str):
            if op not in EVOL_OPERATORS:
                raise ValueError(f"Unknown operator {op!r}. Known: {', '.join(EVOL_OPERATORS)}; or pass your own "
                                 f"EvolOperator(name, 'in-depth', method).")
            op = EVOL_OPERATORS[op]
        if not isinstance(op, EvolOperator):
            raise ValueError(f"{op!r} is not an operator: pass names such as 'deepening' or EvolOperator objects.")
        if op.family not in ("in-depth", "in-breadth"):
            raise ValueError(f"Operator {op.name!r} has family {op.family!r}: use 'in-depth' or 'in-breadth'.")
        if not op.method.strip():
            raise ValueError(f"Operator {op.name!r} has an empty method sentence: say how to rewrite the prompt.")
        out.append(op)
    if not out:
        raise ValueError("operators is empty: pass at least one, e.g. operators=['constraints', 'deepening'] "
                         "or None for all six.")
    return out


def _instructions(pool: Any, column: str) -> list[str]:
    if pool is None or isinstance(pool, (str, bytes)) or not isinstance(pool, Iterable):
        raise ValueError("instructions must be a list of strings or of dicts with an "
                         f"{column!r} column, e.g. list(EXAMPLE_INSTRUCTIONS).")
    pool = list(pool)
    if not pool:
        raise ValueError("The pool is empty: Evol-Instruct rewrites existing instructions. Pass at least one, "
                         "e.g. list(EXAMPLE_INSTRUCTIONS) or the seed tasks of notebook 02.")
    out = []
    for i, item in enumerate(pool):
        if isinstance(item, Mapping):
            if column not in item:
                raise ValueError(f"Row {i} has no {column!r} column (columns: {sorted(map(str, item))}). Pass "
                                 f"column='<the column with the instruction>' or rename it.")
            item = item[column]
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"Instruction {i} is empty or not text ({item!r:.60}); remove it or fill it in.")
        out.append(" ".join(item.split()))
    return out


def _first_generation(output: Any) -> Optional[str]:
    gens = output.get("generations") if isinstance(output, Mapping) else None
    text = gens[0] if isinstance(gens, (list, tuple)) and gens else None
    return text.strip() if isinstance(text, str) else None


def evolve_once(llm: Any, instruction: str, operator: Union[str, EvolOperator] = "constraints",
                rules: Optional[EliminationRules] = None, max_new_tokens: int = MAX_NEW_TOKENS) -> dict:
    """One rewrite of one instruction: the prompt, the model's answer and the elimination verdict."""
    op = resolve_operators([operator])[0]
    parent = _instructions([instruction], "instruction")[0]
    max_new_tokens = _count(max_new_tokens, "max_new_tokens", 1, "Use MAX_NEW_TOKENS, the lesson's budget.",
                            "evolve_once")
    prompt = op.render(parent)
    outputs = llm.generate_outputs([[{"role": "user", "content": prompt}]], num_generations=1,
                                   max_new_tokens=max_new_tokens)
    candidate = _first_generation(outputs[0] if outputs else None)
    return {"operator": op.name, "prompt": prompt, "parent": parent, "candidate": candidate,
            "eliminated": eliminate(parent, candidate, op, rules, root=parent)}


# --- the result --------------------------------------------------------------------------------------


def _mean(values: Iterable[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _embed_quietly(texts: Sequence[str], model: Any):
    """`dedup.embed` without the weight-loading progress bar (a widget in Jupyter, noise in a lesson)."""

    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        return embed(texts, model=model)
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return embed(texts, model=model)
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


@dataclass
class EvolResult:
    """Every attempt of an Evol-Instruct run, and the measurements built from them."""

    roots: list[str]
    rounds: int
    seed: int
    operators: list[str]
    rules: EliminationRules
    steps: list[dict] = field(default_factory=list)  # one per (round, root)

    def pool_at(self, r: int) -> list[str]:
        """The pool after round r (round 0: the roots)."""
        pool = list(self.roots)
        for s in self.steps:
            if s["round"] <= r:
                pool[s["root_id"]] = s["instruction"]
        return pool

    @property
    def pool(self) -> list[str]:
        """The final instruction of each lineage (a failed last round leaves its parent)."""
        return self.pool_at(self.rounds)

    def lineage(self, root_id: int) -> list[dict]:
        """The attempts for one root, round by round."""
        if isinstance(root_id, bool) or not isinstance(root_id, int) or not 0 <= root_id < len(self.roots):
            raise ValueError(f"root_id must be an int from 0 to {len(self.roots) - 1}.")
        return [s for s in self.steps if s["root_id"] == root_id]

    def dataset(self) -> list[dict]:
        """Every instruction the run produced: the roots (round 0) and each successful evolution."""
        rows = [{"instruction": t, "root_id": i, "round": 0, "operator": None} for i, t in enumerate(self.roots)]
        rows += [{"instruction": s["candidate"], "root_id": s["root_id"], "round": s["round"],
                  "operator": s["operator"]}
                 for s in self.steps if s["eliminated"] is None]
        return rows

    def eliminations(self) -> list[dict]:
        """Per round: attempts, evolved (passed), and the failed ones by reason."""
        reasons = [r for r in REASONS if r != "drift" or self.rules.min_root_similarity > 0]
        out = []
        for r in range(1, self.rounds + 1):
            steps = [s for s in self.steps if s["round"] == r]
            c = Counter(s["eliminated"] for s in steps)
            out.append({"round": r, "attempts": len(steps), "evolved": c[None], **{k: c[k] for k in reasons}})
        return out

    def failure_rate(self) -> float:
        """Share of all attempts that were eliminated."""
        return sum(s["eliminated"] is not None for s in self.steps) / len(self.steps) if self.steps else 0.0

    def complexity_by_round(self, embeddings: bool = False, model: Any = None) -> list[dict]:
        """Per round (0 = roots): the pool's mean words, constraint and reasoning cues, complexity score,
        the mean ROUGE-L of this round's successful rewrites with their parent, and of the pool with the
        roots; with `embeddings=True`, also the mean embedding cosine of the pool with the roots."""

        pools = [self.pool_at(r) for r in range(self.rounds + 1)]
        if embeddings:  # one call for every distinct text (pools repeat most of their texts)
            unique = list(dict.fromkeys(t for pool in pools for t in pool))
            vectors = dict(zip(unique, _embed_quietly(unique, model)))
        rows = []
        for r, pool in enumerate(pools):
            cx = [complexity(t) for t in pool]
            passed = [s for s in self.steps if s["round"] == r and s["eliminated"] is None]
            row = {"round": r, "words": _mean(c["words"] for c in cx),
                   "constraints": _mean(c["constraints"] for c in cx),
                   "reasoning": _mean(c["reasoning"] for c in cx), "score": _mean(c["score"] for c in cx),
                   "evolved": len(passed) if r else None,
                   "rouge_parent": _mean(s["rouge_parent"] for s in passed) if r else None,
                   "rouge_root": _mean(rouge_l(a, b) for a, b in zip(self.roots, pool))}
            if embeddings:
                cosines = [float((vectors[a] * vectors[b]).sum()) for a, b in zip(self.roots, pool)]
                row["cosine_root"] = sum(cosines) / len(cosines)
            rows.append(row)
        return rows

    def table(self) -> str:
        """Eliminations by reason per round, as a fixed-width text table with a total line."""
        rows = self.eliminations()
        cols = list(rows[0]) if rows else ["round", "attempts", "evolved"]
        widths = [max(len(c), 5) for c in cols]
        line = lambda cells: "  ".join(f"{str(c):>{w}}" for c, w in zip(cells, widths))  # noqa: E731
        out = [line(cols), line(["-" * w for w in widths])]
        out += [line([r[c] for c in cols]) for r in rows]
        out.append(line(["total"] + [sum(r[c] for r in rows) for c in cols[1:]]))
        return "\n".join(out)

    def complexity_table(self, rows: Optional[Sequence[dict]] = None) -> str:
        """`complexity_by_round()` (or the `rows` it returned) as a fixed-width text table."""
        rows = list(rows) if rows is not None else self.complexity_by_round()
        cols = list(rows[0])
        fmt = lambda v: "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))  # noqa: E731
        widths = [max(len(c), 6) for c in cols]
        out = ["  ".join(f"{c:>{w}}" for c, w in zip(cols, widths))]
        out += ["  ".join(f"{fmt(r[c]):>{w}}" for c, w in zip(cols, widths)) for r in rows]
        return "\n".join(out)

    def plot(self, rows: Optional[Sequence[dict]] = None):
        """Three panels per round: length, constraint + reasoning cues, similarity to parent and root.

        `rows`: what `complexity_by_round` returned (computed when None; with a `cosine_root`
        column, the embedding cosine is drawn too). Returns a matplotlib Figure, already closed in
        pyplot (display it as a cell's last value or with `display(fig)`)."""
        import matplotlib.pyplot as plt

        rows = list(rows) if rows is not None else self.complexity_by_round()
        embeddings = all("cosine_root" in r for r in rows)
        xs = [r["round"] for r in rows]
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
        axes[0].plot(xs, [r["words"] for r in rows], marker="o", color="#2b6cb0")
        axes[0].set_title("Mean words per instruction", fontsize=10)
        axes[1].plot(xs, [r["constraints"] for r in rows], marker="o", color="#c05621", label="constraint cues")
        axes[1].plot(xs, [r["reasoning"] for r in rows], marker="s", color="#6b46c1", label="reasoning cues")
        axes[1].set_title("Mean cues per instruction", fontsize=10)
        axes[1].legend(fontsize=7, frameon=False)
        axes[2].plot(xs, [r["rouge_root"] for r in rows], marker="o", color="#2f855a", label="ROUGE-L with root")
        px = [r["round"] for r in rows if r["rouge_parent"] is not None]
        axes[2].plot(px, [r["rouge_parent"] for r in rows if r["rouge_parent"] is not None], marker="s",
                     color="#9e9e9e", label="ROUGE-L with parent")
        if embeddings:
            axes[2].plot(xs, [r["cosine_root"] for r in rows], marker="^", color="#d53f8c", label="cosine with root")
        axes[2].set_ylim(0, 1.05)
        axes[2].set_title("Similarity (the double edge)", fontsize=10)
        axes[2].legend(fontsize=7, frameon=False)
        for a in axes:
            a.set_xlabel("round (0 = roots)")
            a.set_xticks(xs)
            a.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        plt.close(fig)
        return fig


# --- the loop -----------------------------------------------------------------------------------------


def evolve(llm: Any, instructions: Any, *, rounds: int = 4, operators: Any = None, seed: int = 0,
           rules: Optional[EliminationRules] = None, column: str = "instruction",
           max_new_tokens: int = MAX_NEW_TOKENS) -> EvolResult:
    """Run Evol-Instruct for `rounds` rounds over a pool of instructions; returns an EvolResult.

    Each round, every instruction in the pool gets one operator drawn with `random.Random(seed)`
    from `operators` (names of `EVOL_OPERATORS` or your own `EvolOperator`s; default: all six),
    the model rewrites it, and `eliminate` judges the rewrite with `rules`. A rewrite that passes
    replaces its parent; a failed one leaves the parent in the pool for the next round.
    `instructions`: strings, or dicts with the instruction under `column`. `max_new_tokens` bounds
    each rewrite (MAX_NEW_TOKENS: over twice the longest rewrite measured). A sampling model is seeded
    with `seed` first (`generation.seed_sampling`), so the same seed gives the same result.
    """
    roots = _instructions(instructions, column)
    rounds = _count(rounds, "rounds", 1, "Use rounds=1 or more (WizardLM ran 4 rounds).", "evolve")
    ops = resolve_operators(operators)
    if rules is None:
        rules = EliminationRules()
    if not isinstance(rules, EliminationRules):
        raise ValueError("rules must be an EliminationRules, e.g. EliminationRules(max_added_words=25).")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    max_new_tokens = _count(max_new_tokens, "max_new_tokens", 1, "Use MAX_NEW_TOKENS, the lesson's budget.",
                            "evolve")
    if not hasattr(llm, "generate_outputs"):
        raise ValueError("llm must be a loaded distilabel LLM, e.g. llm = get_llm(seed=0).")

    rng = random.Random(seed)
    sampling = seed_sampling(llm, seed)  # a transformers model: torch seeded; a server: its `seed`
    result = EvolResult(roots, rounds, seed, [op.name for op in ops], rules)
    pool = list(roots)
    for r in range(1, rounds + 1):
        chosen = [rng.choice(ops) for _ in pool]
        prompts = [[{"role": "user", "content": op.render(parent)}] for op, parent in zip(chosen, pool)]
        outputs = generate_outputs(llm, prompts, desc=f"Evol-Instruct round {r}/{rounds}",
                                   max_new_tokens=max_new_tokens, **sampling)
        outputs += [None] * (len(prompts) - len(outputs))  # a backend that returned fewer outputs
        for i, (op, parent, out) in enumerate(zip(chosen, pool, outputs)):
            candidate = _first_generation(out)
            reason = eliminate(parent, candidate, op, rules, root=roots[i])
            ok = reason is None
            result.steps.append({
                "root_id": i, "round": r, "operator": op.name, "family": op.family, "parent": parent,
                "candidate": candidate, "eliminated": reason, "instruction": candidate if ok else parent,
                "rouge_parent": round(rouge_l(parent, candidate), 3) if ok else None,
                "rouge_root": round(rouge_l(roots[i], candidate), 3) if ok else None,
            })
            if ok:
                pool[i] = candidate
    return result
