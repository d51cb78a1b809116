"""The MCP tool `proposeTasks`: a planner agent proposes the tasks of a spec. The proposal is
validated like `task import`; a refusal is an is_error result naming the task index and the
field, so the planner can fix it and call again. An accepted one waits for the operator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from typing_extensions import TypedDict

from control_room.domain import Agent, ControlRoomError
from control_room.engine import Coordinator


class Proposed(TypedDict):
    plan_id: str
    tasks: int
    status: str
    next: str


def add_plan_tool(
    server: MCPServer, coordinator: Coordinator, me: Callable[[Context], Awaitable[Agent]]
) -> None:
    @server.tool(
        name="proposeTasks",
        description=(
            "Propose the tasks of your planning task for the operator to approve. Each task is "
            "an object: title (required), description, priority (P0-P3), type, capabilities "
            "(list), criteria (list), checks (list of commands), dependencies (indexes in this "
            "list, 0-based, or existing task ids). Hands your task in."
        ),
    )
    async def propose_tasks(
        ctx: Context, taskId: str, epoch: int, tasks: list[dict[str, Any]]
    ) -> Proposed:
        # plain objects, checked by domain/plans.py: an unknown field is refused, not dropped
        agent = await me(ctx)
        try:
            plan = await coordinator.plans.propose(taskId, agent.id, epoch, tasks)
        except ControlRoomError as error:
            raise ToolError(f"proposal refused: {error.message}") from None
        return {
            "plan_id": plan.id,
            "tasks": len(plan.tasks),
            "status": plan.status,
            "next": "your planning task is handed in; the operator will approve or reject. Stop.",
        }
