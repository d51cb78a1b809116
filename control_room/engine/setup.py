"""Creating a data directory, and opening the coordinator on an existing one."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from control_room.config import DEFAULT_CONFIG, Home, Settings, load_settings, with_registry
from control_room.domain import StoreError
from control_room.engine import tokens
from control_room.engine.service import Coordinator
from control_room.store import Registry, SqliteRegistry

log = logging.getLogger(__name__)


async def init_home(home: Home, registry: Path | None = None) -> list[Path]:
    """Create what is missing (never overwrites); returns the files it created. With
    `registry` (a registry file shared with other data directories), the new config names it,
    and an existing one is joined: kept as it is, this data directory's operator token added."""
    created: list[Path] = []
    home.root.mkdir(parents=True, exist_ok=True)
    for folder in (home.runs, home.worktrees):
        folder.mkdir(exist_ok=True)
    ignore = home.root / ".gitignore"  # a data directory inside a project stays out of git
    if not ignore.exists():
        ignore.write_text("# Control Room's data directory: not part of the project.\n*\n")
    if not home.config.exists():
        shared = f"\n[registry]\nurl = {json.dumps(str(registry))}\n" if registry else ""
        home.config.write_text(DEFAULT_CONFIG + shared, encoding="utf-8")
        created.append(home.config)
    if not home.operator_token.exists():
        fd = os.open(home.operator_token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(tokens.new_token("op") + "\n")
        created.append(home.operator_token)
    settings = load_settings(home.config)
    home = with_registry(home, settings) if registry is None else Home(home.root, registry)
    new = not home.registry.exists()  # only then: an existing empty file is never "new"
    if new:
        created.append(home.registry)
    store = await SqliteRegistry.open(home.registry, synchronous=settings.synchronous, create=new)
    try:
        await register_operator(store, home, settings)
    finally:
        await store.close()
    return created


async def register_operator(registry: Registry, home: Home, settings: Settings) -> None:
    """This data directory's operator token, hashed, in the registry: it then works on the
    server of every control room sharing the registry (store/engine_ops.py)."""
    token = home.operator_token.read_text(encoding="utf-8").strip()
    name = f"{settings.engine_host or socket.gethostname()}:{home.root}"
    if await registry.register_operator(tokens.token_hash(token), name) != "ACTIVE":
        log.warning("control-room: warning: the operator token of %s is revoked", home.root)


@asynccontextmanager
async def open_coordinator(
    home: Home, settings: Settings | None = None, *, check: bool = False, check_later: bool = False
) -> AsyncIterator[Coordinator]:
    """The coordinator on an initialised data directory; closes the registry on exit.
    `check`: refuse a corrupt registry file (for the processes that serve it); with
    `check_later`, in the background: writes wait for it, `registry.verified()` tells."""
    if not home.registry.exists():
        raise StoreError(
            f"no registry at {home.root}: run `control-room init` first (or pass --data-dir)"
        )
    settings = settings or load_settings(home.config)
    registry = await SqliteRegistry.open(
        home.registry,
        synchronous=settings.synchronous,
        busy_timeout_ms=settings.busy_timeout_ms,
        check_seconds=settings.check_seconds if check and settings.check_seconds > 0 else None,
        check_later=check_later,
        create=False,
    )
    if registry.checked not in (None, "ok"):
        log.warning("control-room: warning: %s: %s", home.registry, registry.checked)
    try:
        coordinator = Coordinator(registry, lease_seconds=settings.lease_seconds)
        coordinator.permissions.timeout_seconds = settings.permission_timeout_seconds
        yield coordinator
    finally:
        await registry.close()
