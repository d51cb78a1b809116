"""An `anthropic` agent type (the built-in planner) on a machine with no Anthropic credentials
cannot start: a start failure saying so, no attempt counted. Before, each attempt "ran" for
0.1 s and exited 1 before claiming, so `control-room plan` without ANTHROPIC_API_KEY left a
FAILED planning task within a second, the reason only in a report file (a newcomer's trial)."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_room.domain.routing import AgentType
from tests.engine_world import engine_world, settings_with, wait_for


async def test_no_credentials_is_a_start_failure_that_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no credentials file of the user's
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    planner = AgentType("api-planner", "anthropic", ())
    settings = settings_with(planner, start_backoff_seconds=30.0, max_start_failures=5)
    async with engine_world(tmp_path, settings) as world:
        c = world.coordinator
        task = await c.add_task({"title": "Needs the Messages API", "priority": "P0"})

        async def start_failed() -> bool:
            return any(e.kind == "start_failed" for e in await c.events(task_id=task.id))

        await wait_for(start_failed, within=30, what="start_failed")
        (failed,) = [e for e in await c.events(task_id=task.id) if e.kind == "start_failed"]
        assert "ANTHROPIC_API_KEY" in failed.message, failed.message
        now = await c.task(task.id)
        assert (now.status.value, now.attempts) == ("AVAILABLE", 0), "no attempt was counted"
        assert await c.runs() == []
