"""REST handlers for the operator's inbox and for answering agents' permission requests.
Their rows in the endpoint table (and so in the OpenAPI document) are in server/rest.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from control_room.domain import InvalidInput

if TYPE_CHECKING:
    from control_room.server.rest import Call

Body = dict[str, Any]


def _fields(body: Body, *allowed: str) -> Body:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInput(unknown[0], "unknown field")
    return body


async def inbox(call: Call) -> Body:
    items = await call.coordinator.permissions.inbox()
    return {"items": [item.to_dict() for item in items]}


async def allow_permission(call: Call) -> Body:
    b = _fields(call.body, "always")
    request = call.request.path_params["request_id"]
    answered = await call.coordinator.permissions.answer(
        request, True, always=b.get("always", False)
    )
    return answered.to_dict()


async def deny_permission(call: Call) -> Body:
    b = _fields(call.body, "reason")
    request = call.request.path_params["request_id"]
    answered = await call.coordinator.permissions.answer(request, False, reason=b.get("reason", ""))
    return answered.to_dict()


async def get_plan(call: Call) -> Body:
    return (await call.coordinator.plans.get(call.request.path_params["plan_id"])).to_dict()


async def approve_plan(call: Call) -> Body:
    _fields(call.body)
    plan, created = await call.coordinator.plans.approve(call.request.path_params["plan_id"])
    return plan.to_dict() | {"created_tasks": [task.id for task in created]}


async def reject_plan(call: Call) -> Body:
    b = _fields(call.body, "reason")
    plan = await call.coordinator.plans.reject(
        call.request.path_params["plan_id"], b.get("reason", "")
    )
    return plan.to_dict()
