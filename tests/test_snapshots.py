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
from control_room.domain.plans import Plan, parse_proposal
from control_room.domain.stats import Spread, Stats
from control_room.tui import dialogs, figures, inbox, task_edit, task_form
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


PLAN = Plan("P-7c1e", "T-PLAN01", "A-planner", "PENDING", tuple(parse_proposal([
    {"title": "Settings table", "priority": "P1", "capabilities": ["backend"]},
    {"title": "Settings API", "dependencies": [0]},
    {"title": "Settings page", "dependencies": [1], "type": "design"},
    {"title": "Docs for settings", "dependencies": [0, 2], "priority": "P3"},
    {"title": "Load test", "type": "testing", "dependencies": ["API-1"]},
])))  # fmt: skip
STATS = Stats(now=1_000_000.0, since=None, tasks_by_status={"COMPLETED": 9, "AVAILABLE": 2,
              "FAILED": 1}, tasks_total=12, started=10, started_auto=8, started_by_hand=2,
              finished=10, first_attempt_successes=7, completed=9,
              to_completed=Spread(9, 720.0, 2400.0), runs=13, cost_usd=4.2, agent_hours=3.5,
              reported_hours=2.0, stalls=1, permission_requests=3,
              permission_wait=Spread(3, 40.0, 300.0))  # fmt: skip


async def _stats(_: float | None) -> Stats:
    return STATS


async def _not_saved(_: object) -> Task:
    raise AssertionError("a snapshot saves nothing")


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
        elif self.which == "inbox-plan":
            item = InboxItem(
                "plan",
                PLAN.id,
                PLAN.task_id,
                PLAN.agent_id,
                "5 tasks proposed: Plan: settings.md",
                time.time() - 120,
            )
            self.push_screen(inbox.InboxView([item], {PLAN.id: PLAN}))  # fmt: skip
        elif self.which == "edit-task":
            self.push_screen(task_edit.EditTask(TASKS[0], _not_saved))
        elif self.which == "stats":
            self.push_screen(figures.StatsView(_stats))
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


@pytest.mark.parametrize("which", ["inbox-plan", "edit-task", "stats"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_snapshot_at_size(which: str, size: tuple[int, int]) -> None:
    app = Harness(which)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.pause()
        svg = app.export_screenshot(title=which)
    name = f"{which}-{size[0]}x{size[1]}"
    expected = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") or not expected.exists():
        expected.write_text(svg)
        if not os.environ.get("UPDATE_SNAPSHOTS"):
            pytest.fail(f"{expected.name} was missing and has been written: check it, rerun")
    assert svg == expected.read_text(), f"{name} changed; UPDATE_SNAPSHOTS=1 if on purpose"
