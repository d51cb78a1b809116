"""Control Room without a screen: the engine and the server in one process, with one JSON line
per event on stdout instead of a screen. `control-room run --headless` spawns agents;
`control-room serve` only serves and keeps house; the headless demo stops once it is idle.

SIGINT or SIGTERM: the server stops, no more agents are spawned, running agents are stopped (or
left, per config) and their tasks released, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from control_room.config import Home, Settings
from control_room.domain import Event
from control_room.engine import Coordinator, Lagged
from control_room.engine.engine import Engine
from control_room.server.run import StopSignals, tune_gc
from control_room.world import World, open_world

IdleCheck = Callable[[Engine], Awaitable[bool]]
IDLE_POLL_SECONDS = 0.5


def log_line(event: Event) -> str:
    data = event.to_dict()
    data["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event.at)) + "Z"
    return json.dumps(data, ensure_ascii=False)


async def print_events(coordinator: Coordinator, out: TextIO) -> None:
    """Every committed event as one JSON line, in order; a lag is filled from the registry."""
    last = await coordinator.registry.last_event_id()

    def emit(event: Event) -> None:
        nonlocal last
        if event.id > last:
            print(log_line(event), file=out, flush=True)
            last = event.id

    while True:
        subscription = coordinator.bus.subscribe()
        try:
            for event in await coordinator.events(after=last, limit=100_000):
                emit(event)
            while True:
                emit(await subscription.get())
        except Lagged:
            continue
        finally:
            subscription.close()


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
        helpers = []
        if log_events:
            helpers.append(asyncio.create_task(print_events(world.coordinator, out)))
        if until is not None:
            helpers.append(asyncio.create_task(_stop_when(until, world)))
        what = "running" if spawn else "serving"
        print(
            f"Control Room {what} on {world.url}  (REST /api, MCP /mcp; Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        tune_gc()
        try:
            await world.serve()
        finally:
            await asyncio.sleep(0)  # let the last events reach the log
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)


async def _stop_when(until: IdleCheck, world: World) -> None:
    try:
        while not await until(world.engine):  # noqa: ASYNC110 (a question, not an event)
            await asyncio.sleep(IDLE_POLL_SECONDS)
    except Exception as error:  # the check cannot run: stop rather than run on unwatched
        print(f"control-room: stopping: {type(error).__name__}: {error}", file=sys.stderr)
    world.stop()
