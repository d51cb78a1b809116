"""The event bus: committed events reach subscribers in log order; a slow one is cut loose."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from control_room.domain import Conflict, Event
from control_room.engine import Coordinator, EventBus, Lagged


async def test_subscribers_see_every_committed_event_in_log_order(
    coordinator: Coordinator, new_agent: Any
) -> None:
    subscription = coordinator.bus.subscribe()
    agents = [await new_agent(f"a{i}") for i in range(8)]
    tasks = await coordinator.add_tasks([{"title": f"t{i}"} for i in range(8)])
    claims = await asyncio.gather(
        *(coordinator.claim(a, t.id) for a, t in zip(agents, tasks, strict=True))
    )
    await asyncio.gather(
        *(coordinator.complete(c.task.id, c.lease.agent_id, c.lease.epoch, "ok") for c in claims)
    )
    with pytest.raises(Conflict):  # refused writes publish nothing (another agent's hand-in)
        await coordinator.complete(tasks[0].id, agents[1], 1, "not mine")
    repeated = await coordinator.complete(tasks[0].id, agents[0], 1, "again")
    assert repeated.status == "COMPLETED", "the holder's repeat is answered, and publishes nothing"

    logged = await coordinator.events()
    received: list[Event] = []
    while len(received) < len(logged):
        received.append(await asyncio.wait_for(subscription.get(), 1))
    assert received == logged
    assert [e.kind for e in received].count("completed") == 8
    assert [e.id for e in received] == sorted(e.id for e in received)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(subscription.get(), 0.05)
    subscription.close()


async def test_a_subscriber_that_falls_behind_is_told_and_dropped() -> None:
    bus = EventBus()
    slow = bus.subscribe(limit=3)
    fast = bus.subscribe(limit=100)
    events = [Event(i, 0.0, "progress", "x") for i in range(1, 11)]
    bus.publish(events)
    with pytest.raises(Lagged):
        await slow.get()
    assert slow.lagged
    assert [await fast.get() for _ in range(10)] == events
    bus.publish([Event(11, 0.0, "progress", "x")])
    assert (await fast.get()).id == 11
    fast.close()
    slow.close()
    bus.publish([Event(12, 0.0, "progress", "x")])  # nobody listening: nothing to do
