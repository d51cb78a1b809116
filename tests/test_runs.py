"""Runs of spawned agents in the registry: how ending a run settles its task, in one write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from control_room.domain import Conflict, NotFound, Status
from control_room.engine import Coordinator
from tests.conftest import FakeClock


async def started(c: Coordinator, tmp_path: Path, **task: Any) -> tuple[str, str, str]:
    """A task and a run for it; (task id, agent id, token)."""
    made = await c.add_task({"title": "job", **task})
    run, token = await c.start_run(made.id, "builder", "command", made.capabilities, tmp_path)
    await c.run_process(run.agent_id, 4242, "123", tmp_path)
    return made.id, run.agent_id, token


async def test_a_run_has_its_own_agent_attempt_folder_and_event(
    coordinator: Coordinator, tmp_path: Path
) -> None:
    task_id, agent_id, token = await started(coordinator, tmp_path)
    assert (await coordinator.authenticate(token)).id == agent_id  # type: ignore[union-attr]
    run = await coordinator.registry.get_run(agent_id)
    assert (run.attempt, run.run_dir, run.pid, run.pid_identity) == (
        1,
        f"{tmp_path}/1",
        4242,
        "123",
    )
    assert run.live and run.workdir == str(tmp_path)
    await coordinator.end_run(agent_id, 0, "exited", counts=False)  # one live run per task
    second, _ = await coordinator.start_run(task_id, "builder", "command", (), tmp_path)
    assert second.attempt == 2, "each run of a task gets the next folder"
    (event,) = [e for e in await coordinator.events(task_id=task_id) if e.kind == "agent_started"]
    assert event.agent_id == agent_id and event.data["pid"] == 4242


async def test_ending_a_run_releases_the_task_it_holds_and_counts_an_attempt(
    coordinator: Coordinator, tmp_path: Path
) -> None:
    task_id, agent_id, token = await started(coordinator, tmp_path)
    claim = await coordinator.claim(agent_id, task_id)
    run = await coordinator.end_run(agent_id, 3, "exited with code 3", turns=4, cost_usd=0.5)
    assert (run.exit_code, run.outcome, run.turns, run.cost_usd) == (
        3,
        "exited with code 3",
        4,
        0.5,
    )
    task = await coordinator.task(task_id)
    assert (task.status, task.attempts, task.agent_id) == (Status.AVAILABLE, 1, None)
    assert task.epoch == claim.lease.epoch
    assert await coordinator.authenticate(token) is None, "the token died with the run"
    kinds = [e.kind for e in await coordinator.events(task_id=task_id)]
    assert kinds[-2:] == ["released", "agent_ended"]
    again = await coordinator.end_run(agent_id, 0, "twice")
    assert again == run, "ending twice changes nothing"
    assert (await coordinator.task(task_id)).attempts == 1


async def test_a_run_that_never_claimed_abandons_its_task(
    coordinator: Coordinator, tmp_path: Path
) -> None:
    task_id, agent_id, _ = await started(coordinator, tmp_path, max_attempts=1)
    await coordinator.end_run(agent_id, 4, "exited with code 4")
    task = await coordinator.task(task_id)
    assert (task.status, task.attempts) == (Status.FAILED, 1)
    assert "before claiming it" in task.reason and "no attempts left" in task.reason


async def test_an_ended_run_leaves_a_task_someone_else_took_alone(
    coordinator: Coordinator, tmp_path: Path, new_agent: Any, clock: FakeClock
) -> None:
    task_id, agent_id, _ = await started(coordinator, tmp_path)
    other = await new_agent("outsider")
    clock.advance(1)
    claim = await coordinator.claim(other, task_id)
    await coordinator.release(task_id, other, claim.lease.epoch, "changed my mind")
    await coordinator.end_run(agent_id, 0, "exited")
    task = await coordinator.task(task_id)
    assert (task.status, task.attempts) == (Status.AVAILABLE, 1), "only the outsider's release"


async def test_a_run_stopped_by_control_room_does_not_count(
    coordinator: Coordinator, tmp_path: Path
) -> None:
    task_id, agent_id, _ = await started(coordinator, tmp_path)
    await coordinator.claim(agent_id, task_id)
    await coordinator.end_run(agent_id, None, "was stopped: shutting down", counts=False)
    task = await coordinator.task(task_id)
    assert (task.status, task.attempts) == (Status.AVAILABLE, 0)
    assert "not counted" in task.reason


async def test_a_finished_task_is_not_touched_by_its_runs_end(
    coordinator: Coordinator, tmp_path: Path
) -> None:
    task_id, agent_id, _ = await started(coordinator, tmp_path)
    claim = await coordinator.claim(agent_id, task_id)
    await coordinator.complete(task_id, agent_id, claim.lease.epoch, "done")
    await coordinator.end_run(agent_id, 0, "exited")
    task = await coordinator.task(task_id)
    assert (task.status, task.attempts) == (Status.COMPLETED, 0)


async def test_runs_of_unknown_agents_or_tasks_are_refused(
    coordinator: Coordinator, tmp_path: Path
) -> None:
    with pytest.raises(NotFound):
        await coordinator.end_run("A-nobody", 0, "exited")
    with pytest.raises(NotFound):
        await coordinator.start_run("T-missing", "builder", "command", (), tmp_path)
    assert await coordinator.runs() == [] and await coordinator.agents() == []


async def test_an_agent_started_for_a_task_claims_that_task_only(
    coordinator: Coordinator, tmp_path: Path
) -> None:
    task_id, agent_id, _ = await started(coordinator, tmp_path)
    other = await coordinator.add_task({"title": "another job", "priority": "P0"})
    with pytest.raises(Conflict, match=f"started for {task_id}"):
        await coordinator.claim(agent_id, other.id)
    claim = await coordinator.claim(agent_id)  # no id: its own task, not the P0 one
    assert claim.task.id == task_id
    assert (await coordinator.task(other.id)).status is Status.AVAILABLE


async def test_no_agent_is_started_for_a_task_that_is_not_available(
    coordinator: Coordinator, tmp_path: Path, new_agent: Any
) -> None:
    task = await coordinator.add_task({"title": "taken"})
    await coordinator.claim(await new_agent(), task.id)
    with pytest.raises(Conflict, match="no agent is started"):
        await coordinator.start_run(task.id, "builder", "command", (), tmp_path)
    assert await coordinator.runs() == []
