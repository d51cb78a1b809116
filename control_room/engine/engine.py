"""One Control Room engine: every loop of a process over one coordinator, put together here so
the headless runner, `serve` and the screen run exactly the same thing.

With a server URL for agents to call back, the engine spawns: assignment, supervisor,
reconciler and report watcher run beside the lease reaper, validation and notifier. Without
one (`serve`), agents come by themselves and only the housekeeping loops run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

from control_room.config import Home, Settings
from control_room.domain import Event
from control_room.domain.routing import AgentType
from control_room.engine import validators
from control_room.engine.anthropic_runtime import AnthropicRuntime
from control_room.engine.assignment import Assigner
from control_room.engine.changes import RegistryWatcher
from control_room.engine.delivery import Delivery
from control_room.engine.loops import Loop
from control_room.engine.notify import Notifier
from control_room.engine.reconciler import Reconciler
from control_room.engine.runtimes import (
    ClaudeCodeRuntime,
    CommandRuntime,
    Runtime,
    claude_settings,
)
from control_room.engine.service import Coordinator
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
        # Notices come from this process's commits at once, and from other processes' (the CLI,
        # `control-room mcp`) when the notifier runs after the registry file changed.
        self._checked: int | None = None
        self._seen: set[int] = set()
        if settings.notify_urls:
            coordinator.registry.listeners.append(self._notice)
            notify = self.notifier.step
            self.notifier.loop.step = lambda: self._catch_up(notify)
        reaper = Loop("lease-reaper", REAPER_SECONDS, coordinator.expire_leases)
        self.supervisor: Supervisor | None = None
        self.assigner: Assigner | None = None
        self.reconciler: Reconciler | None = None
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
            self.reconciler = Reconciler(coordinator, self.supervisor, self.workspaces)
            reports = Loop("report-watcher", REPORT_SECONDS, self.supervisor.read_reports)
            self.loops = [self.assigner.loop, self.reconciler.loop, reports, *self.loops]
        for loop in self.loops:
            loop.on_error = self._loop_failed
        coordinator.registry.listeners.append(self._on_events)
        # Writes by other processes (the CLI, `control-room mcp`, a sqlite3 shell) wake the
        # loops that react to them, within the watcher's debounce.
        self.watcher = RegistryWatcher(home.registry, self._registry_changed)

    def _poke(self, name: str) -> None:
        for loop in self.loops:
            if loop.name == name:
                loop.poke()

    def _on_events(self, events: Sequence[Event]) -> None:
        # A verdict may free a worktree its checks were using: the reconciler collects it.
        if any(e.kind in ("checks_passed", "checks_failed") for e in events):
            self._poke("reconciler")

    def _registry_changed(self) -> None:
        self.coordinator.registry_changed()
        self.coordinator.permissions.wake()  # an answer from another process (the CLI)
        if self.supervisor is not None:
            self.supervisor.steering.wake()  # a message to an agent, from the CLI
        if self.assigner is not None:
            self.assigner.registry_changed()
        self._poke("validation")
        self._poke("notifier")

    def _notice(self, events: Sequence[Event]) -> None:
        self._seen.update(e.id for e in events)
        self.notifier.on_events(events)

    async def _catch_up(self, then: Callable[[], Awaitable[None]]) -> None:
        """Hand the notifier the events other processes committed since the last look."""
        if self._checked is None:
            self._checked = await self.coordinator.registry.last_event_id()
        for event in await self.coordinator.events(after=self._checked, limit=10_000):
            if event.id not in self._seen:
                self.notifier.on_events([event])
            self._checked = event.id
        self._seen = {i for i in self._seen if i > self._checked}
        await then()

    async def _loop_failed(self, name: str, error: str) -> None:
        await self.coordinator.note("loop_failed", name, f"{name} loop failed: {error}")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Engine]:
        """Run every loop until the block ends; then stop spawning and settle the agents."""
        if self.reconciler is not None:
            # Before anything is routed: runs left by an earlier Control Room are adopted or
            # settled, so the agent limit counts them and their tasks are not held for nothing.
            with contextlib.suppress(Exception):
                await self.reconciler.step()
        self.coordinator.loops += self.loops
        jobs = [asyncio.create_task(loop.run(), name=loop.name) for loop in self.loops]
        jobs.append(asyncio.create_task(self.watcher.run(), name="registry-watcher"))
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
        for loop in self.loops:
            with contextlib.suppress(ValueError):
                self.coordinator.loops.remove(loop)
