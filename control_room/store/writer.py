"""The single writer of a registry, with group commit. What is SQLite's in it sits in
`SqliteSession`; PostgreSQL's session (store/pg_session.py) runs the same batches, beginning
each with the writers' advisory lock instead of BEGIN IMMEDIATE.

Writes queue up while the previous batch is being committed; the writer then runs the queue as
one `BEGIN IMMEDIATE` transaction on aiosqlite's connection thread, each operation inside its
own savepoint (a refused operation rolls back alone), and commits once: one fsync for many
writes, with full durability. Savepoints cost two statements per operation, so a batch first
runs without them; when one of its operations is refused, the whole batch is undone and runs
again with them (and so does the next batch; the one after a clean batch runs without). An
operation is a function of the transaction alone, so running it again gives the same outcome.

Nobody is answered before COMMIT returns. Right after it, the committed events go to
`published` (the change feed's post-commit hook) in commit order, even for callers that
stopped waiting.

A caller cancelled before its batch starts is skipped (its write never happens); one cancelled
while its batch runs may still have committed, which the event log and the change feed show.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite

from control_room.domain import ControlRoomError, Event, StoreError
from control_room.store.tx import Op, Tx

T = TypeVar("T")
Listener = Callable[[Sequence[Event]], None]
log = logging.getLogger(__name__)

# Primary result codes after which the transaction cannot go on: the whole batch fails.
_BATCH_FATAL = {
    5: "another process kept the registry locked for too long",  # SQLITE_BUSY
    7: "out of memory",  # SQLITE_NOMEM
    8: "the registry file is read-only",  # SQLITE_READONLY
    10: "a disk I/O error occurred",  # SQLITE_IOERR
    11: "the registry file is corrupt",  # SQLITE_CORRUPT
    13: "the disk is full",  # SQLITE_FULL
    14: "the registry file cannot be opened",  # SQLITE_CANTOPEN
    26: "the file is not a Control Room registry",  # SQLITE_NOTADB
}


def store_error(path: Path, error: sqlite3.Error) -> StoreError:
    """A sentence for the operator about a SQLite failure; nothing was changed by it."""
    code = getattr(error, "sqlite_errorcode", None)
    reason = _BATCH_FATAL.get(code & 0xFF) if isinstance(code, int) else None
    if isinstance(code, int) and code & 0xFF == 14 and path.exists():
        # A registry in WAL mode needs its folder writable even to be read (the -shm file).
        reason = f"{reason} (is {path.parent} read-only? the registry needs it writable)"
    return StoreError(f"registry {path}: {reason or error}; nothing was changed")


def _fatal(error: BaseException, conn: sqlite3.Connection) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return not conn.in_transaction or (isinstance(code, int) and code & 0xFF in _BATCH_FATAL)


async def on_connection_thread(
    db: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]
) -> T:
    """Run `fn` on aiosqlite's own thread for this connection: one hop for a whole batch."""
    result: T = await db._execute(lambda: fn(db._conn))  # type: ignore[no-untyped-call]
    return result


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file is at `path` (device, inode), or None when there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def side_files(path: Path) -> tuple[Path, Path]:
    """The write-ahead log and its shared-memory index, beside the registry."""
    return path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")


class FileGuard:
    """Notices, before each commit, that the registry or its -wal/-shm file was removed or
    replaced under this process. SQLite would go on writing to the open (unlinked) files, and
    every write acknowledged from then on would vanish with the process; a removed WAL also
    takes with it what was acknowledged but not yet copied into the registry file."""

    def __init__(self, path: Path) -> None:
        self.paths = (path, *side_files(path))
        self._files = [_identity(p) for p in self.paths]
        self.broken: str | None = None

    def check(self, conn: sqlite3.Connection) -> StoreError | None:
        """None while every file is the one opened; else the error every write gets."""
        if self.broken is None:
            for index, path in enumerate(self.paths):
                now = _identity(path)
                if self._files[index] is None and index:  # the WAL comes with the first read
                    self._files[index] = now
                if now != self._files[index]:
                    self.broken = self._noticed(conn, path, index)
                    break
        if self.broken is None:
            return None
        return StoreError(
            f"{self.broken}; nothing was changed (restart Control Room on the registry you mean)"
        )

    def _noticed(self, conn: sqlite3.Connection, path: Path, index: int) -> str:
        what = ("registry", "registry's write-ahead log", "registry's shared memory")[index]
        broken = f"the {what} {path} was removed or replaced while in use"
        rescued = ""
        if index and all(_identity(p) is None for p in self.paths[1:]):
            # Nobody opened the registry since: copy what this process acknowledged from its
            # (still open) WAL into the registry file, so it survives this process.
            try:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
                rescued = "; what was acknowledged is saved" if busy == 0 else ""
            except sqlite3.Error as error:
                rescued = f"; could not save the WAL into the registry ({error})"
        log.error("control-room: %s: refusing every write from now on%s", broken, rescued)
        return broken


class Session(Protocol):
    """What the writer needs of its backend: the hop to the writing connection's thread, how a
    batch's transaction begins, a check before each batch, and which errors mean what."""

    errors: tuple[type[Exception], ...]

    async def run(self, fn: Callable[[Any], T]) -> T: ...
    def guard(self, conn: Any) -> StoreError | None: ...
    def begin(self, conn: Any) -> float | None: ...  # the transaction's time, if it has one
    def error(self, error: Exception) -> StoreError: ...
    def fatal(self, error: Exception, conn: Any) -> bool: ...


