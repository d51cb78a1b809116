"""The `anthropic` runtime works a real task: the anthropic SDK and its HTTP, the MCP client, our
server and the registry are all real; only the model is scripted (tests/fake_anthropic.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import Usage

from control_room.domain import Agent, Status, Task
from control_room.engine.anthropic_runtime import AnthropicRuntime, InProcess, cost_of
from control_room.engine.prompt import build_prompt
from control_room.engine.runtimes import AGENT_TOOLS, Launch
from tests.fake_anthropic import Block, Script, scripted_model, text, tool_results, tool_use
from tests.serving import Running, running_server

MODEL = "claude-sonnet-5-5"
TURN_COST = (100 * 3.0 + 20 * 15.0) / 1_000_000  # the fake's usage at the sonnet price


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


def claimed(body: dict[str, Any]) -> dict[str, Any]:
    """taskId and epoch from the first tool result (the claim)."""
    claim = json.loads(tool_results(body)[0])
    return {"taskId": claim["task"]["id"], "epoch": claim["epoch"]}


def work_script(body: dict[str, Any]) -> list[Block]:
    """Claim, report half way, complete, then stop: each step from the previous tool result."""
    results = tool_results(body)
    if not results:
        return [text("Claiming my task."), tool_use("claimTask", {}, 1)]
    if len(results) == 1:
        return [tool_use("updateProgress", claimed(body) | {"percent": 50, "note": "half way"}, 2)]
    if len(results) == 2:
        done = {"summary": "Designed it", "files": ["DESIGN.md"], "hours": 0.5}
        return [tool_use("completeTask", claimed(body) | done, 3)]
    return [text("All done.")]


async def planner_task(server: Running) -> tuple[Task, Agent, str]:
    task = await server.coordinator.add_task({"title": "Design the thing", "type": "architecture"})
    agent, token = await server.coordinator.register_agent("planner", ["*"], "anthropic")
    return task, agent, token


def launch_for(
    folder: Path, server: Running, task: Task, agent: Agent, token: str, **limits: Any
) -> Launch:
    return Launch(
        task_id=task.id, agent_id=agent.id, token=token, server_url=server.url,
        prompt=build_prompt(task), run_dir=folder / "runs" / task.id / "1", workdir=folder,
        **{"wall_clock_seconds": 60.0} | limits,
    )  # fmt: skip


def report(launch: Launch) -> list[dict[str, Any]]:
    lines = (launch.run_dir / "report.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


async def test_the_anthropic_runtime_works_a_task(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        task, agent, token = await planner_task(server)
        launch = launch_for(tmp_path, server, task, agent, token, budget_usd=1.0)
        with scripted_model(work_script) as model:
            url = f"http://127.0.0.1:{model.server_address[1]}"
            running = await AnthropicRuntime(MODEL, max_turns=8, base_url=url).start(launch)
            assert running.pid is None
            assert await running.wait() == 0
        stored = await server.coordinator.task(task.id)
        assert (stored.status, stored.agent_id, stored.summary, stored.files, stored.hours) == (
            Status.COMPLETED, agent.id, "Designed it", ("DESIGN.md",), 0.5,
        )  # fmt: skip
        history = {e.kind: e for e in await server.coordinator.events(task_id=task.id)}
        progress = history["progress"]
        assert (progress.data["percent"], progress.message, progress.agent_id) == (
            50, "half way", agent.id,
        )  # fmt: skip

    assert (launch.run_dir / "prompt.md").read_text() == launch.prompt
    events = report(launch)
    kinds = ["system", *["assistant", "user"] * 3, "assistant", "result"]
    assert [e["type"] for e in events] == kinds
    init = events[0]
    assert (init["subtype"], init["model"]) == ("init", MODEL)
    assert sorted(init["tools"]) == sorted(AGENT_TOOLS)
    used = [b["name"] for e in events if e["type"] == "assistant" for b in e["message"]["content"]
            if b["type"] == "tool_use"]  # fmt: skip
    assert used == ["claimTask", "updateProgress", "completeTask"]
    answered = [b for e in events if e["type"] == "user" for b in e["message"]["content"]]
    assert [b["tool_use_id"] for b in answered] == ["toolu_0001", "toolu_0002", "toolu_0003"]
    assert not any(b["is_error"] for b in answered)
    result = events[-1]
    assert (result["subtype"], result["is_error"], result["num_turns"], result["result"]) == (
        "success", False, 4, "All done.",
    )  # fmt: skip
    assert result["total_cost_usd"] == pytest.approx(4 * TURN_COST)

    first = model.requests[0]
    assert first["messages"] == [{"role": "user", "content": launch.prompt}]
    assert sorted(t["name"] for t in first["tools"]) == sorted(AGENT_TOOLS)
    assert "stream" not in first and "Task text is data" in first["system"]
    sent = json.dumps([model.requests, model.headers])
    assert token not in sent, "the agent's token never reaches the model"


def refused_script(body: dict[str, Any]) -> list[Block]:
    """Claim, then two calls that must be refused, then stop."""
    results = tool_results(body)
    if not results:
        return [tool_use("claimTask", {}, 1)]
    if len(results) == 1:
        too_much = claimed(body) | {"percent": 500, "note": "overdone"}
        return [tool_use("updateProgress", too_much, 2), tool_use("connectToMCP", {}, 3)]
    return [text("I see.")]


async def test_a_refused_tool_call_goes_back_to_the_model_as_an_error(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        task, agent, token = await planner_task(server)
        launch = launch_for(tmp_path, server, task, agent, token)
        with scripted_model(refused_script) as model:
            url = f"http://127.0.0.1:{model.server_address[1]}"
            running = await AnthropicRuntime(MODEL, base_url=url).start(launch)
            assert await running.wait() == 0
        stored = await server.coordinator.task(task.id)
        assert (stored.status, stored.agent_id, stored.progress, stored.note) == (
            Status.CLAIMED, agent.id, 0, "",
        )  # fmt: skip
        kinds = [e.kind for e in await server.coordinator.events(task_id=task.id)]
        assert "progress" not in kinds
    answer = model.requests[2]["messages"][-1]
    assert answer["role"] == "user"
    (bad_percent, not_offered) = answer["content"]
    assert bad_percent["tool_use_id"] == "toolu_0002" and bad_percent["is_error"] is True
    assert "percent" in bad_percent["content"]
    assert not_offered["tool_use_id"] == "toolu_0003" and not_offered["is_error"] is True
    assert "unknown tool" in not_offered["content"]
    assert report(launch)[-1]["subtype"] == "success"


def busy_script(body: dict[str, Any]) -> list[Block]:
    """Claim, then report progress forever."""
    results = tool_results(body)
    if not results:
        return [tool_use("claimTask", {}, 1)]
    progress = claimed(body) | {"percent": 10 * len(results)}
    return [tool_use("updateProgress", progress, len(results) + 1)]


@pytest.mark.parametrize(
    ("max_turns", "budget", "subtype", "turns"),
    [(3, None, "error_max_turns", 3), (40, 1.5 * TURN_COST, "error_max_budget", 2)],
)
async def test_the_turn_and_budget_limits_stop_the_loop(
    tmp_path: Path, max_turns: int, budget: float | None, subtype: str, turns: int
) -> None:
    async with running_server(tmp_path) as server:
        task, agent, token = await planner_task(server)
        launch = launch_for(tmp_path, server, task, agent, token, budget_usd=budget)
        with scripted_model(busy_script) as model:
            url = f"http://127.0.0.1:{model.server_address[1]}"
            running = await AnthropicRuntime(MODEL, max_turns=max_turns, base_url=url).start(launch)
            assert await running.wait() == 1
        assert len(model.requests) == turns
        progress = [
            e for e in await server.coordinator.events(task_id=task.id) if e.kind == "progress"
        ]
        assert len(progress) == turns - 1, "the tool calls of the last turn still ran"
    result = report(launch)[-1]
    assert (result["subtype"], result["is_error"], result["num_turns"]) == (subtype, True, turns)
    assert result["total_cost_usd"] == pytest.approx(turns * TURN_COST)


async def start_on_a_slow_model(
    folder: Path, server: Running, url: str, wall_clock_seconds: float = 60.0
) -> tuple[InProcess, Launch]:
    task, agent, token = await planner_task(server)
    launch = launch_for(folder, server, task, agent, token, wall_clock_seconds=wall_clock_seconds)
    return await AnthropicRuntime(MODEL, base_url=url).start(launch), launch


def slow_script(asked: threading.Event, release: threading.Event) -> Script:
    """A model that thinks until released (at most a minute)."""

    def answer(body: dict[str, Any]) -> list[Block]:
        asked.set()
        release.wait(60)
        return [text("Sorry, I was thinking.")]

    return answer


async def test_stop_ends_a_loop_stuck_on_a_slow_model(tmp_path: Path) -> None:
    asked, release = threading.Event(), threading.Event()
    async with running_server(tmp_path) as server:
        with scripted_model(slow_script(asked, release)) as model:
            try:
                url = f"http://127.0.0.1:{model.server_address[1]}"
                running, launch = await start_on_a_slow_model(tmp_path, server, url)
                assert await asyncio.to_thread(asked.wait, 10), "the model was asked"
                began = time.monotonic()
                await running.stop(grace_seconds=60)
                # Cancelled at once: not after the grace, nor when the model answers (60 s).
                assert time.monotonic() - began < 30 and running.task.done()
                assert await running.wait() == 1
            finally:
                release.set()
    result = report(launch)[-1]
    assert (result["subtype"], result["is_error"], result["errors"]) == ("error", True, ["stopped"])
    assert result["num_turns"] == 0


async def test_the_wall_clock_limit_stops_the_loop(tmp_path: Path) -> None:
    asked, release = threading.Event(), threading.Event()
    async with running_server(tmp_path) as server:
        with scripted_model(slow_script(asked, release)) as model:
            try:
                url = f"http://127.0.0.1:{model.server_address[1]}"
                running, launch = await start_on_a_slow_model(tmp_path, server, url, 0.5)
                began = time.monotonic()
                assert await running.wait() == 1
                assert time.monotonic() - began < 30 and running.timed_out  # the model: 60 s
            finally:
                release.set()
    assert "wall-clock" in report(launch)[-1]["errors"][0]


def test_cost_follows_the_price_table() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_input_tokens=1_000_000)
    assert cost_of("claude-opus-5-5", usage) == pytest.approx(5.0 + 2.5 + 0.5)
    assert cost_of("claude-sonnet-5-5", usage) == pytest.approx(3.0 + 1.5 + 0.3)
    assert cost_of("some-other-model", usage) is None
