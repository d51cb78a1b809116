"""The running world: the registry, the engine's loops and the HTTP server in one process.

The one place where the pieces are put together, for both front ends: the headless runner and
the screen open a world, then `serve()` it until the server is asked to stop (a signal, the
screen's quit key, the demo going idle).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from socket import socket

from control_room.config import Home, Settings
from control_room.domain import StoreError
from control_room.engine import Coordinator, open_coordinator
from control_room.engine.engine import Engine
from control_room.server.app import create_app
from control_room.server.run import Server, StopSignals, bind, local_url


@dataclass
class World:
    coordinator: Coordinator
    engine: Engine
    server: Server
    listening: socket
    url: str

    async def serve(self) -> None:
        """Run the engine's loops and the server until the server is asked to stop; then the
        engine stops spawning and settles its agents. Nothing starts before the registry's
        check at open is done (StoreError if it found the file corrupt)."""
        await self.coordinator.verified()
        async with self.engine.running():
            await self.server.serve(sockets=[self.listening])

    def stop(self) -> None:
        self.server.should_exit = True


@contextlib.asynccontextmanager
async def open_world(
    home: Home,
    settings: Settings,
    host: str,
    port: int,
    *,
    spawn: bool,
    signals: StopSignals,
    project: Path | None = None,
    quiet: bool = False,
    check_later: bool = False,
) -> AsyncIterator[World]:
    """The world on `home`, listening on host:port (0: any free port). With `spawn`, this
    process is the data directory's one engine that starts agents. `check_later`: the
    registry's check at open runs while the caller reads (the screen draws); `serve` waits
    for it."""
    logging.getLogger("mcp").setLevel(logging.WARNING)
    operator_token = home.operator_token.read_text(encoding="utf-8").strip()
    # One engine per data directory starts agents; more processes may serve beside it.
    with engine_lock(home) if spawn else contextlib.nullcontext():
        async with open_coordinator(
            home, settings, check=True, check_later=check_later
        ) as coordinator:
            listening = bind(host, port)
            try:
                bound_port = listening.getsockname()[1]
                engine = Engine(
                    coordinator,
                    home,
                    settings,
                    project=project or Path.cwd(),
                    agents_url=local_url(listening) if spawn else None,
                )
                app = create_app(
                    coordinator,
                    operator_token=operator_token,
                    registration_secret=settings.registration_secret,
                    host=host,
                    port=bound_port,
                    delivery=engine.delivery,
                    mcp_idle_seconds=settings.mcp_idle_seconds,
                    extra_hosts=settings.server_hosts,
                )
                server = signals.server_for(
                    app, quiet=quiet, keep_alive_seconds=settings.keep_alive_seconds
                )
                url = f"http://{host}:{bound_port}"
                yield World(coordinator, engine, server, listening, url)
            finally:
                listening.close()


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
