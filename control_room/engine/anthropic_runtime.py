"""The `anthropic` runtime: an agent that runs inside this process instead of as a child. A loop
over the Anthropic Messages API whose only tools are this server's five agent tools, each call
made through a real MCP client session that carries the agent's token (the model never sees it).
The report is written in Claude Code's stream-json shape, so one renderer reads both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2
from anthropic import AsyncAnthropic, omit
from anthropic.types import MessageParam, ToolParam, ToolResultBlockParam, ToolUseBlock, Usage
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from control_room.domain import ControlRoomError
from control_room.engine.runtimes import AGENT_TOOLS, MCP_SERVER, PLAN_TOOL, Launch

# Dollars per million tokens (input, output). Cache writes cost 1.25x input, cache reads 0.1x.
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-5-5": (5.0, 25.0),
    "claude-sonnet-5-5": (3.0, 15.0),
    "claude-haiku-5-5": (1.0, 5.0),
}
NORMAL_ENDS = ("end_turn", "stop_sequence")


def cost_of(model: str, usage: Usage) -> float | None:
    """What one response cost, or None for a model without a price."""
    if model not in PRICES:
        return None
    per_input, per_output = PRICES[model]
    written = usage.cache_creation_input_tokens or 0
    read = usage.cache_read_input_tokens or 0
    tokens_in = usage.input_tokens + 1.25 * written + 0.1 * read
    return (tokens_in * per_input + usage.output_tokens * per_output) / 1_000_000


@dataclass
class Tally:
    turns: int = 0  # messages.create calls
    cost: float | None = 0.0
    text: str = ""  # the last thing the model said


class InProcess:
    """A started in-process agent: an asyncio task. Its exit code is 0 when the model ended its
    turn normally, 1 otherwise (error, turn or budget limit, wall clock, stop)."""

    def __init__(self, task: asyncio.Task[int], launch: Launch) -> None:
        self.task = task
        self.deadline = asyncio.get_running_loop().time() + launch.wall_clock_seconds
        self.timed_out = False

    @property
    def pid(self) -> int | None:
        return None

    @property
    def identity(self) -> str | None:
        return None

    async def wait(self) -> int:
        """The exit code; past the wall-clock limit (counted from start) the loop is stopped."""
        left = max(0.0, self.deadline - asyncio.get_running_loop().time())
        await asyncio.wait({self.task}, timeout=left)
        if not self.task.done():
            self.timed_out = True
            await self.stop(reason="stopped: wall-clock limit reached")
        if self.task.done() and not self.task.cancelled() and self.task.exception() is None:
            return self.task.result()
        return 1

    async def stop(self, grace_seconds: float = 5.0, reason: str = "stopped") -> None:
        """Cancel the loop and give it `grace_seconds` to close its connections."""
        self.task.cancel(reason)
        await asyncio.wait({self.task}, timeout=grace_seconds)


class AnthropicRuntime:
    """Messages API loop; `base_url` None means `ANTHROPIC_BASE_URL` or the SDK's default, and
    the key comes from `ANTHROPIC_API_KEY` as the SDK reads it."""

    def __init__(
        self,
        model: str = "claude-sonnet-5-5",
        max_turns: int = 40,
        base_url: str | None = None,
        max_tokens: int = 8000,
    ) -> None:
        self.model = model
        self.max_turns = max_turns
        self.base_url = base_url
        self.max_tokens = max_tokens

    async def start(self, launch: Launch) -> InProcess:
        await self.check_credentials()
        launch.run_dir.mkdir(parents=True, exist_ok=True)
        (launch.run_dir / "prompt.md").write_text(launch.prompt, encoding="utf-8")
        loop = asyncio.create_task(self.run(launch), name=f"anthropic agent {launch.task_id}")
        return InProcess(loop, launch)

    async def check_credentials(self) -> None:
        """Refuse to start (a start failure: no attempt counted) where the SDK finds no way to
        authenticate; each attempt would fail at its first request, burning the task's tries."""
        async with AsyncAnthropic(base_url=self.base_url) as client:
            if client.api_key or client.auth_token or client.credentials is not None:
                return
        raise ControlRoomError(
            "no Anthropic credentials: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) in the "
            "environment Control Room runs in"
        )

    async def run(self, launch: Launch) -> int:
        """The whole attempt, reported line by line in run_dir/report.log; the exit code."""
        with (launch.run_dir / "report.log").open("a", encoding="utf-8") as report:

            def write(event: dict[str, Any]) -> None:
                report.write(json.dumps(event) + "\n")
                report.flush()

            tally = Tally()
            try:
                subtype, error = await self.converse(launch, write, tally)
            except asyncio.CancelledError as stop:
                write(result_event("error", tally, str(stop.args[0]) if stop.args else "stopped"))
                raise
            except Exception as failure:
                while isinstance(failure, ExceptionGroup) and len(failure.exceptions) == 1:
                    failure = failure.exceptions[0]
                subtype, error = "error", f"{type(failure).__name__}: {failure}"
            write(result_event(subtype, tally, error))
            return 0 if subtype == "success" else 1

    async def converse(
        self, launch: Launch, write: Callable[[dict[str, Any]], None], tally: Tally
    ) -> tuple[str, str | None]:
        """Ask, run the tools asked for, answer, until the model ends or a limit is reached."""
        headers = {"Authorization": f"Bearer {launch.token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
            Client(streamable_http_client(f"{launch.server_url}/mcp", http_client=http)) as mcp,
            AsyncAnthropic(base_url=self.base_url) as model,
        ):
            tools: list[ToolParam] = [
                {"name": t.name, "description": t.description or "", "input_schema": t.input_schema}
                for t in (await mcp.list_tools()).tools
                if t.name in AGENT_TOOLS or (launch.planning and t.name == PLAN_TOOL)
            ]
            names = [tool["name"] for tool in tools]
            servers = [{"name": MCP_SERVER, "status": "connected"}]
            write({"type": "system", "subtype": "init", "model": self.model, "tools": names,
                   "mcp_servers": servers})  # fmt: skip
            messages: list[MessageParam] = [{"role": "user", "content": launch.prompt}]
            while True:
                if tally.turns >= self.max_turns:
                    return "error_max_turns", f"reached the limit of {self.max_turns} turns"
                if launch.budget_usd and tally.cost is not None and tally.cost > launch.budget_usd:
                    return "error_max_budget", f"spent more than ${launch.budget_usd:g}"
                response = await model.messages.create(
                    model=self.model, max_tokens=self.max_tokens, messages=messages, tools=tools,
                    system=mcp.instructions or omit,
                )  # fmt: skip
                tally.turns += 1
                spent = cost_of(self.model, response.usage)
                tally.cost = None if spent is None or tally.cost is None else tally.cost + spent
                answer = response.model_dump(mode="json", exclude_none=True)
                write({"type": "assistant", "message": answer})
                said = [block.text for block in response.content if block.type == "text"]
                tally.text = "\n".join(said) if said else tally.text
                if response.stop_reason != "tool_use":
                    if response.stop_reason in NORMAL_ENDS:
                        return "success", None
                    return "error", f"the model stopped: {response.stop_reason}"
                results = [
                    await call(mcp, block, names)
                    for block in response.content
                    if isinstance(block, ToolUseBlock)
                ]
                write({"type": "user", "message": {"role": "user", "content": results}})
                messages.append({"role": "assistant", "content": response.content})
                messages.append({"role": "user", "content": results})


async def call(mcp: Client, block: ToolUseBlock, offered: list[str]) -> ToolResultBlockParam:
    """One tool call through MCP; refusals and unknown tools come back as is_error results."""
    answer: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": block.id}
    if block.name not in offered:
        return answer | {"content": f"unknown tool {block.name!r}", "is_error": True}
    try:
        result = await mcp.call_tool(block.name, dict(block.input))
    except MCPError as refused:
        return answer | {"content": str(refused), "is_error": True}
    text = "".join(part.text for part in result.content if isinstance(part, TextContent))
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content)
    return answer | {"content": text, "is_error": result.is_error}


def result_event(subtype: str, tally: Tally, error: str | None) -> dict[str, Any]:
    event = {
        "type": "result", "subtype": subtype, "is_error": subtype != "success",
        "num_turns": tally.turns, "total_cost_usd": tally.cost, "result": tally.text,
    }  # fmt: skip
    return event | ({"errors": [error]} if error else {})
