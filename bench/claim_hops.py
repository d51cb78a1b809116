"""The claim's walk: which control_room functions and files one REST claim passes through, from
the route handler to the claim's SQL and back (both the event loop's thread and the registry
connection's thread are traced, with a profiler; a coroutine resumed counts again).

    python bench/claim_hops.py

The claim is the second of one agent (its token already known to the server), answered 200.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from starlette.requests import Request

from control_room.engine import Coordinator
from control_room.server import rest
from control_room.server.auth import Authenticator
from control_room.store import SqliteRegistry
from control_room.store.writer import on_connection_thread

ROOT = str(Path(rest.__file__).resolve().parents[1])
calls: list[tuple[str, str]] = []


def profile(frame: FrameType, event: str, arg: Any) -> None:
    if event == "call" and frame.f_code.co_filename.startswith(ROOT):
        calls.append((frame.f_code.co_filename[len(ROOT) + 1 :], frame.f_code.co_qualname))


def claim_request(token: str) -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b"{}", "more_body": False}

    scope = {
        "type": "http", "method": "POST", "path": "/api/tasks/claim", "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode())], "path_params": {},
    }  # fmt: skip
    return Request(scope, receive)


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        registry = await SqliteRegistry.open(Path(folder) / "registry.db")
        coordinator = Coordinator(registry)
        (endpoint,) = [e for e in rest.ENDPOINTS if e.path == "/api/tasks/claim"]
        handle = rest.route_handler(endpoint, coordinator, Authenticator(coordinator, "op", None))
        await coordinator.add_tasks([{"title": "first"}, {"title": "second"}])
        agent, token = await coordinator.register_agent("walker", ["*"])
        first = json.loads(bytes((await handle(claim_request(token))).body))
        await coordinator.complete(first["task"]["id"], agent.id, first["lease"]["epoch"], "ok")
        db = registry._db
        assert db is not None
        await on_connection_thread(db, lambda conn: sys.setprofile(profile))
        sys.setprofile(profile)
        answer = await handle(claim_request(token))
        sys.setprofile(None)
        await on_connection_thread(db, lambda conn: sys.setprofile(None))
        assert answer.status_code == 200, answer.body
        await registry.close()
    files = sorted({file for file, _ in calls})
    print(f"{len(calls)} calls of {len(set(calls))} control_room functions in {len(files)} files")
    for file in files:
        names = [name for f, name in calls if f == file]
        print(f"  {file}: {len(names)}: {', '.join(dict.fromkeys(names))}")


if __name__ == "__main__":
    asyncio.run(main())
