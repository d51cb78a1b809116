"""The registry on PostgreSQL, for teams on several machines: `await PostgresRegistry.open(url)`.

It is SqliteRegistry's operations and queries over another connection: the same mixins and
write methods (so a change to them applies to both), with the writer's backend
(store/pg_session.py), the reads (a small psycopg_pool pool, autocommit, on worker threads),
opening, migrating and closing replaced. Operations run unchanged through store/pg_conn.py.

Other processes' writes: `wait_for_change(timeout)` returns True as soon as some process
commits an event (LISTEN on pg_schema.CHANNEL, notified by a trigger at commit), False after
`timeout` seconds without one; `outside_changes()` turns that into the change feed's wake-up
(store/feed.py), which then reads the events after the last id it saw. Writers are serialised
by an advisory lock, so event ids follow commit order, as the feed needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from control_room.domain import StoreError
from control_room.domain.urls import redact
from control_room.store import pg_schema
from control_room.store.file_changes import LOOK_SECONDS
from control_room.store.pg_conn import Row, params_of, row_factory, spelling
from control_room.store.pg_session import (
    CONNECT_TIMEOUT,
    PgSession,
    connect,
    reason,
)
from control_room.store.sqlite import SqliteRegistry
from control_room.store.tx import Tx
from control_room.store.writer import Writer

T = TypeVar("T")
NO_FILE = Path("/nonexistent/postgresql-registry")  # SqliteRegistry's `path`: never opened here
_VERSION = "SELECT version FROM control_room_schema"
_HAS_SCHEMA = (
    "SELECT to_regclass('control_room_schema') IS NOT NULL, to_regclass('tasks') IS NOT NULL"
)


class PostgresRegistry(SqliteRegistry):
    """`Registry` on a PostgreSQL database (the database must exist; the schema is created in
    it when absent, unless `create=False`)."""

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float] | None = None,
        max_batch: int = 512,
        create: bool = True,
        readers: int = 4,
    ) -> None:
        """`clock`: the time of every write; by default the database server's (see PgSession),
        so the hosts sharing the registry agree on leases whatever their own clocks say."""
        super().__init__(NO_FILE, clock=clock or time.time, max_batch=max_batch, create=create)
        self._server_clock = clock is None
        self.url = url
        self.label = redact(url)
        self._readers = readers
        self._session: PgSession | None = None
        self._pool: ConnectionPool[Any] | None = None
        self._listener: psycopg.AsyncConnection[Any] | None = None

    async def _open(self) -> None:
        conn = await asyncio.to_thread(connect, self.url)
        self._session = PgSession(self.url, conn, server_clock=self._server_clock)
        try:
            await self._session.run(lambda c: self._migrate(c.raw))
        except psycopg.Error as error:
            raise StoreError(f"registry {self.label}: {reason(error)}") from None
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self._readers,
            kwargs={"autocommit": True, "row_factory": row_factory},
            open=False,
            name="registry-pg-readers",
        )
        try:
            await asyncio.to_thread(self._pool.open, True, CONNECT_TIMEOUT)
        except Exception as error:
            raise StoreError(f"registry {self.label}: readers: {reason(error)}") from None
        self.feed.head = await self.last_event_id()
        self._writer = Writer(self._session, self._clock, self._max_batch)
        self._writer.published = self.feed.published

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:  # type: ignore[override]
        """Create or bring the schema to VERSION, in one transaction (or nothing), under the
        writers' lock (another process may be doing the same)."""
        known, has_tasks = conn.execute(_HAS_SCHEMA).fetchone() or (False, False)
        if known and self._version(conn) == pg_schema.VERSION:
            return
        if not known and has_tasks:
            raise StoreError(f"{self.label} holds a tasks table but is not a Control Room registry")
        if not known and not self._create:
            raise StoreError(f"{self.label} holds no Control Room registry (run control-room init)")
        with conn.transaction():
            conn.execute(f"SELECT pg_advisory_xact_lock({pg_schema.WRITE_LOCK})")
            (known, _) = conn.execute(_HAS_SCHEMA).fetchone() or (False, False)
            version = self._version(conn) if known else 0
            for script in pg_schema.scripts_after(version):
                conn.execute(script)
            conn.execute("DELETE FROM control_room_schema")
            conn.execute(
                "INSERT INTO control_room_schema (version) VALUES (%s)", (pg_schema.VERSION,)
            )

    def _version(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(_VERSION).fetchone()
        version = int(row[0]) if row else 0
        if version > pg_schema.VERSION:
            raise StoreError(
                f"{self.label} uses schema version {version}, newer than this Control Room "
                f"understands ({pg_schema.VERSION}); upgrade control-room to use it"
            )
        return version

    async def _close(self) -> None:
        self._closing = True
        await self.feed.close()
        try:
            if self._writer is not None:
                await self._writer.stop()
        finally:
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    await self._listener.close()
            if self._pool is not None:
                await asyncio.to_thread(self._pool.close)
            if self._session is not None:
                with contextlib.suppress(Exception):
                    await self._session.close()

    async def _write(self, op: Callable[[Tx], T]) -> T:
        if self._writer is None or self._closer is not None:
            raise StoreError("the registry is closed")
        result: T = await self._writer.submit(op)
        return result

    async def _fetch(  # type: ignore[override]
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[Row]:
        if self._pool is None or self._closer is not None:
            raise StoreError("the registry is closed")
        return await asyncio.to_thread(self._read, query, params)

    def _read(self, query: str, params: Sequence[Any] | Mapping[str, Any]) -> list[Row]:
        assert self._pool is not None
        try:
            with self._pool.connection() as conn:
                return list(conn.execute(spelling(query), params_of(params)).fetchall())
        except psycopg.Error as error:
            raise StoreError(f"registry {self.label}: {reason(error)}") from None

    async def integrity_check(self) -> str:
        """PostgreSQL checks its pages itself; this checks that the registry answers."""
        await self._fetch("SELECT count(*) FROM tasks")
        return "ok"

    async def wait_for_change(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """True once any process commits an event (since the last call), False after
        `timeout` seconds without one."""
        if self._closer is not None:
            raise StoreError("the registry is closed")
        if self._listener is None:
            try:
                listener = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT
                )
                await listener.execute(f"LISTEN {pg_schema.CHANNEL}")
                self._listener = listener  # listening: a commit from now on is seen
            except psycopg.Error as error:
                raise StoreError(f"registry {self.label}: {reason(error)}") from None
        try:
            async for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error as error:  # the server went away: listen again next time
            listener, self._listener = self._listener, None
            with contextlib.suppress(Exception):
                await listener.close()
            raise StoreError(f"registry {self.label}: {reason(error)}") from None
        return False

    async def outside_changes(self) -> AsyncIterator[None]:
        """The feed's wake-up for other processes' writes: a NOTIFY at their commit, and a look
        every LOOK_SECONDS anyway (as on SQLite)."""
        while True:
            await self.wait_for_change(timeout=LOOK_SECONDS)
            yield
