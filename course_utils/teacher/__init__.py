"""The offline teacher: a rule-based, templated stand-in for a teacher LLM.

`OfflineTeacher` (a distilabel `LLM`) is imported lazily because it needs distilabel;
`respond` and the request machinery are plain Python and import fast.
"""

from . import kinds  # noqa: F401  (registers the built-in request kinds)
from .core import DEFAULT_FAILURE_RATES, KINDS, Request, approx_tokens, register, respond

__all__ = ["DEFAULT_FAILURE_RATES", "KINDS", "OfflineTeacher", "Request", "approx_tokens", "register", "respond"]


def __getattr__(name: str):
    if name == "OfflineTeacher":
        from .llm import OfflineTeacher

        return OfflineTeacher
    raise AttributeError(name)
