"""Many claimers at once, in one process and across processes: each task claimed exactly once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

from control_room.domain import NothingToClaim, Status, StoreError
from control_room.engine import Coordinator
from control_room.store import SqliteRegistry
from tests.conftest import coordinator_at

ROOT = Path(__file__).resolve().parents[1]


async def test_64_claimers_on_2000_tasks_claim_each_exactly_once(tmp_path: Path) -> None:
    registry = await SqliteRegistry.open(tmp_path / "registry.db")
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


def test_claimers_in_four_processes_share_one_registry(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"

    async def setup() -> None:
        async with coordinator_at(path) as coordinator:
            await coordinator.add_tasks([{"title": f"t{i}"} for i in range(2000)])

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
        registry = await SqliteRegistry.open(path)
        tasks = await registry.list_tasks()
        assert {(t.status, t.epoch) for t in tasks} == {(Status.COMPLETED, 1)}
        assert await registry.integrity_check() == "ok"
        await registry.close()

    asyncio.run(verify())
