"""Spawning that gives up sensibly: a start that fails backs off per task (doubling), leaves no
agent or run behind, and after `max_start_failures` in a row the task is BLOCKED with the reason,
in the inbox and notified like any BLOCKED task."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from control_room.domain import Decision, RoutingDecision, Status, Task
from control_room.domain.priority import Priority
from control_room.domain.routing import AgentType, World, decide
from control_room.engine import Coordinator
from control_room.engine.start_failures import StartFailures
from tests.engine_world import engine_world, scripted, settings_with, status_is, wait_for
from tests.hooks import Hook
from tests.test_routing import RULES, task
from tests.test_worktrees import commit_file, git

BASE = 0.2


def test_the_rest_doubles_per_task_and_gives_up_at_the_limit() -> None:
    now = [100.0]
    failures = StartFailures(30.0, 5, clock=lambda: now[0])
    rests = []
    for expected in range(1, 5):
        assert failures.failed("T-1", "lead", "no claude") == (expected, False)
        rests.append(failures.next_wake())
        assert "T-1" in failures.resting() and "T-2" not in failures.resting()
    assert rests == [30.0, 60.0, 120.0, 240.0]
    assert "failure 4 of 5, trying again in 4 min" in failures.resting()["T-1"]
    now[0] += 240.0
    assert failures.resting() == {} and failures.next_wake() is None
    assert failures.failed("T-1", "lead", "no claude") == (5, True), "the fifth gives up"
    assert failures.failed("T-1", "lead", "no claude") == (1, False), "counting starts afresh"
    failures.clear("T-1")
    assert failures.resting() == {}


def test_a_resting_task_is_held_with_the_reason_while_others_spawn() -> None:
    resting = task(id="T-REST", priority=Priority.P0)
    other = task(id="T-OTHER", priority=Priority.P0)
    world = World(failing={"T-REST": "lead could not start (x); failure 1 of 5"})
    held = decide(resting, world, RULES)
    assert (held.decision, held.rule) == (Decision.HOLD, "start-failed")
    assert held.why == "lead could not start (x); failure 1 of 5"
    assert decide(other, world, RULES).decision is Decision.SPAWN


def _repo(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q")
    commit_file(project, "README.md", "hello\n")
    return project


async def _decisions(c: Coordinator, task_id: str) -> list[RoutingDecision]:
    return [d for d in await c.decisions() if d.task_id == task_id]


@pytest.mark.parametrize("managed", [False, True], ids=["command", "managed"])
async def test_a_missing_program_backs_off_then_blocks_the_task(
    tmp_path: Path, hook: Hook, managed: bool
) -> None:
    missing = str(tmp_path / "no-such-agent")
    broken = AgentType("broken", "command", (), (missing, "{prompt_file}"), managed=managed)
    settings = settings_with(
        broken,
        worktrees=True,
        start_backoff_seconds=BASE,
        max_start_failures=5,
        notify_urls=(hook.url,),
    )
    project = _repo(tmp_path)
    async with engine_world(tmp_path, settings, project=project) as world:
        c = world.coordinator
        task = await c.add_task({"title": "Needs an agent that is not there", "priority": "P0"})
        blocked: Task = await wait_for(
            lambda: status_is(c, task.id, "BLOCKED"), within=60, what="BLOCKED"
        )
        assert blocked.attempts == 0 and blocked.agent_id is None, "no attempt was counted"
        assert "broken could not start 5 times in a row" in blocked.reason
        assert "no-such-agent" in blocked.reason
        events = await c.events(task_id=task.id)
        failed = [e for e in events if e.kind == "start_failed"]
        assert [e.data["failures"] for e in failed] == [1, 2, 3, 4, 5]
        gaps = [later.at - earlier.at for earlier, later in pairwise(failed)]
        for number, gap in enumerate(gaps):
            assert gap >= BASE * 2**number * 0.9, f"retried after {gap:.2f} s, too soon"
        (last,) = [e for e in events if e.to_status is Status.BLOCKED]
        assert (last.kind, last.actor, last.from_status) == ("blocked", "supervisor", "AVAILABLE")
        whys = [d.why for d in await _decisions(c, task.id) if d.rule == "start-failed"]
        assert any("failure 1 of 5, trying again in 0.2 s" in why for why in whys), whys
        assert any("failure 4 of 5, trying again in 1.6 s" in why for why in whys), whys
        # A start that never ran leaves nothing behind: no agent, no run, no worktree.
        assert await c.agents() == [] and await c.runs() == []
        worktrees = world.server.home.worktrees

        async def no_worktree() -> bool:  # removed right after the failure is recorded
            return not worktrees.exists() or list(worktrees.iterdir()) == []

        await wait_for(no_worktree, within=30, what="the worktree's removal")
        # Notified like any BLOCKED task.
        await wait_for(lambda: _received(hook), within=20, what="the notice")
        (notice,) = hook.received
        assert notice["title"] == f"Control Room: task {task.id} is BLOCKED"
        assert "could not start 5 times in a row" in notice["message"]
        # The operator unblocks it: five fresh tries, not an instant block.
        await c.approve(task.id)
        await wait_for(lambda: status_is(c, task.id, "BLOCKED"), within=60, what="BLOCKED again")
        again = [e for e in await c.events(task_id=task.id) if e.kind == "start_failed"]
        assert [e.data["failures"] for e in again] == [1, 2, 3, 4, 5] * 2


async def _received(hook: Hook) -> bool:
    return bool(hook.received)


async def test_a_git_error_is_a_start_failure_too(tmp_path: Path) -> None:
    project = _repo(tmp_path)
    git(project, "branch", "control-room")  # so no branch control-room/<task> can be made
    kind = scripted("work")
    settings = settings_with(kind, worktrees=True, start_backoff_seconds=BASE, max_start_failures=2)
    async with engine_world(tmp_path, settings, project=project) as world:
        c = world.coordinator
        task = await c.add_task({"title": "Cannot get a worktree", "priority": "P0"})
        blocked = await wait_for(lambda: status_is(c, task.id, "BLOCKED"), within=60)
        assert "scripted could not start 2 times in a row" in blocked.reason
        assert "git worktree add" in blocked.reason and blocked.attempts == 0
        assert await c.agents() == [] and await c.runs() == []
