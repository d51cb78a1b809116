"""What `GET /metrics` reports, gathered cheaply enough to be scraped every few seconds on a
registry of a million events: live counts from indexed queries, event counts by kind kept
incrementally (the first scrape counts the log once; each later one only the new events),
the loops' health from this process, and the stats figures over the last `window` seconds
(tasks added in it: indexed, so cheap however long the history) cached for `stats_seconds`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from control_room.domain.stats import Stats
from control_room.engine.service import Coordinator


@dataclass(frozen=True, slots=True)
class LoopHealth:
    name: str
    last_run_age: float | None  # seconds since its last step began; None: never ran
    failing: bool
    runs: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    live: dict[str, Any]
    events: dict[str, int]
    loops: list[LoopHealth] = field(default_factory=list)
    stats: Stats | None = None


class MetricsSource:
    def __init__(
        self, coordinator: Coordinator, stats_seconds: float = 30.0, window: float = 86400.0
    ) -> None:
        self.coordinator = coordinator
        self.stats_seconds = stats_seconds
        self.window = window
        self._last_event = 0
        self._events: dict[str, int] = {}
        self._stats: Stats | None = None
        self._lock = asyncio.Lock()  # one scrape at a time updates the counters

    async def snapshot(self) -> Snapshot:
        async with self._lock:
            last, new = await self.coordinator.event_counts(self._last_event)
            self._last_event = last
            for kind, n in new.items():
                self._events[kind] = self._events.get(kind, 0) + n
            now = time.time()
            if self._stats is None or now - self._stats.now >= self.stats_seconds:
                self._stats = await self.coordinator.stats(self.window)
            live = await self.coordinator.live_counts()
            loops = [
                LoopHealth(
                    loop.name,
                    None if loop.last_run is None else max(0.0, now - loop.last_run),
                    loop.last_error is not None,
                    loop.runs,
                )
                for loop in self.coordinator.loops
            ]
            return Snapshot(live, dict(sorted(self._events.items())), loops, self._stats)
