"""`control-room mcp`: the MCP tools over stdin/stdout, for clients that launch their servers.

The process is one agent: the one CONTROL_ROOM_TOKEN names, or the one its first connectToMCP
registers. It writes to the same registry file as any running server, safely. While no engine
runs on the data directory, it runs the checks of handed-in tasks itself (engine/validators.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from mcp.server.mcpserver import Context

from control_room.config import Home, Settings
from control_room.domain import Agent, InvalidInput
from control_room.engine import Coordinator, open_coordinator
from control_room.engine.validation import ValidationRunner
from control_room.engine.validators import StandIn, checks_have_a_runner
from control_room.engine.workspaces import Workspaces
from control_room.server.tools import build_mcp

TOKEN_ENV = "CONTROL_ROOM_TOKEN"


async def serve_stdio(home: Home, settings: Settings) -> None:
    async with open_coordinator(home, settings) as coordinator:
        me: Agent | None = None
        token = os.environ.get(TOKEN_ENV)
        if token:
            me = await coordinator.authenticate(token)
            if me is None:
                raise InvalidInput(TOKEN_ENV, "names no active agent in this registry")

        async def identify(ctx: Context) -> Agent | None:
            return me

        registering = asyncio.Lock()

        async def connect(ctx: Context, name: str, capabilities: list[str]) -> Agent:
            nonlocal me
            async with registering:  # two connectToMCP calls at once register one agent
                if me is None:
                    me, _token = await coordinator.register_agent(
                        name or "mcp-stdio-agent", capabilities, "mcp-stdio"
                    )
            return me

        server = build_mcp(coordinator, identify, connect, lambda: checks_have_a_runner(home))
        async with _validating(home, settings, coordinator):
            await server.run_stdio_async()


@contextlib.asynccontextmanager
async def _validating(
    home: Home, settings: Settings, coordinator: Coordinator
) -> AsyncIterator[None]:
    """Run the checks of handed-in tasks while no engine does (one mcp process at a time), in
    the attempt's worktree, else this process's working directory (the project)."""
    workspaces = Workspaces(coordinator, Path.cwd())
    runner = ValidationRunner(coordinator, workspaces.dirs_of, settings.check_timeout_seconds)
    stand_in = StandIn(home, runner)
    runner.loop.step = stand_in.step
    job = asyncio.create_task(runner.loop.run(), name="validation")
    try:
        yield
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await runner.stop()
        stand_in.close()
