"""Control Room without a screen: the engine and the server in one process, with one JSON line
per event on stdout instead of a screen. `control-room run --headless` spawns agents;
`control-room serve` only serves and keeps house; the headless demo stops once it is idle.

SIGINT or SIGTERM: the server stops, no more agents are spawned, running agents are stopped (or
left, per config) and their tasks released, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from control_room.config import Home, Settings
from control_room.domain import ControlRoomError, Event
from control_room.domain.text import json_text
from control_room.engine import Coordinator
from control_room.engine.changes import RegistryWatcher
from control_room.engine.engine import Engine
from control_room.headless_log import plain_stderr, status_line
from control_room.server.run import StopSignals, tune_gc
from control_room.world import World, open_world

IdleCheck = Callable[[Engine], Awaitable[bool]]
IDLE_POLL_SECONDS = 0.5
PRINT_BATCH = 200  # events printed per read of the log
GATHER_SECONDS = 0.05


def log_line(event: Event) -> str:
    data = event.to_dict()
    data["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event.at)) + "Z"
    return json_text(data)


class EventPrinter:
    """Every committed event as one JSON line, in id order, whoever wrote it: this process
    (told at once by the registry), another process (the CLI, a second server, a sqlite3
    shell: noticed by the registry file's change notifications) or anything a notification
    missed (a look every `poll` seconds). The lines come from the registry's log itself."""

    def __init__(
        self,
        coordinator: Coordinator,
        registry_file: Path,
        out: TextIO,
        poll: float = 1.0,
        engine_watches: bool = False,
    ) -> None:
        self.coordinator, self.registry_file, self.out, self.poll = (
            coordinator, registry_file, out, poll,
        )  # fmt: skip
        self.engine_watches = engine_watches  # an engine's RegistryWatcher runs in this process
        self.last = 0
        self._changed = asyncio.Event()

    async def start(self) -> None:
        """From now on: every event committed after this call is printed."""
        self.last = await self.coordinator.registry.last_event_id()

    async def drain(self) -> None:
        """Print what was committed since the last line printed."""
        # A batch per read: turning an event into its line costs ~25 us of the event loop.
        while batch := await self.coordinator.events(after=self.last, limit=PRINT_BATCH):
            for event in batch:
                print(log_line(event), file=self.out)
            self.out.flush()
            self.last = batch[-1].id

    def _wake(self, *_: object) -> None:
        self._changed.set()

    async def run(self) -> None:
        self.coordinator.registry.listeners.append(self._wake)
        # Other processes' commits: told by the engine's registry watcher (`registry_changed`)
        # when one runs beside it; one watcher per process, as each costs a thread reading the
        # notification of every write.
        shared = self.coordinator.change_listeners
        watcher = (
            None
            if self.engine_watches
            else asyncio.create_task(RegistryWatcher(self.registry_file, self._wake).run())
        )
        shared.append(self._wake)
        try:
            while True:
                self._changed.clear()
                await self.drain()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll):
                        await self._changed.wait()
                        # The commits of the next moment printed together: one read of the log
                        # for many commits, not one per group commit.
                        await asyncio.sleep(GATHER_SECONDS)
        finally:
            self.coordinator.registry.listeners.remove(self._wake)
            shared.remove(self._wake)
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)


async def run_headless(
    home: Home,
    settings: Settings,
    host: str,
    port: int,
    *,
    spawn: bool = True,
    log_events: bool = True,
    project: Path | None = None,
    until: IdleCheck | None = None,
    out: TextIO = sys.stdout,
) -> None:
    """Serve (and spawn, if `spawn`) until SIGINT/SIGTERM, or until `until` says so."""
    signals = StopSignals()
    await _run(home, settings, host, port, spawn, log_events, project, until, out, signals)


async def _run(
    home: Home,
    settings: Settings,
    host: str,
    port: int,
    spawn: bool,
    log_events: bool,
    project: Path | None,
    until: IdleCheck | None,
    out: TextIO,
    signals: StopSignals,
) -> None:
    opened = open_world(home, settings, host, port, spawn=spawn, signals=signals, project=project)
    async with opened as world:
        plain_stderr()  # after the app: the MCP server installs a Rich handler of its own
        helpers = []
        printer = (  # the world's engine watches the registry file
            EventPrinter(world.coordinator, home.registry, out, engine_watches=True)
            if log_events
            else None
        )
        if printer is not None:
            await printer.start()
            helpers.append(asyncio.create_task(printer.run()))
        if until is not None:
            helpers.append(asyncio.create_task(_stop_when(until, world)))
        helpers.append(asyncio.create_task(_announce(world, spawn)))
        tune_gc()
        try:
            await world.serve()
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if printer is not None:  # what the engine committed while it stopped
                with contextlib.suppress(ControlRoomError):
                    await printer.drain()
            status_line("stopped", url=world.url)


async def _announce(world: World, spawn: bool) -> None:
    """Say where Control Room serves once it does: the server bound and started."""
    while not world.server.started:  # noqa: ASYNC110 (uvicorn sets a flag, not an event)
        await asyncio.sleep(0.01)
    what = "running" if spawn else "serving"
    print(
        f"Control Room {what} on {world.url}  (REST /api, MCP /mcp; Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    status_line("started", url=world.url, spawning=spawn)


async def _stop_when(until: IdleCheck, world: World) -> None:
    try:
        while not await until(world.engine):  # noqa: ASYNC110 (a question, not an event)
            await asyncio.sleep(IDLE_POLL_SECONDS)
    except Exception as error:  # the check cannot run: stop rather than run on unwatched
        print(f"control-room: stopping: {type(error).__name__}: {error}", file=sys.stderr)
    world.stop()
