"""Is the Hugging Face hub usable from here? One answer for the whole course, asked once per process.

This module imports no other course module, so `models` (which picks a backend) and `dedup`
(which picks an embedding model) can both ask it without importing each other.
"""

from __future__ import annotations

import os
import re

HUB_URL = "https://huggingface.co"
_REACHABLE: dict[float, bool] = {}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # "org/name": "Qwen/Qwen2.5-0.5B-Instruct"

__all__ = ["HUB_URL", "hub_offline", "hub_reachable", "hub_reachable_cached", "is_hub_id"]


def is_hub_id(name: str) -> bool:
    """Whether `name` has the shape of a hub model id ("org/name"), not a path or a server alias."""
    return bool(_HUB_ID.match(str(name)))


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE asks every library here to stay off the model hub."""
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers within `timeout` seconds (False if HF_HUB_OFFLINE is set)."""
    if hub_offline():
        return False
    try:
        import requests

        return requests.head(HUB_URL, timeout=timeout, allow_redirects=True).status_code < 500
    except Exception:  # any network failure means "not reachable"
        return False


def hub_reachable_cached(timeout: float = 2.0) -> bool:
    """`hub_reachable`, probed once per process (callers that ask often; the probe takes seconds offline)."""
    if hub_offline():
        return False
    if timeout not in _REACHABLE:
        _REACHABLE[timeout] = hub_reachable(timeout)
    return _REACHABLE[timeout]
