"""The capstone's secrets, and how they are kept out of everything it writes or prints.

A config never holds an API key (only `llm.api_key_env`, the NAME of the variable that does), but
the `llm` section may hold other secrets: tokens in `default_headers` and credentials in a URL
(`https://user:pass@host/v1`). `secrets_of(cfg)` lists them (with the key the named variable
holds); `redact` replaces every occurrence with `***` in text or in a nested dict/list, so the
pipeline's serialized form (distilabel's `pipeline.yaml`, in the cache and in the Distiset),
error messages and the export's config hash carry none of them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..redaction import MASK, URL_USERINFO, redact_url

__all__ = ["MASK", "redact", "redacted_config", "secrets_of"]

# field or header names whose values are secret whatever they hold
_SECRET_NAME = re.compile(r"(^|[-_])(authorization|api[-_]?key|token|secret|password|passwd|cookie)"
                          r"($|[-_])", re.I)
# variables that hold keys in the course's own settings (the OpenAI client and the hub read them)
_KEY_VARIABLES = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_MIN_LEN = 4  # shorter strings are too common to replace everywhere (URL credentials still are)


def _secret_name(name: Any) -> bool:
    """Whether a field or header name says its value is secret (`api_key_env` names one: no)."""
    text = str(name)
    return bool(_SECRET_NAME.search(text)) and not text.lower().endswith("_env")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _url_secrets(text: str) -> list[str]:
    found = []
    for match in URL_USERINFO.finditer(text):
        userinfo = match.group(0)[:-1]
        found += [userinfo, *userinfo.split(":", 1)[1:]]  # "user:pass" and "pass"
    return found


def secrets_of(cfg: Any) -> list[str]:
    """The secret strings a config leads to (longest first): headers, URL credentials, keys."""
    section = cfg.get("llm") if isinstance(cfg, Mapping) else None
    found: list[str] = []
    if isinstance(section, Mapping):
        for key, value in section.items():
            if key == "default_headers" or _secret_name(key):
                for text in _strings(value):
                    found += [text, *text.split()[1:]]  # "Bearer tok": the value and the token
            for text in _strings(value):
                found += _url_secrets(text)
        env = section.get("api_key_env")
        if isinstance(env, str) and os.environ.get(env):
            found.append(os.environ[env])
    found += [os.environ[v] for v in _KEY_VARIABLES if os.environ.get(v)]
    unique = {s.strip() for s in found if isinstance(s, str) and len(s.strip()) >= _MIN_LEN}
    return sorted(unique, key=len, reverse=True)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """`value` (text, or dicts/lists of it) with every secret and URL credential replaced by ***."""
    secrets = list(secrets)
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return redact_url(value)
    if isinstance(value, Mapping):
        return {k: (MASK if isinstance(v, str) and v and _secret_name(k)
                    else redact(v, secrets)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v, secrets) for v in value)
    return value


def redacted_config(cfg: Mapping) -> dict:
    """A copy of the config whose `llm` section shows no secret (header values become ***)."""
    out = redact(dict(cfg), secrets_of(cfg))
    section = out.get("llm")
    if isinstance(section, dict) and isinstance(section.get("default_headers"), Mapping):
        section["default_headers"] = {k: MASK for k in section["default_headers"]}
    return out
