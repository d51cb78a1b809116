"""Registry URLs: which backend a URL names, and how to show one without its password."""

from __future__ import annotations

import re

_PASSWORD = re.compile(r"(://[^:/@]*):[^@/]*@")
_SECRET_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_postgres_url(url: object) -> bool:
    return isinstance(url, str) and url.startswith(("postgresql://", "postgres://"))


def unknown_kind(url: str) -> str | None:
    """Why `url` names no registry Control Room can open (a `mysql://` or `http://` URL would
    otherwise be taken for a relative file path), or None: PostgreSQL, `sqlite://` or a path."""
    found = _SCHEME.match(url)
    if found is None or is_postgres_url(url) or found.group(1) == "sqlite":
        return None
    return (
        f"registry {redact(url)}: {found.group(1)}:// is not a kind of registry Control Room "
        "knows: give a postgresql:// URL or the path of a SQLite file"
    )


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return _SECRET_PARAM.sub(r"\1***", _PASSWORD.sub(r"\1:***@", url))