class SqliteSession:
    """The writer's backend for SQLite: aiosqlite's connection thread, BEGIN IMMEDIATE, the
    file guard, SQLite's error codes. (PostgreSQL's: store/pg_session.py.)"""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._path = path
        self._files = FileGuard(path)

    async def run(self, fn: Callable[[Any], T]) -> T:
        return await on_connection_thread(self._db, fn)

    def guard(self, conn: Any) -> StoreError | None:
        return self._files.check(conn)

    def begin(self, conn: Any) -> float | None:
        conn.execute("BEGIN IMMEDIATE")
        return None  # one machine: the writer's clock

    def error(self, error: Exception) -> StoreError:
        assert isinstance(error, sqlite3.Error)
        return store_error(self._path, error)

    def fatal(self, error: Exception, conn: Any) -> bool:
        return _fatal(error, conn)


class Writer:
    def __init__(
        self,
        session: Session,
        clock: Callable[[], float],
        max_batch: int = 512,
    ) -> None:
        self._session = session
        self._clock = clock
        self._max_batch = max_batch
        self._queue: list[tuple[Op, asyncio.Future[Any]]] = []
        self._in_flight: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        # Savepoints only when needed: a batch runs without them while the last one had no
        # refused operation; a refusal undoes the batch, which runs again with them.
        self._savepoints = False
        self.published: Listener = lambda events: None  # the change feed's post-commit hook
        self.commits = 0  # group commits so far
        self.writes = 0  # operations those commits carried
        self._task = asyncio.create_task(self._run(), name="registry-writer")

    async def submit(self, op: Op) -> Any:
        """Run `op` in the next group commit; its result once committed, or its error."""
        if self._stopping or self._task.done():
            raise StoreError("the registry is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((op, future))
        self._wake.set()
        return await future

    async def stop(self) -> None:
        """Finish every queued write, then stop."""
        self._stopping = True
        self._wake.set()
        await asyncio.wait([self._task])

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    batch = [item for item in self._queue[: self._max_batch] if not item[1].done()]
                    del self._queue[: self._max_batch]
                    if batch:
                        await self._commit(batch)
                if self._stopping:
                    return
        finally:
            unknown = StoreError("the registry writer stopped; this write may not have happened")
            for _, future in self._in_flight + self._queue:
                if not future.done():
                    future.set_exception(unknown)

    async def _commit(self, batch: list[tuple[Op, asyncio.Future[Any]]]) -> None:
        self._in_flight = batch
        run = functools.partial(self._run_batch, [op for op, _ in batch])
        try:
            outcomes = await self._session.run(run)
        except Exception as error:  # the connection itself failed
            outcomes = [error] * len(batch)
        self._in_flight = []
        self.commits += 1
        self.writes += len(batch)
        events = [e for outcome in outcomes if isinstance(outcome, tuple) for e in outcome[1]]
        try:
            self.published(events)
        except Exception:
            log.exception("publishing committed events failed")
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome[0])

    def _run_batch(self, batch: Sequence[Op], conn: Any) -> list[Any]:
        """One transaction for the whole batch, a savepoint per operation, one COMMIT."""
        gone = self._session.guard(conn)
        if gone is not None:
            return [gone] * len(batch)
        try:
            now = self._session.begin(conn)
            now = self._clock() if now is None else now
            outcomes = None if self._savepoints else self._run_all(conn, batch, now)
            if outcomes is None:
                outcomes = [self._run_one(conn, op, now) for op in batch]
                self._savepoints = any(isinstance(o, BaseException) for o in outcomes)
            conn.execute("COMMIT")
        except self._session.errors as error:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except self._session.errors:
                    log.exception("rollback failed; the database undoes the transaction itself")
            return [self._session.error(error)] * len(batch)
        return outcomes

    def _run_all(self, conn: Any, batch: Sequence[Op], now: float) -> list[Any] | None:
        """Every operation without a savepoint of its own (two statements fewer each): their
        (result, events); or None when one was refused, after undoing the whole batch and
        beginning again, so that the caller runs it with savepoints."""
        outcomes = []
        for op in batch:
            tx = Tx(conn, now)
            try:
                value = op(tx)
            except Exception:
                self._savepoints = True
                conn.execute("ROLLBACK")
                self._session.begin(conn)
                return None
            outcomes.append((value, tx.events))
        return outcomes

    def _run_one(self, conn: Any, op: Op, now: float) -> Any:
        """(result, events), or the exception that refused the operation and undid its writes."""
        tx = Tx(conn, now)
        conn.execute("SAVEPOINT op")
        try:
            value = op(tx)
        except Exception as error:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            if isinstance(error, ControlRoomError):
                return error
            if isinstance(error, self._session.errors):
                if self._session.fatal(error, conn):
                    raise  # I/O and the like: the whole batch fails, nothing is acknowledged
                return self._session.error(error)
            log.error("write failed inside the registry", exc_info=error)
            return error
        conn.execute("RELEASE op")
        return value, tx.events
