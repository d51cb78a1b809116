"""The control room screen: tasks, agents, routing decisions and a live report, with the engine
and the server running inside it (in workers: the screen never waits on I/O).

`create_app` is what the command line and the tests both use. The screen follows the event log
(every process's writes, in order) and updates the rows that changed, cell by cell.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.theme import Theme
from textual.widgets import DataTable, Footer, RichLog, Static

from control_room.domain import ControlRoomError, Event, Status, Task
from control_room.domain.text import one_line
from control_room.engine import Coordinator
from control_room.engine.engine import Engine
from control_room.engine.follow import follow_file
from control_room.tui import delivery, dialogs, permissions, steer
from control_room.tui.panes import INBOX, AgentTable, DecisionTable, TaskTable, plain
from control_room.tui.report_text import ReportFormatter


class World(Protocol):
    """What the screen runs: a coordinator, its engine, and a server at `url` (put together
    above the screen, in control_room/screen.py, so the screen never imports the server)."""

    coordinator: Coordinator
    engine: Engine
    url: str

    async def serve(self) -> None: ...
    def stop(self) -> None: ...


WorldOpener = Callable[[], contextlib.AbstractAsyncContextManager[World]]
FOLLOW_SECONDS = 0.1  # how often the event log is read: changes show within 200 ms
REPORT_WAIT_SECONDS = 0.5
FIRST_PAGE = 200  # rows shown before the screen is first drawn; the rest follow in chunks
CHUNK = 1000
REPORT_TAIL_BYTES = 512 * 1024  # of an old report, the screen shows the end
AGENT_EVENTS = ("agent_", "claimed", "released", "expired", "completed", "handed_in", "blocked")


class ControlRoomApp(App[None]):
    TITLE = "Control Room"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve", id="approve"),
        Binding("x", "reject", "Reject", id="reject"),
        Binding("enter", "details", "Details", id="details", show=False),
        Binding("n", "new_task", "New", id="new-task"),
        Binding("r", "retry", "Retry", id="retry"),
        Binding("c", "cancel_task", "Cancel", id="cancel-task"),
        Binding("k", "kill_agent", "Kill agent", id="kill-agent"),
        Binding("i", "say", "Say to agent", id="say", show=False),  # a message to a running agent
        Binding("d", "diff", "Diff", id="diff", show=False),  # in help (?): the footer is full
        Binding("m", "merge", "Merge", id="merge", show=False),
        Binding("p", "permissions", "Permissions", id="permissions", show=False),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("t", "next_theme", "Theme", id="theme"),
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
    ) -> None:
        super().__init__()
        self._keys = keys or {}
        self.opener = opener
        self.world: World | None = None
        self._themes = themes or {}
        self._theme_name = theme_name
        self._remember_theme = remember_theme
        self._last_event = 0
        self.loaded_at: float | None = None  # when everything on screen was first shown
        # Kept, not queried: a query looks at the screen on top, which may be a dialog.
        self.tasks = TaskTable(id="tasks")
        self.decisions = DecisionTable(id="decisions")
        self.agents = AgentTable(id="agents")
        self.report = RichLog(id="report", max_lines=2000, wrap=True, markup=False)
        self.status = Static("Control Room · starting…", id="status")
        self.pending = permissions.PendingPermissions()

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.status
        with Grid(id="panes"):  # app.tcss places them: two columns, or stacked when narrow
            yield self.tasks
            yield self.agents
            yield self.decisions
            yield self.report
        yield Footer()

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
        self.run_world()
        self.set_interval(1.0, self.show_status)

    def on_resize(self) -> None:
        self.screen.set_class(self.size.width < 110, "narrow")

    # -- the world, and following it --------------------------------------------------------

    @property
    def coordinator(self) -> Coordinator | None:
        return self.world.coordinator if self.world else None

    @work(group="world", exit_on_error=True)
    async def run_world(self) -> None:
        async with self.opener() as world:
            self.world = world
            await self.load()
            following = self.follow()
            try:
                await world.serve()
            finally:  # nothing reads the registry once it closes
                following.cancel()
                self.workers.cancel_group(self, "report")
                await asyncio.sleep(0)
        self.exit()

    async def load(self) -> None:
        """Everything on the screen: the first page of tasks at once (counts are of all of
        them), the rest of the rows in chunks that leave the screen responsive."""
        assert self.coordinator is not None
        self._last_event = await self.coordinator.registry.last_event_id()
        tasks = await self.coordinator.tasks()
        self.tasks.tasks.update((t.id, t) for t in tasks)
        self.tasks.show(tasks[:FIRST_PAGE], announce=False)
        self.agents.show(await self.coordinator.agents(), time.time())
        await self._permissions_changed(await self.pending.refresh(self.coordinator))
        for event in await self.coordinator.recent_events(500):
            if event.kind == "routed":
                self.decisions.add(event)
        self.show_status()
        self.loaded_at = time.perf_counter()
        for start in range(FIRST_PAGE, len(tasks), CHUNK):
            await asyncio.sleep(0)
            self.tasks.show(tasks[start : start + CHUNK], announce=False)
        # Start-up made many objects that live as long as the screen: keep them out of the
        # garbage collector's full passes, which otherwise stall keys for a tenth of a second.
        gc.collect()
        gc.freeze()

    @work(group="follow")
    async def follow(self) -> None:
        """Read the event log by id, from every process, and show what changed."""
        assert self.coordinator is not None
        while True:
            events = await self.coordinator.events(after=self._last_event, limit=5000)
            if events:
                self._last_event = events[-1].id
                await self.apply(events)
            await asyncio.sleep(FOLLOW_SECONDS)

    async def apply(self, events: list[Event]) -> None:
        assert self.coordinator is not None
        changed = {e.task_id for e in events if e.task_id}
        tasks = [await self.coordinator.task(task_id) for task_id in changed]
        for task in self.tasks.show(tasks):
            self.bell()
            verb = (
                "awaits approval (a)" if task.status is Status.AWAITING_APPROVAL else "is BLOCKED"
            )
            text = one_line(f"{task.id} {verb}: {task.title}")
            self.notify(text, title="Inbox", severity="warning", markup=False)
        await self._permissions_changed(await self.pending.refresh(self.coordinator, events))
        for asked in self.pending.asked(events):
            self.bell()
            text = one_line(f"{asked.agent_id} asks: {asked.message} (p)")
            self.notify(text, title="Permission", markup=False)
        if any(e.kind.startswith(AGENT_EVENTS) for e in events):
            self.agents.show(await self.coordinator.agents(), time.time())
        for event in events:
            if event.kind == "routed":
                self.decisions.add(event)
        self.show_status()

    def show_status(self) -> None:
        line = Text("Control Room", style="bold")
        if self.world is not None:
            line.append(f" · {self.world.url}", style="dim")
            loops = self.world.coordinator.loops
            failing = [loop.name for loop in loops if loop.last_error]
            line.append("  loops ", style="dim")
            if failing:
                line.append(f"✗ {', '.join(failing)}", style="bold red")
            else:
                line.append(f"● {len(loops)} ok", style="green")
        counts = self.tasks.counts()
        asking = len(self.pending.requests)
        inbox = sum(counts.get(s, 0) for s in INBOX) + asking
        line.append("\n")
        line.append(f"inbox {inbox}", style="bold reverse yellow" if inbox else "dim")
        if asking:
            line.append(f"  permission {asking} (p)", style="bold yellow")
        for status in Status:
            if counts.get(status):
                line.append(f"  {status.lower().replace('_', ' ')} {counts[status]}")
        self.status.update(line)

    async def _permissions_changed(self, task_ids: set[str]) -> None:
        if task_ids and self.coordinator is not None:
            self.tasks.waiting = self.pending.tasks
            self.tasks.show([await self.coordinator.task(t) for t in task_ids], announce=False)

    # -- panes ------------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        # The report follows what the operator looks at: the focused table's cursor (a row
        # added to another table does not take the pane away).
        if key is None or event.data_table is self.decisions or not event.data_table.has_focus:
            return
        source = "agent" if event.data_table is self.agents else "task"
        self.tail_report(source, str(key))

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is self.tasks:  # enter on a task (the table's own key)
            await self.action_details()

    @work(group="report", exclusive=True)
    async def tail_report(self, source: str, key: str) -> None:
        """Follow the report of the selected agent, or of the selected task's newest run."""
        log = self.report
        log.clear()
        log.border_title = f"report · {key}"
        report = await self._report_path(source, key)
        if report is None:
            log.write(Text("No agent of Control Room's has worked on this yet.", style="dim"))
        while report is None:  # until one starts (this worker ends when the selection moves)
            await asyncio.sleep(REPORT_WAIT_SECONDS)
            report = await self._report_path(source, key)
        log.clear()
        formatter = ReportFormatter()
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        async for chunk in follow_file(report, limit=REPORT_TAIL_BYTES):
            for line in formatter.feed(decode(chunk)):
                log.write(line)

    async def _report_path(self, source: str, key: str) -> Path | None:
        assert self.coordinator is not None
        if source == "agent":
            with contextlib.suppress(ControlRoomError):
                return Path((await self.coordinator.registry.get_run(key)).run_dir) / "report.log"
            return None
        runs = [r for r in await self.coordinator.runs(limit=10_000) if r.task_id == key]
        return Path(runs[-1].run_dir) / "report.log" if runs else None

    # -- keys -------------------------------------------------------------------------------

    def _task_id(self) -> str | None:
        task_id = self.tasks.selected()
        if task_id is None:
            self.notify("Select a task first.", severity="warning")
        return task_id

    async def _do(self, what: str, action: Callable[[Coordinator], Any]) -> None:
        if self.coordinator is None:
            return
        try:
            done = await action(self.coordinator)
        except ControlRoomError as error:  # say what did not happen, not what was meant to
            verb, _, rest = what.partition(" ")
            title = f"Not {verb.lower()}: {rest}" if rest else f"Not done: {what}"
            self.notify(
                one_line(error.message), title=one_line(title), severity="error", markup=False
            )
            return
        if isinstance(done, Task):  # shown at once; the event log follows with the same
            self.tasks.show([done])
        self.notify(what)

    async def action_approve(self) -> None:
        if task_id := self._task_id():
            await self._do(f"Approved {task_id}", lambda c: c.approve(task_id))

    @work(group="dialog")
    async def action_reject(self) -> None:
        if task_id := self._task_id():
            reason = await self.push_screen_wait(dialogs.Ask(f"Why reject {task_id}?"))
            if reason:
                await self._do(f"Rejected {task_id}", lambda c: c.reject(task_id, reason))

    async def action_retry(self) -> None:
        if task_id := self._task_id():
            await self._do(f"Retrying {task_id}", lambda c: c.retry(task_id))

    @work(group="dialog")
    async def action_cancel_task(self) -> None:
        task_id = self._task_id()
        if task_id is None:
            return
        confirmed: bool = await self.push_screen_wait(dialogs.Confirm(f"Cancel {task_id}?"))
        if confirmed:
            await self._do(f"Cancelled {task_id}", lambda c: c.cancel(task_id))

    @work(group="dialog")
    async def action_new_task(self) -> None:
        raw = await self.push_screen_wait(dialogs.NewTask())
        if raw is not None:
            await self._do(f"Added {raw['title']!r}", lambda c: c.add_task(raw))

    @work(group="dialog")
    async def action_kill_agent(self) -> None:
        agent_id = self.agents.selected()
        if agent_id is None or self.world is None:
            self.notify("Select an agent first.", severity="warning")
            return
        if not await self.push_screen_wait(dialogs.Confirm(f"Stop agent {agent_id}?")):
            return
        supervisor = self.world.engine.supervisor
        if supervisor is not None and agent_id in supervisor.attempts:
            await supervisor.stop(agent_id, "was stopped by the operator")
            self.notify(f"Stopped {agent_id}")
        else:  # an agent that joined by itself: its token stops working, its task comes back
            await self._do(f"Revoked {agent_id}", lambda c: c.revoke_agent(agent_id))

    @work(group="dialog")
    async def action_say(self) -> None:
        """A message to the selected agent, or to the agent of the selected task."""
        if self.coordinator is not None:
            agent = self.agents.selected() if self.agents.has_focus else None
            await steer.say_to_agent(self, self.coordinator, agent or self.tasks.selected())

    @work(group="dialog")
    async def action_permissions(self) -> None:
        """The pending permission requests; a key answers the selected one."""
        if self.coordinator is not None:
            said = await permissions.ask_operator(self, self.coordinator, self.pending)
            if said:
                self.notify(said)

    @work(group="dialog")
    async def action_filter(self) -> None:
        needle = await self.push_screen_wait(
            dialogs.Ask("Show tasks containing (empty: all)", self.tasks.filter, required=False)
        )
        if needle is not None:
            self.tasks.refilter(needle)

    async def action_details(self) -> None:
        task_id = self._task_id()
        if task_id is None or self.coordinator is None:
            return
        task = await self.coordinator.task(task_id)
        head = one_line(f"{task.id}  {task.status}  {task.priority.long_name}")
        lines = [Text(head, style="bold")]
        lines.append(plain(task.title, 200))
        for label, value in (("description", task.description), ("reason", task.reason),
                             ("feedback", task.feedback), ("summary", task.summary)):  # fmt: skip
            if value:
                lines.append(Text(f"\n{label}:", style="bold"))
                lines.extend(plain(line, 200) for line in value.splitlines()[:40])
        lines.append(Text("\nhistory:", style="bold"))
        for event in await self.coordinator.events(task_id=task_id, limit=200):
            lines.append(plain(f"{event.kind:<16} by {event.actor}  {event.message}", 200))
        self.push_screen(dialogs.Details(lines))

    async def action_diff(self) -> None:
        if (task_id := self._task_id()) and self.world is not None:
            await delivery.show_diff(self, self.world.engine.delivery, task_id)

    @work(group="dialog")
    async def action_merge(self) -> None:
        if (task_id := self._task_id()) and self.world is not None:
            await delivery.merge(self, self.world.engine.delivery, task_id)

    def action_next_theme(self) -> None:
        names = list(self._themes) or [self.theme]
        at = names.index(self.theme) if self.theme in names else -1
        following = names[(at + 1) % len(names)]
        self.theme = following
        if self._remember_theme is not None:
            self._remember_theme(following)
        self.notify(f"Theme: {following}")

    def action_help(self) -> None:
        keys = [(b.key, b.description) for b in self.BINDINGS if isinstance(b, Binding)]
        self.push_screen(dialogs.Help(keys))

    async def action_quit(self) -> None:
        if self.world is None:
            self.exit()
        else:
            self.notify("Stopping the agents and the server…")
            self.world.stop()  # the world worker exits the app once everything has stopped


def create_app(
    opener: WorldOpener,
    *,
    theme_name: str | None = None,
    themes_folder: Path | None = None,
    remember_theme: Callable[[str], None] | None = None,
    keys: dict[str, str] | None = None,
) -> ControlRoomApp:
    from control_room.tui.themes import load_themes

    return ControlRoomApp(
        opener,
        themes=load_themes(themes_folder),
        theme_name=theme_name,
        remember_theme=remember_theme,
        keys=keys,
    )
