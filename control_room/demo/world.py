"""Building the demo world in a temporary folder, and running it headless to the end."""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from control_room.config import Home, load_settings
from control_room.domain import Status
from control_room.domain.status import FINAL
from control_room.engine import init_home, open_coordinator
from control_room.engine.engine import Engine

APPROVE_AFTER_SECONDS = 1.5  # the headless demo plays the operator, after a visible pause
DEADLINE_SECONDS = 300.0


def _agent(name: str, via: str, capabilities: list[str]) -> str:
    command = [sys.executable, "-m", "control_room.demo.agent", "--via", via]
    # JSON strings and lists are valid TOML, whatever the path of the Python executable.
    return (
        f'[[agent_types]]\nname = "{name}"\nruntime = "command"\n'
        f"capabilities = {json.dumps(capabilities)}\ncommand = {json.dumps(command)}\n"
    )


def config() -> str:
    return (
        "# The demo world: scripted local agents on the command runtime.\n"
        '[routing]\nmax_running = 3\ndefault_agent = "demo-builder"\n\n'
        "[agents]\nwall_clock_seconds = 120\n\n"
        "[worktrees]\nenabled = false\n\n"
        + _agent("demo-architect", "mcp", ["architecture"])
        + "\n"
        + _agent("demo-builder", "rest", [])
    )


def tasks() -> list[dict[str, Any]]:
    check = f"{shlex.quote(sys.executable)} -m control_room.demo.check notes/DEMO-TESTS.md 2"
    return [
        {"id": "DEMO-HOTFIX", "title": "Fix the crash on login", "priority": "P0",
         "capabilities": ["backend"], "description": "Users on the beta cannot log in."},
        {"id": "DEMO-PLUGINS", "title": "Design the plugin API", "priority": "P1",
         "type": "architecture", "capabilities": ["architecture"],
         "criteria": ["A short design note with the extension points"]},
        {"id": "DEMO-SCHEMA", "title": "Add the settings table", "priority": "P1"},
        {"id": "DEMO-API", "title": "Expose settings over the API", "priority": "P1",
         "depends_on": ["DEMO-SCHEMA"]},
        {"id": "DEMO-UI", "title": "Show settings in the UI", "priority": "P1",
         "depends_on": ["DEMO-API"], "capabilities": ["frontend"]},
        {"id": "DEMO-TESTS", "title": "Make the flaky test suite pass", "priority": "P1",
         "type": "testing", "checks": [check],
         "criteria": ["The check passes (it needs a second attempt)"]},
    ]  # fmt: skip


async def create_world(root: Path | None = None) -> tuple[Home, Path]:
    """A data directory and a project folder with the sample tasks; returns (home, project)."""
    root = root or Path(tempfile.mkdtemp(prefix="control-room-demo-"))
    home, project = Home(root / "data"), root / "project"
    project.mkdir(parents=True, exist_ok=True)
    await init_home(home)
    home.config.write_text(config(), encoding="utf-8")
    async with open_coordinator(home) as coordinator:
        await coordinator.add_tasks(tasks(), actor="demo")
    return home, project


class Operator:
    """The headless demo's stand-in for a person: approves what waits, and says when the world
    has nothing left to do."""

    def __init__(self, *, exit_when_idle: bool) -> None:
        self.exit_when_idle = exit_when_idle
        self.started = time.monotonic()
        self.timed_out = False

    async def idle(self, engine: Engine) -> bool:
        if self.exit_when_idle and time.monotonic() - self.started > DEADLINE_SECONDS:
            self.timed_out = True
            print("demo: stopping, it ran past its time limit", file=sys.stderr)
            return True
        coordinator = engine.coordinator
        pending = False
        for task in await coordinator.tasks():
            if task.status is Status.AWAITING_APPROVAL:
                if time.time() - task.updated_at >= APPROVE_AFTER_SECONDS:
                    await coordinator.approve(task.id, actor="demo-operator")
                pending = True
            elif task.status not in FINAL:
                pending = True
        running = engine.running_agents() > 0
        return self.exit_when_idle and not pending and not running


async def summary(home: Home, seconds: float) -> str:
    async with open_coordinator(home, load_settings(home.config)) as coordinator:
        tasks_now = await coordinator.tasks()
        runs = await coordinator.runs(limit=1000)
    lines = [f"Demo finished in {seconds:.1f} s: {len(runs)} agent runs."]
    for task in tasks_now:
        tries = [r for r in runs if r.task_id == task.id]
        lines.append(f"  {task.id:<13} {task.status:<17} {len(tries)} run(s)  {task.title}")
    done = sum(t.status is Status.COMPLETED for t in tasks_now)
    lines.append(f"{done} of {len(tasks_now)} tasks completed. Data: {home.root}")
    return "\n".join(lines)
