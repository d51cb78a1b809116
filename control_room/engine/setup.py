"""Creating a data directory, and opening the coordinator on an existing one."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from control_room.config import (
    Home,
    Settings,
    load_settings,
    registry_location,
    with_registry,
)
from control_room.default_config import DEFAULT_CONFIG
from control_room.domain import StoreError
from control_room.domain.urls import is_postgres_url
from control_room.engine import tokens
from control_room.engine.service import Coordinator
from control_room.store import Registry, engine_ops, open_registry
from control_room.store.choose import describe

log = logging.getLogger(__name__)


SHARED_EXAMPLE = '# url = "postgresql://control@db.example.com/control_room"'


async def init_home(home: Home, registry: str | None = None) -> list[Path]:
    """Create what is missing (never overwrites); returns the files it created. With
    `registry` (--registry or $CONTROL_ROOM_REGISTRY: a PostgreSQL URL or another SQLite file,
    shared with other data directories), the new config names it, and an existing one is
    joined: kept as it is, this data directory's operator token added."""
    created: list[Path] = []
    if registry and home.config.exists():  # already initialised: its config says where
        settings = load_settings(home.config)
        current = registry_location(Home(home.root), settings)
        if str(current) != str(registry_location(Home(home.root, registry), settings)):
            raise StoreError(
                f"{home.root} is initialised with the registry {describe(current)}: to use "
                f"{describe(registry)}, set [registry] url in {home.config} (nothing was changed)"
            )
    home.root.mkdir(parents=True, exist_ok=True)
    for folder in (home.runs, home.worktrees):
        folder.mkdir(exist_ok=True)
    ignore = home.root / ".gitignore"  # a data directory inside a project stays out of git
    if not ignore.exists():
        ignore.write_text("# Control Room's data directory: not part of the project.\n*\n")
    if not home.config.exists():
        config = DEFAULT_CONFIG
        if registry:
            config = config.replace(SHARED_EXAMPLE, f"url = {json.dumps(registry)}")
        home.config.write_text(config, encoding="utf-8")
        created.append(home.config)
    if not home.operator_token.exists():
        fd = os.open(home.operator_token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(tokens.new_token("op") + "\n")
        created.append(home.operator_token)
    settings = load_settings(home.config)
    home = with_registry(home, settings, registry)
    where = registry_location(home, settings)
    # A file only when it is not there yet: an existing empty file is never "new". A
    # PostgreSQL database gets the schema when it has none.
    new = is_postgres_url(where) or not _exists(where)
    if new and not is_postgres_url(where):
        created.append(Path(where))
    store = await open_registry(where, synchronous=settings.synchronous, create=new)
    try:
        await register_operator(store, home, settings)
    finally:
        await store.close()
    return created


async def joins(home: Home, registry: str | None) -> bool:
    """Whether `init` with this registry joins one other data directories already use."""
    named = home if registry is None else Home(home.root, registry)
    where = registry_location(named, Settings())
    if not is_postgres_url(where):
        return registry is not None and _exists(where)
    try:
        store = await open_registry(where, create=False)
    except StoreError:
        return False  # no schema yet (or unreachable: init says why)
    try:
        return bool(await store.operators())
    finally:
        await store.close()


def _exists(where: str | Path) -> bool:
    return os.path.exists(where)


async def register_operator(registry: Registry, home: Home, settings: Settings) -> None:
    """This data directory's operator token, hashed, in the registry: it then works on the
    server of every control room sharing the registry (store/engine_ops.py)."""
    token = home.operator_token.read_text(encoding="utf-8").strip()
    name = f"{settings.engine_host or socket.gethostname()}:{home.root}"
    if (
        await registry.write(engine_ops.register_operator, tokens.token_hash(token), name)
        != "ACTIVE"
    ):
        log.warning("control-room: warning: the operator token of %s is revoked", home.root)


@asynccontextmanager
async def open_coordinator(
    home: Home, settings: Settings | None = None, *, check: bool = False, check_later: bool = False
) -> AsyncIterator[Coordinator]:
    """The coordinator on an initialised data directory; closes the registry on exit.
    `check`: refuse a corrupt registry file (for the processes that serve it); with
    `check_later`, in the background: writes wait for it, `registry.verified()` tells."""
    settings = settings or load_settings(home.config)
    where = registry_location(home, settings)
    if not is_postgres_url(where) and not _exists(where):
        if where != home.root / "registry.db":  # named by --registry, the environment, config
            raise StoreError(f"no registry at {where}: name an existing one, or run init")
        raise StoreError(
            f"no registry at {home.root}: run `control-room init` first (or pass --data-dir)"
        )
    registry = await open_registry(
        where,
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
