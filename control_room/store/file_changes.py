"""Noticing writes to a SQLite registry by any process (the CLI, `control-room mcp`, a sqlite3
shell) without polling: every commit appends to the WAL file, and watchfiles reports that through
the operating system's file notifications (inotify on Linux). The change feed (store/feed.py)
follows these through `SqliteRegistry.outside_changes()`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from watchfiles import Change, awatch

logging.getLogger("watchfiles").setLevel(logging.WARNING)  # not a line per change detected

LOOK_SECONDS = 1.0  # a look at the log this often anyway, for anything a notification missed


class RegistryWatcher:
    def __init__(self, registry: Path, on_change: Callable[[], None] = lambda: None) -> None:
        self.registry = registry
        self.on_change = on_change
        self._names = {registry.name, f"{registry.name}-wal"}

    def _relevant(self, change: Change, path: str) -> bool:
        return Path(path).name in self._names

    async def changes(self, every: float | None = None) -> AsyncIterator[None]:
        """After each burst of writes (bursts within 50 ms count once); with `every`, also
        after that many seconds without one."""
        async for _ in awatch(
            self.registry.parent,
            watch_filter=self._relevant,
            debounce=50,
            step=20,
            recursive=False,
            yield_on_timeout=every is not None,
            rust_timeout=int((every or 0) * 1000) or 5000,
        ):
            yield

    async def run(self) -> None:
        """Call `on_change` after each burst of writes."""
        async for _ in self.changes():
            self.on_change()
