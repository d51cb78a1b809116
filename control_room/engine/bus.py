"""The in-process event bus: every committed change, published in order to every subscriber.

Each subscriber gets its own bounded queue. A subscriber that falls too far behind is not allowed
to slow the engine down: its queue is dropped and it is told it lagged, so it can reload what
it shows from the registry (whose event log has everything) instead of piling up memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from control_room.domain import Event


class Lagged(Exception):
    """The subscriber missed events; re-read state from the registry, then subscribe again."""


class Subscription:
    def __init__(self, bus: EventBus, limit: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(limit)
        self.lagged = False

    def _offer(self, event: Event) -> None:
        if self.lagged:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True
            self._queue = asyncio.Queue(1)
            self._queue.put_nowait(None)

    async def get(self) -> Event:
        """The next event; raises Lagged if this subscriber fell behind."""
        event = await self._queue.get()
        if event is None:
            raise Lagged("event subscriber fell behind")
        return event

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        try:
            while True:
                yield await self.get()
        finally:
            self.close()


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self, limit: int = 10_000) -> Subscription:
        subscription = Subscription(self, limit)
        self._subscribers.add(subscription)
        return subscription

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            for subscriber in tuple(self._subscribers):
                subscriber._offer(event)
