"""The single writer: what happens to writes around cancellation, close, failures and full disks.

Several tests hold the registry's write lock from a second connection, so that the writer's
batch waits inside BEGIN IMMEDIATE while the test arranges the queue behind it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from control_room.domain import Status, StoreError
from control_room.engine import Coordinator
from control_room.store import SqliteRegistry, ops
from tests.conftest import FakeClock


@pytest.fixture
def backend() -> str:
    """These tests look inside the SQLite writer (its connection, its file): SQLite only."""
    return "sqlite"


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Hold the database's write lock from another connection until the block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


async def until(condition: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def test_a_write_cancelled_while_queued_never_happens(
    registry: SqliteRegistry, coordinator: Coordinator, new_agent: Any
) -> None:
    agent = await new_agent()
    task = await coordinator.add_task({"title": "wanted"})
    with write_lock(registry.path):
        first = asyncio.create_task(coordinator.add_task({"title": "in flight"}))
        await until(lambda: registry.writes == 3 or registry._writer._in_flight)  # type: ignore[union-attr]
        queued = asyncio.create_task(coordinator.claim(agent, task.id))
        await asyncio.sleep(0.05)
        queued.cancel()
    await first
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert (await coordinator.task(task.id)).status is Status.AVAILABLE
    assert "claimed" not in [e.kind for e in await coordinator.events()]


async def test_a_write_cancelled_mid_batch_still_reaches_the_log_and_the_bus(
    registry: SqliteRegistry, coordinator: Coordinator, new_agent: Any
) -> None:
    agent = await new_agent()
    task = await coordinator.add_task({"title": "wanted"})
    subscription = coordinator.feed.subscribe()
    with write_lock(registry.path):
        claim = asyncio.create_task(coordinator.claim(agent, task.id))
        await until(lambda: bool(registry._writer._in_flight))  # type: ignore[union-attr]
        claim.cancel()
    event = await asyncio.wait_for(subscription.get(), 5)
    assert (event.kind, event.task_id) == ("claimed", task.id)
    assert (await coordinator.task(task.id)).status is Status.CLAIMED


async def test_close_commits_what_is_queued_then_refuses(tmp_path: Path) -> None:
    registry = await SqliteRegistry.open(tmp_path / "registry.db")
    coordinator = Coordinator(registry)
    pending = [asyncio.create_task(coordinator.add_task({"title": f"t{i}"})) for i in range(200)]
    await asyncio.sleep(0)
    await registry.close()
    assert len({(await p).id for p in pending}) == 200
    with pytest.raises(StoreError, match="closed"):
        await coordinator.add_task({"title": "too late"})
    await registry.close()  # again: nothing to do
    reopened = await SqliteRegistry.open(tmp_path / "registry.db")
    assert len(await reopened.list_tasks()) == 200
    await reopened.close()


async def test_close_survives_being_cancelled_and_being_called_twice(tmp_path: Path) -> None:
    registry = await SqliteRegistry.open(tmp_path / "registry.db")
    coordinator = Coordinator(registry)
    with write_lock(registry.path):
        write = asyncio.create_task(coordinator.add_task({"title": "during shutdown"}))
        await until(lambda: bool(registry._writer._in_flight))  # type: ignore[union-attr]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(registry.close(), 0.1)
        second = asyncio.create_task(registry.close())
        await asyncio.sleep(0.05)
        assert not second.done()
    await asyncio.wait_for(second, 10)
    assert (await write).title == "during shutdown"


async def test_callers_never_hang_if_the_writer_stops(
    registry: SqliteRegistry, coordinator: Coordinator
) -> None:
    with write_lock(registry.path):
        write = asyncio.create_task(coordinator.add_task({"title": "x"}))
        await until(lambda: bool(registry._writer._in_flight))  # type: ignore[union-attr]
        queued = asyncio.create_task(coordinator.add_task({"title": "y"}))
        await asyncio.sleep(0.05)
        registry._writer._task.cancel()  # type: ignore[union-attr]
        for caller in (write, queued):
            with pytest.raises(StoreError, match="may not have happened"):
                await asyncio.wait_for(caller, 5)
    with pytest.raises(StoreError, match="closed"):
        await coordinator.add_task({"title": "z"})


async def test_a_malformed_write_fails_alone_in_its_batch(
    registry: SqliteRegistry, coordinator: Coordinator, new_agent: Any
) -> None:
    agents = [await new_agent(f"a{i}") for i in range(3)]
    tasks = await coordinator.add_tasks([{"title": f"t{i}"} for i in range(3)])
    commits = registry.commits
    results = await asyncio.gather(
        *(coordinator.claim(a, t.id) for a, t in zip(agents, tasks, strict=True)),
        registry.write(ops.approve, ["not", "an", "id"], "operator"),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    assert registry.commits == commits + 1, "all four went in one group commit"
    assert [type(r).__name__ for r in results] == ["Claim", "Claim", "Claim", "StoreError"]
    assert len(await coordinator.tasks(status=Status.CLAIMED)) == 3


async def test_a_full_disk_refuses_the_batch_and_keeps_everything_acknowledged(
    registry: SqliteRegistry, coordinator: Coordinator
) -> None:
    kept = await coordinator.add_tasks([{"title": f"kept {i}"} for i in range(10)])
    db = registry._db
    assert db is not None
    (pages,) = await (await db.execute("PRAGMA page_count")).fetchone()  # type: ignore[misc]
    await db.execute(f"PRAGMA max_page_count = {pages + 2}")
    big = [{"title": "filler", "description": "x" * 15_000} for _ in range(20)]
    results = await asyncio.gather(
        coordinator.add_tasks(big), coordinator.add_task({"title": "same batch"}),
        return_exceptions=True,
    )  # fmt: skip
    assert all(isinstance(r, StoreError) and "disk is full" in str(r) for r in results), results
    assert [t.id for t in await coordinator.tasks()] == [t.id for t in kept]
    assert await registry.integrity_check() == "ok"
    await db.execute("PRAGMA max_page_count = 1073741823")
    assert (await coordinator.add_task({"title": "room again"})).status is Status.AVAILABLE


async def test_a_refused_write_undoes_its_own_changes(
    coordinator: Coordinator, new_agent: Any, clock: FakeClock
) -> None:
    agent = await new_agent()
    first, second = await coordinator.add_tasks([{"title": "a"}, {"title": "b"}])
    await coordinator.claim(agent, first.id)
    seen = (await coordinator.registry.get_agent(agent)).last_seen
    clock.advance(30)
    with pytest.raises(Exception, match="already holds"):
        await coordinator.claim(agent, second.id)  # touches the agent row, then is refused
    assert (await coordinator.registry.get_agent(agent)).last_seen == seen


async def test_the_writer_is_durable_by_default(registry: SqliteRegistry) -> None:
    db = registry._db
    assert db is not None
    cursor = await db.execute("PRAGMA synchronous")
    assert (await cursor.fetchone())[0] == 2  # type: ignore[index]  # FULL
    cursor = await db.execute("PRAGMA journal_mode")
    assert (await cursor.fetchone())[0] == "wal"  # type: ignore[index]


async def test_a_clean_batch_runs_without_savepoints_and_a_refusal_runs_it_again_with_them(
    registry: SqliteRegistry, coordinator: Coordinator, new_agent: Any
) -> None:
    agents = [await new_agent(f"s{i}") for i in range(4)]
    tasks = await coordinator.add_tasks([{"title": f"t{i}"} for i in range(4)])
    db = registry._db
    assert db is not None
    statements: list[str] = []
    await db.set_trace_callback(statements.append)
    commits, before = registry.commits, await registry.last_event_id()
    claims = await asyncio.gather(
        *(coordinator.claim(a, t.id) for a, t in zip(agents[:2], tasks[:2], strict=True))
    )
    assert registry.commits == commits + 1, "one group commit"
    assert not any("SAVEPOINT" in s for s in statements), statements
    # One refused (a task already claimed) among two accepted: undone alone, logged once.
    statements.clear()
    results = await asyncio.gather(
        coordinator.claim(agents[2], tasks[2].id),
        coordinator.claim(agents[3], tasks[0].id),
        coordinator.complete(tasks[0].id, agents[0], claims[0].lease.epoch, "done"),
        return_exceptions=True,
    )
    await db.set_trace_callback(None)
    assert [type(r).__name__ for r in results] == ["Claim", "Conflict", "Task"]
    assert any("SAVEPOINT" in s for s in statements), "run again with savepoints"
    kinds = [(e.kind, e.task_id) for e in await coordinator.events(after=before)]
    assert kinds == [
        ("claimed", tasks[0].id), ("claimed", tasks[1].id),
        ("claimed", tasks[2].id), ("completed", tasks[0].id),
    ]  # fmt: skip
    assert (await coordinator.registry.get_agent(agents[3])).task_id is None
