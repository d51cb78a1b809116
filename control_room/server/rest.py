"""The REST door: JSON over HTTP under /api, with the same meaning as the MCP tools.

Every endpoint is declared once in ENDPOINTS (method, path, who may call it, body schema); the
routes and the OpenAPI document are both built from that table. Errors are always JSON
`{"error": code, "message": text}`: 400 bad JSON, 401 no or unknown token, 403 wrong role,
404 unknown task or nothing to claim, 409 conflict, 413 too large, 422 a bad field (named).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from control_room import __version__
from control_room.domain import Claim, ControlRoomError, InvalidInput
from control_room.engine import Coordinator
from control_room.engine.delivery import Delivery
from control_room.server import rest_edit, rest_events, rest_inbox, rest_listing, rest_steer
from control_room.server.auth import Authenticator, Caller, Role

Body = dict[str, Any]
Handler = Callable[["Call"], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request, as a handler sees it."""

    coordinator: Coordinator
    auth: Authenticator
    caller: Caller
    request: Request
    body: Body

    @property
    def task_id(self) -> str:
        return str(self.request.path_params["task_id"])

    @property
    def agent_id(self) -> str:
        assert self.caller.agent is not None
        return self.caller.agent.id


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    roles: tuple[Role, ...] = ()  # empty: no token needed
    body: Mapping[str, Any] | None = None  # JSON schema of the body
    status: int = 200
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def claim_json(claim: Claim) -> Body:
    lease = claim.lease
    return {
        "task": claim.task.to_dict(),
        "lease": {"epoch": lease.epoch, "expires_at": lease.expires_at, "agent_id": lease.agent_id},
    }


def take(body: Body, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> Body:
    """The body's fields, refusing unknown ones and naming missing ones."""
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise InvalidInput(unknown[0], "unknown field")
    for name in required:
        if name not in body:
            raise InvalidInput(name, "is required")
    return body


# -- handlers ----------------------------------------------------------------------------------


async def health(call: Call) -> Body:
    return {"status": "ok", "version": __version__}


async def register_agent(call: Call) -> Body:
    b = take(call.body, ("name",), ("capabilities", "runtime"))
    agent, token = await call.coordinator.register_agent(
        b["name"], b.get("capabilities", []), b.get("runtime", "external")
    )
    return {"agent_id": agent.id, "token": token, "agent": agent.to_dict()}


async def revoke_agent(call: Call) -> Body:
    take(call.body)
    agent_id = str(call.request.path_params["agent_id"])
    return (await call.coordinator.revoke_agent(agent_id, actor="operator")).to_dict()


async def list_loops(call: Call) -> Body:
    return {"loops": [loop.state() for loop in call.coordinator.loops]}


async def get_task(call: Call) -> Body:
    return (await call.coordinator.task(call.task_id)).to_dict()


async def add_task(call: Call) -> Body | Response:
    key = call.request.headers.get("idempotency-key")
    if key is None:
        return (await call.coordinator.add_task(call.body, actor="operator")).to_dict()
    task, created = await call.coordinator.add_task_once(call.body, key, actor="operator")
    return JSONResponse(task.to_dict(), status_code=201 if created else 200)


async def claim(call: Call) -> Body:
    b = take(call.body, (), ("task_id",))
    return claim_json(await call.coordinator.claim(call.agent_id, b.get("task_id")))


async def progress(call: Call) -> Body:
    b = take(call.body, ("epoch", "percent"), ("note",))
    task = await call.coordinator.progress(
        call.task_id, call.agent_id, b["epoch"], b["percent"], b.get("note", "")
    )
    return task.to_dict()


async def complete(call: Call) -> Body:
    b = take(call.body, ("epoch", "summary"), ("files", "hours"))
    task = await call.coordinator.complete(
        call.task_id, call.agent_id, b["epoch"], b["summary"], b.get("files", []), b.get("hours")
    )
    return task.to_dict()


async def release(call: Call) -> Body:
    b = take(call.body, ("epoch", "reason"))
    return (
        await call.coordinator.release(call.task_id, call.agent_id, b["epoch"], b["reason"])
    ).to_dict()


async def block(call: Call) -> Body:
    b = take(call.body, ("epoch", "reason"))
    return (
        await call.coordinator.block(call.task_id, call.agent_id, b["epoch"], b["reason"])
    ).to_dict()


async def approve(call: Call) -> Body:
    take(call.body)
    return (await call.coordinator.approve(call.task_id, actor="operator")).to_dict()


async def reject(call: Call) -> Body:
    b = take(call.body, ("reason",))
    return (await call.coordinator.reject(call.task_id, b["reason"], actor="operator")).to_dict()


async def merge(call: Call) -> Body:
    """Merge the task's branch into its base branch (as `control-room task merge`)."""
    take(call.body)
    delivery = getattr(call.request.app.state, "delivery", None)
    if delivery is None:  # an app without an engine: the repository is the task's own
        delivery = Delivery(call.coordinator, project=Path.cwd(), worktrees_root=Path.cwd())
    done = await delivery.merge(call.task_id, "operator")
    return done.task.to_dict() | {"already_merged": done.already}


# -- the table -----------------------------------------------------------------------------------

ANY: tuple[Role, ...] = ("operator", "agent")
EPOCH = {"type": "integer", "minimum": 0, "description": "the lease epoch from claim"}
TASK_BODY = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "project": {"type": "string"},
        "priority": {"type": "string", "examples": ["P0", "P1-HIGH"]},
        "type": {"type": "string"},
        "capabilities": {"type": "array", "items": {"type": "string"}},
        "criteria": {"type": "array", "items": {"type": "string"}},
        "checks": {"type": "array", "items": {"type": "string"}},
        "depends_on": {"type": "array", "items": {"type": "string"}},
        "manual": {"type": "boolean"},
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 20},
    },
    "additionalProperties": False,
}


