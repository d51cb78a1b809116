"""How an agent process is started, watched and stopped. The `command` runtime runs any argv
template (a script, `codex exec --json`, Aider): never a shell line, the prompt on stdin or in a
file, the agent's identity in the environment (the token never in argv), output in the report.
The `claude-code` runtime is the command runtime around `claude -p`, with a generated MCP config.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from control_room.domain import Conflict, InvalidInput
from control_room.domain.permissions import ClaudeSettings
from control_room.domain.routing import AgentType
from control_room.engine import processes
from control_room.engine.stream_input import StreamInput
from control_room.private import user_umask

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Launch:
    """Everything one attempt needs: who, on what, where, and for how long."""

    task_id: str
    agent_id: str
    token: str
    server_url: str
    prompt: str
    run_dir: Path  # runs/<task>/<attempt>/: prompt.md and report.log
    workdir: Path
    wall_clock_seconds: float
    budget_usd: float | None = None
    planning: bool = False  # a planning task: the anthropic runtime also offers PLAN_TOOL

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` without any CONTROL_ROOM_* of ours (the data directory stays unnamed), plus
        the agent's identity."""
        inherited = {k: v for k, v in base.items() if not k.startswith("CONTROL_ROOM_")}
        return inherited | {
            "CONTROL_ROOM_URL": self.server_url,
            "CONTROL_ROOM_TOKEN": self.token,
            "CONTROL_ROOM_AGENT_ID": self.agent_id,
            "CONTROL_ROOM_TASK_ID": self.task_id,
        }


class Handle(Protocol):
    """A started attempt, whatever runs it: wait for its end, or stop it."""

    @property
    def pid(self) -> int | None: ...  # None for agents that run inside this process

    @property
    def identity(self) -> str | None: ...  # tells the process from a later one with its pid

    async def wait(self) -> int: ...  # the exit code (0: ended by itself without error)

    async def stop(self, grace_seconds: float = 5.0) -> None: ...


class Runtime(Protocol):
    async def start(self, launch: Launch) -> Handle: ...


class Running:
    """A started agent process (a session leader, so its children stop with it)."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        launch: Launch,
        stdin: str | None = None,
        conversation: bool = False,
    ) -> None:
        self.process = process
        self.launch = launch
        self.timed_out = False
        self._identity = processes.identity(process.pid)  # before anything can reap it
        # Fed in the background: an agent that reads its prompt late (or never) must not hold
        # up whoever started it. In a conversation (Claude Code's stream-json input) stdin stays
        # open for the operator's messages until the agent's result.
        self.input: StreamInput | None = None
        self._feeding: asyncio.Task[None] | None = None
        if conversation:
            self.input = StreamInput(process, launch.run_dir / "report.log", stdin or "")
        elif stdin is not None:
            self._feeding = asyncio.create_task(self._feed(stdin))

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def identity(self) -> str | None:
        return self._identity

    async def _feed(self, text: str) -> None:
        pipe = self.process.stdin
        assert pipe is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            pipe.write(text.encode())
            await pipe.drain()
        pipe.close()

    async def wait(self) -> int:
        """The exit code; past the wall-clock limit the process is stopped first."""
        try:
            async with asyncio.timeout(self.launch.wall_clock_seconds):
                return await self.process.wait()
        except TimeoutError:
            self.timed_out = True
            await self.stop()
            return await self.process.wait()
        finally:
            if self.input is not None:
                self.input.stop()

    async def say(self, text: str) -> None:
        """One more user message to the agent; Conflict when it takes none (any more)."""
        if self.input is None:
            raise Conflict("this agent's runtime cannot take messages")
        await self.input.say(text)

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """SIGTERM to the whole process group, SIGKILL to what is left of it after the grace
        (children included, also once the agent itself has exited)."""
        if self._feeding is not None:
            self._feeding.cancel()
        if self.input is not None:
            self.input.stop()
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)
            try:
                async with asyncio.timeout(grace_seconds):
                    await self.process.wait()
                break
            except TimeoutError:
                continue
        # The agent is gone and reaped: what is left in its group are its children.
        if processes.group_alive(self.process.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


def fill(part: str, values: Mapping[str, str]) -> str:
    """Replace the known {placeholders} in one argv element; other braces stay as they are."""
    for name, value in values.items():
        part = part.replace("{" + name + "}", value)
    return part


class CommandRuntime:
    """`argv` elements may hold {prompt_file}, {task_id}, {workdir}, {run_dir}; each element is
    filled in on its own, so task text can never become extra arguments or shell syntax."""

    def __init__(
        self, argv: Sequence[str], prompt_via: Literal["stdin", "file", "stream-json"] = "stdin"
    ) -> None:
        if not argv:
            raise InvalidInput("argv", "the command runtime needs a command")
        self.argv = tuple(argv)
        self.prompt_via = prompt_via

    async def start(self, launch: Launch) -> Running:
        launch.run_dir.mkdir(parents=True, exist_ok=True)
        prompt_file = launch.run_dir / "prompt.md"
        prompt_file.write_text(launch.prompt, encoding="utf-8")
        values = {
            "prompt_file": str(prompt_file),
            "task_id": launch.task_id,
            "workdir": str(launch.workdir),
            "run_dir": str(launch.run_dir),
        }
        argv = [fill(part, values) for part in self.argv]
        report = (launch.run_dir / "report.log").open("ab")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=launch.workdir,
                env=launch.environment(os.environ),
                stdin=asyncio.subprocess.DEVNULL
                if self.prompt_via == "file"
                else asyncio.subprocess.PIPE,
                stdout=report,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                **user_umask(),  # the project's files keep the user's modes
            )
        finally:
            report.close()  # the child has its own copy
        if self.prompt_via == "stream-json":  # a conversation: messages may follow the prompt
            return Running(process, launch, launch.prompt, conversation=True)
        return Running(process, launch, launch.prompt if self.prompt_via == "stdin" else None)


MCP_SERVER = "control-room"
AGENT_TOOLS = ("claimTask", "updateProgress", "completeTask", "releaseTask", "reportBlocked")
PLAN_TOOL = "proposeTasks"  # a planner's proposal (server/plan_tool.py)
PERMISSION_TOOL = "requestPermission"  # the MCP tool Claude Code's permission prompts go to
# Every Control Room tool, those added later included: Claude Code matches a rule naming a
# server (mcp__<server>) against all of that server's tools (checked against the binary).
SERVER_RULE = f"mcp__{MCP_SERVER}"


def claude_settings(kind: AgentType, defaults: ClaudeSettings) -> ClaudeSettings:
    """The agent type's own claude-code settings, each falling back to the [agents] default."""

    def pick(own: T | None, default: T) -> T:
        return default if own is None else own

    return ClaudeSettings(
        pick(kind.allowed_tools, defaults.allowed_tools),
        pick(kind.disallowed_tools, defaults.disallowed_tools),
        pick(kind.permission_mode, defaults.permission_mode),
        pick(kind.extra_args, defaults.extra_args),
    )


