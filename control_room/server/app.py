"""The ASGI app: REST under /api, MCP (streamable HTTP) at /mcp, behind one guard."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from control_room.domain import Agent, ControlRoomError
from control_room.engine import Coordinator
from control_room.engine.delivery import Delivery
from control_room.server import metrics, openapi, rest
from control_room.server.auth import Authenticator
from control_room.server.guard import Guard, send_error, served_hosts
from control_room.server.mcp_sessions import SessionLimiter
from control_room.server.tools import build_mcp


class McpDoor:
    """The MCP endpoint (an ASGI app), for registered agents' tokens only; each agent keeps at
    most a few sessions open (server/mcp_sessions.py)."""

    def __init__(self, app: SessionLimiter, auth: Authenticator) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        caller = await self.auth.caller(headers.get(b"authorization", b"").decode("latin-1"))
        if caller is None or caller.agent is None:
            await send_error(send, 401, "unauthorized", "send an agent token: Bearer <token>")
            return
        # Named as the session's owner, so the SDK refuses another agent using its session id.
        owner = AccessToken(token="-", client_id=caller.agent.id, scopes=[])
        scope["user"] = AuthenticatedUser(owner)
        await self.app(caller.agent.id, scope, receive, send)


def create_app(
    coordinator: Coordinator,
    *,
    operator_token: str,
    registration_secret: str | None = None,
    host: str = "127.0.0.1",
    port: int = 3003,
    extra_hosts: Iterable[str] = (),
    delivery: Delivery | None = None,
    mcp_idle_seconds: float = 600.0,
) -> Guard:
    auth = Authenticator(coordinator, operator_token, registration_secret)
    hosts = served_hosts(host, port, extra_hosts)

    async def identify(ctx: Context) -> Agent | None:
        request = ctx.request_context.request
        caller = await auth.caller(request.headers.get("authorization")) if request else None
        return caller.agent if caller else None

    async def connect(ctx: Context, name: str, capabilities: list[str]) -> Agent:
        agent = await identify(ctx)
        if agent is None:
            raise ControlRoomError("register with POST /api/agents and send its token")
        return agent

    mcp = build_mcp(coordinator, identify, connect)
    mcp_app = mcp.streamable_http_app(
        transport_security=TransportSecuritySettings(
            allowed_hosts=hosts, allowed_origins=[f"http://{h}" for h in hosts]
        ),
        host=host,
        session_idle_timeout=mcp_idle_seconds,
    )
    sessions = SessionLimiter(mcp_app, hosts[0], mcp_idle_seconds)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi.document())

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "error")
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return rest.error(status, code, f"{detail}: {request.method} {request.url.path}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Other processes' writes (a revocation by the CLI, another control room) reach the
        # token cache through the change feed within about a second.
        coordinator.feed.watch_outside()
        async with mcp.session_manager.run():
            yield

    routes = [
        Route(e.path, rest.route_handler(e, coordinator, auth), methods=[e.method])
        for e in rest.ENDPOINTS
    ]
    routes.append(Route("/api/openapi.json", openapi_json, methods=["GET"]))
    routes.append(Route("/metrics", metrics.endpoint(coordinator, auth), methods=["GET"]))
    routes.append(Route("/mcp", McpDoor(sessions, auth), methods=["GET", "POST", "DELETE"]))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )
    app.state.delivery = delivery  # for POST /api/tasks/{id}/merge
    return Guard(app, hosts)
