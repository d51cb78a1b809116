"""MCP sessions per agent: at most MAX_PER_AGENT open at once, the one idle longest closed first.

The MCP SDK keeps every session until its client deletes it or it has been idle for the session
manager's `session_idle_timeout` (Control Room passes `[server] mcp_idle_seconds`). One agent
token that opened thousands of sessions without deleting them held them all (about 40 KB
each). The SDK has no per-client limit and no public call to close one session, so this wraps
the MCP app: it learns each new session from the `mcp-session-id` header of the answer that
opened it, notes when each session was last used, and closes the extra ones the way a client
does, with a DELETE request for that session (as its owner) through the same app.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_PER_AGENT = 8
SESSION_HEADER = b"mcp-session-id"


@dataclass
class Session:
    agent_id: str
    user: Any  # the scope's "user" that owns it, for closing it as its owner
    last_used: float
    busy: int = 0  # requests of this session in flight (an open GET stream counts)


class SessionLimiter:
    """ASGI wrapper of the MCP app; `__call__` takes the calling agent's id (and the scope's
    "user" already names it as the session owner)."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        idle_seconds: float,
        per_agent: int = MAX_PER_AGENT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.host = host
        self.idle_seconds = idle_seconds
        self.per_agent = per_agent
        self.clock = clock
        self.sessions: dict[str, Session] = {}
        self.closed = 0  # sessions this limiter closed

    def open_sessions(self, agent_id: str) -> list[str]:
        """The agent's sessions that may still be open: those with no request in flight
        first, then each group least recently used first (the first are closed first)."""
        mine = [
            (s.busy > 0, s.last_used, sid)
            for sid, s in self.sessions.items()
            if s.agent_id == agent_id
        ]
        return [sid for _, _, sid in sorted(mine)]

    async def __call__(self, agent_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        given = dict(scope["headers"]).get(SESSION_HEADER)
        if given is None:
            await self._open(agent_id, scope, receive, send)
            return
        session = self.sessions.get(given.decode("latin-1"))
        if session is None:  # unknown, closed, or idle too long: the SDK answers it
            await self.app(scope, receive, send)
            return
        session.busy += 1
        session.last_used = self.clock()
        try:
            await self.app(scope, receive, send)
        finally:
            session.busy -= 1
            session.last_used = self.clock()
            if scope["method"] == "DELETE":
                self.sessions.pop(given.decode("latin-1"), None)

    async def _open(self, agent_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        opened: str | None = None

        async def noting_the_session(message: Message) -> None:
            nonlocal opened
            if message["type"] == "http.response.start" and message["status"] < 400:
                for name, value in message.get("headers", ()):
                    if name.lower() == SESSION_HEADER:
                        opened = value.decode("latin-1")
                        self.sessions[opened] = Session(agent_id, scope.get("user"), self.clock())
            await send(message)

        await self.app(scope, receive, noting_the_session)
        if opened is not None:
            self._forget_idle()
            for sid in self.open_sessions(agent_id)[: -self.per_agent]:
                await self._close(sid)

    def _forget_idle(self) -> None:
        """Forget sessions the SDK has closed for idleness by now (it counts from the end of
        their last request, as `last_used` does)."""
        limit = self.clock() - self.idle_seconds
        for sid, s in list(self.sessions.items()):
            if not s.busy and s.last_used < limit:
                del self.sessions[sid]

    async def _close(self, sid: str) -> None:
        """End the session as its client would: DELETE /mcp with its id, as its owner."""
        session = self.sessions.pop(sid, None)
        if session is None:
            return
        self.closed += 1
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "DELETE",
            "scheme": "http",
            "path": "/mcp",
            "raw_path": b"/mcp",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", self.host.encode()), (SESSION_HEADER, sid.encode())],
            "client": ("127.0.0.1", 0),
            "server": ("127.0.0.1", 0),
            "user": session.user,
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def drop(message: Message) -> None:
            pass

        await self.app(scope, receive, drop)
