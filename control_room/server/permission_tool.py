"""The MCP tool Claude Code's permission prompts go to (`--permission-prompt-tool
mcp__control-room__requestPermission`): it waits for the operator's answer and returns it as
the one text block Claude Code accepts (JSON with "behavior"; see engine/permissions.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from control_room.domain import Agent, ControlRoomError
from control_room.engine import Coordinator
from control_room.engine.runtimes import PERMISSION_TOOL

DESCRIPTION = (
    "Ask the operator for permission to use a tool (Claude Code calls this itself for its "
    "permission prompts). Waits for the answer; returns JSON with behavior allow or deny."
)


def add_permission_tool(
    server: MCPServer, coordinator: Coordinator, me: Callable[[Context], Awaitable[Agent]]
) -> None:
    @server.tool(name=PERMISSION_TOOL, description=DESCRIPTION, structured_output=False)
    async def request_permission(
        ctx: Context, tool_name: str, input: dict[str, Any], tool_use_id: str | None = None
    ) -> str:
        agent = await me(ctx)
        try:
            return await coordinator.permissions.ask(agent.id, tool_name, input, tool_use_id or "")
        except ControlRoomError as error:
            raise ToolError(error.message) from None
