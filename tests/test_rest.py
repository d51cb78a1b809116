"""The REST door through a real uvicorn server on 127.0.0.1 and a real HTTP client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.routing import Route

from control_room.server import openapi
from tests.serving import SECRET, Running, running_server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_server(tmp_path) as running:
        yield running


@pytest.fixture
async def http(server: Running) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def register(http: httpx2.AsyncClient, token: str, name: str = "agent") -> dict[str, str]:
    """A new agent's Authorization header."""
    answer = await http.post(
        "/api/agents",
        json={"name": name, "capabilities": ["*"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


async def add(http: httpx2.AsyncClient, server: Running, **fields: Any) -> dict[str, Any]:
    answer = await http.post("/api/tasks", json={"title": "t", **fields}, headers=server.operator())
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_health_needs_no_token(http: httpx2.AsyncClient) -> None:
    answer = await http.get("/api/health")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


async def test_an_agent_claims_reports_and_completes(
    http: httpx2.AsyncClient, server: Running
) -> None:
    task = await add(http, server, priority="P1", checks=[])
    agent = await register(http, server.operator_token)
    claimed = (await http.post("/api/tasks/claim", json={}, headers=agent)).json()
    assert claimed["task"]["id"] == task["id"] and claimed["lease"]["epoch"] == 1
    epoch = claimed["lease"]["epoch"]
    path = f"/api/tasks/{task['id']}"
    answer = await http.post(
        f"{path}/progress", json={"epoch": epoch, "percent": 40, "note": "half"}, headers=agent
    )
    assert answer.status_code == 200 and answer.json()["status"] == "IN_PROGRESS"
    answer = await http.post(
        f"{path}/complete",
        json={"epoch": epoch, "summary": "did it", "files": ["a.py"], "hours": 0.5},
        headers=agent,
    )
    assert answer.status_code == 200 and answer.json()["status"] == "COMPLETED"
    stored = await server.coordinator.task(task["id"])
    assert (stored.status, stored.summary, stored.files) == ("COMPLETED", "did it", ("a.py",))
    kinds = [e["kind"] for e in (await http.get("/api/events", headers=agent)).json()["events"]]
    assert kinds[-3:] == ["claimed", "progress", "completed"]


async def test_registration_needs_the_operator_token_or_the_secret(
    http: httpx2.AsyncClient, server: Running
) -> None:
    assert (await http.post("/api/agents", json={"name": "x"})).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await http.post("/api/agents", json={"name": "x"}, headers=bad)).status_code == 401
    await register(http, SECRET, "joined with the secret")
    agent = await register(http, server.operator_token)
    answer = await http.post("/api/agents", json={"name": "x"}, headers=agent)
    assert answer.status_code == 403 and answer.json()["error"] == "forbidden"


async def test_roles_are_enforced(http: httpx2.AsyncClient, server: Running) -> None:
    agent = await register(http, server.operator_token)
    assert (await http.post("/api/tasks", json={"title": "x"}, headers=agent)).status_code == 403
    task = await add(http, server)
    answer = await http.post(f"/api/tasks/{task['id']}/approve", json={}, headers=agent)
    assert answer.status_code == 403
    answer = await http.post("/api/tasks/claim", json={}, headers=server.operator())
    assert answer.status_code == 403, "the operator is not an agent"
    for path in ("/api/tasks", "/api/agents", "/api/events", f"/api/tasks/{task['id']}"):
        assert (await http.get(path)).status_code == 401, path


async def test_conflicts_are_409_and_change_nothing(
    http: httpx2.AsyncClient, server: Running
) -> None:
    task = await add(http, server)
    alice = await register(http, server.operator_token, "alice")
    bob = await register(http, server.operator_token, "bob")
    claim = (
        await http.post("/api/tasks/claim", json={"task_id": task["id"]}, headers=alice)
    ).json()
    epoch = claim["lease"]["epoch"]
    before = await server.coordinator.task(task["id"])
    taken = await http.post("/api/tasks/claim", json={"task_id": task["id"]}, headers=bob)
    assert taken.status_code == 409 and "already claimed" in taken.json()["message"]
    path = f"/api/tasks/{task['id']}"
    for who, body in (
        (bob, {"epoch": epoch, "percent": 5}),
        (alice, {"epoch": epoch + 7, "percent": 5}),
    ):
        answer = await http.post(f"{path}/progress", json=body, headers=who)
        assert answer.status_code == 409, answer.text
    assert await server.coordinator.task(task["id"]) == before
    nothing = await http.post("/api/tasks/claim", json={}, headers=bob)
    assert nothing.status_code == 404 and nothing.json()["error"] == "nothing_to_claim"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"percent": 5}, 422, "epoch"),
        ({"epoch": "one", "percent": 5}, 422, "epoch"),
        ({"epoch": 1, "percent": 101}, 422, "percent"),
        ({"epoch": 1, "percent": 5, "pct": 1}, 422, "pct"),
        ([1, 2], 422, None),
        ("not json", 400, None),
    ],
)
async def test_bad_bodies_are_named(
    http: httpx2.AsyncClient, server: Running, body: Any, status: int, field: str | None
) -> None:
    task = await add(http, server)
    agent = await register(http, server.operator_token)
    await http.post("/api/tasks/claim", json={}, headers=agent)
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    answer = await http.post(f"/api/tasks/{task['id']}/progress", content=content, headers=agent)
    assert answer.status_code == status, answer.text
    assert set(answer.json()) >= {"error", "message"}
    if field:
        assert answer.json()["field"] == field and field in answer.json()["message"]
    assert (await server.coordinator.task(task["id"])).status == "CLAIMED"


