"""REST handlers of the paged listings, `GET /api/tasks` and `GET /api/agents`.

Each answer holds one page and `next`: the cursor of the following page (pass it back as
`cursor` with the same filters), null on the last page. Their rows in the endpoint table (and
so in the OpenAPI document) are in server/rest.py; the guarantee is in domain/listing.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from control_room.domain import InvalidInput
from control_room.domain.listing import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    TaskFilter,
    limit_value,
    statuses_value,
)
from control_room.domain.models import AgentStatus

if TYPE_CHECKING:
    from control_room.server.rest import Call

Body = dict[str, Any]

PAGING: dict[str, dict[str, Any]] = {
    "limit": {
        "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT,
        "description": "rows per page",
    },
    "cursor": {
        "type": "string",
        "description": "the `next` of the previous page (opaque); absent for the first page",
    },
}  # fmt: skip
TASK_QUERY: dict[str, dict[str, Any]] = {
    "status": {
        "type": "string",
        "description": "open (every status but COMPLETED, FAILED, CANCELLED), one status, or "
        "several separated by commas; absent: every task",
    },
    "capability": {"type": "string", "description": "tasks that require this capability"},
    "agent": {"type": "string", "description": "tasks held by this agent (an agent id)"},
    "text": {"type": "string", "description": "a piece of the title or description"},
    **PAGING,
}
AGENT_QUERY: dict[str, dict[str, Any]] = {
    "status": {"type": "string", "enum": ["ACTIVE", "REVOKED"], "description": "absent: all"},
    **PAGING,
}


def _paging(call: Call) -> tuple[str | None, int]:
    params = call.request.query_params
    limit = limit_value(params.get("limit", str(DEFAULT_LIMIT)))
    return params.get("cursor"), limit


async def list_tasks(call: Call) -> Body:
    params = call.request.query_params
    status = params.get("status")
    where = TaskFilter(
        statuses=statuses_value(status) if status is not None else None,
        capability=params.get("capability"),
        agent_id=params.get("agent"),
        text=params.get("text") or None,
    )
    cursor, limit = _paging(call)
    page = await call.coordinator.task_page(where, cursor, limit)
    return {"tasks": [t.to_dict() for t in page.items], "next": page.next}


async def list_agents(call: Call) -> Body:
    status = call.request.query_params.get("status")
    if status is not None and status.upper() not in AgentStatus.__members__:
        raise InvalidInput("status", "use ACTIVE or REVOKED")
    cursor, limit = _paging(call)
    page = await call.coordinator.agent_page(
        AgentStatus(status.upper()) if status else None, cursor, limit
    )
    return {"agents": [a.to_dict() for a in page.items], "next": page.next}
