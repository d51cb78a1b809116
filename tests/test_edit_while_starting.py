"""An edit while an agent is starting on the task (spawned, its prompt written, not claimed
yet) is refused: the agent would work from the old text, and the checks it is judged by would
change under it (a newcomer's trial: `task edit` between `agent_started` and `claimed`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from control_room.domain import Conflict, InvalidInput
from control_room.engine import Coordinator


async def test_a_task_an_agent_is_starting_on_is_not_edited(
    coordinator: Coordinator, tmp_path: Path
) -> None:
    task = await coordinator.add_task({"title": "Original", "priority": "P1", "checks": ["true"]})
    run, _token = await coordinator.start_run(task.id, "scripted", "command", (), tmp_path)
    with pytest.raises(Conflict, match=f"cannot edit {task.id}: agent {run.agent_id} is starting"):
        await coordinator.edit_task(task.id, {"title": "EDITED", "checks": ["false"]})
    now = await coordinator.task(task.id)
    assert (now.title, now.checks) == ("Original", ("true",))
    assert [
        e for e in await coordinator.recent_events(100, task_id=task.id) if e.kind == "edited"
    ] == []
    await coordinator.end_run(run.agent_id, None, "exited", counts=False)
    edited = await coordinator.edit_task(task.id, {"title": "EDITED"})
    assert edited.title == "EDITED", "once its run ended the task can be edited again"


async def test_max_attempts_below_the_failed_attempts_of_an_open_task_is_refused(
    coordinator: Coordinator, new_agent: Any
) -> None:
    task = await coordinator.add_task({"title": "Tried once", "max_attempts": 3})
    agent = await new_agent()
    claim = await coordinator.claim(agent, task.id)
    await coordinator.release(task.id, agent, claim.lease.epoch, "gave up")
    assert (await coordinator.task(task.id)).attempts == 1
    with pytest.raises(InvalidInput, match="max_attempts: 1 leaves no attempt"):
        await coordinator.edit_task(task.id, {"max_attempts": 1})
    assert (await coordinator.task(task.id)).max_attempts == 3
    edited = await coordinator.edit_task(task.id, {"max_attempts": 2})
    assert edited.max_attempts == 2, "one attempt left is fine"