def _object(required: tuple[str, ...], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": properties,
        "additionalProperties": False,
    }


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/health", health, "Is the server up"),
    Endpoint(
        "POST", "/api/agents", register_agent, "Register an agent; returns its token once",
        roles=("operator", "registrant"), status=201,
        body=_object(
            ("name",), name={"type": "string"}, runtime={"type": "string"},
            capabilities={"type": "array", "items": {"type": "string"}},
        ),
    ),
    Endpoint(
        "GET", "/api/agents", rest_listing.list_agents, "Agents, oldest first, a page at a time",
        roles=ANY, query=rest_listing.AGENT_QUERY,
    ),
    Endpoint(
        "POST", "/api/agents/{agent_id}/revoke", revoke_agent,
        "Revoke an agent's token; the task it holds is released", roles=("operator",),
        body=_object(()),
    ),
    Endpoint(
        "POST", "/api/agents/{agent_id}/say", rest_steer.say,
        "Send a message to a running claude-code agent (an agent id or its task's id)",
        roles=("operator",), body=_object(("text",), text={"type": "string"}),
    ),
    Endpoint(
        "GET", "/api/tasks", rest_listing.list_tasks,
        "Tasks by priority, then age, a page at a time", roles=ANY,
        query=rest_listing.TASK_QUERY,
    ),
    Endpoint(
        "POST", "/api/tasks", add_task,
        "Add a task (201). With an Idempotency-Key header, a retry with the same key and body "
        "answers the task the first request made (200); another body with that key gets 422",
        roles=("operator",), body=TASK_BODY, status=201,
        headers={"Idempotency-Key": {"type": "string", "minLength": 1, "maxLength": 255}},
    ),
    Endpoint(
        "POST", "/api/tasks/claim", claim, "Claim a task (the best fit if no task_id)",
        roles=("agent",), body=_object((), task_id={"type": "string"}),
    ),
    Endpoint("GET", "/api/tasks/{task_id}", get_task, "One task", roles=ANY),
    Endpoint(
        "PATCH", "/api/tasks/{task_id}", rest_edit.edit_task,
        "Change the named fields of a task no agent holds (409 while held; lists are replaced)",
        roles=("operator",), body=rest_edit.EDIT_BODY,
    ),
    Endpoint(
        "POST", "/api/tasks/{task_id}/progress", progress, "Report progress; renews the lease",
        roles=("agent",),
        body=_object(
            ("epoch", "percent"), epoch=EPOCH,
            percent={"type": "integer", "minimum": 0, "maximum": 100}, note={"type": "string"},
        ),
    ),
    Endpoint(
        "POST", "/api/tasks/{task_id}/complete", complete, "Hand in the work", roles=("agent",),
        body=_object(
            ("epoch", "summary"), epoch=EPOCH, summary={"type": "string"},
            files={"type": "array", "items": {"type": "string"}}, hours={"type": "number"},
        ),
    ),
    Endpoint(
        "POST", "/api/tasks/{task_id}/release", release, "Give the task back", roles=("agent",),
        body=_object(("epoch", "reason"), epoch=EPOCH, reason={"type": "string"}),
    ),
    Endpoint(
        "POST", "/api/tasks/{task_id}/block", block, "Report being blocked", roles=("agent",),
        body=_object(("epoch", "reason"), epoch=EPOCH, reason={"type": "string"}),
    ),
    Endpoint(
        "POST", "/api/tasks/{task_id}/approve", approve, "Approve a waiting task",
        roles=("operator",), body=_object(()),
    ),
    Endpoint(
        "POST", "/api/tasks/{task_id}/reject", reject, "Reject a waiting task",
        roles=("operator",), body=_object(("reason",), reason={"type": "string"}),
    ),
    Endpoint(
        "POST", "/api/tasks/{task_id}/merge", merge,
        "Merge the task's branch into its base branch (409: conflict, dirty checkout, no branch)",
        roles=("operator",), body=_object(()),
    ),
    Endpoint(
        "GET", "/api/inbox", rest_inbox.inbox,
        "What waits for the operator: approvals, BLOCKED tasks, permission requests",
        roles=("operator",),
    ),
    Endpoint(
        "POST", "/api/permissions/{request_id}/allow", rest_inbox.allow_permission,
        "Allow an agent's permission request (always: for the rest of its task)",
        roles=("operator",), body=_object((), always={"type": "boolean"}),
    ),
    Endpoint(
        "POST", "/api/permissions/{request_id}/deny", rest_inbox.deny_permission,
        "Deny an agent's permission request, with a reason the agent is told",
        roles=("operator",), body=_object((), reason={"type": "string"}),
    ),
    Endpoint(
        "GET", "/api/plans/{plan_id}", rest_inbox.get_plan, "A proposed plan and its tasks",
        roles=("operator",),
    ),
    Endpoint(
        "POST", "/api/plans/{plan_id}/approve", rest_inbox.approve_plan,
        "Approve a plan: every proposed task is created at once, with its dependencies",
        roles=("operator",), body=_object(()),
    ),
    Endpoint(
        "POST", "/api/plans/{plan_id}/reject", rest_inbox.reject_plan,
        "Reject a plan, with a reason",
        roles=("operator",), body=_object(("reason",), reason={"type": "string"}),
    ),
    Endpoint(
        "GET", "/api/loops", list_loops, "The engine's loops: last run, next run, last error",
        roles=ANY,
    ),
    Endpoint(
        "GET", "/api/events", rest_events.events, "Events after an id, oldest first", roles=ANY,
        query={"after": {"type": "integer", "minimum": 0}},
    ),
    Endpoint(
        "GET", "/api/events/stream", rest_events.event_stream, "Server-sent events, live",
        roles=ANY, query={"after": {"type": "integer", "minimum": 0}},
    ),
)  # fmt: skip


