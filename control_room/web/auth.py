"""The operator token in front of every route of the web screen, the websocket included.

Opened once as `/?token=...`: the answer sets a cookie (HttpOnly, SameSite=Strict) and sends the
browser on to the page without the token, so it leaves the address bar and the history.
The cookie holds a value derived from the token, not the token. Without a valid token or cookie
every route answers 401; a websocket from a foreign Origin answers 403. Compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

COOKIE = "control_room_web"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"control-room web session", hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _refusal(status: int, error: str, message: str) -> web.Response:
    body = json.dumps({"error": error, "message": message})
    return web.Response(status=status, text=body, content_type="application/json")


def _foreign_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin.split("://", 1)[-1].rstrip("/") != request.host


def token_guard(token: str) -> Middleware:
    """A middleware that lets through only the holder of `token`."""
    session = cookie_value(token)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.query.get("token")
        if given is not None:
            if not _same(given, token):
                return _refusal(401, "unauthorized", "wrong token")
            response = web.HTTPSeeOther(location="/")  # the one page
            response.set_cookie(COOKIE, session, httponly=True, samesite="Strict", path="/")
            return response
        if not _same(request.cookies.get(COOKIE, ""), session):
            return _refusal(401, "unauthorized", "open the URL with ?token=<operator token>")
        if _foreign_origin(request):
            return _refusal(403, "forbidden", "a request from another site")
        return await handler(request)

    return guard
