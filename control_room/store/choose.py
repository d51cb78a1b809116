"""`open_registry(url)`: the backend a registry URL names. `postgresql://` or `postgres://`:
PostgresRegistry (psycopg, imported only then); anything else: the SQLite file at that path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from control_room.domain.urls import is_postgres_url, redact
from control_room.store.sqlite import SqliteRegistry

# Options only the SQLite file understands; a PostgreSQL registry leaves them aside.
SQLITE_ONLY = ("synchronous", "busy_timeout_ms", "check_seconds", "check_later")


async def open_registry(url: str | Path, **options: Any) -> SqliteRegistry:
    """Open the registry at `url` (a PostgreSQL URL or a SQLite file path)."""
    if is_postgres_url(url):
        from control_room.store.postgres import PostgresRegistry

        kept = {k: v for k, v in options.items() if k not in SQLITE_ONLY}
        return await PostgresRegistry.open(str(url), **kept)
    return await SqliteRegistry.open(Path(url), **options)


def describe(url: str | Path) -> str:
    """The registry's location for messages, without a password."""
    return redact(str(url)) if is_postgres_url(url) else str(url)
