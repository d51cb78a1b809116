"""textual-serve's server, adapted: a screen process per browser tab started from an argv (no
shell), the token guard on every route, no banner, and a stop on SIGINT or SIGTERM that ends
every tab's screen before it returns."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Sequence

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from control_room.web.auth import token_guard

SHUTDOWN_SECONDS = 32  # room for every tab's screen to be asked, terminated, killed
QUIT_SECONDS = 10  # a screen stops its world's loops and server before it ends


class ArgvAppService(AppService):
    """Runs the screen with `create_subprocess_exec`: textual-serve would hand its command
    string to a shell."""

    def __init__(self, argv: Sequence[str], **kwargs: object) -> None:
        super().__init__(" ".join(argv), **kwargs)  # type: ignore[arg-type]
        self.argv = list(argv)

    async def _open_app_process(
        self, width: int = 80, height: int = 24
    ) -> asyncio.subprocess.Process:
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process


class WebScreen(Server):
    def __init__(self, argv: Sequence[str], token: str, public_url: str) -> None:
        super().__init__(" ".join(argv), title="Control Room", public_url=public_url)
        self.argv = list(argv)
        self.token = token
        self.sockets: set[web.WebSocketResponse] = set()

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(token_guard(self.token))
        return app

    async def on_startup(self, app: web.Application) -> None:
        """No banner: `control-room web` prints its own line."""

    async def on_shutdown(self, app: web.Application) -> None:
        for websocket in list(self.sockets):  # each tab's handler then stops its screen
            await websocket.close(code=1001, message=b"Control Room web stopped")

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's handler (1.1.3), with the argv service; keeps the socket to close."""
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        service: ArgvAppService | None = None
        self.sockets.add(websocket)
        try:
            await websocket.prepare(request)
            service = ArgvAppService(
                self.argv,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=False,
            )
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        finally:
            self.sockets.discard(websocket)
            if service is not None:
                await service.stop()
                await end(service._process)
        return websocket


async def end(process: asyncio.subprocess.Process | None) -> None:
    """A tab's screen that has not ended after being asked to quit is terminated, then killed:
    no screen process outlives its tab or the server."""
    if process is None or process.returncode is not None:
        return
    for stop in (None, process.terminate, process.kill):
        if stop is not None:
            with contextlib.suppress(ProcessLookupError):
                stop()
        try:
            async with asyncio.timeout(QUIT_SECONDS):
                await process.wait()
            return
        except TimeoutError:
            continue


async def serve(screen: WebScreen, listening: socket.socket) -> None:
    """Serve on the bound socket until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(await screen._make_app(), access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, listening, shutdown_timeout=SHUTDOWN_SECONDS).start()
        url = f"{screen.public_url}/?token={screen.token}"
        print(f"Control Room in a browser: open {url}", flush=True)
        print("(Ctrl+C stops it and every open tab's screen)", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
