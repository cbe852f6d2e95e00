"""What a lesson controls when it samples from a model: the token budget and the seed.

- `with_budget(llm, max_new_tokens=...)`: a copy of a loaded LLM whose every call (a distilabel
  task's too) generates at most `max_new_tokens`; the original is left as it was.
- `seed_sampling(llm, seed)`: make a sampling model repeatable before a seeded loop. The offline
  teacher needs nothing (its text depends only on its own `seed`); a transformers model gets
  `transformers.set_seed(seed)` (Python's `random`, numpy and torch, CUDA included); a server
  (distilabel's OpenAI-compatible client) gets the API's `seed` in every request, returned as
  keyword arguments to pass to `generate_outputs`.

Budgets live next to the lesson code that uses them (`prompts`, `self_instruct`, `evol`), each
with the measurement it comes from.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ._validate import InputError, require_int

__all__ = ["samples_with_torch", "seed_sampling", "with_budget"]


def with_budget(llm: Any, *, max_new_tokens: int) -> Any:
    """A copy of `llm` that generates at most `max_new_tokens` per answer (other settings kept)."""
    require_int(max_new_tokens, "max_new_tokens", 1, fn="with_budget")
    if not hasattr(llm, "model_copy") or not hasattr(llm, "generation_kwargs"):
        raise InputError("with_budget(): llm must be a distilabel LLM, e.g. llm = get_llm(seed=0).")
    kwargs = {**(llm.generation_kwargs or {}), "max_new_tokens": max_new_tokens}
    return llm.model_copy(update={"generation_kwargs": kwargs})


def _class_names(llm: Any) -> set[str]:
    return {k.__name__ for k in type(llm).__mro__}


def _is_offline_teacher(llm: Any) -> bool:
    return getattr(llm, "model_name", None) == "offline-teacher"


def _is_server(llm: Any) -> bool:
    return "OpenAILLM" in _class_names(llm)


def samples_with_torch(llm: Any) -> bool:
    """Whether `llm` samples with torch in this process (a transformers model, already loaded)."""
    return "torch" in sys.modules and not _is_offline_teacher(llm) and not _is_server(llm)


def seed_sampling(llm: Any, seed: int) -> dict:
    """Seed what `llm` samples with; returns the keyword arguments its calls need (a server's seed).

    Call it once before a loop: the same seed, prompts and batches then give the same text. Only
    when torch is already imported (a transformers model is loaded) is torch seeded: importing it
    here would cost seconds for nothing.
    """
    require_int(seed, "seed", -(2**63), fn="seed_sampling")
    if _is_offline_teacher(llm):
        return {}
    if _is_server(llm):  # OpenAI's `seed`, which vLLM, Ollama and llama.cpp's server honour
        return {"extra_body": {"seed": seed}}
    if samples_with_torch(llm):
        if "transformers" in sys.modules:  # loaded with the model: seeds random, numpy, torch, CUDA
            from transformers import set_seed

            set_seed(seed)
        else:
            import random

            random.seed(seed)
            sys.modules["torch"].manual_seed(seed)
    return {}


def token_cap(max_new_tokens: int) -> int:
    """`max_new_tokens`, lowered to COURSE_MAX_NEW_TOKENS_CAP when that testing knob is set.

    Only CI sets it: a random tiny model never stops early, so every answer costs its whole budget.
    A lesson's own budget never changes; real runs never set the knob.
    """
    raw = os.environ.get("COURSE_MAX_NEW_TOKENS_CAP", "").strip()
    if not raw:
        return max_new_tokens
    cap = require_int(int(raw) if raw.isdigit() else raw, "COURSE_MAX_NEW_TOKENS_CAP", 1)
    return min(max_new_tokens, cap)
