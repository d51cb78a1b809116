"""One Control Room engine: every loop of a process over one coordinator, put together here so
the headless runner, `serve` and the screen run exactly the same thing.

With a server URL for agents to call back, the engine spawns: assignment, supervisor,
reconciler and report watcher run beside the lease reaper, validation and notifier. Without
one (`serve`), agents come by themselves and only the housekeeping loops run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from control_room.config import Home, Settings
from control_room.domain import ControlRoomError, Event
from control_room.domain.routing import AgentType
from control_room.engine import validators
from control_room.engine.anthropic_runtime import AnthropicRuntime
from control_room.engine.assignment import Assigner
from control_room.engine.delivery import Delivery
from control_room.engine.loops import Loop
from control_room.engine.notify import Notifier
from control_room.engine.peers import Peers
from control_room.engine.reconciler import Reconciler
from control_room.engine.runtimes import (
    ClaudeCodeRuntime,
    CommandRuntime,
    Runtime,
    claude_settings,
)
from control_room.engine.service import Coordinator
from control_room.engine.setup import register_operator
from control_room.engine.start_failures import StartFailures
from control_room.engine.supervisor import RuntimeFactory, Supervisor
from control_room.engine.validation import ValidationRunner
from control_room.engine.workspaces import Workspaces
from control_room.engine.worktrees import Worktrees

REAPER_SECONDS = 1.0
REPORT_SECONDS = 1.0


def runtime_factory(settings: Settings) -> RuntimeFactory:
    def runtime_for(kind: AgentType) -> Runtime:
        turns = kind.max_turns or settings.max_turns
        if kind.runtime == "command":
            return CommandRuntime(kind.command, "file" if kind.prompt_via == "file" else "stdin")
        if kind.runtime == "anthropic":
            return AnthropicRuntime(kind.model or settings.anthropic_model, turns)
        claude = claude_settings(kind, settings.claude)
        return ClaudeCodeRuntime(
            settings.claude_binary, turns, kind.model, claude, settings.permission_timeout_seconds
        )

    return runtime_for


class Engine:
    def __init__(
        self,
        coordinator: Coordinator,
        home: Home,
        settings: Settings,
        *,
        project: Path,
        agents_url: str | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.home = home
        self.settings = settings
        spawning = agents_url is not None
        worktrees = Worktrees(project, home.worktrees) if settings.worktrees and spawning else None
        self.delivery = Delivery.from_settings(coordinator, settings, project, home.worktrees)
        self.workspaces = Workspaces(
            coordinator, project, worktrees, settings.worktree_cleanup, self.delivery
        )
        self.validation = ValidationRunner(
            coordinator, self.workspaces.handed_in, settings.check_timeout_seconds,
            on_passed=self.delivery.merge_on_checks, after_checks=self.workspaces.checked,
        )  # fmt: skip
        self.notifier = Notifier(settings.notify_urls)
        # Notices come from every process's commits (the CLI, `control-room mcp`), each once.
        feed = coordinator.feed
        self.watches = [feed.watch(self.notifier.on_events)] if settings.notify_urls else []
        reaper = Loop("lease-reaper", REAPER_SECONDS, coordinator.expire_leases)
        self.supervisor: Supervisor | None = None
        self.assigner: Assigner | None = None
        self.reconciler: Reconciler | None = None
        self.peers: Peers | None = None
        self.loops = [reaper, self.validation.loop, self.notifier.loop]
        if agents_url is not None:
            self.supervisor = Supervisor(
                coordinator,
                runs_root=home.runs,
                server_url=agents_url,
                rules=settings.routing,
                runtime_for=runtime_factory(settings),
                workspaces=self.workspaces,
                wall_clock_seconds=settings.wall_clock_seconds,
                on_exit=lambda run: self._poke("assignment"),
                start_failures=StartFailures(
                    settings.start_backoff_seconds, settings.max_start_failures
                ),
                wake=lambda: self._poke("assignment"),
                stall_seconds=settings.stall_seconds,
                max_repeats=settings.max_repeats,
            )
            self.assigner = Assigner(coordinator, self.supervisor, settings.routing)
            self.peers = Peers(
                coordinator, home.root, agents_url, gone_seconds=settings.gone_seconds,
                host=settings.engine_host, on_others_gone=lambda: self._poke("reconciler"),
                on_lost=self._lost,
            )  # fmt: skip
            self.reconciler = Reconciler(
                coordinator, self.supervisor, self.workspaces, peers=self.peers
            )
            reports = Loop("report-watcher", REPORT_SECONDS, self.supervisor.read_reports)
            self.loops = [self.assigner.loop, self.reconciler.loop, reports, *self.loops]
            self.loops.append(self.peers.loop)
            self.validation.mine = self.peers.validates
        else:  # `serve` checks hand-ins only while no engine runs on the registry
            watching = Peers(
                coordinator, home.root, "", gone_seconds=settings.gone_seconds,
                host=settings.engine_host,
            )  # fmt: skip
            self.validation.mine = watching.validates
        for loop in self.loops:
            loop.on_error = self._loop_failed
        self.watches.append(feed.watch(self._on_events))
        for part in (self.validation, self.assigner, self.supervisor):
            if part is not None:
                self.watches.append(part.watch)
        if self.supervisor is not None:
            self.watches.append(self.supervisor.steering.watch)

    def _poke(self, name: str) -> None:
        for loop in self.loops:
            if loop.name == name:
                loop.poke()

    def _on_events(self, events: Sequence[Event]) -> None:
        # A verdict may free a worktree its checks were using: the reconciler collects it.
        if any(e.kind in ("checks_passed", "checks_failed") for e in events):
            self._poke("reconciler")

    async def _lost(self) -> None:
        """Another engine found this one gone and settled its runs: their agents stop."""
        if self.supervisor is not None:
            outcome = "was stopped: its Control Room had been found gone by another"
            for agent_id in list(self.supervisor.attempts):
                await self.supervisor.stop(agent_id, outcome)

    async def _loop_failed(self, name: str, error: str) -> None:
        await self.coordinator.note("loop_failed", name, f"{name} loop failed: {error}")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Engine]:
        """Run every loop until the block ends; then stop spawning and settle the agents."""
        with contextlib.suppress(OSError, ControlRoomError):  # a test world may have none
            await register_operator(self.coordinator.registry, self.home, self.settings)
        if self.peers is not None:  # in the registry before its first run is started
            await self.peers.register()
        if self.reconciler is not None:
            # Before anything is routed: runs left by an earlier Control Room are adopted or
            # settled, so the agent limit counts them and their tasks are not held for nothing.
            with contextlib.suppress(Exception):
                await self.reconciler.step()
        self.coordinator.loops += self.loops
        jobs = [asyncio.create_task(loop.run(), name=loop.name) for loop in self.loops]
        # Writes by other processes (the CLI, `control-room mcp`, a sqlite3 shell) reach the
        # feed's watchers too: the registry follows them from now on.
        self.coordinator.feed.watch_outside()
        try:
            with validators.engine_validates(self.home):  # `control-room mcp` stands back
                yield self
        finally:
            await self._stop(jobs)

    async def _stop(self, jobs: list[asyncio.Task[None]]) -> None:
        if self.supervisor is not None:
            self.supervisor.accepting = False
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        if self.assigner is not None:
            await self.assigner.stop()
        if self.supervisor is not None:
            if self.settings.on_shutdown == "leave":
                await self.supervisor.leave_all()
            else:
                await self.supervisor.stop_all()
        await self.validation.stop()
        if self.peers is not None and self.settings.on_shutdown != "leave":
            with contextlib.suppress(Exception):  # else the others find it gone
                await self.peers.stopped()
        for loop in self.loops:
            with contextlib.suppress(ValueError):
                self.coordinator.loops.remove(loop)
        for watch in self.watches:  # this engine's parts stop following the feed
            watch.close()

    def running_agents(self) -> int:
        """How many agents this engine runs now."""
        return len(self.supervisor.attempts) if self.supervisor is not None else 0

    async def stop_agent(self, agent_id: str, why: str) -> bool:
        """Stop an agent this engine runs (its task goes back to the queue); False when it
        runs no such agent."""
        if self.supervisor is None or agent_id not in self.supervisor.attempts:
            return False
        await self.supervisor.stop(agent_id, why)
        return True
