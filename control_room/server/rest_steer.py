"""REST handler for the operator's message to a running agent (`POST /api/agents/{id}/say`,
the id an agent's or the task's of a running agent). Its row in the endpoint table (and so in the
OpenAPI document) is in server/rest.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from control_room.domain import InvalidInput

if TYPE_CHECKING:
    from control_room.server.rest import Call


async def say(call: Call) -> dict[str, Any]:
    unknown = sorted(set(call.body) - {"text"})
    if unknown:
        raise InvalidInput(unknown[0], "unknown field")
    target = str(call.request.path_params["agent_id"])
    run = await call.coordinator.say(target, call.body.get("text", ""))
    return {"said": True, "agent_id": run.agent_id, "task_id": run.task_id}
