"""The screen checks the registry in the background (issue 12: first render <= 1 s at 1M tasks
with [store] check_seconds on): it draws at once, but nothing is written and nothing is served
before the check's verdict, and a corrupt registry still stops it with one clear error."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from pathlib import Path

import pytest

from control_room.config import Home, load_settings
from control_room.domain import StoreError
from control_room.engine import Coordinator, init_home
from control_room.server.run import StopSignals
from control_room.store import SqliteRegistry, ops
from control_room.tui.app import create_app
from control_room.world import World, open_world
from tests.faults.test_registry_files import _registry_with_tasks


async def corrupt_home(folder: Path) -> Home:
    """An initialised data directory whose registry has 8 KB of garbage in its middle."""
    home = Home(folder / "data")
    await init_home(home)
    await _registry_with_tasks(home.registry, 300)
    spoil(home.registry)
    return home


def spoil(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(size // 2 // 4096 * 4096)
        handle.write(os.urandom(8192))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_writes_wait_for_the_check_and_a_corrupt_file_takes_none(tmp_path: Path) -> None:
    home = await corrupt_home(tmp_path)
    before = digest(home.registry)
    registry = await SqliteRegistry.open(
        home.registry, check_seconds=30, check_later=True, create=False
    )  # opens before the verdict
    try:
        with pytest.raises(StoreError, match="corrupt"):
            await registry.write(ops.create_tasks, [], "operator")
        with pytest.raises(StoreError, match="corrupt"):  # every time, not only the first
            await registry.verified()
    finally:
        await registry.close()
    assert digest(home.registry) == before


async def test_a_healthy_file_checked_later_takes_writes(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    await _registry_with_tasks(home.registry, 10)
    registry = await SqliteRegistry.open(
        home.registry, check_seconds=30, check_later=True, create=False
    )
    try:
        added = await Coordinator(registry).add_tasks([{"title": "after the check"}])
        assert len(added) == 1 and registry.checked == "ok"
    finally:
        await registry.close()


async def test_the_screen_on_a_corrupt_registry_stops_with_the_verdict(tmp_path: Path) -> None:
    home = await corrupt_home(tmp_path)
    before = digest(home.registry)
    settings, signals = load_settings(home.config), StopSignals()

    def opener() -> contextlib.AbstractAsyncContextManager[World]:
        return open_world(home, settings, "127.0.0.1", 0, spawn=True, signals=signals,
                          quiet=True, check_later=True)  # fmt: skip  # as run_screen does

    app = create_app(opener)
    await asyncio.wait_for(app.run_async(headless=True, size=(160, 50)), timeout=60)
    assert isinstance(app.failure, StoreError), app.failure
    assert "corrupt" in app.failure.message and str(home.registry) in app.failure.message
    assert app.return_code == 1
    assert app.world is None or not app.world.server.started  # never served
    assert digest(home.registry) == before