def error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def route_handler(
    endpoint: Endpoint, coordinator: Coordinator, auth: Authenticator
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette handler for `endpoint`: authenticate, parse, call, answer in JSON."""

    async def handle(request: Request) -> Response:
        caller = Caller("operator")
        if endpoint.roles:
            found = await auth.caller(request.headers.get("authorization"))
            if found is None:
                return error(401, "unauthorized", "send Authorization: Bearer <token>")
            if found.role not in endpoint.roles:
                allowed = " or ".join(endpoint.roles)
                return error(403, "forbidden", f"this needs the {allowed} token")
            caller = found
        body: Body = {}
        if endpoint.body is not None:
            try:
                raw = await request.body()
            except ClientDisconnect:  # gone, or refused by the guard's body limit
                return Response(status_code=400)
            try:
                body = json.loads(raw) if raw.strip() else {}
            except (ValueError, RecursionError):
                return error(400, "bad_json", "the body is not valid JSON")
            if not isinstance(body, dict):
                return error(422, "invalid", "the body must be a JSON object")
        try:
            result = await endpoint.handler(Call(coordinator, auth, caller, request, body))
        except InvalidInput as failure:
            return error(422, failure.code, failure.message, field=failure.field)
        except ControlRoomError as failure:
            if failure.http_status == 401:  # the caller was revoked since its token was cached
                auth.forget()
            return error(failure.http_status, failure.code, failure.message, **failure.details)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, status_code=endpoint.status)

    return handle
