"""The embedded registry: one SQLite file in WAL mode, a single writer with group commit.

Writes queue up while the previous batch is being committed; the writer then runs the whole
queue as one `BEGIN IMMEDIATE` transaction on aiosqlite's connection thread, each operation in
its own savepoint (a refused operation rolls back alone), and commits once: one fsync for many
acknowledged writes, with `synchronous=FULL` durability. No caller is answered before COMMIT.
Reads go through a second, read-only connection and never wait for the writer.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from control_room.domain import (
    Agent,
    Claim,
    Event,
    Lease,
    NotFound,
    Status,
    StoreError,
    Task,
    TaskSpec,
)
from control_room.store import ops, rows, sql
from control_room.store.ops import Op
from control_room.store.registry import Change

T = TypeVar("T")
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def _store_error(path: Path, error: sqlite3.Error) -> StoreError:
    text = str(error)
    known = {
        "database or disk is full": "the disk is full",
        "database is locked": "another process kept the registry locked for too long",
        "readonly database": "the registry file is read-only",
        "disk I/O error": "a disk I/O error occurred",
        "file is not a database": "the file is not a Control Room registry",
        "unable to open database": "the registry file cannot be opened",
    }
    reason = next((why for needle, why in known.items() if needle in text), text)
    return StoreError(f"registry {path}: {reason}; nothing was changed")


async def _on_connection_thread(
    db: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]
) -> T:
    """Run `fn` on aiosqlite's own thread for this connection: one hop for a whole batch."""
    result: T = await db._execute(lambda: fn(db._conn))  # type: ignore[no-untyped-call]
    return result


