"""Named background loops with their state observable: last run, next run, last error.

Each loop calls one step every `interval` seconds, or at once when poked; a failing step is
recorded and retried next time, never allowed to end the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from control_room.domain import ControlRoomError

log = logging.getLogger(__name__)


@dataclass
class Loop:
    name: str
    interval: float
    step: Callable[[], Awaitable[object]]
    last_run: float | None = None
    next_run: float | None = None
    last_error: str | None = None
    runs: int = 0
    # Told (loop name, error) when the step starts failing or fails differently: an event.
    on_error: Callable[[str, str], Awaitable[object]] | None = None

    def __post_init__(self) -> None:
        self._poked = asyncio.Event()

    def state(self) -> dict[str, object]:
        """What the screen and GET /api/loops show."""
        return {
            "name": self.name,
            "interval": self.interval,
            "last_run": self.last_run,
            "next_run": self.next_run,
            "last_error": self.last_error,
            "runs": self.runs,
        }

    def poke(self) -> None:
        """Run the step now instead of waiting for the interval."""
        self._poked.set()

    async def run(self) -> None:
        while True:
            self.last_run = time.time()
            try:
                await self.step()
                self.last_error = None
            except Exception as error:
                await self._failed(error)
            self.runs += 1
            self.next_run = time.time() + self.interval
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives as the poke does, and the loop would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._poked.wait()
            self._poked.clear()

    async def _failed(self, error: Exception) -> None:
        """Log a failing step once per kind of failure: an expected one (a registry gone, a
        full disk) as one line, anything else with its traceback; tell `on_error`."""
        expected = isinstance(error, ControlRoomError)
        detail = error.message if isinstance(error, ControlRoomError) else str(error)
        text = f"{type(error).__name__}: {detail}"
        if text != self.last_error:
            log.error("loop %s failed: %s", self.name, text, exc_info=None if expected else error)
            if self.on_error is not None:
                with contextlib.suppress(Exception):
                    await self.on_error(self.name, text)
        self.last_error = text
