"""The control room screen: tasks, agents, routing decisions and a live report, with the engine
and the server running inside it (in workers: the screen never waits on I/O).

`create_app` is what the command line and the tests both use. The parts: tui/feed.py (loading
and following the event log), tui/actions.py (the keys), tui/report_pane.py, tui/layout.py
(the panes and the footer follow the terminal's size), tui/status_line.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.events import Resize
from textual.theme import Theme
from textual.widgets import DataTable, RichLog, Static

from control_room.domain import ControlRoomError
from control_room.tui import layout, permissions
from control_room.tui.actions import Actions
from control_room.tui.agent_rows import AgentRows
from control_room.tui.base import World, WorldOpener
from control_room.tui.feed import COUNT_CAP, Feed
from control_room.tui.figures import HeaderFigures
from control_room.tui.panes import AgentTable, DecisionTable, TaskTable
from control_room.tui.status_line import status_line
from control_room.tui.task_rows import FINISHED_ROWS, TaskRows

__all__ = ["ControlRoomApp", "World", "WorldOpener", "create_app"]
MORE_WITHIN_ROWS = 20  # the next rows are read when the cursor comes this near the end


class ControlRoomApp(Actions, Feed):
    TITLE = "Control Room"
    CSS_PATH = "app.tcss"
    # The footer shows the keys in layout.FOOTER (quit and help always); help lists them all.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve", id="approve"),
        Binding("x", "reject", "Reject", id="reject"),
        Binding("enter", "details", "Details", id="details", show=False),
        Binding("n", "new_task", "New", id="new-task"),
        Binding("E", "edit_task", "Edit", id="edit-task", show=False),
        Binding("r", "retry", "Retry", id="retry"),
        Binding("c", "cancel_task", "Cancel", id="cancel-task"),
        Binding("k", "kill_agent", "Stop agent", id="kill-agent"),
        Binding("i", "say", "Say to agent", id="say", show=False),  # a message to a running agent
        Binding("e", "ended_agents", "Ended agents", id="ended-agents", show=False),
        Binding("d", "diff", "Diff", id="diff", show=False),
        Binding("m", "merge", "Merge", id="merge", show=False),
        Binding("p", "permissions", "Permissions", id="permissions", show=False),
        Binding("b", "inbox", "Inbox", id="inbox", show=False),
        Binding("g", "go", "Start an agent now", id="go", show=False),
        Binding("s", "stats", "Stats", id="stats", show=False),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("escape", "clear_filter", "Clear filter", id="clear-filter", show=False),
        Binding("t", "next_theme", "Theme", id="theme", show=False),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(
        self,
        opener: WorldOpener,
        *,
        themes: dict[str, Theme] | None = None,
        theme_name: str | None = None,
        remember_theme: Callable[[str], None] | None = None,
        keys: dict[str, str] | None = None,
        finished_rows: int = FINISHED_ROWS,
        where: str = "",
    ) -> None:
        super().__init__()
        self.where = where  # shown in the status line (the demo's world folder)
        self._keys = keys or {}
        self.opener = opener
        self.world: World | None = None
        self.failure: ControlRoomError | None = None  # why the world stopped, for the CLI
        self._themes = themes or {}
        self._theme_name = theme_name
        self._remember_theme = remember_theme
        self._last_event = 0
        self.counts = {}
        self._counted_at = 0.0
        self.loaded_at: float | None = None  # when everything on screen was first shown
        self.rows = TaskRows(finished_rows)
        self._reading_more = False
        self.agent_rows = AgentRows()
        # Kept, not queried: a query looks at the screen on top, which may be a dialog.
        self.tasks = TaskTable(id="tasks")
        self.decisions = DecisionTable(id="decisions")
        self.agents = AgentTable(id="agents")
        self.report = RichLog(id="report", max_lines=2000, wrap=True, markup=False, min_width=1)
        self.status = Static("Control Room · starting…", id="status")
        self.pending = permissions.PendingPermissions()
        self.figures = HeaderFigures()  # the key figures on top (tui/figures.py)

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.status
        with Grid(id="panes"):  # app.tcss places them: two columns, or stacked when narrow
            yield self.tasks
            yield self.agents
            yield self.decisions
            yield self.report
        yield layout.KeyFooter()

    def on_mount(self) -> None:
        known = {b.id for b in self.BINDINGS if isinstance(b, Binding)}
        unknown = sorted(set(self._keys) - known)
        if unknown:
            self.notify(f"[screen] keys: no key has the id {', '.join(unknown)}", severity="error")
        self.set_keymap({i: k for i, k in self._keys.items() if i in known})
        for theme in self._themes.values():
            self.register_theme(theme)
        if self._theme_name in self._themes:
            self.theme = self._theme_name
        for pane, title in ((self.tasks, "tasks"), (self.decisions, "routing"),
                            (self.agents, "agents"), (self.report, "report")):  # fmt: skip
            pane.border_title = title
        layout.follow_size(self, self.BINDINGS, self.size.width)
        self.run_world()
        self.set_interval(1.0, self.show_status)

    def on_resize(self, event: Resize) -> None:
        layout.follow_size(self, self.BINDINGS, event.size.width)

    def active_key_bindings(self) -> list[Binding]:
        return layout.bindings_as_mapped(self, self.BINDINGS)

    # -- the world, and following it --------------------------------------------------------

    @work(group="world", exit_on_error=True)
    async def run_world(self) -> None:
        try:
            await self._run_world()
        except ControlRoomError as error:  # e.g. the registry's check found it corrupt
            self.failure = error
        self.exit(return_code=1 if self.failure else 0)

    async def _run_world(self) -> None:
        async with self.opener() as world:
            self.world = world
            await self.load()
            following = self.run_worker(self.follow(), group="follow")
            counting = self.run_worker(self.counting(), group="follow")
            try:
                await world.serve()
            finally:  # nothing reads the registry once it closes
                following.cancel()
                counting.cancel()
                self.workers.cancel_group(self, "report")
                self.workers.cancel_group(self, "more")
                await asyncio.sleep(0)

    def show_status(self) -> None:
        line = status_line(
            self.world,
            self.counts,
            len(self.pending.requests),
            COUNT_CAP,
            self.tasks.filter,
            self.where,
            self.figures.headline(),
            self.figures.waiting,
            narrow=self.size.width < layout.WIDE,
        )
        self.status.update(line)
        self.tasks.border_subtitle = (
            ("no task matches the filter: Escape clears it" if self.tasks.filter
             else "no tasks yet: press n to add one")
            if self.world is not None and self.tasks.row_count == 0 else ""
        )  # fmt: skip

    # -- panes ------------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.tasks and event.cursor_row >= (
            self.tasks.row_count - MORE_WITHIN_ROWS
        ):
            self.more_rows()
        key = event.row_key.value
        # The report follows what the operator looks at: the focused table's cursor (a row
        # added to another table does not take the pane away).
        if key is None or event.data_table is self.decisions or not event.data_table.has_focus:
            return
        source = "agent" if event.data_table is self.agents else "task"
        self.tail_report(source, str(key))

    def on_task_table_near_end(self, _: TaskTable.NearEnd) -> None:
        self.more_rows()

    def more_rows(self) -> None:
        if not self._reading_more and not self.rows.exhausted:
            self._reading_more = True
            self.run_worker(self._read_more(), group="more")

    async def _read_more(self) -> None:
        try:
            await self.load_more()
        finally:
            self._reading_more = False

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is self.tasks:  # enter on a task (the table's own key)
            await self.action_details()


def create_app(
    opener: WorldOpener,
    *,
    theme_name: str | None = None,
    themes_folder: Path | None = None,
    remember_theme: Callable[[str], None] | None = None,
    keys: dict[str, str] | None = None,
    finished_rows: int = FINISHED_ROWS,
    where: str = "",
) -> ControlRoomApp:
    from control_room.tui.themes import load_themes

    return ControlRoomApp(
        opener,
        themes=load_themes(themes_folder),
        theme_name=theme_name,
        remember_theme=remember_theme,
        keys=keys,
        finished_rows=finished_rows,
        where=where,
    )
