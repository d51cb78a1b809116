"""An engine that spawns real agent processes, over a real server on 127.0.0.1, for tests."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from control_room.config import Home, Settings
from control_room.domain import Run, Task
from control_room.domain.routing import AgentType, RoutingRules
from control_room.engine import Coordinator
from control_room.engine.engine import Engine
from control_room.engine.worktrees import slug
from tests.serving import Running, running_server

SPAWNED = Path(__file__).with_name("spawned.py")


def scripted(*modes: str, name: str = "scripted") -> AgentType:
    """An agent type running tests/spawned.py; `modes` per attempt (the last one repeats)."""
    command = (sys.executable, str(SPAWNED), ",".join(modes), "{run_dir}")
    return AgentType(name, "command", (), command)


def settings_with(kind: AgentType, **changes: Any) -> Settings:
    rules = RoutingRules(agent_types=(kind,), default_agent_type=kind)
    return replace(Settings(worktrees=False), routing=rules, **changes)


@dataclass
class World:
    server: Running
    engine: Engine
    project: Path

    @property
    def coordinator(self) -> Coordinator:
        return self.server.coordinator

    def run_dir(self, task_id: str, attempt: int) -> Path:
        return self.server.home.runs / slug(task_id) / str(attempt)


@asynccontextmanager
async def engine_world(
    folder: Path, settings: Settings, project: Path | None = None, home: Home | None = None
) -> AsyncIterator[World]:
    """`home`: an existing data directory (as another Control Room left it)."""
    async with running_server(folder, settings.lease_seconds, home) as server:
        project = project or folder / "project"
        project.mkdir(exist_ok=True)
        engine = Engine(
            server.coordinator, server.home, settings, project=project, agents_url=server.url
        )
        async with engine.running():
            yield World(server, engine, project)


async def wait_for(
    check: Callable[[], Awaitable[Any]], within: float = 30, what: str = "the condition"
) -> Any:
    """Poll `check` until it returns something truthy; that value."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.05)


async def status_is(coordinator: Coordinator, task_id: str, *statuses: str) -> Task | None:
    task = await coordinator.task(task_id)
    return task if task.status in statuses else None


async def ended(coordinator: Coordinator, agent_id: str) -> Run | None:
    run = await coordinator.registry.get_run(agent_id)
    return None if run.live else run
