"""The screen answers a real agent's permission request with one key, under Textual's Pilot:
the engine inside the screen spawns the real Claude Code CLI (scripted model), whose Bash call
waits; the task row and the inbox status line say so; `p` then `y` allows it."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

import pytest

from control_room.config import Home, load_settings
from control_room.domain import Status
from control_room.engine import init_home
from control_room.server.run import StopSignals
from control_room.tui import permissions
from control_room.tui.app import ControlRoomApp
from control_room.world import World, open_world
from tests.fake_anthropic import scripted_model, tool_results
from tests.real_claude import CHECK_COMMAND, agent_script, make_project
from tests.test_claude_code import CLAUDE
from tests.test_tui import SIZE, _exited, until


async def test_a_key_on_the_screen_allows_a_real_agents_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path)
    home = Home(tmp_path / "data")
    await init_home(home)
    settings = replace(load_settings(home.config), claude_binary=str(CLAUDE))
    signals = StopSignals()

    def opener() -> contextlib.AbstractAsyncContextManager[World]:
        return open_world(home, settings, "127.0.0.1", 0, spawn=True, signals=signals,
                          project=project, quiet=True)  # fmt: skip

    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")
    with scripted_model(agent_script()) as model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{model.server_address[1]}")
        app = ControlRoomApp(opener)
        async with app.run_test(size=SIZE) as pilot:

            async def ready() -> bool:
                return app.coordinator is not None

            await until(pilot, ready)
            assert app.coordinator is not None
            c = app.coordinator
            task = await c.add_task(
                {"title": "Greet the world", "priority": "P1", "checks": [CHECK_COMMAND]}
            )

            async def asking() -> bool:
                return bool(app.pending.requests)

            await until(pilot, asking, within=120)

            async def shown() -> bool:
                status = str(app.status.render())
                title = str(app.tasks.get_cell(task.id, "title"))
                return "inbox 1 (b)  permission 1 (p)" in status and title.startswith(
                    "waiting for permission · Greet the world"
                )

            await until(pilot, shown)
            await pilot.press("p")
            await until(pilot, lambda: _dialog_open(app))
            await pilot.press("y")

            async def completed() -> bool:
                return (await c.task(task.id)).status is Status.COMPLETED

            await until(pilot, completed, within=120)
            events = [e for e in await c.events(task_id=task.id) if e.kind.startswith("perm")]
            assert [(e.kind, e.actor) for e in events] == [
                ("permission_requested", events[0].agent_id),
                ("permission_allowed", "operator"),
            ]
            assert "check passed" in tool_results(model.requests[-1])[2]
            await until(pilot, lambda: _no_waiting(app))
            assert not str(app.tasks.get_cell(task.id, "title")).startswith("waiting")
            await app.action_quit()  # as a person quits: agents stopped, server closed
            await until(pilot, lambda: _exited(app), within=30)


async def _dialog_open(app: ControlRoomApp) -> bool:
    return isinstance(app.screen, permissions.PermissionRequests)


async def _no_waiting(app: ControlRoomApp) -> bool:
    return not app.pending.requests and "permission" not in str(app.status.render())
