"""Noticing writes to the registry by any process (the CLI, `control-room mcp`, a sqlite3 shell)
without polling: every commit appends to the WAL file, and watchfiles reports that through the
operating system's file notifications (inotify on Linux). On PostgreSQL, every commit that logs
an event notifies a channel the registry listens to (`wait_for_change`): `NotifyWatcher`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, awatch

from control_room.domain import StoreError

logging.getLogger("watchfiles").setLevel(logging.WARNING)  # not a line per change detected


class RegistryWatcher:
    def __init__(self, registry: Path, on_change: Callable[[], None]) -> None:
        self.registry = registry
        self.on_change = on_change
        self._names = {registry.name, f"{registry.name}-wal"}

    def _relevant(self, change: Change, path: str) -> bool:
        return Path(path).name in self._names

    async def run(self) -> None:
        """Call `on_change` after each burst of writes (bursts within 50 ms count once)."""
        async for _ in awatch(
            self.registry.parent, watch_filter=self._relevant, debounce=50, step=20, recursive=False
        ):
            self.on_change()


class NotifyWatcher:
    """Calls `on_change` after each commit that logged an event, in any process (PostgreSQL)."""

    def __init__(self, wait: Callable[[float], Awaitable[bool]], on_change: Callable[[], None]):
        self.wait = wait
        self.on_change = on_change

    async def run(self) -> None:
        while True:
            try:
                changed = await self.wait(30.0)
            except StoreError:  # the server is away: look again in a moment
                await asyncio.sleep(1.0)
                continue
            if changed:
                self.on_change()


def watch_registry(
    registry: object, path: Path, on_change: Callable[[], None]
) -> RegistryWatcher | NotifyWatcher:
    """The watcher for this registry: its change notifications, else its file's."""
    wait = getattr(registry, "wait_for_change", None)
    if wait is not None:
        return NotifyWatcher(wait, on_change)
    return RegistryWatcher(path, on_change)
