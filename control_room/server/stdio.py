"""`control-room mcp`: the MCP tools over stdin/stdout, for clients that launch their servers.

The process is one agent: the one CONTROL_ROOM_TOKEN names, or the one its first connectToMCP
registers. It writes to the same registry file as any running server, safely.
"""

from __future__ import annotations

import asyncio
import os

from mcp.server.mcpserver import Context

from control_room.config import Home, Settings
from control_room.domain import Agent, InvalidInput
from control_room.engine import open_coordinator
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

        await build_mcp(coordinator, identify, connect).run_stdio_async()
