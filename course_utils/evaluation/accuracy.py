"""IFEval-style accuracy with the course's own rules (IFEval's definitions: ifeval_scores)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from .._validate import InputError, require_rows
from .constraints import _follows, _normalise

__all__ = ["if_rate", "tally_verdicts"]


def if_rate(
    rows: Sequence[Mapping[str, Any]],
    *,
    response_key: str = "response",
    constraints_key: str = "constraints",
) -> dict[str, Any]:
    """IFEval-style accuracy: prompt/instruction level, strict/loose, and per constraint kind.

    Each row holds a response (`row[response_key]`) and a list of constraint dicts
    (`row[constraints_key]`). Prompt-level accuracy is the share of rows whose constraints are
    *all* followed; instruction-level accuracy is the share of single constraints followed.
    A missing or non-string response (a failed generation) is counted as following nothing
    and reported in `n_bad_responses`; it never raises. Rows with an empty constraint list are
    skipped and counted in `n_rows_without_constraints`.
    """
    rows = require_rows(rows, fn="if_rate")
    prompts: list[list[tuple[str, bool, bool]]] = []
    n_bad = n_without = 0
    for i, row in enumerate(rows):
        constraints = row.get(constraints_key)
        if constraints is None or isinstance(constraints, (str, Mapping)):
            raise InputError(
                f"if_rate(): rows[{i}] has no list under {constraints_key!r}: give every row a "
                "list of constraint dicts (use parse_constraints(instruction) to find them)."
            )
        constraints = list(constraints)
        if not constraints:
            n_without += 1
            continue
        normalised = [_normalise(c) for c in constraints]
        response = row.get(response_key)
        ok = isinstance(response, str)
        n_bad += not ok
        prompts.append([(kind.name,
                         ok and _follows(response, kind, params, loose=False),
                         ok and _follows(response, kind, params, loose=True))
                        for kind, params in normalised])
    if not prompts:
        raise InputError(
            "if_rate(): no row carries a constraint: add constraint dicts to the rows, e.g. with "
            "parse_constraints(row['instruction'])."
        )
    summary = tally_verdicts(prompts)
    per_kind = summary.pop("per_kind")
    return {**summary, "n_bad_responses": n_bad, "n_rows_without_constraints": n_without,
            "per_kind": per_kind}


def tally_verdicts(prompts: Sequence[Sequence[tuple[str, bool, bool]]]) -> dict[str, Any]:
    """The four IF accuracies and per-kind rates from each prompt's (kind, strict, loose) verdicts.

    Prompt level: the share of prompts whose instructions are *all* followed; instruction level:
    the share of single instructions followed. Every prompt must hold at least one verdict.
    """
    prompt_hits = {"strict": 0, "loose": 0}
    instr_hits = {"strict": 0, "loose": 0}
    per_kind: dict[str, dict[str, int]] = defaultdict(lambda: {"n": 0, "strict": 0, "loose": 0})
    n_instructions = 0
    for verdicts in prompts:
        n_instructions += len(verdicts)
        for kind, strict, loose in verdicts:
            stats = per_kind[kind]
            stats["n"] += 1
            for mode, hit in (("strict", strict), ("loose", loose)):
                instr_hits[mode] += hit
                stats[mode] += hit
        prompt_hits["strict"] += all(strict for _, strict, _ in verdicts)
        prompt_hits["loose"] += all(loose for _, _, loose in verdicts)
    n_prompts = len(prompts)
    return {
        "prompt_strict": prompt_hits["strict"] / n_prompts,
        "prompt_loose": prompt_hits["loose"] / n_prompts,
        "instruction_strict": instr_hits["strict"] / n_instructions,
        "instruction_loose": instr_hits["loose"] / n_instructions,
        "n_prompts": n_prompts,
        "n_instructions": n_instructions,
        "per_kind": {
            k: {"n": v["n"], "strict": v["strict"] / v["n"], "loose": v["loose"] / v["n"]}
            for k, v in sorted(per_kind.items())
        },
    }
