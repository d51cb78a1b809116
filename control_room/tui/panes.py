"""The screen's tables: tasks, agents and routing decisions, updated cell by cell. They show
what they are given; the app decides when to ask the coordinator (and runs the report pane)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable

from control_room.domain import Agent, Event, Status, Task

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
    text = "".join(c if c.isprintable() else " " for c in text)
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
                    self.update_cell(key, column, now)
        return added

    def selected(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return str(key) if key is not None else None


class TaskTable(Table):
    COLUMNS = (
        ("id", "ID", 12), ("priority", "PRI", 3), ("type", "TYPE", 11),
        ("status", "STATUS", 17), ("title", "TITLE", None), ("agent", "AGENT", 10),
        ("progress", "%", 3), ("attempts", "TRIES", 5),
    )  # fmt: skip

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.tasks: dict[str, Task] = {}
        self.filter = ""
        self.waiting: set[str] = set()  # tasks whose agent waits for a permission answer

    def show(self, tasks: Iterable[Task], *, announce: bool = True) -> list[Task]:
        """Show these tasks (new or changed); returns those that just entered the inbox."""
        arrived = []
        for task in tasks:
            before = self.tasks.get(task.id)
            self.tasks[task.id] = task
            entered = before is None or before.status is not task.status
            if announce and task.status in INBOX and entered:
                arrived.append(task)
            if self._matches(task):
                self.put(task.id, self.row(task))
        return arrived

    def _matches(self, task: Task) -> bool:
        needle = self.filter.lower()
        return not needle or any(
            needle in str(value).lower() for value in (task.id, task.title, task.status, task.type)
        )

    def refilter(self, needle: str) -> None:
        self.filter = needle
        self.clear()
        self._rows.clear()
        for task in self.tasks.values():
            if self._matches(task):
                self.put(task.id, self.row(task))

    def row(self, t: Task) -> tuple[Text, ...]:
        cells = self.cells(t)
        if t.id not in self.waiting:
            return cells
        return (*cells[:4], WAITING + cells[4], *cells[5:])

    @staticmethod
    def cells(t: Task) -> tuple[Text, ...]:
        status = Text(str(t.status), style=STATUS_STYLE.get(t.status, ""))
        progress = f"{t.progress}" if t.status in (Status.CLAIMED, Status.IN_PROGRESS) else ""
        return (
            Text(t.id), Text(str(t.priority)), Text(t.type), status, plain(t.title, 60),
            Text(t.agent_id or ""), Text(progress), Text(f"{t.attempts}/{t.max_attempts}"),
        )  # fmt: skip

    def counts(self) -> dict[Status, int]:
        found: dict[Status, int] = {}
        for task in self.tasks.values():
            found[task.status] = found.get(task.status, 0) + 1
        return found


class AgentTable(Table):
    COLUMNS = (
        ("name", "NAME", None), ("status", "STATUS", 7), ("task", "TASK", 12),
        ("turns", "TURNS", 5), ("cost", "COST", 6), ("seen", "SEEN", 7),
        ("runtime", "RUNTIME", 11),
    )  # fmt: skip

    def show(self, agents: Iterable[Agent], now: float) -> None:
        for a in agents:
            cost = "" if a.cost_usd is None else f"${a.cost_usd:.2f}"
            turns = "" if a.turns is None else str(a.turns)
            status = "running" if a.pid else str(a.status).lower()
            cells = tuple(
                Text(v) for v in (status, a.task_id or "", turns, cost, ago(a.last_seen, now),
                                  a.runtime)
            )  # fmt: skip
            cells = (plain(a.name, 30), *cells)
            self.put(a.id, cells)


class DecisionTable(Table):
    COLUMNS = (
        ("time", "TIME", 8), ("task", "TASK", 12), ("decision", "DECISION", 14),
        ("why", "WHY", None),
    )  # fmt: skip

    def add(self, event: Event) -> None:
        decision = str(event.data.get("decision", ""))
        style = "bold" if decision == "spawn" else "yellow" if decision == "await_approval" else ""
        cells = (Text(clock(event.at)), Text(event.task_id or ""), Text(decision, style=style),
                 plain(event.message, 100))  # fmt: skip
        self.put(str(event.id), cells)
        self.move_cursor(row=self.row_count - 1)
