"""Silence the noise that distilabel and transformers print on import and on load.

distilabel 1.5.3 triggers pydantic `UnsupportedFieldAttributeWarning`s (with install paths in
them) and, used outside a Pipeline, logs "Step 'None' hasn't received a pipeline"; transformers
5 logs that `torch_dtype` is deprecated. None of it is actionable for a learner, and nbval
compares stderr, so the course filters exactly these messages and nothing else.

`import distilabel` also installs Rich's traceback handler with `show_locals=True`: every
uncaught error would print the local variables of each frame (an API key among them), and in
Jupyter save them into the notebook. `quiet_distilabel` imports distilabel itself and puts the
plain tracebacks back (`sys.excepthook`, and IPython's own traceback display).
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

_done = False
_IPYTHON_HOOKS = ("_showtraceback", "showtraceback", "showsyntaxerror")


class _DropMessages(logging.Filter):
    def __init__(self, *needles: str) -> None:
        super().__init__()
        self.needles = needles

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(n in msg for n in self.needles)


def _is_rich(hook: Any) -> bool:
    return getattr(hook, "__module__", None) == "rich.traceback"


def plain_tracebacks(previous: Any = None) -> None:
    """Remove Rich's traceback handler (it prints local variables) wherever it is installed."""
    if _is_rich(sys.excepthook):
        keep = previous is not None and not _is_rich(previous)
        sys.excepthook = previous if keep else sys.__excepthook__
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is not None:
        for name in _IPYTHON_HOOKS:  # Rich sets these on the shell instance: back to its methods
            if _is_rich(shell.__dict__.get(name)):
                del shell.__dict__[name]


def quiet_distilabel() -> None:
    """Install the warning and log filters, import distilabel, keep plain tracebacks (once)."""
    global _done
    if _done:
        return
    _done = True
    warnings.filterwarnings("ignore", message=r".*'default' attribute with value None was provided to the `Field\(\)`")
    warnings.filterwarnings("ignore", message=r".*`torch_dtype` is deprecated")
    try:
        from pydantic.warnings import UnsupportedFieldAttributeWarning

        warnings.filterwarnings("ignore", category=UnsupportedFieldAttributeWarning)
    except ImportError:
        pass
    drop = _DropMessages("hasn't received a pipeline", "torch_dtype", "is deprecated! Use `dtype`")
    for name in ("distilabel", "distilabel.step", "distilabel.step.None", "transformers", "transformers.modeling_utils",
                 "transformers.pipelines.base", "transformers.configuration_utils"):
        logging.getLogger(name).addFilter(drop)
    previous = sys.excepthook
    try:
        import distilabel  # noqa: F401 - installs Rich's traceback handler, undone just below
    except ImportError:
        pass
    plain_tracebacks(previous)


def quiet_progress_bars() -> None:
    """When TQDM_DISABLE is set (tests, CI, `make notebooks`), also silence transformers' and the hub's bars.

    transformers 5 draws a "Loading weights" bar that ignores TQDM_DISABLE; in a notebook it becomes
    a widget in the saved output. Learners who did not set TQDM_DISABLE keep their download bars.
    """
    import os

    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("1", "true", "yes"):
        return
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:
        pass
