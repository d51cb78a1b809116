"""The embedded registry: one SQLite file in WAL mode, written by one group-committing writer
(store/writer.py) and read through a second, read-only connection that never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import aiosqlite

from control_room.domain import (
    Agent,
    Event,
    NotFound,
    RoutingDecision,
    Status,
    StoreError,
    Task,
)
from control_room.store import rows, schema, sql
from control_room.store.checks import check_alone, check_file, refuse_empty, refuse_foreign
from control_room.store.engine_store import EngineStore
from control_room.store.feed import ChangeFeed
from control_room.store.file_changes import LOOK_SECONDS, RegistryWatcher
from control_room.store.listing_store import ListingStore
from control_room.store.permission_store import PermissionStore
from control_room.store.plan_store import PlanStore
from control_room.store.routing_store import RoutingStore
from control_room.store.run_store import RunStore
from control_room.store.stats_store import StatsStore
from control_room.store.tx import Tx
from control_room.store.watch_store import WatchStore
from control_room.store.writer import SqliteSession, Writer, on_connection_thread, store_error

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
T = TypeVar("T")
P = ParamSpec("P")


def statements(script: str) -> list[str]:
    """Split a schema script into complete statements (trigger bodies hold semicolons)."""
    found, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                found.append(pending.strip())
            pending = ""
    return found


class SqliteRegistry(
    PermissionStore,
    PlanStore,
    ListingStore,
    RoutingStore,
    RunStore,
    StatsStore,
    WatchStore,
    EngineStore,
):
    """`Registry` on a SQLite file. Use `await SqliteRegistry.open(path)` and `close()`."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 10_000,
        clock: Callable[[], float] = time.time,
        max_batch: int = 512,
        check_seconds: float | None = None,
        check_later: bool = False,
        create: bool = True,
    ) -> None:
        """`check_seconds`: check the file (PRAGMA quick_check) at open for up to that long,
        refusing a corrupt one; None: no check. `check_later`: open at once and check in the
        background; every write waits for the verdict (`verified`), and fails if corrupt.
        `create`: the caller means to create the registry (it did not exist), so an empty
        file is one being created right now (by this or a racing process); otherwise an
        empty file is refused."""
        if synchronous.upper() not in SYNCHRONOUS:
            raise StoreError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
        self.path = Path(path)
        self.feed = ChangeFeed(self)  # every committed event, from any process (store/feed.py)
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._clock = clock
        self._max_batch = max_batch
        self._check_seconds = check_seconds
        self._check_later = check_later
        self._verdict: asyncio.Future[str] | None = None
        self._closing = False
        self._create = create
        self.checked: str | None = None  # what the check at open found, for the operator
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._writer: Writer | None = None
        self._closer: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, where: Any, **options: Any) -> Self:
        """Open (and check, and migrate) the registry at `where` (a path here; a URL for
        PostgresRegistry); closed again if any of that fails."""
        registry = cls(where, **options)
        try:
            await registry._open()
        except BaseException:
            await registry.close()
            raise
        return registry

    @property
    def commits(self) -> int:
        """Group commits so far (with `writes`: how well writes are being batched)."""
        return self._writer.commits if self._writer else 0

    @property
    def writes(self) -> int:
        return self._writer.writes if self._writer else 0

    async def _connect(self, *pragmas: str) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            await db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            for pragma in pragmas:
                await db.execute(f"PRAGMA {pragma}")
        except BaseException:
            await db.close()
            raise
        return db

    async def _open(self) -> None:
        if not self._create:
            refuse_empty(self.path)
        if self.path.is_dir():  # else SQLite's "unable to open", and a thread left behind
            raise StoreError(f"registry {self.path}: is a directory, not a registry file")
        try:
            self._db = await self._connect()
            # before WAL mode, which would change another program's database file
            await on_connection_thread(self._db, lambda conn: refuse_foreign(conn, self.path))
            for pragma in (
                "journal_mode = WAL",
                f"synchronous = {self._synchronous}",
                "foreign_keys = ON",
            ):
                await self._db.execute(f"PRAGMA {pragma}")
            if self._check_seconds is not None and self._check_later:
                limit = self._check_seconds
                self._verdict = asyncio.ensure_future(
                    asyncio.to_thread(check_alone, self.path, limit, lambda: self._closing)
                )
                current = await on_connection_thread(self._db, self._schema_version)
                if current != len(schema.MIGRATIONS):
                    await self.verified()  # migrating writes: only on a checked file
            elif self._check_seconds is not None:
                limit = self._check_seconds
                self.checked = await on_connection_thread(
                    self._db, lambda conn: check_file(conn, self.path, limit)
                )
            await on_connection_thread(self._db, self._migrate)
            self._reader = await self._connect("query_only = ON")
        except sqlite3.Error as error:
            raise store_error(self.path, error) from None
        self.feed.head = await self.last_event_id()
        self._writer = Writer(SqliteSession(self._db, self.path), self._clock, self._max_batch)
        self._writer.published = self.feed.published

    def outside_changes(self) -> AsyncIterator[None]:
        """The feed's wake-up for other processes' writes: the file's change notifications."""
        return RegistryWatcher(self.path).changes(every=LOOK_SECONDS)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the schema to the newest version, all in one transaction (or nothing)."""
        known = len(schema.MIGRATIONS)
        if self._schema_version(conn) == known:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._schema_version(conn)  # again: another process may have migrated
            for script in schema.MIGRATIONS[version:]:
                for statement in statements(script):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {known}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _schema_version(self, conn: sqlite3.Connection) -> int:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > len(schema.MIGRATIONS):
            raise StoreError(
                f"{self.path} uses schema version {version}, newer than this Control Room "
                f"understands ({len(schema.MIGRATIONS)}); upgrade control-room to use it"
            )
        return int(version)

    async def verified(self) -> None:
        """Return once the check at open is done (at once without a background check);
        raises StoreError, every time, if it found the file corrupt."""
        if self._verdict is not None:
            try:
                self.checked = await asyncio.shield(self._verdict)
            except sqlite3.Error as error:
                raise store_error(self.path, error) from None

    async def close(self) -> None:
        """Commit what is queued, then close; safe to call twice or to cancel."""
        if self._closer is None:
            self._closer = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closer)

    async def _close(self) -> None:
        self._closing = True  # a background check stops at its next look at the clock
        await self.feed.close()
        if self._verdict is not None:
            with contextlib.suppress(Exception):
                await self._verdict
        try:
            if self._writer is not None:
                await self._writer.stop()
        finally:
            for db in (self._reader, self._db):
                if db is not None:
                    await db.close()

    async def write(
        self, op: Callable[Concatenate[Tx, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run the operation `op(tx, *args, **kwargs)` in the writer's next group commit: its
        result once committed, or its refusal (a domain error) with nothing changed."""
        if self._writer is None or self._closer is not None:
            raise StoreError("the registry is closed")
        if self._verdict is not None:
            await self.verified()  # nothing is written to a file not yet checked
        result: T = await self._writer.submit(lambda tx: op(tx, *args, **kwargs))
        return result

    async def _write(self, op: Callable[[Tx], T]) -> T:
        """A raw operation of the transaction alone (tests, repairs)."""
        return await self.write(op)

    # -- reads -----------------------------------------------------------------------------

    async def _fetch(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[sqlite3.Row]:
        if self._reader is None or self._closer is not None:
            raise StoreError("the registry is closed")
        try:
            return list(await self._reader.execute_fetchall(query, params))
        except sqlite3.Error as error:
            raise store_error(self.path, error) from None

    async def get_task(self, task_id: str) -> Task:
        found = await self._fetch(sql.GET_TASK, (task_id,))
        if not found:
            raise NotFound(f"no task {task_id}")
        return rows.task(found[0])

    async def list_tasks(
        self, status: Status | None = None, capability: str | None = None
    ) -> list[Task]:
        where, params = [], []
        if status is not None:
            where.append(sql.TASK_HAS_STATUS)
            params.append(str(status))
        if capability is not None:
            where.append(sql.TASK_NEEDS_CAPABILITY)
            params.append(capability)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return [
            rows.task(r)
            for r in await self._fetch(sql.LIST_TASKS + clause + sql.TASK_ORDER, params)
        ]

    async def get_agent(self, agent_id: str) -> Agent:
        found = await self._fetch(sql.GET_AGENT, (agent_id,))
        if not found:
            raise NotFound(f"no agent {agent_id}")
        return rows.agent(found[0])

    async def agent_by_token_hash(self, token_hash: str) -> Agent | None:
        found = await self._fetch(sql.AGENT_BY_TOKEN, (token_hash,))
        return rows.agent(found[0]) if found else None

    async def list_agents(self) -> list[Agent]:
        return [rows.agent(r) for r in await self._fetch(sql.LIST_AGENTS)]

    async def events(
        self, after: int = 0, limit: int = 1000, task_id: str | None = None
    ) -> list[Event]:
        if task_id is None:
            found = await self._fetch(sql.LIST_EVENTS, (after, limit))
        else:
            found = await self._fetch(sql.LIST_TASK_EVENTS, (task_id, after, limit))
        return [rows.event(r) for r in found]

    async def recent_events(self, limit: int, task_id: str | None = None) -> list[Event]:
        """The newest `limit` events (of one task, if given), oldest first."""
        if task_id is None:
            found = await self._fetch(sql.RECENT_EVENTS, (limit,))
        else:
            found = await self._fetch(sql.RECENT_TASK_EVENTS, (task_id, limit))
        return [rows.event(r) for r in found]

    async def last_event_id(self) -> int:
        (row,) = await self._fetch(sql.LAST_EVENT_ID)
        return int(row[0])

    async def recent_decisions(self, limit: int) -> list[RoutingDecision]:
        """The newest `limit` routing decisions, oldest first."""
        return [rows.decision(r) for r in await self._fetch(sql.RECENT_DECISIONS, (limit,))]

    async def integrity_check(self) -> str:
        (row,) = await self._fetch("PRAGMA integrity_check")
        return str(row[0])
