"""IFEval's 541 real prompts and published model responses, shipped as course data.

The files under `course_utils/data/ifeval/` are copied unchanged from google-research's
`instruction_following_eval/data` (Apache-2.0; see the README there). `load_ifeval` joins the
prompts with one model's responses; `IFEVAL_PAPER_SCORES` is the paper's Table 2 for comparison.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..._validate import InputError

if TYPE_CHECKING:  # pragma: no cover - for the type hint only
    from importlib.resources.abc import Traversable

__all__ = ["IFEVAL_PAPER_SCORES", "IFEVAL_RESPONSE_FILES", "ifeval_available", "load_ifeval"]

DATA_DIR = "data/ifeval"
PROMPTS_FILE = "input_data.jsonl"
# Which file holds which model's responses (the PaLM 2 file ships only when it is present).
IFEVAL_RESPONSE_FILES = {
    "gpt4": "input_response_data_gpt4_20231107_145030.jsonl",
    "palm2": "input_response_data_text_bison.jsonl",
}
# Zhou et al. (2023), arXiv:2311.07911, Table 2, in percent.
IFEVAL_PAPER_SCORES = {
    "gpt4": {"prompt_strict": 76.89, "instruction_strict": 83.57,
             "prompt_loose": 79.30, "instruction_loose": 85.37},
    "palm2": {"prompt_strict": 43.07, "instruction_strict": 55.76,
              "prompt_loose": 46.95, "instruction_loose": 59.11},
}


def _path(name: str) -> Traversable:
    """Where a shipped IFEval file lives inside the installed package."""
    return resources.files("course_utils").joinpath(f"{DATA_DIR}/{name}")


def _read_jsonl(name: str) -> list[dict[str, Any]]:
    """The rows of one shipped jsonl file."""
    text = _path(name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def ifeval_available(model: str) -> bool:
    """Whether the responses of `model` ("gpt4" or "palm2") ship with this copy of the course."""
    name = IFEVAL_RESPONSE_FILES.get(model)
    return name is not None and _path(name).is_file()


def load_ifeval(model: str | None = "gpt4") -> list[dict[str, Any]]:
    """The 541 IFEval prompts, each with `model`'s response (None: the prompts alone).

    Each row: `key`, `prompt`, `instruction_id_list`, `kwargs` and, unless model is None,
    `response`. Responses are matched by prompt text; a prompt reworded after the responses
    were recorded takes the response on the same line of the file (GPT-4 answered key 2785 as
    "at least one placeholder", which IFEval later changed to "at least 3"). A file
    that answers another version of the prompts raises an InputError.
    """
    rows = _read_jsonl(PROMPTS_FILE)
    if model is None:
        return rows
    if model not in IFEVAL_RESPONSE_FILES:
        raise InputError(f"load_ifeval(): model={model!r} is unknown: pass one of "
                         f"{sorted(IFEVAL_RESPONSE_FILES)} or None.")
    if not ifeval_available(model):
        raise InputError(f"load_ifeval(): the {model!r} responses "
                         f"({IFEVAL_RESPONSE_FILES[model]}) do not ship with this copy.")
    answered = _read_jsonl(IFEVAL_RESPONSE_FILES[model])
    by_prompt = {r["prompt"]: r["response"] for r in answered}
    current = {row["prompt"] for row in rows}
    # A file in the prompts' own line order may answer a few prompts reworded since then.
    in_order = len(answered) == len(rows) and sum(
        a["prompt"] == row["prompt"] for a, row in zip(answered, rows)) >= len(rows) - 5
    out = []
    for i, row in enumerate(rows):
        response = by_prompt.get(row["prompt"])
        if response is None and in_order and answered[i]["prompt"] not in current:
            response = answered[i]["response"]  # this line answers an earlier wording
        out.append({**row, "response": response})
    missing = sum(r["response"] is None for r in out)
    if missing > 5:
        raise InputError(f"load_ifeval(): {missing} of {len(out)} prompts have no response in "
                         f"{IFEVAL_RESPONSE_FILES[model]}: it answers another version of the "
                         "prompts; ship that version's input_data with it.")
    return out
