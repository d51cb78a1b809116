"""A big assignment pass (the first one, on a registry of many AVAILABLE tasks) is read a page at
a time and routed and stored a chunk at a time, on a real registry with a real server and real
agent processes: every task is routed once, in queue order, no write carries more than a chunk,
and the agent limit holds across chunks."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from control_room.config import Home, Settings
from control_room.domain import Decision
from control_room.engine import Coordinator, assignment, init_home, open_coordinator
from tests.engine_world import engine_world, scripted, settings_with, wait_for


async def _decisions(c: Coordinator, n: int) -> bool:
    return len(await c.decisions(10_000)) >= n


async def _home_with(folder: Path, priorities: list[str]) -> tuple[Home, list[str]]:
    """A data directory whose registry holds one AVAILABLE task per priority, added one by one
    (so each has its own creation time); their ids in queue order."""
    home = Home(folder / "data")
    await init_home(home)
    async with open_coordinator(home, Settings()) as c:
        tasks = [
            await c.add_task({"title": f"t{n}", "priority": p}) for n, p in enumerate(priorities)
        ]
    ordered = sorted(tasks, key=lambda t: (t.priority, t.created_at))
    return home, [t.id for t in ordered]


async def test_a_big_first_pass_is_stored_a_chunk_at_a_time_in_queue_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assignment, "ROUTE_CHUNK", 16)
    monkeypatch.setattr(assignment, "READ_PAGE", 23)  # pages and chunks do not line up
    priorities = ["P3", "P2"] * 60 + ["P2"] * 7
    home, queue = await _home_with(tmp_path, priorities)
    async with engine_world(tmp_path, settings_with(scripted("work")), home=home) as world:
        c = world.coordinator
        await wait_for(lambda: _decisions(c, len(queue)), what="every task routed")
        decisions = await c.decisions(10_000)
        assert [d.task_id for d in decisions] == queue, "once each, in queue order"
        assert all(d.rule == "claimable" for d in decisions)
        routed = [e for e in await c.events(limit=10_000) if e.kind == "routed"]
        assert len(routed) == len(queue)
        # A write's events share its transaction's time: one write per chunk of 16.
        writes = Counter(e.at for e in routed)
        assert max(writes.values()) <= 16, writes
        assert len(writes) >= len(queue) // 16
        assert world.engine.assigner is not None
        assert world.engine.assigner.decided == len(queue)


async def test_the_agent_limit_holds_across_the_chunks_of_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assignment, "ROUTE_CHUNK", 2)
    base = settings_with(scripted("wait"))
    settings = replace(base, routing=replace(base.routing, max_running=3))
    home, queue = await _home_with(tmp_path, ["P0"] * 7)
    async with engine_world(tmp_path, settings, home=home) as world:
        c = world.coordinator
        await wait_for(lambda: _decisions(c, len(queue)), what="every task routed")
        decisions = await c.decisions(10_000)
        assert [d.task_id for d in decisions] == queue
        spawned = [d.task_id for d in decisions if d.decision is Decision.SPAWN]
        assert spawned == queue[:3], "the first three in queue order, across two chunks"
        assert all(d.rule == "agent-limit" for d in decisions[3:])
        assert len(await c.runs()) == 3


async def _routed(c: Coordinator, task_id: str) -> bool:
    return any(d.task_id == task_id for d in await c.decisions(1000))
