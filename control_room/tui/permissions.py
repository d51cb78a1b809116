"""The screen's side of agents' permission requests: which tasks wait for one (the task row
says so), how many (the inbox status line), and a dialog listing the pending requests, oldest
first, where one key answers the selected one: allow once, allow always for its task, or deny
with a reason (asked for)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from control_room.domain import ControlRoomError, Event
from control_room.domain.permissions import PermissionRequest
from control_room.engine import Coordinator
from control_room.tui.dialogs import Ask

Choice = tuple[int, str]  # (request id, "once" | "always" | "deny")


def _plain(text: str, limit: int) -> str:
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class PendingPermissions:
    """The requests still waiting (their agents alive), refreshed when permission events come."""

    def __init__(self) -> None:
        self.requests: list[PermissionRequest] = []

    @property
    def tasks(self) -> set[str]:
        return {r.task_id for r in self.requests}

    async def refresh(self, coordinator: Coordinator, events: Sequence[Event] = ()) -> set[str]:
        """Reload (when `events` hold permission news, or always if none are given); the tasks
        whose waiting changed."""
        if events and not any(e.kind.startswith("permission_") for e in events):
            return set()
        before = self.tasks
        waiting = {i.id for i in await coordinator.permissions.inbox() if i.kind == "permission"}
        pending = await coordinator.permissions.pending()
        self.requests = [r for r in pending if str(r.id) in waiting]
        return before ^ self.tasks

    @staticmethod
    def asked(events: Sequence[Event]) -> list[Event]:
        return [e for e in events if e.kind == "permission_requested"]


class PermissionRequests(ModalScreen[Choice | None]):
    """Pending requests, the oldest selected; y / a / d answer the selected one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "choose('once')", "Allow once", id="permission-allow-once"),
        Binding("a", "choose('always')", "Allow always (task)", id="permission-allow-always"),
        Binding("d", "choose('deny')", "Deny", id="permission-deny"),
        Binding("escape", "dismiss", "Close", id="permission-close"),
    ]

    def __init__(self, requests: Sequence[PermissionRequest]) -> None:
        super().__init__(classes="dialog")
        self.requests = list(requests)
        self.table: DataTable[Text] = DataTable(cursor_type="row", id="permission-table")
        self.detail = Static("", id="permission-input")

    def compose(self) -> ComposeResult:
        with Vertical(classes="box wide"):
            yield Label(
                "Permission requests, oldest first.  y: allow once   a: allow always for "
                "the task   d: deny (with a reason)   Escape: close"
            )
            yield self.table
            yield self.detail

    def on_mount(self) -> None:
        # header, border, and a line for the horizontal scrollbar a long input brings
        self.table.styles.height = min(14, len(self.requests) + 4)
        for label in ("ID", "TASK", "AGENT", "REQUEST"):
            self.table.add_column(label, key=label.lower())
        for r in self.requests:
            cells = (Text(str(r.id)), Text(r.task_id), Text(r.agent_id), Text(r.summary))
            self.table.add_row(*cells, key=str(r.id))
        self.table.focus()
        self._show(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.cursor_row)

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.requests):
            r = self.requests[row]
            self.detail.update(Text(f"{r.tool} input:\n{_plain(r.input, 2000)}"))

    def action_choose(self, how: str) -> None:
        row = self.table.cursor_row
        if 0 <= row < len(self.requests):
            self.dismiss((self.requests[row].id, how))


async def answer(coordinator: Coordinator, choice: Choice, reason: str = "") -> str:
    """Apply the operator's choice; the sentence to show."""
    number, how = choice
    try:
        if how == "deny":
            done = await coordinator.permissions.answer(number, False, reason=reason)
        else:
            done = await coordinator.permissions.answer(number, True, always=how == "always")
    except ControlRoomError as error:
        return f"Refused: {error.message}"
    verb = {"once": "Allowed once", "always": "Allowed always for its task", "deny": "Denied"}
    return f"{verb[how]}: {_plain(done.summary, 80)} ({done.task_id})"


async def ask_operator(
    app: App[None], coordinator: Coordinator, pending: PendingPermissions
) -> str | None:
    """The dialog, then the answer (a reason is asked for a denial); what to tell the operator,
    or None when they closed it."""
    await pending.refresh(coordinator)
    if not pending.requests:
        return "No permission request is waiting."
    choice = await app.push_screen_wait(PermissionRequests(pending.requests))
    if choice is None:
        return None
    reason = ""
    if choice[1] == "deny":
        given = await app.push_screen_wait(Ask("Why deny it? (the agent is told)"))
        if given is None:
            return None
        reason = given
    return await answer(coordinator, choice, reason)
