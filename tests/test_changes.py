"""Writes by another process (here: the seed's sqlite3 shell statement) are noticed within a
second, through file notifications rather than polling."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from control_room.engine.changes import RegistryWatcher
from tests.conftest import coordinator_at
from tests.test_registry import SEED_INSERT


async def test_a_shell_insert_is_noticed_within_a_second(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    async with coordinator_at(path):
        noticed = asyncio.Event()
        watcher = RegistryWatcher(path, noticed.set)
        watching = asyncio.create_task(watcher.run())
        await asyncio.sleep(0.3)  # the watch is in place
        assert not noticed.is_set(), "nothing was written yet"
        started = time.monotonic()
        shell = sqlite3.connect(path)
        shell.executescript(SEED_INSERT)
        shell.close()
        await asyncio.wait_for(noticed.wait(), 1.0)
        elapsed = time.monotonic() - started
        watching.cancel()
    assert elapsed < 1.0


async def test_unrelated_files_do_not_wake_it(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    async with coordinator_at(path):
        noticed = asyncio.Event()
        watching = asyncio.create_task(RegistryWatcher(path, noticed.set).run())
        await asyncio.sleep(0.3)
        (tmp_path / "notes.txt").write_text("not the registry")
        await asyncio.sleep(0.5)
        watching.cancel()
    assert not noticed.is_set()
