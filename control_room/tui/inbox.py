"""The inbox view (key `b`): everything that waits for the operator in one list, oldest first
(approvals, BLOCKED tasks, agents' permission requests, planners' plans: the coordinator's inbox
query), and the keys that answer the selected item. `a` says yes (approve, unblock, allow once,
create a plan's tasks), `x` says no (reject, deny: a reason is asked), `w` allows a permission
for the rest of its task, `r` retries a BLOCKED task. A selected plan shows its tasks as a tree
(tui/plan_view.py). A new kind of item is one more entry in ANSWERS; a kind without one is listed
(answer it elsewhere)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from control_room.domain import ControlRoomError
from control_room.domain.permissions import InboxItem
from control_room.domain.plans import Plan
from control_room.domain.text import one_line
from control_room.engine import Coordinator
from control_room.tui import permissions, plan_view
from control_room.tui.dialogs import Ask

Do = Callable[[Coordinator, InboxItem, str], Awaitable[str]]  # (coordinator, item, reason)


@dataclass(frozen=True)
class Answer:
    label: str  # what the key does, shown in the view
    do: Do  # returns the sentence to show
    reason: str = ""  # a question: the answer needs a reason


async def _approve(c: Coordinator, item: InboxItem, _: str) -> str:
    await c.approve(item.id)
    return f"Approved {item.id}"


async def _unblock(c: Coordinator, item: InboxItem, _: str) -> str:
    await c.approve(item.id)
    return f"Unblocked {item.id}"


async def _retry(c: Coordinator, item: InboxItem, _: str) -> str:
    await c.retry(item.id)
    return f"Retrying {item.id}"


async def _reject(c: Coordinator, item: InboxItem, reason: str) -> str:
    await c.reject(item.id, reason)
    return f"Rejected {item.id}"


def _permission(how: str) -> Do:
    async def do(c: Coordinator, item: InboxItem, reason: str) -> str:
        return await permissions.answer(c, (int(item.id), how), reason)

    return do


# kind -> key -> answer. Keys: a yes, x no, w always, r retry (the view's BINDINGS).
ANSWERS: dict[str, dict[str, Answer]] = {
    "approval": {
        "a": Answer("approve", _approve),
        "x": Answer("reject", _reject, "Why reject {task}?"),
    },
    "blocked": {
        "a": Answer("unblock", _unblock),
        "r": Answer("retry (fresh attempts)", _retry),
        "x": Answer("reject", _reject, "Why reject {task}?"),
    },
    "permission": {
        "a": Answer("allow once", _permission("once")),
        "w": Answer("allow always for the task", _permission("always")),
        "x": Answer("deny", _permission("deny"), "Why deny it? (the agent is told)"),
    },
    "plan": {
        "a": Answer("approve: create every task of the plan", plan_view.approve),
        "x": Answer("reject the plan", plan_view.reject, "Why reject plan {id}?"),
    },
}


def keys_for(kind: str) -> str:
    answers = ANSWERS.get(kind)
    if not answers:
        return "answer it with the command line"
    return "   ".join(f"{key}: {answer.label}" for key, answer in answers.items())


def _ago(since: float, now: float) -> str:
    seconds = max(0, int(now - since))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


Choice = tuple[InboxItem, str]  # (item, key)


class InboxView(ModalScreen[Choice | None]):
    """The inbox, the oldest item selected; a key answers the selected one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "choose('a')", "Yes", id="inbox-yes"),
        Binding("x", "choose('x')", "No", id="inbox-no"),
        Binding("w", "choose('w')", "Allow always", id="inbox-always"),
        Binding("r", "choose('r')", "Retry", id="inbox-retry"),
        Binding("escape", "dismiss", "Close", id="inbox-close"),
    ]

    def __init__(self, items: Sequence[InboxItem], plans: dict[str, Plan] | None = None) -> None:
        super().__init__(classes="dialog")
        self.items = list(items)
        self.plans = plans or {}  # the plan items' plans, by id
        self.table: DataTable[Text] = DataTable(cursor_type="row", id="inbox-table")
        self.hint = Static("", id="inbox-keys")
        self.plan = Static("", id="inbox-plan-tree")
        self.plan_box = VerticalScroll(self.plan, id="inbox-plan")

    def compose(self) -> ComposeResult:
        with Vertical(classes="box wide"):
            yield Label(f"Inbox: {len(self.items)} waiting for you, oldest first.  Escape: close")
            yield self.table
            yield self.hint
            yield self.plan_box

    def on_mount(self) -> None:
        # header, border, and a line for the horizontal scrollbar a long summary brings
        # (a plan's tree needs room below: then fewer rows show at once)
        self.table.styles.height = min(8 if self.plans else 17, len(self.items) + 4)
        self._fit_plan()
        for label in ("KIND", "ID", "TASK", "AGENT", "SINCE", "WHAT"):
            self.table.add_column(label, key=label.lower())
        now = time.time()
        for n, i in enumerate(self.items):
            cells = (i.kind, i.id, i.task or "-", i.agent or "-", _ago(i.since, now), i.summary)
            self.table.add_row(*(Text(one_line(c)[:200]) for c in cells), key=str(n))
        self.table.focus()
        self._show(0)

    def on_resize(self) -> None:
        self._fit_plan()

    def _fit_plan(self) -> None:
        """The tree takes the rest of the box (90% of the screen, less its border and padding,
        the heading, the table, the keys and a blank line) and scrolls within it."""
        table = self.table.styles.height
        rows = int(table.value) if table is not None else 0
        room = int(self.app.size.height * 0.9) - 4 - 1 - rows - 1 - 1
        self.plan_box.styles.max_height = max(3, min(room, 20))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.cursor_row)

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.items):
            self.hint.update(Text(keys_for(self.items[row].kind)))
            plan = self.plans.get(self.items[row].id) if self.items[row].kind == "plan" else None
            self.plan_box.display = plan is not None
            if plan is not None:
                self.plan.update(plan_view.plan_tree(plan))

    def action_choose(self, key: str) -> None:
        row = self.table.cursor_row
        if 0 <= row < len(self.items) and key in ANSWERS.get(self.items[row].kind, {}):
            self.dismiss((self.items[row], key))
        elif 0 <= row < len(self.items):
            self.notify(
                f"{key}: not an answer for a {self.items[row].kind} item", severity="warning"
            )


async def answer(app: App[None], coordinator: Coordinator, choice: Choice) -> str | None:
    """Apply the choice (asking for a reason where one is needed); the sentence to show, or
    None when the operator cancelled the reason."""
    item, key = choice
    chosen = ANSWERS[item.kind][key]
    reason = ""
    if chosen.reason:
        question = chosen.reason.format(task=item.task or item.id, id=item.id)
        given = await app.push_screen_wait(Ask(question))
        if given is None:
            return None
        reason = given
    try:
        return await chosen.do(coordinator, item, reason)
    except ControlRoomError as error:
        return f"Refused: {one_line(error.message)}"


async def open_inbox(app: App[None], coordinator: Coordinator) -> None:
    """The view, again after each answer, until it is closed or empty."""
    while True:
        items = await coordinator.permissions.inbox()
        if not items:
            app.notify("The inbox is empty: nothing waits for you.")
            return
        plans = {i.id: await coordinator.plans.get(i.id) for i in items if i.kind == "plan"}
        choice = await app.push_screen_wait(InboxView(items, plans))
        if choice is None:
            return
        said = await answer(app, coordinator, choice)
        if said:
            app.notify(said, markup=False)
