"""Credentials in URLs (`https://user:pass@host/v1`): one pattern, used wherever a URL is shown."""

from __future__ import annotations

import re

__all__ = ["MASK", "URL_USERINFO", "redact_url"]

MASK = "***"
# the `user:pass@` of a URL: after `//`, up to the `@`; it never crosses a slash, a space or a quote
URL_USERINFO = re.compile(r"(?<=//)[^/@\s'\"]+@")


def redact_url(text: str) -> str:
    """`text` with the credentials of every URL in it replaced (`https://***@host`)."""
    return URL_USERINFO.sub(MASK + "@", str(text))
