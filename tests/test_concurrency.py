"""Many claimers at once, in one process and across processes: each task claimed exactly once,
on a SQLite file and on PostgreSQL (the `backend` fixture; tests/pg.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from control_room.domain import NothingToClaim, Status, StoreError
from control_room.engine import Coordinator
from control_room.store import open_registry
from tests.pg import BACKENDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def location(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Path | str:
    """Where the registry is: a SQLite file, or a fresh PostgreSQL database's URL."""
    if backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "registry.db"


async def test_64_claimers_on_2000_tasks_claim_each_exactly_once(location: Path | str) -> None:
    registry = await open_registry(location)
    try:
        coordinator = Coordinator(registry)
        await coordinator.add_tasks([{"title": f"task {i}"} for i in range(2000)])
        claimed: list[str] = []
        failures: list[Exception] = []

        async def claimer(index: int) -> None:
            agent, _ = await coordinator.register_agent(f"claimer-{index}", ["*"])
            while True:
                try:
                    claim = await coordinator.claim(agent.id)
                except NothingToClaim:
                    return
                except StoreError as error:  # "database is locked" would land here
                    failures.append(error)
                    return
                claimed.append(claim.task.id)
                await coordinator.complete(claim.task.id, agent.id, claim.lease.epoch, "ok")

        await asyncio.gather(*(claimer(i) for i in range(64)))

        assert failures == []
        assert len(claimed) == 2000 and len(set(claimed)) == 2000
        tasks = await coordinator.tasks()
        assert {t.status for t in tasks} == {Status.COMPLETED}
        assert {t.epoch for t in tasks} == {1}, "no task was ever claimed twice"
        events = await coordinator.events(limit=100_000)
        assert Counter(e.kind for e in events)["claimed"] == 2000
        workers = Counter(e.agent_id for e in events if e.kind == "claimed")
        assert len(workers) == 64, "every claimer got work"
        assert await registry.integrity_check() == "ok"
    finally:
        await registry.close()


def test_claimers_in_four_processes_share_one_registry(location: Path | str) -> None:
    path = location

    async def setup() -> None:
        registry = await open_registry(path)
        try:
            await Coordinator(registry).add_tasks([{"title": f"t{i}"} for i in range(2000)])
        finally:
            await registry.close()

    asyncio.run(setup())
    argv = [sys.executable, "-m", "tests.agents", "work", str(path), "16"]
    children = [
        subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [child.communicate(timeout=240) for child in children]
    completions: list[str] = []
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert "locked" not in err and "error" not in err, err
        lines = out.splitlines()
        assert lines[-1] == "errors: 0"
        completions += [line.split()[0] for line in lines[:-1]]
    assert len(completions) == 2000 and len(set(completions)) == 2000
    assert sum(1 for out, _ in outputs if len(out.splitlines()) > 1) >= 2, "processes overlapped"

    async def verify() -> None:
        registry = await open_registry(path)
        tasks = await registry.list_tasks()
        assert {(t.status, t.epoch) for t in tasks} == {(Status.COMPLETED, 1)}
        assert await registry.integrity_check() == "ok"
        await registry.close()

    asyncio.run(verify())


async def test_two_postgres_registries_claim_each_task_once(pg_url: str) -> None:
    """Two registries on one database, as two engines on two hosts would be: their writers
    are serialised by the advisory lock, so every task is claimed once, by one of them."""
    first, second = await open_registry(pg_url), await open_registry(pg_url)
    try:
        await Coordinator(first).add_tasks([{"title": f"t{i}"} for i in range(600)])
        claimed: list[tuple[int, str]] = []

        async def claimer(side: int, coordinator: Coordinator, index: int) -> None:
            agent, _ = await coordinator.register_agent(f"c{side}-{index}", ["*"])
            while True:
                try:
                    claim = await coordinator.claim(agent.id)
                except NothingToClaim:
                    return
                claimed.append((side, claim.task.id))
                await coordinator.complete(claim.task.id, agent.id, claim.lease.epoch, "ok")

        sides = [Coordinator(first), Coordinator(second)]
        await asyncio.gather(*(claimer(s, sides[s], i) for s in (0, 1) for i in range(16)))
        ids = [task_id for _, task_id in claimed]
        assert len(ids) == 600 and len(set(ids)) == 600
        assert {side for side, _ in claimed} == {0, 1}, "both registries claimed"
        tasks = await sides[1].tasks()
        assert {(t.status, t.epoch) for t in tasks} == {(Status.COMPLETED, 1)}
        events = await sides[0].events(limit=100_000)
        assert [e.id for e in events] == sorted(e.id for e in events)
        assert Counter(e.kind for e in events)["claimed"] == 600
    finally:
        await first.close()
        await second.close()
