"""Checks of a handed-in task with only `control-room mcp` up: the mcp process runs them itself
(while no engine does), and where nothing runs them, the completeTask answer and `task show`
say so."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path

from mcp import Client, StdioServerParameters
from mcp.server.mcpserver import Context

from control_room.config import Home
from control_room.domain import Agent, Status
from control_room.engine import init_home
from control_room.engine.validators import (
    NO_RUNNER,
    StandIn,
    checks_have_a_runner,
    engine_validates,
)
from control_room.server.tools import build_mcp
from tests.conftest import coordinator_at, run_cli

SCRIPT = Path(sys.executable).with_name("control-room")


async def _status_becomes(home: Home, task_id: str, status: Status, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        async with coordinator_at(home.registry) as coordinator:
            task = await coordinator.task(task_id)
        if task.status is status:
            return
        assert time.monotonic() < deadline, f"still {task.status} after {within} s"
        await asyncio.sleep(0.1)


async def test_mcp_alone_runs_the_checks_of_a_hand_in(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    project = tmp_path / "project"
    project.mkdir()
    async with coordinator_at(home.registry) as coordinator:
        task = await coordinator.add_task(
            {"title": "checked by mcp", "checks": ["test -f done.txt"]}
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    params = StdioServerParameters(
        command=str(SCRIPT), args=["--data-dir", str(home.root), "mcp"], env=env, cwd=project
    )
    async with Client(params) as client:
        await client.call_tool("connectToMCP", {"name": "stdio", "capabilities": ["*"]})
        claimed = (await client.call_tool("claimTask", {})).structured_content
        assert claimed is not None
        (project / "done.txt").write_text("the work\n")  # what the agent did, in the project
        hand_in = {"taskId": task.id, "epoch": claimed["epoch"], "summary": "done"}
        done = await client.call_tool("completeTask", hand_in | {"files": ["done.txt"]})
        answer = done.structured_content
        assert answer is not None and answer["status"] == "VALIDATING", answer
        assert answer["next"].startswith("handed in; the task's checks will run"), answer
        assert checks_have_a_runner(home), "the mcp process stands in"
        await _status_becomes(home, task.id, Status.COMPLETED)
    async with coordinator_at(home.registry) as coordinator:
        events = await coordinator.events(task_id=task.id)
    passed = next(e for e in events if e.kind == "checks_passed")
    assert passed.actor == "validator"
    assert not checks_have_a_runner(home), "the lock went with the process"


async def test_without_a_runner_the_answer_and_task_show_say_so(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    async with coordinator_at(home.registry) as coordinator:
        agent, _ = await coordinator.register_agent("memory", ["*"])
        task = await coordinator.add_task({"title": "nobody checks", "checks": ["true"]})

        async def identify(ctx: Context) -> Agent | None:
            return agent

        async def connect(ctx: Context, name: str, capabilities: list[str]) -> Agent:
            return agent

        server = build_mcp(coordinator, identify, connect, lambda: checks_have_a_runner(home))
        async with Client(server, raise_exceptions=True) as client:
            claimed = (await client.call_tool("claimTask", {})).structured_content
            assert claimed is not None
            done = await client.call_tool(
                "completeTask", {"taskId": task.id, "epoch": claimed["epoch"], "summary": "ok"}
            )
        answer = done.structured_content
        assert answer is not None and answer["status"] == "VALIDATING"
        assert answer["next"] == f"handed in; {NO_RUNNER}. You may claim another task"

    shown = run_cli("task", "show", task.id, data_dir=home.root)
    assert shown.returncode == 0, shown.stderr
    assert re.search(rf"waiting +{re.escape(NO_RUNNER)}", shown.stdout), shown.stdout
    as_json = json.loads(run_cli("task", "show", task.id, "--json", data_dir=home.root).stdout)
    assert as_json["checks_waiting"] == NO_RUNNER
    with engine_validates(home):  # as an engine (run, serve, the screen) holds it
        assert checks_have_a_runner(home)
        shown = run_cli("task", "show", task.id, data_dir=home.root)
        assert "waiting" not in shown.stdout and NO_RUNNER not in shown.stdout
        as_json = json.loads(run_cli("task", "show", task.id, "--json", data_dir=home.root).stdout)
        assert "checks_waiting" not in as_json


class _Counting:
    def __init__(self) -> None:
        self.steps = 0

    async def step(self) -> None:
        self.steps += 1


async def test_one_mcp_stands_in_and_only_while_no_engine_validates(tmp_path: Path) -> None:
    home = Home(tmp_path)
    first, second = _Counting(), _Counting()
    one, two = StandIn(home, first), StandIn(home, second)  # type: ignore[arg-type]
    try:
        await one.step()
        await two.step()
        assert (first.steps, second.steps) == (1, 0), "one mcp process at a time"
        with engine_validates(home):
            await one.step()
            assert first.steps == 1, "an engine validates: the mcp stands back"
        await one.step()
        assert first.steps == 2
        one.close()
        await two.step()
        assert second.steps == 1, "the next mcp takes over when the first goes"
    finally:
        one.close()
        two.close()
