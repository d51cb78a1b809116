"""The PostgreSQL side of the group-committing writer (store/writer.py `Session`), and how
Control Room connects to PostgreSQL.

One writing connection, used on one thread. Each batch is one transaction that first takes
`pg_advisory_xact_lock(WRITE_LOCK)`: writers in several processes or on several hosts are
serialised as SQLite's BEGIN IMMEDIATE serialises them, so claims stay correct across engines
and event ids become visible in commit order. `synchronous_commit` is on: an acknowledged
write is on the server's disk (and its synchronous standbys, if any).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg

from control_room.domain import StoreError
from control_room.domain.urls import redact
from control_room.store.pg_conn import PgConn, row_factory
from control_room.store.pg_schema import WRITE_LOCK

T = TypeVar("T")
CONNECT_TIMEOUT = 10  # seconds, for each connection attempt


def reason(error: BaseException) -> str:
    """One line saying why, from a psycopg error."""
    text = " ".join(str(error).split())
    text = re.sub(r"^connection failed: ", "", text)
    return text or type(error).__name__


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection with sqlite3-like rows and durable commits; StoreError (one line) if the
    URL is wrong, the password refused or the server unreachable."""
    try:
        conn = psycopg.connect(
            url, autocommit=autocommit, row_factory=row_factory, connect_timeout=CONNECT_TIMEOUT
        )
    except psycopg.Error as error:
        raise StoreError(f"registry {redact(url)}: {reason(error)}") from None
    conn.execute("SET synchronous_commit = on")
    return conn


class PgSession:
    """The writer's connection to PostgreSQL, on its own thread."""

    errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def __init__(
        self, url: str, conn: psycopg.Connection[Any], *, server_clock: bool = True
    ) -> None:
        """`server_clock`: every write takes its time (leases, events) from the database
        server, so control rooms on hosts whose clocks differ agree on when a lease runs out;
        False: from the writer's own clock (tests with a clock of their own)."""
        self._url = url
        self.server_clock = server_clock
        self.conn = PgConn(conn)
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-pg-writer")

    async def run(self, fn: Callable[[Any], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.thread, fn, self.conn)

    def guard(self, conn: Any) -> StoreError | None:
        """Before each batch: a connection the server dropped is made again (nothing of the
        batch was sent yet), or the batch fails with the reason."""
        if not self.conn.raw.broken and not self.conn.raw.closed:
            return None
        try:
            self.conn.raw = connect(self._url)
        except StoreError as error:
            return StoreError(f"{error}; nothing was changed")
        return None

    def begin(self, conn: Any) -> float | None:
        conn.execute("BEGIN")
        conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        if not self.server_clock:
            return None
        (now,) = conn.execute("SELECT extract(epoch from clock_timestamp())::float8").fetchone()
        return float(now)

    def error(self, error: Exception) -> StoreError:
        return StoreError(f"registry {redact(self._url)}: {reason(error)}; nothing was changed")

    def fatal(self, error: Exception, conn: Any) -> bool:
        return bool(self.conn.raw.broken) or not self.conn.in_transaction

    async def close(self) -> None:
        await self.run(lambda conn: conn.raw.close())
        self.thread.shutdown(wait=False)
