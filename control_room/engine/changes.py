"""Noticing writes to the registry by any process (the CLI, `control-room mcp`, a sqlite3 shell)
without polling: every commit appends to the WAL file, and watchfiles reports that through the
operating system's file notifications (inotify on Linux)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, awatch

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
