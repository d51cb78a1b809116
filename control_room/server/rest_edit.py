"""REST handler for an operator's edit of a task (`PATCH /api/tasks/{id}`): the body names the
fields to change (domain/edits.py); 422 names a bad field, 409 while an agent holds the task,
404 for an unknown task. Its row in the endpoint table (and the OpenAPI document) is in
server/rest.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from control_room.server.rest import Call

_TEXTS = {"type": "array", "items": {"type": "string"}}
EDIT_BODY: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "properties": {
        "title": {"type": "string"},
        "description": {"type": "string"},
        "priority": {"type": "string", "examples": ["P0", "P1-HIGH"]},
        "type": {"type": "string"},
        "capabilities": _TEXTS,
        "criteria": _TEXTS,
        "checks": _TEXTS,
        "depends_on": _TEXTS,
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 20},
    },
    "additionalProperties": False,
}


async def edit_task(call: Call) -> dict[str, Any]:
    task = await call.coordinator.edit_task(call.task_id, call.body, actor="operator")
    return task.to_dict()