async def test_oversized_bodies_are_refused(http: httpx2.AsyncClient, server: Running) -> None:
    big = json.dumps({"title": "x", "description": "y" * 2_000_000})
    answer = await http.post("/api/tasks", content=big, headers=server.operator())
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"x" * 64_000

    answer = await http.post("/api/tasks", content=chunks(), headers=server.operator())
    assert answer.status_code == 413
    assert await server.coordinator.tasks() == []


@pytest.mark.parametrize("path", ["/api/health", "/mcp"])
async def test_foreign_hosts_and_origins_are_refused(http: httpx2.AsyncClient, path: str) -> None:
    assert (await http.get(path, headers={"Host": "attacker.example"})).status_code == 421
    answer = await http.get(path, headers={"Origin": "http://attacker.example"})
    assert answer.status_code == 403 and answer.json()["error"] == "wrong_origin"


async def test_unknown_routes_and_methods_answer_json(
    http: httpx2.AsyncClient, server: Running
) -> None:
    for method, path, status in (
        ("GET", "/nope", 404),
        ("GET", "/api/nope", 404),
        ("DELETE", "/api/tasks", 405),
    ):
        answer = await http.request(method, path, headers=server.operator())
        assert answer.status_code == status and answer.json()["error"], (method, path)


async def test_tokens_are_stored_only_as_hashes(http: httpx2.AsyncClient, server: Running) -> None:
    agent = await register(http, server.operator_token)
    token = agent["Authorization"].removeprefix("Bearer ")
    raw = b"".join(p.read_bytes() for p in server.home.root.glob("registry.db*"))
    assert b"agent" in raw and token.encode() not in raw


async def test_events_page_and_stream(http: httpx2.AsyncClient, server: Running) -> None:
    first = await add(http, server)
    events = (await http.get("/api/events?after=0", headers=server.operator())).json()["events"]
    assert [e["task_id"] for e in events] == [first["id"]]
    assert (await http.get("/api/events?after=-1", headers=server.operator())).status_code == 422

    async def read_stream() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        url = f"/api/events/stream?after={events[-1]['id']}"
        async with http.stream("GET", url, headers=server.operator()) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line.removeprefix("data: ")))
                    if len(seen) == 2:
                        return seen
        return seen

    reader = asyncio.create_task(read_stream())
    await asyncio.sleep(0.3)
    second = await add(http, server, title="live one")
    third = await add(http, server, title="live two")
    seen = await asyncio.wait_for(reader, 10)
    assert [e["task_id"] for e in seen] == [second["id"], third["id"]]


async def test_openapi_matches_the_routes(http: httpx2.AsyncClient, server: Running) -> None:
    document = (await http.get("/api/openapi.json")).json()
    assert document == json.loads(json.dumps(openapi.document()))
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    app = server.coordinator  # the app is reachable through the running server only
    assert app is not None
    from control_room.server.app import create_app

    built = create_app(server.coordinator, operator_token="x", port=server.port)
    served = {
        (method, route.path)
        for route in built.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/api/") and route.methods
        for method in route.methods - {"HEAD"}
        if route.path != "/api/openapi.json"
    }
    assert documented == served