class ClaudeCodeRuntime:
    """`claude -p` reading the prompt (and the operator's later messages) as stream-json on
    stdin, reporting as stream-json, joined to this server
    through an MCP config file (mode 0600) that carries the agent's token in a header.

    Permissions: every Control Room tool is allowed, the permission mode (by default
    acceptEdits: file edits in its working directory) and the configured rules decide the rest,
    and whatever would need a person goes to Control Room's `requestPermission` tool, which waits
    for the operator. The MCP tool-call limit is set above that wait."""

    def __init__(
        self,
        binary: str | Path = "claude",
        max_turns: int = 40,
        model: str | None = None,
        settings: ClaudeSettings | None = None,
        permission_timeout_seconds: float = 600.0,
    ) -> None:
        self.binary = str(binary)
        self.max_turns = max_turns
        self.model = model
        self.settings = settings or ClaudeSettings()
        self.permission_timeout_seconds = permission_timeout_seconds

    def arguments(self, mcp_config: Path) -> list[str]:
        s = self.settings
        allowed = ",".join((SERVER_RULE, *s.allowed_tools))
        argv = [
            self.binary, "-p", "--input-format", "stream-json",
            "--output-format", "stream-json", "--verbose",
            "--mcp-config", str(mcp_config), "--allowedTools", allowed,
            "--permission-mode", s.permission_mode,
            "--permission-prompt-tool", f"mcp__{MCP_SERVER}__{PERMISSION_TOOL}",
            "--max-turns", str(self.max_turns),
        ]  # fmt: skip
        if s.disallowed_tools:
            argv += ["--disallowedTools", ",".join(s.disallowed_tools)]
        if self.model:
            argv += ["--model", self.model]
        return argv

    async def start(self, launch: Launch) -> Running:
        launch.run_dir.mkdir(parents=True, exist_ok=True)
        config = launch.run_dir / "mcp.json"
        server = {
            "type": "http",
            "url": f"{launch.server_url}/mcp",
            "headers": {"Authorization": f"Bearer {launch.token}"},
            # per tool call, in ms: longer than a permission request may wait
            "timeout": int((self.permission_timeout_seconds + 60) * 1000),
        }
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"mcpServers": {MCP_SERVER: server}}, handle)
        argv = self.arguments(config)
        if launch.budget_usd:
            argv += ["--max-budget-usd", f"{launch.budget_usd:g}"]
        argv += self.settings.extra_args
        return await CommandRuntime(argv, prompt_via="stream-json").start(launch)
