"""The screen's delivery keys under Textual's Pilot, with a real world inside: `d` shows the
selected task's diff, `m` asks, then merges its branch into the base branch (checked on git)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widgets import Static

from control_room.config import Home
from control_room.domain import Task
from control_room.engine import Coordinator, init_home, open_coordinator
from control_room.tui import dialogs
from control_room.tui.app import ControlRoomApp
from control_room.tui.delivery import DiffView
from tests.delivery_repo import git, make_project, no_git_identity, task_with_branch
from tests.test_tui import screen, select_task, until


async def test_the_diff_key_shows_the_branch_and_the_merge_key_merges_after_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    home = Home(tmp_path / "data")
    await init_home(home)
    async with open_coordinator(home) as coordinator:
        task, _ = await task_with_branch(
            coordinator, home, project, {"greeting.txt": "hello from the agent\n"}
        )
    start = git(project, "rev-parse", "main")
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        await select_task(app, pilot, task.id)
        await pilot.press("d")
        view = await until(pilot, lambda: _screen_of(app, DiffView))
        text = "\n".join(str(s.render()) for s in view.query(Static))
        assert "+hello from the agent" in text and f"control-room/{task.id}" in text
        await pilot.press("escape")
        await until(pilot, lambda: _not_screen_of(app, DiffView))

        await pilot.press("m")
        await until(pilot, lambda: _screen_of(app, dialogs.Confirm))
        await pilot.press("n")  # no: nothing is merged
        await until(pilot, lambda: _not_screen_of(app, dialogs.Confirm))
        assert git(project, "rev-parse", "main") == start
        assert (await c.task(task.id)).merged_commit is None

        await pilot.press("m")
        await until(pilot, lambda: _screen_of(app, dialogs.Confirm))
        await pilot.press("y")
        done = await until(pilot, lambda: _merged(c, task.id))
    assert done.merged_commit == git(project, "rev-parse", "main")
    assert (project / "greeting.txt").read_text() == "hello from the agent\n"


async def _screen_of(app: ControlRoomApp, kind: type[Screen[Any]]) -> Screen[Any] | None:
    return app.screen if isinstance(app.screen, kind) else None


async def _not_screen_of(app: ControlRoomApp, kind: type[Screen[Any]]) -> bool:
    return not isinstance(app.screen, kind)


async def _merged(c: Coordinator, task_id: str) -> Task | None:
    task = await c.task(task_id)
    return task if task.merged_commit else None
