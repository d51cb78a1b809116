"""Creating a data directory, and opening the coordinator on an existing one."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from control_room.config import DEFAULT_CONFIG, Home, Settings, load_settings
from control_room.domain import StoreError
from control_room.engine import tokens
from control_room.engine.service import Coordinator
from control_room.store import SqliteRegistry


async def init_home(home: Home) -> list[Path]:
    """Create what is missing (never overwrites); returns the files it created."""
    created: list[Path] = []
    home.root.mkdir(parents=True, exist_ok=True)
    for folder in (home.runs, home.worktrees):
        folder.mkdir(exist_ok=True)
    ignore = home.root / ".gitignore"  # a data directory inside a project stays out of git
    if not ignore.exists():
        ignore.write_text("# Control Room's data directory: not part of the project.\n*\n")
    if not home.config.exists():
        home.config.write_text(DEFAULT_CONFIG, encoding="utf-8")
        created.append(home.config)
    if not home.operator_token.exists():
        fd = os.open(home.operator_token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(tokens.new_token("op") + "\n")
        created.append(home.operator_token)
    if not home.registry.exists():
        created.append(home.registry)
    settings = load_settings(home.config)
    registry = await SqliteRegistry.open(home.registry, synchronous=settings.synchronous)
    await registry.close()
    return created


@asynccontextmanager
async def open_coordinator(
    home: Home, settings: Settings | None = None
) -> AsyncIterator[Coordinator]:
    """The coordinator on an initialised data directory; closes the registry on exit."""
    if not home.registry.exists():
        raise StoreError(
            f"no registry at {home.root}: run `control-room init` first (or pass --data-dir)"
        )
    settings = settings or load_settings(home.config)
    registry = await SqliteRegistry.open(
        home.registry, synchronous=settings.synchronous, busy_timeout_ms=settings.busy_timeout_ms
    )
    try:
        coordinator = Coordinator(registry, lease_seconds=settings.lease_seconds)
        coordinator.permissions.timeout_seconds = settings.permission_timeout_seconds
        yield coordinator
    finally:
        await registry.close()
