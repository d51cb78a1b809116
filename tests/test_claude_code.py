"""The real Claude Code CLI (shipped in the claude-agent-sdk wheel) joins Control Room through MCP
and works a real task: it claims, reports progress and completes. Only the model is scripted
(tests/fake_anthropic.py); the CLI, its MCP client, our server and the registry are all real."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import claude_agent_sdk
import pytest

from control_room.config import Home
from control_room.domain import Status
from control_room.engine import Coordinator, init_home
from control_room.engine.prompt import build_prompt
from control_room.engine.runtimes import ClaudeCodeRuntime, Launch
from tests.conftest import coordinator_at
from tests.fake_anthropic import Block, scripted_model, text, tool_results, tool_use
from tests.serving import running_server
from tests.test_runtimes import command_line

CLAUDE = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
TOOL = "mcp__control-room__"


def work_script(body: dict[str, Any]) -> list[Block]:
    """Claim, report half way, complete, then stop: each step from the previous tool result."""
    results = tool_results(body)
    if not results:
        return [text("Claiming my task."), tool_use(TOOL + "claimTask", {}, 1)]
    try:
        claimed = json.loads(results[0])
        task_id, epoch = claimed["task"]["id"], claimed["epoch"]
    except (ValueError, KeyError):
        return [text(f"I could not claim a task: {results[0]}")]
    if len(results) == 1:
        progress = {"taskId": task_id, "epoch": epoch, "percent": 50, "note": "half way"}
        return [tool_use(TOOL + "updateProgress", progress, 2)]
    if len(results) == 2:
        done = {
            "taskId": task_id, "epoch": epoch, "summary": "Built it", "files": ["app.py"],
            "hours": 0.25,
        }  # fmt: skip
        return [tool_use(TOOL + "completeTask", done, 3)]
    return [text("All done.")]


async def run_claude(
    folder: Path, model_url: str, mcp_config: dict[str, Any]
) -> list[dict[str, Any]]:
    """Run `claude -p` with the given MCP servers; its stream-json events."""
    config = folder / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"control-room": mcp_config}}))
    config.chmod(0o600)
    (folder / "home").mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(folder / "home"),
        "ANTHROPIC_BASE_URL": model_url,
        "ANTHROPIC_API_KEY": "test-key-not-real",
    }
    allowed = ",".join(TOOL + name for name in ("claimTask", "updateProgress", "completeTask"))
    process = await asyncio.create_subprocess_exec(
        str(CLAUDE), "-p", "Work on your Control Room task.", "--output-format", "stream-json",
        "--verbose", "--max-turns", "8", "--mcp-config", str(config), "--allowedTools", allowed,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=folder,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, err.decode()[-2000:]
    events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    result = events[-1]
    assert result["type"] == "result" and not result["is_error"], result
    return events


async def assert_worked(coordinator: Coordinator, task_id: str, agent_id: str) -> None:
    task = await coordinator.task(task_id)
    assert (task.status, task.agent_id, task.summary, task.files, task.hours) == (
        Status.COMPLETED, agent_id, "Built it", ("app.py",), 0.25,
    )  # fmt: skip
    history = {e.kind: e for e in await coordinator.events(task_id=task_id)}
    assert history["claimed"].agent_id == agent_id and history["claimed"].data["epoch"] == 1
    assert (history["progress"].data["percent"], history["progress"].message) == (50, "half way")
    assert history["completed"].message == "Built it"


async def test_claude_code_works_a_task_over_http(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        task = await server.coordinator.add_task({"title": "Make the thing", "priority": "P1"})
        agent, token = await server.coordinator.register_agent("claude-code", ["*"], "claude-code")
        mcp = {
            "type": "http",
            "url": f"{server.url}/mcp",
            "headers": {"Authorization": f"Bearer {token}"},
        }
        with scripted_model(work_script) as model:
            url = f"http://127.0.0.1:{model.server_address[1]}"
            events = await run_claude(tmp_path, url, mcp)
        await assert_worked(server.coordinator, task.id, agent.id)
        init = events[0]
        assert any(
            s["name"] == "control-room" and s["status"] == "connected" for s in init["mcp_servers"]
        )
        assert token not in json.dumps(model.requests), "the token never reaches the model"


async def test_claude_code_works_a_task_over_stdio(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    async with coordinator_at(home.registry) as coordinator:
        task = await coordinator.add_task({"title": "Make it over stdio"})
        agent, token = await coordinator.register_agent("claude-stdio", ["*"], "claude-code")
    command = str(Path(sys.executable).with_name("control-room"))
    mcp = {
        "command": command,
        "args": ["--data-dir", str(home.root), "mcp"],
        "env": {"CONTROL_ROOM_TOKEN": token},
    }
    with scripted_model(work_script) as model:
        await run_claude(tmp_path, f"http://127.0.0.1:{model.server_address[1]}", mcp)
    async with coordinator_at(home.registry) as coordinator:
        await assert_worked(coordinator, task.id, agent.id)


async def test_the_claude_code_runtime_works_a_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_server(tmp_path) as server:
        task = await server.coordinator.add_task({"title": "Spawned work", "priority": "P0"})
        agent, token = await server.coordinator.register_agent("spawned", ["*"], "claude-code")
        with scripted_model(work_script) as model:
            (tmp_path / "home").mkdir()
            monkeypatch.setenv("HOME", str(tmp_path / "home"))
            monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{model.server_address[1]}")
            monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")
            launch = Launch(
                task_id=task.id, agent_id=agent.id, token=token, server_url=server.url,
                prompt=build_prompt(task), run_dir=tmp_path / "runs" / task.id / "1",
                workdir=tmp_path, wall_clock_seconds=180, budget_usd=1.5,
            )  # fmt: skip
            running = await ClaudeCodeRuntime(CLAUDE, max_turns=8).start(launch)
            assert token not in command_line(running.pid)
            assert await running.wait() == 0
        await assert_worked(server.coordinator, task.id, agent.id)
        config = launch.run_dir / "mcp.json"
        assert config.stat().st_mode & 0o777 == 0o600
        events = [
            json.loads(line) for line in (launch.run_dir / "report.log").read_text().splitlines()
        ]
        assert events[-1]["type"] == "result" and not events[-1]["is_error"]
        assert any("Spawned work" in json.dumps(r) for r in model.requests), "the prompt arrived"
