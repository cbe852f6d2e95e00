"""IFEval's verdicts and its four numbers: prompt/instruction level, strict/loose, per kind.

Rows use IFEval's own format (`input_data.jsonl` plus a response): `instruction_id_list`
(e.g. ["punctuation:no_comma", "length_constraints:number_words"]), `kwargs` (one dict per
instruction, e.g. {"relation": "at least", "num_words": 300}) and `response`.

Strict checks the response as it is. Loose counts an instruction as followed when any of the
eight `loose_variants` passes: the response as is, without its first line, without its last,
without both, and each of those with every "*" removed. That forgives "Sure, here it is:"
and a closing remark, and markdown bold around a required phrase. An empty (or whitespace
only) response or variant never passes, even "no commas".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..._validate import InputError, require_rows, require_str
from ..accuracy import tally_verdicts
from ..constraints import loose_variants
from .checks_format import FORMAT_CHECKS
from .checks_words import WORD_CHECKS

__all__ = ["IFEVAL_KINDS", "ifeval_check", "ifeval_scores"]

# The 25 instruction kinds of IFEval, by their ids ("group:name"), each with its check.
IFEVAL_KINDS: dict[str, Callable[..., bool]] = dict(
    sorted({**WORD_CHECKS, **FORMAT_CHECKS}.items())
)


def _checker(
    instruction_id: str, kwargs: Mapping[str, Any] | None, fn: str
) -> Callable[[str], bool]:
    """The check for one instruction, its arguments bound; unknown ids or arguments raise."""
    if instruction_id not in IFEVAL_KINDS:
        raise InputError(f"{fn}(): unknown IFEval instruction {instruction_id!r}; known: "
                         f"{', '.join(IFEVAL_KINDS)}.")
    check = IFEVAL_KINDS[instruction_id]
    # IFEval's files write unused arguments as null: drop them.
    args = {k: v for k, v in (kwargs or {}).items() if v is not None}

    def bound(text: str) -> bool:
        try:
            return bool(check(text, **args))
        except TypeError as exc:  # a missing or unexpected argument name
            raise InputError(f"{fn}(): {instruction_id} with kwargs {args}: {exc}") from None

    return bound


def _follows(check: Callable[[str], bool], response: str, loose: bool) -> bool:
    candidates = loose_variants(response) if loose else [response]
    return any(bool(c.strip()) and check(c) for c in candidates)


def ifeval_check(
    response: str,
    instruction_id: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    loose: bool = False,
) -> bool:
    """True when `response` follows one IFEval instruction (strict, or loose with `loose=True`)."""
    require_str(response, "response", fn="ifeval_check")
    return _follows(_checker(instruction_id, kwargs, "ifeval_check"), response, loose)


def ifeval_scores(
    rows: Sequence[Mapping[str, Any]],
    *,
    response_key: str = "response",
) -> dict[str, Any]:
    """IFEval's four accuracies, per-kind rates and per-row verdicts, on rows in IFEval's format.

    Prompt level: the share of rows whose instructions are *all* followed; instruction level:
    the share of single instructions followed. A missing or non-string response counts as
    following nothing (`n_bad_responses`). `follow[i]` holds row i's verdict lists,
    {"strict": [...], "loose": [...]}, in the order of its `instruction_id_list`.
    """
    rows = require_rows(rows, fn="ifeval_scores", columns=("instruction_id_list",))
    prompts: list[list[tuple[str, bool, bool]]] = []
    follow: list[dict[str, list[bool]]] = []
    n_bad = 0
    for i, row in enumerate(rows):
        ids = list(row["instruction_id_list"])
        all_kwargs = list(row.get("kwargs") or [{}] * len(ids))
        if not ids or len(all_kwargs) != len(ids):
            raise InputError(f"ifeval_scores(): rows[{i}] needs a non-empty instruction_id_list "
                             "and one kwargs dict per instruction.")
        response = row.get(response_key)
        usable = isinstance(response, str)
        n_bad += not usable
        verdicts = []
        for instruction_id, kwargs in zip(ids, all_kwargs):
            check = _checker(instruction_id, kwargs, "ifeval_scores")
            verdicts.append((instruction_id,
                             usable and _follows(check, response, loose=False),
                             usable and _follows(check, response, loose=True)))
        prompts.append(verdicts)
        follow.append({"strict": [v[1] for v in verdicts], "loose": [v[2] for v in verdicts]})
    return {**tally_verdicts(prompts), "n_bad_responses": n_bad, "follow": follow}
