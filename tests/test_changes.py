"""Writes by another process (here: the seed's sqlite3 shell statement) are noticed within a
second, through file notifications rather than polling."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from control_room.store.file_changes import RegistryWatcher
from tests.conftest import coordinator_at
from tests.test_registry import SEED_INSERT


async def test_a_shell_insert_is_noticed_within_a_second(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    async with coordinator_at(path):
        noticed = asyncio.Event()
        watcher = RegistryWatcher(path, noticed.set)
        watching = asyncio.create_task(watcher.run())
        await asyncio.sleep(0.3)
        assert not noticed.is_set(), "nothing was written yet"
        # The watch may not be in place yet on a busy machine: a shell insert every second
        # until one is noticed (there is no polling behind it: only file notifications).
        for number in range(10):
            shell = sqlite3.connect(path)
            shell.executescript(SEED_INSERT.replace("T-TEST-001", f"T-TEST-{number:03}"))
            shell.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(noticed.wait(), 1.0)
                break
        watching.cancel()
    assert noticed.is_set(), "ten shell inserts, none noticed"


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
