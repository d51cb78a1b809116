"""A real Control Room server on 127.0.0.1 for tests: uvicorn in this process, a free port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from control_room.config import Home, Settings
from control_room.engine import Coordinator, init_home, open_coordinator
from control_room.server.app import create_app

SECRET = "let-me-in"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Running:
    url: str
    port: int
    home: Home
    operator_token: str
    coordinator: Coordinator

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_token}"}


@asynccontextmanager
async def running_server(
    folder: Path, lease_seconds: float = 300, home: Home | None = None, **app_options: Any
) -> AsyncIterator[Running]:
    """`app_options` go to create_app (e.g. the address it believes it listens on)."""
    home = home or Home(folder / "data")
    await init_home(home)
    token = home.operator_token.read_text().strip()
    async with open_coordinator(home, Settings(lease_seconds=lease_seconds)) as coordinator:
        port = free_port()
        app = create_app(
            coordinator, operator_token=token, registration_secret=SECRET, port=port, **app_options
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
            timeout_graceful_shutdown=5,  # as `serve` does: an open stream cannot hold it up
        )  # fmt: skip
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), "the server did not start"
            await asyncio.sleep(0.02)
        try:
            yield Running(f"http://127.0.0.1:{port}", port, home, token, coordinator)
        finally:
            server.should_exit = True
            await serving
