"""Control Room without a screen: the engine and the server in one process, with one JSON line
per event on stdout instead of a screen. `control-room run --headless` spawns agents;
`control-room serve` only serves and keeps house; the headless demo stops once it is idle.

SIGINT or SIGTERM: the server stops, no more agents are spawned, running agents are stopped (or
left, per config) and their tasks released, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TextIO

from control_room.config import Home, Settings
from control_room.domain import Event, StoreError
from control_room.engine import Coordinator, Lagged, open_coordinator
from control_room.engine.engine import Engine
from control_room.server.app import create_app
from control_room.server.run import Server, StopSignals, bind, local_url, tune_gc

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
    logging.getLogger("mcp").setLevel(logging.WARNING)
    operator_token = home.operator_token.read_text(encoding="utf-8").strip()
    # One engine per data directory starts agents; more processes may serve beside it.
    with engine_lock(home) if spawn else contextlib.nullcontext():
        await _run(home, settings, host, port, spawn, log_events, project, until, out,
                   operator_token, signals)  # fmt: skip


@contextlib.contextmanager
def engine_lock(home: Home) -> Iterator[None]:
    """Hold the data directory's engine lock, or refuse with who holds it."""
    path = home.root / "engine.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise StoreError(
                f"a Control Room engine already runs on {home.root} ({holder}); one engine "
                "per data directory starts agents (`control-room serve` can run beside it)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    operator_token: str,
    signals: StopSignals,
) -> None:
    async with open_coordinator(home, settings) as coordinator:
        listening = bind(host, port)  # before anything is printed: a taken port is one line
        bound_port = listening.getsockname()[1]
        app = create_app(
            coordinator,
            operator_token=operator_token,
            registration_secret=settings.registration_secret,
            host=host,
            port=bound_port,
        )
        engine = Engine(
            coordinator,
            home,
            settings,
            project=project or Path.cwd(),
            agents_url=local_url(listening) if spawn else None,
        )
        server = signals.server_for(app)
        helpers = []
        if log_events:
            helpers.append(asyncio.create_task(print_events(coordinator, out)))
        if until is not None:
            helpers.append(asyncio.create_task(_stop_when(until, engine, server)))
        what = "running" if spawn else "serving"
        print(
            f"Control Room {what} on http://{host}:{bound_port}  "
            "(REST /api, MCP /mcp; Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        tune_gc()
        try:
            async with engine.running():
                await server.serve(sockets=[listening])
        finally:
            listening.close()
            await asyncio.sleep(0)  # let the last events reach the log
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)


async def _stop_when(until: IdleCheck, engine: Engine, server: Server) -> None:
    try:
        while not await until(engine):  # noqa: ASYNC110 (a question to ask, not an event)
            await asyncio.sleep(IDLE_POLL_SECONDS)
    except Exception as error:  # the check cannot run: stop rather than run on unwatched
        print(f"control-room: stopping: {type(error).__name__}: {error}", file=sys.stderr)
    server.should_exit = True
