"""Export pairs in TRL's conversational preference format, with a dataset card.

TRL's `DPOTrainer` (trl 1.16) reads "prompt" (the conversation up to the answer, as a list of
messages), "chosen" and "rejected" (each a list with one assistant message); it applies the
tokenizer's chat template to prompt + chosen and prompt + rejected. Records hold exactly these
three keys, so no extra column reaches the trainer; the pair statistics go to the card.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from .._validate import InputError, require_rows, require_str
from ..formats import write_jsonl_atomic

__all__ = ["DATA_FILE", "dataset_card", "to_trl_preference", "write_preference_dataset"]

DATA_FILE = "train.jsonl"


def to_trl_preference(pairs: Sequence[Mapping[str, Any]], *,
                      system: Optional[str] = None) -> list[dict]:
    """Records {"prompt": [system?, user], "chosen": [assistant], "rejected": [assistant]}."""
    fn = "to_trl_preference"
    pairs = require_rows(pairs, "pairs", fn=fn, columns=("instruction", "chosen", "rejected"),
                         allow_empty=True)
    if system is not None:
        require_str(system, "system", fn=fn, allow_empty=False)
    records = []
    for i, p in enumerate(pairs):
        for key in ("instruction", "chosen", "rejected"):
            require_str(p[key], f"pairs[{i}][{key!r}]", fn=fn, allow_empty=False)
        prompt = ([{"role": "system", "content": system}] if system else [])
        prompt.append({"role": "user", "content": p["instruction"]})
        records.append({"prompt": prompt,
                        "chosen": [{"role": "assistant", "content": p["chosen"]}],
                        "rejected": [{"role": "assistant", "content": p["rejected"]}]})
    return records


def _rate(x: Any) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def dataset_card(n_records: int, report: Optional[Mapping[str, Any]] = None, *,
                 teacher: str = "offline-teacher", judge: Optional[str] = None) -> str:
    """A README.md for the export: format, counts by deciding source, agreement, length bias."""
    lines = ["---", "task_categories:", "- text-generation", "tags:", "- dpo", "- preference",
             "- synthetic", "---", "", "# Preference pairs (chosen / rejected)", "",
             f"{n_records} pairs in TRL's conversational preference format (`{DATA_FILE}`: "
             "`prompt`, `chosen`, `rejected`, each a list of chat messages), for `DPOTrainer`.", "",
             f"- Responses sampled from: `{teacher}`", f"- Judge: `{judge or teacher}`"]
    if teacher == "offline-teacher":
        lines.append("- The offline teacher is rule-based (templates, no neural network): its "
                     "quality differences and its judge's scores are produced by rules.")
    if report:
        agree = report.get("agreement") or {}
        lines += ["", "## How each pair was decided", "",
                  f"Compared {report.get('compared', 'n/a')} response pairs; "
                  f"{report.get('ties', 'n/a')} ties skipped. Margins: "
                  f"`{json.dumps(report.get('margin', {}))}`.", "",
                  "| decided by | pairs |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in (report.get("decided_by") or {}).items()]
        lines += ["", f"Judge vs verifiable checks, on pairs both separate: agree on "
                  f"{agree.get('agree', 0)}/{agree.get('both_separate', 0)} "
                  f"({_rate(agree.get('rate'))})."]
        bias = report.get("length_bias") or {}
        if bias:
            lines += ["", "| decided by | pairs | chosen longer |", "|---|---|---|"]
            lines += [f"| {k} | {v['pairs']} | {_rate(v['longer_rate'])} |"
                      for k, v in bias.items()]
        if report.get("cleaning"):
            lines += ["", f"Cleaning: `{json.dumps(report['cleaning'])}`."]
    return "\n".join(lines) + "\n"


def write_preference_dataset(records: Sequence[Mapping[str, Any]], folder: str | os.PathLike, *,
                             report: Optional[Mapping[str, Any]] = None,
                             teacher: str = "offline-teacher",
                             judge: Optional[str] = None) -> Path:
    """Write `folder/train.jsonl` (atomically) and `folder/README.md`; returns the folder."""
    fn = "write_preference_dataset"
    records = require_rows(records, "records", fn=fn, columns=("prompt", "chosen", "rejected"),
                           allow_empty=True)  # a random model can leave no pair: still a card
    for i, r in enumerate(records):
        if not all(isinstance(r[k], list) and r[k] for k in ("prompt", "chosen", "rejected")):
            raise InputError(f"{fn}(): records[{i}] is not in TRL's conversational format: "
                             "build the records with to_trl_preference(pairs).")
    if not isinstance(folder, (str, os.PathLike)) or not str(folder).strip():
        raise InputError(f"{fn}(): folder must be a path such as 'data/preference'.")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out / DATA_FILE, records)
    card = dataset_card(len(records), report, teacher=teacher, judge=judge)
    tmp = out / "README.md.tmp"
    tmp.write_text(card, encoding="utf-8")
    os.replace(tmp, out / "README.md")
    return out
