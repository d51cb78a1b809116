"""Permission requests through the real doors: an agent's `requestPermission` MCP call over
HTTP waits while the operator reads the inbox and answers over REST (a real uvicorn server on
127.0.0.1, a real SQLite file). Refusals are clear 4xx answers that change nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from control_room.domain import Status
from control_room.engine import Coordinator
from control_room.engine.notify import Notifier
from control_room.server import openapi
from tests.conftest import run_cli
from tests.hooks import Hook
from tests.serving import Running, running_server


@asynccontextmanager
async def agent_client(server: Running, token: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as c,
    ):
        yield c


async def ask(client: Client, command: str) -> tuple[dict[str, Any], int]:
    """requestPermission as Claude Code calls it; the answer it gets, and its text blocks."""
    arguments = {
        "tool_name": "Bash", "input": {"command": command, "description": "run"},
        "tool_use_id": f"toolu_{abs(hash(command)) % 10_000:04d}",
    }  # fmt: skip
    result = await client.call_tool("requestPermission", arguments)
    assert not result.is_error, result
    assert result.structured_content is None, "Claude Code wants one text block only"
    (block,) = result.content
    answer: dict[str, Any] = json.loads(block.text)  # type: ignore[union-attr]
    return answer, len(result.content)


async def until(check: Any, within: float = 20) -> Any:
    deadline = time.monotonic() + within
    while not (found := await check()):
        assert time.monotonic() < deadline, f"timed out waiting for {check}"
        await asyncio.sleep(0.05)
    return found


async def inbox(http: httpx2.AsyncClient, server: Running) -> list[dict[str, Any]]:
    answer = await http.get(f"{server.url}/api/inbox", headers=server.operator())
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def held_task(c: Coordinator, title: str) -> tuple[str, str, str]:
    """(task id, agent id, token) of a task claimed by a new agent."""
    task = await c.add_task({"title": title})
    agent, token = await c.register_agent(f"agent for {title}", ["*"])
    await c.claim(agent.id, task.id)
    return task.id, agent.id, token


async def test_the_inbox_lists_everything_waiting_and_rest_answers_a_request(
    tmp_path: Path,
) -> None:
    async with running_server(tmp_path) as server, httpx2.AsyncClient(timeout=30) as http:
        c = server.coordinator
        plan = await c.add_task({"title": "Plan it", "type": "architecture"})
        await c.await_approval(plan.id, "Architecture tasks wait for approval.")
        stuck, stuck_agent, _ = await held_task(c, "Stuck")
        task = await c.task(stuck)
        await c.block(stuck, stuck_agent, task.epoch, "needs a database password")
        task_id, agent_id, token = await held_task(c, "Greet")
        async with agent_client(server, token) as client:
            asking = asyncio.create_task(ask(client, "pytest -q"))

            async def permission_listed() -> list[dict[str, Any]]:
                items = await inbox(http, server)
                return items if any(i["kind"] == "permission" for i in items) else []

            items = await until(permission_listed)
            assert [(i["kind"], i["task"]) for i in items] == [
                ("approval", plan.id), ("blocked", stuck), ("permission", task_id),
            ], "oldest first"  # fmt: skip
            approval, blocked, permission = items
            assert set(permission) == {"kind", "id", "task", "agent", "summary", "since"}
            assert (permission["agent"], permission["summary"]) == (agent_id, "Bash: pytest -q")
            assert (
                blocked["agent"] == stuck_agent
                and "needs a database password" in (blocked["summary"])
            )
            assert approval["agent"] is None and approval["summary"].startswith("Plan it")
            url = f"{server.url}/api/permissions/{permission['id']}"
            agent_headers = {"Authorization": f"Bearer {token}"}
            refused = await http.post(f"{url}/allow", json={}, headers=agent_headers)
            assert refused.status_code == 403
            unknown = await http.post(
                f"{url}/allow", json={"forever": 1}, headers=server.operator()
            )
            assert unknown.status_code == 422 and unknown.json()["field"] == "forever"
            allowed = await http.post(
                f"{url}/allow", json={"always": True}, headers=server.operator()
            )
            assert allowed.status_code == 200, allowed.text
            assert (allowed.json()["status"], allowed.json()["always"]) == ("ALLOWED", True)
            answer, _ = await asyncio.wait_for(asking, 10)
            assert answer == {
                "behavior": "allow", "updatedInput": {"command": "pytest -q", "description": "run"}
            }  # fmt: skip
            twice = await http.post(f"{url}/deny", json={}, headers=server.operator())
            assert twice.status_code == 409 and twice.json()["error"] == "conflict"
            assert "already answered (allowed by operator)" in twice.json()["message"]
            # Always: the same program again is allowed at once; another one is asked.
            again, _ = await asyncio.wait_for(ask(client, "pytest tests/test_x.py"), 10)
            assert again["behavior"] == "allow"
            other = asyncio.create_task(ask(client, "rm -rf build"))

            async def second() -> list[dict[str, Any]]:
                return [i for i in await inbox(http, server) if i["kind"] == "permission"]

            (pending,) = await until(second)
            assert pending["summary"] == "Bash: rm -rf build"
            no_such = await http.post(
                f"{server.url}/api/permissions/999/deny", json={}, headers=server.operator()
            )
            assert no_such.status_code == 404
            bad_id = await http.post(
                f"{server.url}/api/permissions/x1/deny", json={}, headers=server.operator()
            )
            assert bad_id.status_code == 422 and bad_id.json()["field"] == "id"
            denied = await http.post(
                f"{server.url}/api/permissions/{pending['id']}/deny",
                json={"reason": "not that"}, headers=server.operator(),
            )  # fmt: skip
            assert denied.status_code == 200 and denied.json()["reason"] == "not that"
            told, _ = await asyncio.wait_for(other, 10)
            assert told == {
                "behavior": "deny",
                "message": "The operator denied permission to use Bash: not that",
            }
        kinds = [(e.kind, e.actor) for e in await c.events(task_id=task_id) if "perm" in e.kind]
        assert kinds == [
            ("permission_requested", agent_id), ("permission_allowed", "operator"),
            ("permission_allowed", "always"), ("permission_requested", agent_id),
            ("permission_denied", "operator"),
        ]  # fmt: skip


async def test_a_request_whose_agent_has_ended_cannot_be_answered(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, httpx2.AsyncClient(timeout=30) as http:
        c = server.coordinator
        task_id, agent_id, token = await held_task(c, "Greet")
        async with agent_client(server, token) as client:
            asking = asyncio.create_task(ask(client, "make"))
            (request,) = await until(lambda: c.permissions.pending(task_id))
            await c.revoke_agent(agent_id)
            url = f"{server.url}/api/permissions/{request.id}/allow"
            ended = await http.post(url, json={}, headers=server.operator())
            assert ended.status_code == 409, ended.text
            assert "has ended" in ended.json()["message"]
            assert (await c.permissions.get(request.id)).pending, "the refusal changed nothing"
            assert not [i for i in await inbox(http, server) if i["kind"] == "permission"]
            asking.cancel()


async def test_the_lease_stays_alive_while_a_request_waits(tmp_path: Path) -> None:
    async with running_server(tmp_path, lease_seconds=1.5) as server:
        c = server.coordinator
        c.permissions.timeout_seconds = 4
        task_id, agent_id, _ = await held_task(c, "Slow answer")
        first = (await c.task(task_id)).lease_expires_at
        assert first is not None
        answer = json.loads(await c.permissions.ask(agent_id, "WebFetch", {"url": "https://x"}))
        assert answer["behavior"] == "deny" and "within 4 s (timed out)" in answer["message"]
        assert await c.expire_leases() == [], "no lease ran out while it waited"
        task = await c.task(task_id)
        assert task.status is Status.CLAIMED and task.agent_id == agent_id
        assert task.lease_expires_at is not None and task.lease_expires_at > first + 2


def test_the_openapi_document_lists_the_inbox_and_answers() -> None:
    paths = openapi.document()["paths"]
    assert "get" in paths["/api/inbox"]
    for verb in ("allow", "deny"):
        operation = paths[f"/api/permissions/{{request_id}}/{verb}"]["post"]
        assert operation["security"] == [{"bearer": []}] and "409" in operation["responses"]


async def test_a_permission_request_is_notified_like_an_approval(
    coordinator: Coordinator, new_agent: Any, hook: Hook
) -> None:
    notifier = Notifier([hook.url])
    coordinator.feed.watch(notifier.on_events)
    task = await coordinator.add_task({"title": "deploy"})
    agent = await new_agent("asker")
    await coordinator.claim(agent, task.id)
    asking = asyncio.create_task(
        coordinator.permissions.ask(agent, "Bash", {"command": "make deploy\x1b[2J"})
    )
    (request,) = await until(lambda: coordinator.permissions.pending(task.id))
    await notifier.step()
    (sent,) = hook.received
    assert sent["title"] == f"Control Room: task {task.id} asks for permission"
    assert f"Agent {agent} on task {task.id}" in sent["message"]
    assert "Bash: make deploy [2J" in sent["message"], "control characters are dropped"
    assert f"control-room permission allow {request.id}" in sent["message"]
    await coordinator.permissions.answer(request.id, False, reason="not today")
    assert json.loads(await asyncio.wait_for(asking, 10))["behavior"] == "deny"
    await notifier.step()
    assert len(hook.received) == 1, "answers are not notified"


def test_the_cli_refuses_bad_answers_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    assert run_cli("inbox", data_dir=home).stdout.startswith("the inbox is empty")
    assert json.loads(run_cli("inbox", "--json", data_dir=home).stdout) == []
    for args, message in (
        (("permission", "allow", "abc"), "'abc' is not a permission request id"),
        (("permission", "deny", "7", "--reason", "no"), "no permission request 7"),
        (("permission", "grant", "7"), "invalid choice: 'grant'"),
    ):
        result = run_cli(*args, data_dir=home)
        assert result.returncode in (1, 2) and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1


async def test_what_an_ended_agent_waited_for_is_closed(
    coordinator: Coordinator, new_agent: Any
) -> None:
    task = await coordinator.add_task({"title": "ends"})
    agent = await new_agent("leaver")
    await coordinator.claim(agent, task.id)
    asking = asyncio.create_task(coordinator.permissions.ask(agent, "WebSearch", {"query": "x"}))
    (request,) = await until(lambda: coordinator.permissions.pending(task.id))
    other = await new_agent("bystander")
    await coordinator.permissions.agent_ended(other, "exited")
    assert (await coordinator.permissions.get(request.id)).pending, "only its own requests"
    await coordinator.permissions.agent_ended(agent, "exited")
    closed = await coordinator.permissions.get(request.id)
    assert (closed.status, closed.answered_by, closed.reason) == (
        "DENIED",
        "supervisor",
        "the agent exited",
    )
    told = json.loads(await asyncio.wait_for(asking, 10))
    assert told == {
        "behavior": "deny", "message": "Permission to use WebSearch was denied: the agent exited."
    }  # fmt: skip