class SqliteRegistry:
    """`Registry` on a SQLite file. Use `await SqliteRegistry.open(path)` and `close()`."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 10_000,
        clock: Callable[[], float] = time.time,
        max_batch: int = 512,
    ) -> None:
        if synchronous.upper() not in SYNCHRONOUS:
            raise StoreError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._clock = clock
        self._max_batch = max_batch
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._writer_task: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0  # group commits so far
        self.writes = 0  # operations those commits carried

    @classmethod
    async def open(cls, path: Path, **options: Any) -> SqliteRegistry:
        registry = cls(path, **options)
        try:
            await registry._open()
        except BaseException:
            await registry.close()
            raise
        return registry

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
        try:
            self._writer = await self._connect(
                "journal_mode = WAL", f"synchronous = {self._synchronous}", "foreign_keys = ON"
            )
            await _on_connection_thread(self._writer, self._migrate)
            self._reader = await self._connect("query_only = ON")
        except sqlite3.Error as error:
            raise _store_error(self.path, error) from None
        self._writer_task = asyncio.create_task(self._write_loop(), name="registry-writer")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        known = len(sql.MIGRATIONS)
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > known:
            raise StoreError(
                f"{self.path} uses schema version {version}, newer than this Control Room "
                f"understands ({known}); upgrade control-room to use it"
            )
        for number in range(version, known):
            try:
                script = sql.MIGRATIONS[number]
                conn.executescript(
                    f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number + 1};"
                )
                conn.execute("COMMIT")
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                (now_at,) = conn.execute("PRAGMA user_version").fetchone()
                if now_at <= number:  # not a concurrent migration by another process
                    raise

    async def close(self) -> None:
        self._closing = True
        if self._writer_task is not None:
            self._wake.set()
            await self._writer_task
            self._writer_task = None
        for db in (self._reader, self._writer):
            if db is not None:
                await db.close()
        self._reader = self._writer = None

    # -- the writer ------------------------------------------------------------------------

    async def _write(self, op: Op) -> Change[Any]:
        if self._closing or self._writer_task is None:
            raise StoreError("the registry is closed")
        future: asyncio.Future[Change[Any]] = asyncio.get_running_loop().create_future()
        self._queue.append((op, future))
        self._wake.set()
        return await future

    async def _write_loop(self) -> None:
        assert self._writer is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                try:
                    results = await _on_connection_thread(
                        self._writer, functools.partial(self._run_batch, [op for op, _ in batch])
                    )
                except Exception as error:  # the connection itself failed
                    results = [error] * len(batch)
                self.commits += 1
                self.writes += len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
            if self._closing:
                return

    def _run_batch(self, batch: Sequence[Op], conn: sqlite3.Connection) -> list[Any]:
        """One transaction for the whole batch, a savepoint per operation, one COMMIT."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            now = self._clock()
            results: list[Any] = [self._run_one(conn, op, now) for op in batch]
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [_store_error(self.path, error)] * len(batch)
        return results

    def _run_one(self, conn: sqlite3.Connection, op: Op, now: float) -> Any:
        tx = ops.Tx(conn, now)
        conn.execute("SAVEPOINT op")
        try:
            value = op(tx)
        except Exception as error:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            if isinstance(error, sqlite3.Error):
                if not isinstance(error, sqlite3.IntegrityError):
                    raise  # I/O and the like: the whole batch fails, nothing is acknowledged
                return _store_error(self.path, error)
            return error
        conn.execute("RELEASE op")
        return Change(value, tx.events)

    # -- writes ----------------------------------------------------------------------------

    async def create_tasks(self, specs: Sequence[TaskSpec], actor: str) -> Change[list[Task]]:
        return await self._write(lambda tx: ops.create_tasks(tx, specs, actor))

    async def claim(
        self, agent_id: str, task_id: str | None, lease_seconds: float
    ) -> Change[Claim]:
        return await self._write(lambda tx: ops.claim(tx, agent_id, task_id, lease_seconds))

    async def progress(
        self, task_id: str, agent_id: str, epoch: int, percent: int, note: str, lease_seconds: float
    ) -> Change[Task]:
        return await self._write(
            lambda tx: ops.progress(tx, task_id, agent_id, epoch, percent, note, lease_seconds)
        )

    async def heartbeat(
        self, task_id: str, agent_id: str, epoch: int, lease_seconds: float
    ) -> Change[Lease]:
        return await self._write(
            lambda tx: ops.heartbeat(tx, task_id, agent_id, epoch, lease_seconds)
        )

    async def complete(
        self,
        task_id: str,
        agent_id: str,
        epoch: int,
        summary: str,
        files: tuple[str, ...],
        hours: float | None,
    ) -> Change[Task]:
        return await self._write(
            lambda tx: ops.complete(tx, task_id, agent_id, epoch, summary, files, hours)
        )

    async def verdict(
        self, task_id: str, epoch: int, passed: bool, output: str, actor: str
    ) -> Change[Task]:
        return await self._write(lambda tx: ops.verdict(tx, task_id, epoch, passed, output, actor))

    async def release(self, task_id: str, agent_id: str, epoch: int, reason: str) -> Change[Task]:
        return await self._write(lambda tx: ops.release(tx, task_id, agent_id, epoch, reason))

    async def block(self, task_id: str, agent_id: str, epoch: int, reason: str) -> Change[Task]:
        return await self._write(lambda tx: ops.block(tx, task_id, agent_id, epoch, reason))

    async def expire_leases(self) -> Change[list[Task]]:
        return await self._write(ops.expire_leases)

    async def await_approval(self, task_id: str, why: str, actor: str) -> Change[Task]:
        return await self._write(lambda tx: ops.await_approval(tx, task_id, why, actor))

    async def approve(self, task_id: str, actor: str) -> Change[Task]:
        return await self._write(lambda tx: ops.approve(tx, task_id, actor))

    async def reject(self, task_id: str, reason: str, actor: str) -> Change[Task]:
        return await self._write(lambda tx: ops.reject(tx, task_id, reason, actor))

    async def cancel(self, task_id: str, reason: str, actor: str) -> Change[Task]:
        return await self._write(lambda tx: ops.cancel(tx, task_id, reason, actor))

    async def retry(self, task_id: str, actor: str) -> Change[Task]:
        return await self._write(lambda tx: ops.retry(tx, task_id, actor))

    async def register_agent(
        self, agent_id: str, name: str, capabilities: tuple[str, ...], runtime: str, token_hash: str
    ) -> Change[Agent]:
        return await self._write(
            lambda tx: ops.register_agent(tx, agent_id, name, capabilities, runtime, token_hash)
        )

    async def revoke_agent(self, agent_id: str, actor: str) -> Change[Agent]:
        return await self._write(lambda tx: ops.revoke_agent(tx, agent_id, actor))

    # -- reads -----------------------------------------------------------------------------

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        if self._reader is None:
            raise StoreError("the registry is closed")
        try:
            return list(await self._reader.execute_fetchall(query, params))
        except sqlite3.Error as error:
            raise _store_error(self.path, error) from None

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
            where.append("t.status = ?")
            params.append(str(status))
        if capability is not None:
            where.append(
                "EXISTS (SELECT 1 FROM json_each(t.required_capabilities) WHERE value = ?)"
            )
            params.append(capability)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return [
            rows.task(r)
            for r in await self._fetch(sql.LIST_TASKS + clause + sql.TASK_ORDER, params)
        ]

    async def count_by_status(self) -> dict[Status, int]:
        counts = {status: 0 for status in Status}
        for status, count in await self._fetch(sql.COUNT_BY_STATUS):
            counts[Status(status)] = count
        return counts

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

    async def recent_events(self, limit: int) -> list[Event]:
        return [rows.event(r) for r in await self._fetch(sql.RECENT_EVENTS, (limit,))]

    async def last_event_id(self) -> int:
        (row,) = await self._fetch(sql.LAST_EVENT_ID)
        return int(row[0])

    async def integrity_check(self) -> str:
        (row,) = await self._fetch("PRAGMA integrity_check")
        return str(row[0])
