"""The screen's tables: tasks, agents and routing decisions, updated cell by cell. They show
what they are given; the app decides when to ask the coordinator (and runs the report pane)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from control_room.domain import Event, Status, Task
from control_room.domain.counters import tries
from control_room.domain.text import one_line
from control_room.tui.table_cache import update_in_place

STATUS_STYLE = {
    Status.AWAITING_APPROVAL: "bold yellow",
    Status.BLOCKED: "bold yellow",
    Status.FAILED: "bold red",
    Status.COMPLETED: "green",
    Status.CANCELLED: "dim",
    Status.CLAIMED: "cyan",
    Status.IN_PROGRESS: "cyan",
    Status.VALIDATING: "magenta",
    Status.PENDING: "dim",
}
INBOX = (Status.AWAITING_APPROVAL, Status.BLOCKED)
SHORT_STATUS = {Status.AWAITING_APPROVAL: "APPROVAL?"}
TYPE_MARKS = {
    "implementation": "i",
    "architecture": "A",
    "strategic": "S",
    "testing": "t",
    "review": "r",
}


def short_status(status: Status) -> str:
    """A status in at most 11 characters (the column's width)."""
    return SHORT_STATUS.get(status, str(status))


def type_mark(kind: str) -> Text:
    """A task's type as one letter (help, and the details, say it in full)."""
    return Text(TYPE_MARKS.get(kind, kind[:1].lower() or "?"), style="dim")


WAITING = Text("waiting for permission · ", style="bold yellow")


def clock(at: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) if at else ""


def ago(at: float | None, now: float) -> str:
    if not at:
        return "never"
    seconds = max(0, int(now - at))
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago"


def plain(text: str, limit: int = 80) -> Text:
    """Text that came from a task or an agent: never markup, no control characters."""
    text = one_line(text)
    return Text(text if len(text) <= limit else text[: limit - 1] + "…")


class Table(DataTable[Text]):
    """A table whose rows are keyed by id and updated in place, cell by cell."""

    COLUMNS: Sequence[tuple[str, str, int | None]] = ()  # (key, label, width; None: fits)

    def __init__(self, **options: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **options)  # type: ignore[arg-type]
        self._rows: dict[str, tuple[Text, ...]] = {}

    def on_mount(self) -> None:
        for key, label, width in self.COLUMNS:
            self.add_column(label, key=key, width=width)

    def put(self, key: str, cells: tuple[Text, ...]) -> bool:
        """Add the row or change the cells that differ; True if it is new."""
        return self.put_many([(key, cells)]) == 1

    def put_many(self, rows: Iterable[tuple[str, tuple[Text, ...]]]) -> int:
        """Add the new rows and change the cells that differ; how many were new."""
        added = 0
        changes: list[tuple[str, str, Text]] = []
        for key, cells in rows:
            before = self._rows.get(key)
            if before == cells:
                continue
            self._rows[key] = cells
            if before is None:
                self.add_row(*cells, key=key)
                added += 1
                continue
            for (column, _, _), old, now in zip(self.COLUMNS, before, cells, strict=True):
                if old != now:
                    changes.append((key, column, now))
        # Only the changed rows are drawn again (tui/table_cache.py), not the whole table.
        if changes and not update_in_place(self, changes):
            for key, column, now in changes:
                self.update_cell(key, column, now)
        return added

    def selected(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return str(key) if key is not None else None


class TaskTable(Table):
    """The tasks the screen holds (tui/task_rows.py decides which: open ones, then the most
    recent finished ones, more as the operator scrolls), most important columns first."""

    COLUMNS = (
        ("id", "ID", 12), ("priority", "PRI", 3), ("status", "STATUS", 11),
        ("agent", "AGENT", 10), ("progress", "%", 3), ("attempts", "TRIES", 5),
        ("type", "T", 1), ("title", "TITLE", None),
    )  # fmt: skip

    class NearEnd(Message):
        """The view scrolled to the last rows: time to read the next ones."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.tasks: dict[str, Task] = {}
        self.filter = ""
        self.waiting: set[str] = set()  # tasks whose agent waits for a permission answer

    def show(self, tasks: Iterable[Task], *, announce: bool = True) -> list[Task]:
        """Show these tasks (new or changed); returns those that just entered the inbox."""
        arrived, rows = [], []
        for task in tasks:
            before = self.tasks.get(task.id)
            self.tasks[task.id] = task
            entered = before is None or before.status is not task.status
            if announce and task.status in INBOX and entered:
                arrived.append(task)
            rows.append((task.id, self.row(task)))
        self.put_many(rows)
        return arrived

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value > old_value and new_value >= self.max_scroll_y - self.size.height:
            self.post_message(self.NearEnd())

    def forget(self) -> None:
        """Every row goes (a new filter loads its own)."""
        self.clear()
        self._rows.clear()
        self.tasks.clear()

    def row(self, t: Task) -> tuple[Text, ...]:
        cells = self.cells(t)
        if t.id not in self.waiting:
            return cells
        return (*cells[:-1], WAITING + cells[-1])

    @staticmethod
    def cells(t: Task) -> tuple[Text, ...]:
        status = Text(short_status(t.status), style=STATUS_STYLE.get(t.status, ""))
        progress = f"{t.progress}" if t.status in (Status.CLAIMED, Status.IN_PROGRESS) else ""
        return (
            plain(t.id, 64), Text(str(t.priority)), status, plain(t.agent_id or "", 40),
            Text(progress), Text(f"{tries(t)}/{t.max_attempts}"), type_mark(t.type),
            plain(t.title, 120),
        )  # fmt: skip


class AgentTable(Table):
    """Live agents first, then the ones that ended (tui/agent_rows.py reads them)."""

    COLUMNS = (
        ("name", "NAME", None), ("status", "STATUS", 9), ("task", "TASK", 12),
        ("turns", "TURNS", 5), ("cost", "COST", 6), ("seen", "SEEN", 7),
        ("runtime", "RUNTIME", 11),
    )  # fmt: skip

    def show_rows(self, rows: Sequence[tuple[str, tuple[Text, ...]]]) -> None:
        """These rows in this order: changed cells in place, or the table rebuilt (keeping the
        selected agent selected) when agents came, went or moved."""
        if [key for key, _ in rows] == list(self._rows):
            self.put_many(rows)
            return
        selected = self.selected() if self.has_focus else None  # else: the top, live ones
        self.clear()
        self._rows.clear()
        self.put_many(rows)
        keys = [key for key, _ in rows]
        self.move_cursor(row=keys.index(selected) if selected in keys else 0, animate=False)


class DecisionTable(Table):
    COLUMNS = (
        ("time", "TIME", 8), ("task", "TASK", 12), ("decision", "DECISION", 14),
        ("why", "WHY", None),
    )  # fmt: skip

    def add(self, event: Event) -> None:
        decision = str(event.data.get("decision", ""))
        style = "bold" if decision == "spawn" else "yellow" if decision == "await_approval" else ""
        cells = (Text(clock(event.at)), plain(event.task_id or "", 64), Text(decision, style=style),
                 plain(event.message, 100))  # fmt: skip
        self.put(str(event.id), cells)
        self.move_cursor(row=self.row_count - 1)
