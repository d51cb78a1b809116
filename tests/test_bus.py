"""The change feed in one process: committed events reach subscribers in log order; a slow one
reads the log instead of piling up a queue."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from control_room.domain import Conflict, Event
from control_room.engine import Coordinator


async def test_subscribers_see_every_committed_event_in_log_order(
    coordinator: Coordinator, new_agent: Any
) -> None:
    subscription = coordinator.feed.subscribe()
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


async def test_a_subscriber_that_falls_behind_reads_the_log_and_misses_nothing(
    coordinator: Coordinator,
) -> None:
    slow = coordinator.feed.subscribe(limit=3)
    fast = coordinator.feed.subscribe(limit=100)
    tasks = await coordinator.add_tasks([{"title": f"t{i}"} for i in range(10)])
    assert len(slow._buffer) <= 3, "a slow subscriber's memory stays bounded"
    logged = await coordinator.events()
    assert [await fast.get() for _ in range(10)] == logged
    assert [await slow.get() for _ in range(10)] == logged, "read back from the log, in order"
    await coordinator.cancel(tasks[0].id)
    assert (await fast.get()).kind == (await slow.get()).kind == "cancelled"
    fast.close()
    slow.close()
    assert await fast.batch() == [], "a closed subscription ends"
    await coordinator.cancel(tasks[1].id)  # nobody listening: nothing to do
    assert not fast._buffer and not slow._buffer