async def test_approve_and_reject_through_rest(http: httpx2.AsyncClient, server: Running) -> None:
    one, two = await add(http, server), await add(http, server)
    for task in (one, two):
        await server.coordinator.await_approval(task["id"], "strategic")
    ok = await http.post(f"/api/tasks/{one['id']}/approve", json={}, headers=server.operator())
    assert ok.status_code == 200 and ok.json()["status"] == "AVAILABLE" and ok.json()["approved"]
    no = await http.post(
        f"/api/tasks/{two['id']}/reject", json={"reason": "later"}, headers=server.operator()
    )
    assert no.json()["status"] == "CANCELLED" and no.json()["reason"] == "later"
    missing = await http.post(f"/api/tasks/{two['id']}/reject", json={}, headers=server.operator())
    assert missing.status_code == 422 and missing.json()["field"] == "reason"


async def test_a_revoked_token_stops_working_at_once(
    http: httpx2.AsyncClient, server: Running
) -> None:
    task = await add(http, server)
    agent = await register(http, server.operator_token)
    claim = await http.post("/api/tasks/claim", json={}, headers=agent)
    assert claim.status_code == 200  # and the token is now in the server's cache
    agent_id = claim.json()["lease"]["agent_id"]
    answer = await http.post(f"/api/agents/{agent_id}/revoke", json={}, headers=agent)
    assert answer.status_code == 403, "agents cannot revoke"
    answer = await http.post(f"/api/agents/{agent_id}/revoke", json={}, headers=server.operator())
    assert answer.status_code == 200 and answer.json()["status"] == "REVOKED"
    assert (await http.get("/api/tasks", headers=agent)).status_code == 401
    released = (await http.get(f"/api/tasks/{task['id']}", headers=server.operator())).json()
    assert (released["status"], released["attempts"]) == ("AVAILABLE", 1)
    missing = await http.post("/api/agents/A-nobody/revoke", json={}, headers=server.operator())
    assert missing.status_code == 404


async def test_lone_surrogates_are_refused_not_crashed_on(
    http: httpx2.AsyncClient, server: Running
) -> None:
    for path, body in (
        ("/api/tasks", '{"title": "\\ud800"}'),
        ("/api/agents", '{"name": "\\udfff"}'),
    ):
        answer = await http.post(path, content=body.encode(), headers=server.operator())
        assert answer.status_code == 422, answer.text
        assert "not valid Unicode" in answer.json()["message"]


@pytest.mark.parametrize("after", ["%C2%B2", "1" * 5000, str(2**63), "-1", "x"])
async def test_odd_event_ids_are_422(http: httpx2.AsyncClient, server: Running, after: str) -> None:
    for path in ("/api/events", "/api/events/stream"):
        answer = await http.get(f"{path}?after={after}", headers=server.operator())
        assert answer.status_code == 422 and answer.json()["field"] == "after", (path, answer.text)


async def test_oversized_chunked_bodies_to_mcp_are_413(
    http: httpx2.AsyncClient, server: Running
) -> None:
    agent = await register(http, server.operator_token)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 64_000

    headers = agent | {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    answer = await http.post("/mcp", content=chunks(), headers=headers)
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"


@pytest.mark.parametrize("name", ["Host", "Origin", "Authorization"])
async def test_duplicate_security_headers_are_refused(server: Running, name: str) -> None:
    value = {"Host": f"127.0.0.1:{server.port}", "Origin": f"http://127.0.0.1:{server.port}"}.get(
        name, f"Bearer {server.operator_token}"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    lines = ["GET /api/tasks HTTP/1.1", f"{name}: {value}", f"{name}: {value}"]
    if name != "Host":
        lines.append(f"Host: 127.0.0.1:{server.port}")
    writer.write(("\r\n".join(lines) + "\r\nConnection: close\r\n\r\n").encode())
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400") and b"more than one" in answer, answer[:200]


async def test_a_revoked_agents_event_stream_ends(
    http: httpx2.AsyncClient, server: Running
) -> None:
    agent = await register(http, server.operator_token)
    agent_id = (await http.get("/api/agents", headers=agent)).json()["agents"][0]["id"]

    async def listen() -> int:
        lines = 0
        async with http.stream("GET", "/api/events/stream", headers=agent) as stream:
            async for _ in stream.aiter_lines():
                lines += 1
        return lines

    listening = asyncio.create_task(listen())
    await asyncio.sleep(0.5)
    await http.post(f"/api/agents/{agent_id}/revoke", json={}, headers=server.operator())
    assert await asyncio.wait_for(listening, 5) > 0, "the stream ended after the revocation"
