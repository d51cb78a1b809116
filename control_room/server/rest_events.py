"""REST handlers of the event log: `GET /api/events?after=N` (a page) and
`GET /api/events/stream` (server-sent events). Their rows in the endpoint table (and so in the
OpenAPI document) are in server/rest.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from control_room.domain import InvalidInput

if TYPE_CHECKING:
    from control_room.server.rest import Call

Body = dict[str, Any]
EVENTS_PAGE = 500
EVENT_ID = re.compile(r"[0-9]{1,18}")  # 18 digits always fit SQLite's integers


def _after(request: Request) -> int:
    given = request.query_params.get("after", "0")
    if not EVENT_ID.fullmatch(given):
        raise InvalidInput("after", "must be an event id (a whole number >= 0)")
    return int(given)


async def events(call: Call) -> Body:
    found = await call.coordinator.events(after=_after(call.request), limit=EVENTS_PAGE)
    return {"events": [e.to_dict() for e in found], "more": len(found) == EVENTS_PAGE}


async def event_stream(call: Call) -> Response:
    """Server-sent events from the log: everything after `after`, then each new event live,
    whichever process wrote it (the registry's change feed). The caller's token is checked
    again after each batch and each quiet second: a revoked agent's stream ends."""
    after = _after(call.request)
    coordinator = call.coordinator
    authorization = call.request.headers.get("authorization")

    async def stream() -> AsyncIterator[str]:
        with coordinator.feed.subscribe(after) as subscription:
            while True:
                try:
                    async with asyncio.timeout(1.0):
                        batch = await subscription.batch()
                except TimeoutError:
                    yield ": keep-alive\n\n"
                else:
                    if not batch:
                        return  # the registry closed
                    for event in batch:
                        data = json.dumps(event.to_dict())
                        yield f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"
                if await call.auth.caller(authorization) is None:
                    return

    return StreamingResponse(stream(), media_type="text/event-stream")
