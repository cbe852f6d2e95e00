"""Counting what the notebooks ask a model for: one JSON line per generation call.

With the environment variable `COURSE_COUNT_CALLS=<file.jsonl>` set, `models.get_llm` hands back
its LLM wrapped by `maybe_wrap`: every call appends one line to that file with the notebook
(`COURSE_COUNT_NOTEBOOK`, if set), the number of prompts, `num_generations`, the
`max_new_tokens` in force for that call, and the input and output tokens distilabel's
statistics report. Unset, the LLM is returned untouched. `tools/count_generation.py` turns the
lines into `data/generation_budget.json`, the Colab time table of notebook 00.

How: the LLM's class becomes a subclass with the same name whose `generate` logs. distilabel's
`generate_outputs` (what a Task calls) and Magpie's direct `generate` calls both end up there,
and `generate` is where every keyword is bound, so `max_new_tokens` is the value really used.
A class, not a function stored on the instance: pydantic copies (`model_copy`, `magpie_llm`)
keep logging through their own instance, and a pickled LLM unpickles as a counted one.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import threading
import time
from typing import Any, Optional

__all__ = ["ENV_FILE", "ENV_NOTEBOOK", "counted_class", "is_counted", "maybe_wrap", "read_calls",
           "wrap"]

ENV_FILE = "COURSE_COUNT_CALLS"
ENV_NOTEBOOK = "COURSE_COUNT_NOTEBOOK"
_BASE = "__course_counted_base__"
_depth = threading.local()  # nested generate calls (a subclass calling super) are logged once


def maybe_wrap(llm: Any) -> Any:
    """`llm` logging its calls when COURSE_COUNT_CALLS is set; otherwise `llm` itself, untouched."""
    if not os.environ.get(ENV_FILE):
        return llm
    return wrap(llm)


def wrap(llm: Any) -> Any:
    """Make `llm` log every call (in place; returns it); wrapping twice changes nothing."""
    if not is_counted(llm):
        object.__setattr__(llm, "__class__", counted_class(type(llm)))
    return llm


def is_counted(llm: Any) -> bool:
    """Whether `llm`'s calls are logged (its class, or a class it derives from, was wrapped)."""
    return any(_BASE in vars(k) for k in type(llm).__mro__)


@functools.lru_cache(maxsize=None)
def counted_class(base: type) -> type:
    """`base` plus a logging `generate`; same name and module, so dumps keep their type."""
    original = base.generate
    signature = inspect.signature(original)

    @functools.wraps(original)
    def generate(self, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, "value", 0)
        _depth.value = depth + 1
        start = time.perf_counter()
        try:
            outputs = original(self, *args, **kwargs)
        finally:
            _depth.value = depth
        if depth == 0:
            _log(self, signature, args, kwargs, outputs, time.perf_counter() - start)
        return outputs

    namespace = {"generate": generate, "__reduce_ex__": _reduce_ex, _BASE: base,
                 "__module__": base.__module__, "__qualname__": base.__qualname__,
                 "__doc__": base.__doc__}
    return type(base.__name__, (base,), namespace)


def _reduce_ex(self: Any, protocol: int) -> Any:
    """Pickle as the original class and state; unpickling wraps again (workers count too)."""
    base = vars(type(self)).get(_BASE)
    if base is None:  # a subclass of a counted class (e.g. a Magpie copy): pickle as usual
        return object.__reduce_ex__(self, protocol)
    return _rebuild, (base, self.__getstate__())


def _rebuild(base: type, state: Any) -> Any:
    llm = base.__new__(base)
    llm.__setstate__(state)
    return wrap(llm)


def _log(llm: Any, signature: inspect.Signature, args: tuple, kwargs: dict, outputs: Any,
         seconds: float) -> None:
    path = os.environ.get(ENV_FILE)
    if not path:
        return
    try:
        bound = signature.bind(llm, *args, **kwargs)
    except TypeError:
        return  # the call itself would have raised
    bound.apply_defaults()
    params = dict(bound.arguments)
    extra = params.pop(next((n for n, p in signature.parameters.items()
                             if p.kind is p.VAR_KEYWORD), ""), None) or {}
    inputs = params.get("inputs") or []
    record = {
        "notebook": os.environ.get(ENV_NOTEBOOK) or None,
        "llm": type(llm).__name__,
        "model": str(getattr(llm, "model_name", None) or getattr(llm, "model", "")),
        "prompts": len(inputs),
        "num_generations": int(params.get("num_generations") or 1),
        "max_new_tokens": _max_new_tokens(llm, params, extra),
        "input_tokens": _stat_total(outputs, "input_tokens"),
        "output_tokens": _stat_total(outputs, "output_tokens"),
        "seconds": round(seconds, 3),
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _max_new_tokens(llm: Any, params: dict, extra: dict) -> Optional[int]:
    """The max_new_tokens in force: bound, passed through **kwargs, or the default downstream."""
    for source in (params, extra):
        if source.get("max_new_tokens") is not None:
            return int(source["max_new_tokens"])
    agenerate = getattr(type(llm), "agenerate", None)  # async LLMs: generate(**kwargs) -> agenerate
    if agenerate is not None:
        default = inspect.signature(agenerate).parameters.get("max_new_tokens")
        if default is not None and isinstance(default.default, int):
            return default.default
    return None


def _stat_total(outputs: Any, key: str) -> Optional[int]:
    """The sum of distilabel's `statistics[key]` over all outputs, or None when none reports it."""
    total, seen = 0, False
    for out in outputs if isinstance(outputs, list) else []:
        stats = out.get("statistics") if isinstance(out, dict) else None
        value = stats.get(key) if isinstance(stats, dict) else None
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, int) and not isinstance(v, bool):
                total, seen = total + v, True
    return total if seen else None


def read_calls(path: str | os.PathLike) -> list[dict]:
    """The records of a COURSE_COUNT_CALLS file (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
