"""A few snapshots of stable states: the panes with fixed tasks, the new-task form, the help.
Compared as SVG screenshots; UPDATE_SNAPSHOTS=1 rewrites them after a deliberate change."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from control_room.domain import Priority, Status, Task
from control_room.domain.permissions import InboxItem
from control_room.tui import dialogs, inbox, task_form
from control_room.tui.app import ControlRoomApp
from control_room.tui.panes import TaskTable
from control_room.tui.themes import load_themes

SNAPSHOTS = Path(__file__).with_name("snapshots")
TASKS = [
    Task("API-1", "Add /login", Status.IN_PROGRESS, Priority.P1, agent_id="A-1", progress=40,
         attempts=1, capabilities=("backend",)),
    Task("DES-1", "Design the plugin API", Status.AWAITING_APPROVAL, Priority.P1,
         type="architecture"),
    Task("UI-1", "Login form", Status.PENDING, Priority.P2, depends_on=("API-1",)),
    Task("OPS-1", "Rotate keys", Status.FAILED, Priority.P0, attempts=3),
]  # fmt: skip


class Harness(App[None]):
    CSS_PATH = str(Path(__file__).parents[1] / "control_room" / "tui" / "app.tcss")

    def __init__(self, screen: str) -> None:
        super().__init__()
        self.which = screen

    def compose(self) -> ComposeResult:
        yield TaskTable(id="tasks")

    def on_mount(self) -> None:
        for theme in load_themes().values():
            self.register_theme(theme)
        self.theme = "control-room-dark"
        self.query_one(TaskTable).show(TASKS)
        if self.which == "new-task":
            self.push_screen(task_form.NewTask())
        elif self.which == "inbox":
            now = time.time()
            self.push_screen(
                inbox.InboxView([
                    InboxItem("approval", "DES-1", "DES-1", None, "Design the plugin API",
                              now - 600),
                    InboxItem("blocked", "OPS-1", "OPS-1", "A-2", "Rotate keys: no vault token",
                              now - 300),
                    InboxItem("permission", "7", "API-1", "A-1", "Bash: ls -la", now - 90),
                ])
            )  # fmt: skip
        elif self.which == "help":
            self.push_screen(
                dialogs.Help([(b.key, b.description) for b in ControlRoomApp.BINDINGS])
            )  # type: ignore[union-attr]


@pytest.mark.parametrize("which", ["tasks", "new-task", "help", "inbox"])
async def test_snapshot(which: str) -> None:
    app = Harness(which)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        svg = app.export_screenshot(title=which)
    expected = SNAPSHOTS / f"{which}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") or not expected.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        expected.write_text(svg)
        if not os.environ.get("UPDATE_SNAPSHOTS"):
            pytest.fail(f"{expected.name} was missing and has been written: check it, rerun")
    assert svg == expected.read_text(), f"{which} changed; UPDATE_SNAPSHOTS=1 if on purpose"
