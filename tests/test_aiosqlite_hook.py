"""The one private hook into aiosqlite (store/writer.py `on_connection_thread`: a whole
group-commit batch in one hop to the connection's thread, through `Connection._execute` and
`Connection._conn`). These tests fail if an aiosqlite upgrade changes what it relies on; read
aiosqlite's core.py again before widening the pin in pyproject.toml."""

from __future__ import annotations

import ast
import inspect
import sqlite3
import threading
from pathlib import Path

import aiosqlite
import pytest

from control_room.store.writer import on_connection_thread

PACKAGE = Path(__file__).resolve().parents[1] / "control_room"
PRIVATE = {"_execute", "_conn"}


def test_the_private_attributes_are_there_as_read() -> None:
    assert inspect.iscoroutinefunction(aiosqlite.Connection._execute)
    assert isinstance(inspect.getattr_static(aiosqlite.Connection, "_conn"), property)


async def test_the_function_runs_on_the_connections_thread_with_its_connection(
    tmp_path: Path,
) -> None:
    async with aiosqlite.connect(tmp_path / "hook.db", isolation_level=None) as db:
        # A SQL function runs on the thread that executes the statement: aiosqlite's own.
        await db.create_function("thread_id", 0, threading.get_ident)
        async with db.execute("SELECT thread_id()") as cursor:
            (worker,) = await cursor.fetchone()  # type: ignore[misc]
        assert worker != threading.get_ident(), "aiosqlite ran the query on the event loop"

        def batch(conn: sqlite3.Connection) -> tuple[int, sqlite3.Connection, int]:
            # Several statements in one hop, inside one transaction; a sqlite3 connection
            # refuses use from any thread but its own (check_same_thread).
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE t (x)")
            conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
            (count,) = conn.execute("SELECT count(*) FROM t").fetchone()
            conn.execute("COMMIT")
            return threading.get_ident(), conn, count

        ran_on, conn, count = await on_connection_thread(db, batch)
        assert ran_on == worker
        assert isinstance(conn, sqlite3.Connection)
        assert count == 2
        with pytest.raises(sqlite3.ProgrammingError, match="thread"):
            conn.execute("SELECT 1")  # from here, the loop's thread: refused, as it should
        async with db.execute("SELECT count(*) FROM t") as cursor:
            assert await cursor.fetchone() == (2,)  # the public API sees the same connection


async def test_an_error_in_the_function_reaches_the_caller(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "hook.db") as db:

        def fails(conn: sqlite3.Connection) -> None:
            raise ValueError("from the connection thread")

        with pytest.raises(ValueError, match="from the connection thread"):
            await on_connection_thread(db, fails)
        assert await on_connection_thread(db, lambda conn: 7) == 7  # still serving


def test_no_other_code_reaches_into_aiosqlite() -> None:
    """`_execute` and `_conn` of an aiosqlite connection appear in one function only."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Attribute) and node.attr in PRIVATE:
                    found.append(f"{path.relative_to(PACKAGE)}:{function.name}")
    assert sorted(set(found)) == ["store/writer.py:on_connection_thread"], found
