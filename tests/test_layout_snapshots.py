"""The screen's layout at three terminal sizes and after a resize each way: the real panes, the
real footer and tui/layout.py, with fixed rows (a live world's URL and clock would not repeat).
Compared as SVG screenshots; UPDATE_SNAPSHOTS=1 rewrites them after a deliberate change."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Grid
from textual.events import Resize
from textual.widgets import RichLog

from control_room.tui import layout
from control_room.tui.app import ControlRoomApp
from control_room.tui.panes import AgentTable, DecisionTable, TaskTable
from control_room.tui.themes import load_themes
from tests.test_snapshots import TASKS

SNAPSHOTS = Path(__file__).with_name("snapshots")
AGENTS = [
    ("A-1", (Text("claude-code"), Text("running"), Text("API-1"), Text("12"), Text("$0.40"),
             Text("2s ago"), Text("claude-code"))),
    ("A-0", (Text("claude-code"), Text("killed"), Text("OPS-1"), Text("3"), Text("$0.10"),
             Text("1m ago"), Text("claude-code"))),
]  # fmt: skip
REPORT = "claim: 200 " + '{"task": {"id": "API-1", "title": "Add /login"}} ' * 3


class Harness(App[None]):
    CSS_PATH = str(Path(__file__).parents[1] / "control_room" / "tui" / "app.tcss")
    BINDINGS: ClassVar[list[BindingType]] = ControlRoomApp.BINDINGS

    def compose(self) -> ComposeResult:
        with Grid(id="panes"):
            yield TaskTable(id="tasks")
            yield AgentTable(id="agents")
            yield DecisionTable(id="decisions")
            yield RichLog(id="report", wrap=True, min_width=1)
        yield layout.KeyFooter()

    def on_mount(self) -> None:
        for theme in load_themes().values():
            self.register_theme(theme)
        self.theme = "control-room-dark"
        self.query_one(TaskTable).show(TASKS)
        self.query_one(AgentTable).show_rows(AGENTS)
        self.query_one(RichLog).write(REPORT)
        layout.follow_size(self, self.BINDINGS, self.size.width)

    def on_resize(self, event: Resize) -> None:
        layout.follow_size(self, self.BINDINGS, event.size.width)


def compare(svg: str, name: str) -> None:
    expected = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") or not expected.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        expected.write_text(svg)
        if not os.environ.get("UPDATE_SNAPSHOTS"):
            pytest.fail(f"{expected.name} was missing and has been written: check it, rerun")
    assert svg == expected.read_text(), f"{name} changed; UPDATE_SNAPSHOTS=1 if on purpose"


def footer_text(app: Harness) -> str:
    return " ".join(f"{k.key_display} {k.description}" for k in app.query("FooterKey"))


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
async def test_layout_at_size(size: tuple[int, int]) -> None:
    app = Harness()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert app.screen.has_class("narrow") == (size[0] < layout.WIDE)
        shown = footer_text(app)
        assert "? Help" in shown and "q Quit" in shown, shown
        tasks = app.query_one(TaskTable)
        before_title = sum(
            c.get_render_width(tasks) for k, c in tasks.columns.items() if k.value != "title"
        )
        if size[0] >= 120:  # every column, and 15 columns of TITLE, without scrolling
            assert before_title + 15 <= tasks.scrollable_content_region.width, before_title
        compare(app.export_screenshot(title="layout"), f"layout-{size[0]}x{size[1]}")


@pytest.mark.parametrize(("start", "end"), [((120, 40), (80, 24)), ((80, 24), (120, 40))])
async def test_layout_follows_a_resize(start: tuple[int, int], end: tuple[int, int]) -> None:
    app = Harness()
    async with app.run_test(size=start) as pilot:
        await pilot.pause()
        await pilot.resize_terminal(*end)
        await pilot.pause()
        await pilot.pause()
        assert app.screen.has_class("narrow") == (end[0] < layout.WIDE)
        shown = footer_text(app)
        assert "? Help" in shown and "q Quit" in shown, shown
        compare(
            app.export_screenshot(title="layout"),
            f"layout-{start[0]}x{start[1]}-to-{end[0]}x{end[1]}",
        )
