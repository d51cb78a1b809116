"""The MCP door: in memory, over real streamable HTTP, and over stdio through `control-room mcp`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context

from control_room.config import Home
from control_room.domain import Agent, Status
from control_room.engine import Coordinator, init_home
from control_room.server.tools import build_mcp
from tests.conftest import coordinator_at
from tests.serving import running_server

TOOLS = {
    "connectToMCP", "getAvailableTasks", "claimTask", "updateProgress", "completeTask",
    "releaseTask", "reportBlocked", "requestPermission", "proposeTasks",
}  # fmt: skip


async def work_one_task(client: Client, coordinator: Coordinator) -> str:
    """Claim, report, hand in through the tools; return the task id."""
    available = (await client.call_tool("getAvailableTasks", {})).structured_content
    assert available is not None and available["tasks"], available
    claimed = (await client.call_tool("claimTask", {})).structured_content
    assert claimed is not None
    task_id, epoch = claimed["task"]["id"], claimed["epoch"]
    progress = await client.call_tool(
        "updateProgress", {"taskId": task_id, "epoch": epoch, "percent": 50, "note": "halfway"}
    )
    assert not progress.is_error and progress.structured_content["status"] == "IN_PROGRESS"  # type: ignore[index]
    stale = await client.call_tool(
        "updateProgress", {"taskId": task_id, "epoch": epoch + 1, "percent": 9}
    )
    assert stale.is_error and "stale epoch" in stale.content[0].text  # type: ignore[union-attr]
    done = await client.call_tool(
        "completeTask", {"taskId": task_id, "epoch": epoch, "summary": "done", "files": ["x.py"]}
    )
    assert done.structured_content["status"] == "COMPLETED", done  # type: ignore[index]
    return str(task_id)


async def test_tools_in_memory(tmp_path: Path) -> None:
    async with coordinator_at(tmp_path / "registry.db") as coordinator:
        agent, _ = await coordinator.register_agent("memory", ["*"])
        task = await coordinator.add_task({"title": "in memory"})

        async def identify(ctx: Context) -> Agent | None:
            return agent

        async def connect(ctx: Context, name: str, capabilities: list[str]) -> Agent:
            return agent

        server = build_mcp(coordinator, identify, connect)
        async with Client(server, raise_exceptions=True) as client:
            listed = await client.list_tools()
            assert {t.name for t in listed.tools} == TOOLS
            size = len(json.dumps([t.model_dump(exclude_none=True) for t in listed.tools]))
            print(f"\ntools/list: {size} characters")
            assert size < 8000, "keep the tool list small"
            connected = (await client.call_tool("connectToMCP", {})).structured_content
            assert connected is not None
            assert (connected["agent_id"], connected["next"]) == (agent.id, "call claimTask")
            assert await work_one_task(client, coordinator) == task.id
            bad = await client.call_tool(
                "updateProgress", {"taskId": task.id, "epoch": "x", "percent": 1}
            )
            assert bad.is_error
            nothing = await client.call_tool("claimTask", {})
            assert nothing.is_error and "no available task" in nothing.content[0].text  # type: ignore[union-attr]
        stored = await coordinator.task(task.id)
        assert (stored.status, stored.summary, stored.files) == (
            Status.COMPLETED,
            "done",
            ("x.py",),
        )


async def test_tools_over_http_with_an_agent_token(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        task = await server.coordinator.add_task({"title": "over http"})
        agent, token = await server.coordinator.register_agent("http agent", ["*"])
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            transport = streamable_http_client(f"{server.url}/mcp", http_client=http)
            async with Client(transport) as client:
                me = (await client.call_tool("connectToMCP", {})).structured_content
                assert me is not None and me["agent_id"] == agent.id
                assert await work_one_task(client, server.coordinator) == task.id
        async with httpx2.AsyncClient(timeout=10) as http:
            for auth in ({}, {"Authorization": f"Bearer {server.operator_token}"}):
                answer = await http.post(f"{server.url}/mcp", json={}, headers=auth)
                assert answer.status_code == 401, "MCP needs an agent's token"
        events = await server.coordinator.events(task_id=task.id)
        assert [e.agent_id for e in events if e.kind == "claimed"] == [agent.id]


async def test_tools_over_stdio_through_the_command(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    async with coordinator_at(home.registry) as coordinator:
        task = await coordinator.add_task({"title": "over stdio"})
    script = Path(sys.executable).with_name("control-room")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    params = StdioServerParameters(
        command=str(script), args=["--data-dir", str(home.root), "mcp"], env=env
    )
    async with Client(params) as client:
        before = await client.call_tool("claimTask", {})
        assert before.is_error and "connectToMCP" in before.content[0].text  # type: ignore[union-attr]
        me = (
            await client.call_tool("connectToMCP", {"name": "stdio", "capabilities": ["*"]})
        ).structured_content
        assert me is not None and me["name"] == "stdio"
        async with coordinator_at(home.registry) as coordinator:
            assert await work_one_task(client, coordinator) == task.id
    async with coordinator_at(home.registry) as coordinator:
        (agent,) = await coordinator.agents()
        assert (agent.name, agent.runtime) == ("stdio", "mcp-stdio")
        assert (await coordinator.task(task.id)).status is Status.COMPLETED


async def test_stdio_takes_its_identity_from_the_environment(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    async with coordinator_at(home.registry) as coordinator:
        agent, token = await coordinator.register_agent("spawned", ["*"], "command")
        await coordinator.add_task({"title": "for the spawned agent"})
    script = Path(sys.executable).with_name("control-room")
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    params = StdioServerParameters(
        command=str(script),
        args=["--data-dir", str(home.root), "mcp"],
        env=env | {"CONTROL_ROOM_TOKEN": token},
    )
    async with Client(params) as client:
        claimed = (await client.call_tool("claimTask", {})).structured_content
        assert claimed is not None
    async with coordinator_at(home.registry) as coordinator:
        assert (await coordinator.task(claimed["task"]["id"])).agent_id == agent.id


async def test_an_mcp_session_belongs_to_the_agent_that_opened_it(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        _, token_a = await server.coordinator.register_agent("a", ["*"])
        _, token_b = await server.coordinator.register_agent("b", ["*"])
        accept = {"Accept": "application/json, text/event-stream"}
        hello = {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}},
        }  # fmt: skip
        async with httpx2.AsyncClient(base_url=server.url, timeout=10) as http:
            opened = await http.post(
                "/mcp", json=hello, headers=accept | {"Authorization": f"Bearer {token_a}"}
            )
            session = opened.headers.get("mcp-session-id")
            assert opened.status_code == 200 and session
            as_b = accept | {"Authorization": f"Bearer {token_b}", "mcp-session-id": session}
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            assert (await http.post("/mcp", json=ping, headers=as_b)).status_code == 404
            assert (await http.delete("/mcp", headers=as_b)).status_code == 404
            as_a = accept | {"Authorization": f"Bearer {token_a}", "mcp-session-id": session}
            assert (await http.post("/mcp", json=ping, headers=as_a)).status_code == 200


async def test_concurrent_connects_over_stdio_register_one_agent(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    script = Path(sys.executable).with_name("control-room")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    params = StdioServerParameters(
        command=str(script), args=["--data-dir", str(home.root), "mcp"], env=env
    )
    async with Client(params) as client:
        first, second = await asyncio.gather(
            client.call_tool("connectToMCP", {"name": "racer"}),
            client.call_tool("connectToMCP", {"name": "racer"}),
        )
    assert first.structured_content == second.structured_content
    async with coordinator_at(home.registry) as coordinator:
        assert len(await coordinator.agents()) == 1
