"""Registry URLs: which backend a URL names, and how to show one without its password."""

from __future__ import annotations

import re

_PASSWORD = re.compile(r"(://[^:/@]*):[^@/]*@")
_SECRET_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def is_postgres_url(url: object) -> bool:
    return isinstance(url, str) and url.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return _SECRET_PARAM.sub(r"\1***", _PASSWORD.sub(r"\1:***@", url))
