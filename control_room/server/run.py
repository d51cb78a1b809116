"""Serving the ASGI app with uvicorn on a socket bound up front, until SIGINT or SIGTERM."""

from __future__ import annotations

import gc
import ipaddress
import signal
import socket

import uvicorn
from starlette.types import ASGIApp

from control_room import early_stop
from control_room.server.http_limits import LimitedHttpToolsProtocol

GRACE_SECONDS = 2
KEEP_ALIVE_SECONDS = 75  # the default of [server] keep_alive_seconds
Server = uvicorn.Server


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


def local_url(listening: socket.socket) -> str:
    """The URL this process's own agents call: loopback, whatever address is listened on."""
    host, port = listening.getsockname()[:2]
    if host in ("0.0.0.0", "::") or not is_loopback(host):
        host = "127.0.0.1" if listening.family == socket.AF_INET else "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class StopSignals:
    """From the moment it is made, SIGINT and SIGTERM ask to stop: the server made later starts
    stopped if one came first (while the registry opened, while the engine started). uvicorn
    handles the signals itself while it serves, then re-raises them to this handler, which only
    asks again: a stop request always ends in a clean return, and exit 0."""

    def __init__(self) -> None:
        self.asked = early_stop.asked()  # a signal that came while the process was starting
        self._server: Server | None = None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.asked = True
        if self._server is not None:
            self._server.should_exit = True

    def server_for(
        self, app: ASGIApp, *, quiet: bool = False, keep_alive_seconds: int = KEEP_ALIVE_SECONDS
    ) -> Server:
        """`quiet`: uvicorn configures no logging (under the screen, nothing may write to the
        terminal). `keep_alive_seconds`: how long an idle connection stays open; uvicorn's 5 s
        default closed agents' connections between heartbeats ([server] keep_alive_seconds)."""
        config = uvicorn.Config(
            app,
            log_level="warning",
            log_config=None if quiet else uvicorn.config.LOGGING_CONFIG,
            lifespan="on",
            http=LimitedHttpToolsProtocol,  # refuses oversized request heads before parsing
            access_log=False,
            timeout_keep_alive=keep_alive_seconds,
            timeout_graceful_shutdown=GRACE_SECONDS,  # open event streams never end by themselves
        )
        self._server = uvicorn.Server(config)
        self._server.should_exit = self.asked
        return self._server


def tune_gc() -> None:
    """Full garbage collections walked every object of the process and paused all in-flight
    requests for ~40 ms (bench/http_claims.py p99: 39 ms -> 9 ms). Freeze what start-up built
    (imports, the app) out of collection, and collect the young generation less often."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
