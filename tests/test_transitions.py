"""Every action from every status: refused (nothing changes) unless the table allows it, and a
legal one moves the task to a status the table names and writes exactly one event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from control_room.domain import Action, Conflict, NotFound, Status, Task
from control_room.domain.status import TRANSITIONS, allowed_from
from control_room.engine import Coordinator
from tests.conftest import FakeClock
from tests.pg import BACKENDS


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every case on a SQLite file and on PostgreSQL."""
    return str(request.param)


Setup = Callable[[Coordinator, str], Awaitable[Task]]


async def _task(c: Coordinator, **fields: Any) -> Task:
    return await c.add_task({"title": "subject", **fields})


async def _claimed(c: Coordinator, agent: str, **fields: Any) -> Task:
    task = await _task(c, **fields)
    return (await c.claim(agent, task.id)).task


async def pending(c: Coordinator, agent: str) -> Task:
    blocker = await _task(c)
    return await _task(c, depends_on=[blocker.id])


async def available(c: Coordinator, agent: str) -> Task:
    return await _task(c)


async def awaiting_approval(c: Coordinator, agent: str) -> Task:
    return await c.await_approval((await _task(c)).id, "needs a human")


async def claimed(c: Coordinator, agent: str) -> Task:
    return await _claimed(c, agent)


async def in_progress(c: Coordinator, agent: str) -> Task:
    task = await _claimed(c, agent)
    return await c.progress(task.id, agent, task.epoch, 10, "started")


async def validating(c: Coordinator, agent: str) -> Task:
    task = await _claimed(c, agent, checks=["true"])
    return await c.complete(task.id, agent, task.epoch, "done")


async def completed(c: Coordinator, agent: str) -> Task:
    task = await _claimed(c, agent)
    return await c.complete(task.id, agent, task.epoch, "done")


async def blocked(c: Coordinator, agent: str) -> Task:
    task = await _claimed(c, agent)
    return await c.block(task.id, agent, task.epoch, "needs a key")


async def failed(c: Coordinator, agent: str) -> Task:
    task = await _claimed(c, agent, max_attempts=1)
    return await c.release(task.id, agent, task.epoch, "gave up")


async def cancelled(c: Coordinator, agent: str) -> Task:
    return await c.cancel((await _task(c)).id)


SETUPS: dict[Status, Setup] = {
    Status.PENDING: pending,
    Status.AVAILABLE: available,
    Status.AWAITING_APPROVAL: awaiting_approval,
    Status.CLAIMED: claimed,
    Status.IN_PROGRESS: in_progress,
    Status.VALIDATING: validating,
    Status.COMPLETED: completed,
    Status.BLOCKED: blocked,
    Status.FAILED: failed,
    Status.CANCELLED: cancelled,
}


async def act(action: Action, c: Coordinator, t: Task, agent: str, clock: FakeClock) -> None:
    """Perform `action` on `t` as the party who would normally do it."""
    if action is Action.EXPIRE:
        clock.advance(c.lease_seconds + 1)
        expired = await c.expire_leases()
        if not expired:
            raise Conflict("nothing to expire")
        return
    calls: dict[Action, Callable[[], Awaitable[Any]]] = {
        Action.AWAIT_APPROVAL: lambda: c.await_approval(t.id, "why"),
        Action.APPROVE: lambda: c.approve(t.id),
        Action.GO: lambda: c.go(t.id),
        Action.REJECT: lambda: c.reject(t.id, "no"),
        Action.CLAIM: lambda: c.claim(agent, t.id),
        Action.PROGRESS: lambda: c.progress(t.id, agent, t.epoch, 50, "half"),
        Action.COMPLETE: lambda: c.complete(t.id, agent, t.epoch, "done"),
        Action.VERDICT: lambda: c.record_verdict(t.id, t.epoch, True, "ok"),
        Action.RELEASE: lambda: c.release(t.id, agent, t.epoch, "stop"),
        Action.BLOCK: lambda: c.block(t.id, agent, t.epoch, "stuck"),
        Action.CANCEL: lambda: c.cancel(t.id),
        Action.RETRY: lambda: c.retry(t.id),
        Action.EDIT: lambda: c.edit_task(t.id, {"title": "edited by the operator"}),
    }
    await calls[action]()


# READY has its own test below; ABANDON happens only as part of ending a run (test_runs.py), and
# GIVE_UP as part of a failed start (test_start_failures.py), IMPORT only inside the import that
# creates the task (test_import_backlogs.py).
SIDE_ACTIONS = (Action.READY, Action.ABANDON, Action.GIVE_UP, Action.IMPORT)
ACTIONS = [a for a in Action if a not in SIDE_ACTIONS]
# The setup's last write repeated by the same agent under the same epoch: answered with the
# current state instead of refused, and, like a refusal, it changes nothing.
REPEATS = {
    (Action.CLAIM, Status.CLAIMED),
    (Action.COMPLETE, Status.VALIDATING),
    (Action.COMPLETE, Status.COMPLETED),
    (Action.RELEASE, Status.FAILED),
    (Action.BLOCK, Status.BLOCKED),
}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", ACTIONS)
async def test_action_from_status(
    coordinator: Coordinator, new_agent: Any, clock: FakeClock, action: Action, status: Status
) -> None:
    agent = await new_agent()
    task = await SETUPS[status](coordinator, agent)
    assert task.status is status
    last_event = await coordinator.registry.last_event_id()

    if (action, status) in REPEATS:
        await act(action, coordinator, task, agent, clock)
    elif status not in allowed_from(action):
        with pytest.raises((Conflict, NotFound)):
            await act(action, coordinator, task, agent, clock)
    if status not in allowed_from(action):
        assert await coordinator.task(task.id) == task, "a refused action changed the task"
        assert await coordinator.registry.last_event_id() == last_event
        return

    await act(action, coordinator, task, agent, clock)
    after = await coordinator.task(task.id)
    assert after.status in TRANSITIONS[action][status]
    new_events = await coordinator.events(after=last_event)
    assert len(new_events) == 1, [e.kind for e in new_events]
    (event,) = new_events
    assert (event.task_id, event.from_status, event.to_status) == (task.id, status, after.status)


async def test_ready_when_the_last_dependency_completes(
    coordinator: Coordinator, new_agent: Any
) -> None:
    agent = await new_agent()
    first, second = await coordinator.add_tasks([{"title": "one"}, {"title": "two"}])
    dependent = await coordinator.add_task(
        {"title": "after both", "depends_on": [first.id, second.id]}
    )
    assert dependent.status is Status.PENDING
    for task in (first, second):
        claim = await coordinator.claim(agent, task.id)
        last = await coordinator.registry.last_event_id()
        await coordinator.complete(task.id, agent, claim.lease.epoch, "done")
        kinds = [(e.kind, e.task_id) for e in await coordinator.events(after=last)]
        if task is first:
            assert kinds == [("completed", first.id)]
            assert (await coordinator.task(dependent.id)).status is Status.PENDING
        else:
            assert kinds == [("completed", second.id), ("ready", dependent.id)]
            assert (await coordinator.task(dependent.id)).status is Status.AVAILABLE


def test_table_names_only_known_statuses() -> None:
    for action, moves in TRANSITIONS.items():
        assert moves, action
        for source, targets in moves.items():
            assert targets and all(isinstance(t, Status) for t in targets), (action, source)
    assert not any(Status.COMPLETED in moves for moves in TRANSITIONS.values()), (
        "COMPLETED is final"
    )
