"""The screen's delivery keys: the selected task's diff in a view, and its merge (asked first).

The diff is the agent's text: it is shown as plain Text (never markup) with its control
characters defused, coloured line by line here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from control_room.domain import ControlRoomError
from control_room.engine.delivery import Delivery
from control_room.tui import dialogs

MAX_LINES = 5_000
STYLES = (  # line prefix -> style, first match wins
    ("+++", "bold"), ("---", "bold"), ("diff --git", "bold"), ("index ", "dim"),
    ("@@", "cyan"), ("+", "green"), ("-", "red"),
)  # fmt: skip


def diff_text(diff: str) -> Text:
    lines = diff.splitlines()
    text = Text()
    for line in lines[:MAX_LINES]:
        shown = "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in line)
        style = next((s for prefix, s in STYLES if line.startswith(prefix)), "")
        text.append(shown + "\n", style=style)
    if len(lines) > MAX_LINES:
        text.append(f"… {len(lines) - MAX_LINES} more lines: control-room task diff\n", "dim")
    return text


class DiffView(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="close-diff")
    ]

    def __init__(self, title: str, diff: str) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.diff = diff

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="box wide tall", id="diff-view"):
            yield Static(Text(self.title_text, style="bold"))
            yield Static(diff_text(self.diff) if self.diff else Text("No changes.", "dim"))


async def show_diff(app: App[Any], delivery: Delivery, task_id: str) -> None:
    try:
        task = await delivery.coordinator.task(task_id)
        diff = await delivery.diff(task, stat=True)
    except ControlRoomError as error:
        app.notify(error.message, title="Diff", severity="warning")
        return
    base = f"{task.base_branch} at " if task.base_branch else ""
    title = f"{task.id}  {task.branch} against {base}{(task.base_commit or '')[:12]}  (Esc)"
    await app.push_screen(DiffView(title, diff))


async def merge(app: App[Any], delivery: Delivery, task_id: str) -> None:
    """Ask, then merge the task's branch into its base branch; the outcome as a notice."""
    try:
        task = await delivery.coordinator.task(task_id)
        if not task.branch:
            delivery.branch_of(task)  # raises: no branch
    except ControlRoomError as error:
        app.notify(error.message, title="Merge", severity="warning")
        return
    question = f"Merge {task.branch} into {task.base_branch or '(no base branch)'}?"
    if not await app.push_screen_wait(dialogs.Confirm(question)):
        return
    try:
        done = await delivery.merge(task_id, "operator")
    except ControlRoomError as error:
        app.notify(error.message, title="Merge: refused", severity="error", timeout=15)
        return
    if done.already:
        app.notify(f"{task_id} is already merged into {task.base_branch}", title="Merge")
    else:
        app.notify(f"Merged {task_id} into {task.base_branch}: {done.commit[:12]}", title="Merge")
