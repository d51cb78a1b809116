"""The incremental assignment loop on real registries, a real server and real agent processes:
it routes what changed (a task whose dependencies finish, a task added while it was down), never
routes again what did not change, and starts a held task when an agent slot frees."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from control_room.domain import Decision
from control_room.engine import Coordinator
from control_room.engine.assignment import Assigner
from tests.conftest import coordinator_at
from tests.engine_world import World, engine_world, scripted, settings_with, status_is, wait_for


def assigner(world: World) -> Assigner:
    assert world.engine.assigner is not None
    return world.engine.assigner


async def passes(world: World, count: int) -> None:
    """Poke the assignment loop `count` times, each time until it has run."""
    loop = assigner(world).loop
    for _ in range(count):
        runs = loop.runs
        loop.poke()

        async def ran(runs: int = runs) -> bool:
            return loop.runs > runs

        await wait_for(ran, within=10, what="an assignment pass")


async def routed(c: Coordinator, task_id: str, rule: str) -> bool:
    return any(d.task_id == task_id and d.rule == rule for d in await c.decisions(1000))


async def test_a_task_whose_dependencies_finish_is_routed(tmp_path: Path) -> None:
    async with engine_world(tmp_path, settings_with(scripted("work"))) as world:
        c = world.coordinator
        first = await c.add_task({"title": "First", "priority": "P0"})
        then = await c.add_task({"title": "Then", "priority": "P0", "depends_on": [first.id]})
        assert then.status == "PENDING"
        await wait_for(lambda: status_is(c, first.id, "COMPLETED"), what="the first task done")
        await wait_for(lambda: routed(c, then.id, "auto-spawn"), what="the dependent routed")
        await wait_for(lambda: status_is(c, then.id, "COMPLETED"), what="the dependent done")


async def test_a_task_routed_once_is_not_routed_again_without_a_change(tmp_path: Path) -> None:
    async with engine_world(tmp_path, settings_with(scripted("work"))) as world:
        c = world.coordinator
        ids = [
            (await c.add_task({"title": f"Claimable {n}", "priority": "P2"})).id for n in range(40)
        ]
        await wait_for(lambda: _count(c, 40), what="40 decisions")
        statements: list[str] = []
        await c.registry._reader.set_trace_callback(statements.append)  # type: ignore[attr-defined]
        decided, runs = assigner(world).decided, assigner(world).loop.runs
        await passes(world, 5)
        await c.registry._reader.set_trace_callback(None)  # type: ignore[attr-defined]
        ran = assigner(world).loop.runs - runs  # 5, or 6 when the watcher's asked for one too
        assert assigner(world).decided == decided, "nothing changed: nothing routed"
        assert len(await c.decisions(1000)) == 40, "no decision stored again"
        # An idle pass reads the events after the last one it saw, and nothing of the 40 tasks.
        assert len(statements) <= ran, statements
        assert not any("FROM tasks" in s or "routing_decisions" in s for s in statements)
        # One new task: exactly one more task routed, one more decision stored.
        extra = await c.add_task({"title": "One more", "priority": "P2"})
        await wait_for(lambda: routed(c, extra.id, "claimable"), what="the new task routed")
        await passes(world, 2)
        assert assigner(world).decided == decided + 1
        assert {d.task_id for d in await c.decisions(1000)} == {*ids, extra.id}


async def _count(c: Coordinator, n: int) -> bool:
    return len(await c.decisions(1000)) >= n


async def test_a_restart_routes_what_changed_while_it_was_down(tmp_path: Path) -> None:
    settings = settings_with(scripted("work"))
    async with engine_world(tmp_path, settings) as world:
        c = world.coordinator
        home = world.server.home
        old = await c.add_task({"title": "Claimable", "priority": "P2"})
        gate = await c.add_task({"title": "Gate", "priority": "P2"})
        later = await c.add_task({"title": "Later", "priority": "P0", "depends_on": [gate.id]})
        await wait_for(lambda: routed(c, gate.id, "claimable"), what="the first routing")
        stored = len(await c.decisions(1000))
    # No engine runs: a task comes in, and another becomes AVAILABLE (its dependency done).
    async with coordinator_at(home.registry) as c:
        urgent = await c.add_task({"title": "Came in while down", "priority": "P0"})
        agent, _ = await c.register_agent("by-hand")
        claim = await c.claim(agent.id, gate.id)
        await c.complete(gate.id, agent.id, claim.lease.epoch, "done")
        assert (await c.task(later.id)).status == "AVAILABLE"
        assert len(await c.decisions(1000)) == stored, "nothing routed while down"
    async with engine_world(tmp_path, settings, home=home) as world:
        c = world.coordinator
        await wait_for(lambda: status_is(c, urgent.id, "COMPLETED"), what="the new task done")
        await wait_for(lambda: status_is(c, later.id, "COMPLETED"), what="the readied task done")
        new = (await c.decisions(1000))[stored:]
        assert sorted(d.task_id for d in new) == sorted([urgent.id, later.id]), new
        assert all(d.decision is Decision.SPAWN for d in new)
        assert old.id not in {d.task_id for d in new}, "the unchanged task is not routed again"


async def test_a_task_held_by_the_agent_limit_spawns_when_a_slot_frees(tmp_path: Path) -> None:
    base = settings_with(scripted("wait"))
    settings = replace(base, routing=replace(base.routing, max_running=1))
    async with engine_world(tmp_path, settings) as world:
        c = world.coordinator
        first = await c.add_task({"title": "First", "priority": "P0"})
        await wait_for(lambda: status_is(c, first.id, "IN_PROGRESS"), what="the first agent")
        second = await c.add_task({"title": "Second", "priority": "P0"})
        await wait_for(lambda: routed(c, second.id, "agent-limit"), what="the second held")
        await passes(world, 3)
        assert len(await c.runs()) == 1, "held while the only slot is taken"
        (world.run_dir(first.id, 1) / "go").touch()
        await wait_for(lambda: status_is(c, second.id, "IN_PROGRESS"), what="the second agent")
        (world.run_dir(second.id, 1) / "go").touch()
        await wait_for(lambda: status_is(c, second.id, "COMPLETED"), what="the second done")
