"""`control-room serve`: the server and the housekeeping loops until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from control_room.config import Home, Settings
from control_room.engine import open_coordinator
from control_room.engine.changes import RegistryWatcher
from control_room.engine.loops import Loop
from control_room.engine.validation import ValidationRunner
from control_room.server.app import create_app

REAPER_SECONDS = 1.0
GRACE_SECONDS = 2


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host.strip("[]"), port))
    except OSError as error:
        listening.close()
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return listening


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def serve(home: Home, settings: Settings, host: str, port: int) -> None:
    logging.getLogger("mcp").setLevel(logging.WARNING)
    operator_token = home.operator_token.read_text(encoding="utf-8").strip()
    async with open_coordinator(home, settings) as coordinator:
        app = create_app(
            coordinator,
            operator_token=operator_token,
            registration_secret=settings.registration_secret,
            host=host,
            port=port,
        )
        listening = bind(host, port)  # before anything is printed: a taken port is one line
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=GRACE_SECONDS,  # open event streams never end by themselves
        )
        server = uvicorn.Server(config)
        # uvicorn stops on SIGINT/SIGTERM, then re-raises the signal to the handler it found:
        # make that one a no-op, so a stop request ends in a clean exit 0.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: None)
        reaper = Loop("lease-reaper", REAPER_SECONDS, coordinator.expire_leases)
        validation = ValidationRunner(coordinator, Path.cwd(), settings.check_timeout_seconds)
        coordinator.loops += [reaper, validation.loop]
        # Hand-ins written by other processes (`control-room mcp`, the CLI) wake validation at once.
        watcher = RegistryWatcher(home.registry, validation.loop.poke)
        housekeeping = [
            asyncio.create_task(loop.run(), name=loop.name) for loop in coordinator.loops
        ] + [asyncio.create_task(watcher.run(), name="registry-watcher")]
        print(
            f"Control Room serving on http://{host}:{port}  (REST /api, MCP /mcp; Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        # Full garbage collections walked every object of the process and paused all in-flight
        # requests for ~40 ms (bench/http_claims.py p99: 39 ms -> 9 ms). Freeze what start-up
        # built (imports, the app) out of collection, and collect the young generation less often.
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        try:
            await server.serve(sockets=[listening])
        finally:
            listening.close()
            for loop_task in housekeeping:
                loop_task.cancel()
            await asyncio.gather(*housekeeping, return_exceptions=True)
            await validation.stop()
