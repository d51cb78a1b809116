"""Editing a task on the screen (key `E`): the new-task form (tui/task_form.py) filled in with the
selected task. Saving checks the fields as `control-room task edit` does (domain/edits.py) and
sends only the ones that changed to coordinator.edit_task; a refusal (the task is held by an
agent, a dependency cycle, an unknown dependency) is shown in the form, which stays open with
what was typed, and nothing changes. The id and `manual` cannot be edited (shown, disabled)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App
from textual.binding import Binding, BindingType
from textual.widgets import Checkbox, Input, Label, TextArea

from control_room.domain import Action, ControlRoomError, InvalidInput, Task
from control_room.domain.edits import EDITABLE, differences, parse_edit
from control_room.domain.status import require
from control_room.domain.text import one_line
from control_room.engine import Coordinator
from control_room.tui.task_form import FIELDS, NewTask

Save = Callable[[dict[str, Any]], Awaitable[Task]]
LABELS = {key: label for key, label, _ in FIELDS}
LISTS = {"capabilities": ", ", "depends_on": ", ", "criteria": "\n", "checks": "\n"}


class EditTask(NewTask):
    """The task form on an existing task; returns the fields it saved (`saved`: the task as
    saved), or None when nothing was saved."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="save-task"),
    ]

    def __init__(self, task: Task, save: Save, known_ids: Iterable[str] = ()) -> None:
        super().__init__(known_ids)
        self.editing = task
        self.save = save
        self.saved: Task | None = None
        self.HEADING = f"Edit {task.id} · Tab: next field · Ctrl+S saves · Escape cancels"

    def on_mount(self) -> None:
        task = self.editing
        for key, _, _ in FIELDS:
            widget = self.query_one(f"#{key}")
            value = getattr(task, "id" if key == "id" else key)
            if isinstance(widget, Checkbox):
                widget.value = bool(value)
                widget.disabled = True  # not editable: `manual` is chosen when a task is added
            elif isinstance(widget, TextArea):
                widget.load_text(LISTS[key].join(value) if key in LISTS else str(value))
            elif isinstance(widget, Input):
                widget.value = LISTS[key].join(value) if key in LISTS else str(value)
                widget.disabled = key == "id"
        self.query_one("#title").focus()

    def values(self) -> dict[str, Any]:
        """Every editable field as typed (an emptied list field is an empty list: cleared)."""
        found: dict[str, Any] = {}
        for key in EDITABLE:
            widget = self.query_one(f"#{key}")
            text = widget.text if isinstance(widget, TextArea) else self.query_one(
                f"#{key}", Input
            ).value  # fmt: skip
            if key in ("capabilities", "depends_on"):
                found[key] = [part.strip() for part in text.split(",") if part.strip()]
            elif key in ("criteria", "checks"):
                found[key] = [line.strip() for line in text.splitlines() if line.strip()]
            elif key == "max_attempts":
                found[key] = int(text.strip()) if text.strip().isdigit() else text.strip()
            else:
                found[key] = text if key == "description" else text.strip()
        return found

    def _problem(self, error: ControlRoomError) -> None:
        if isinstance(error, InvalidInput) and error.field in LABELS:
            shown = f"{LABELS[error.field]}: {error.detail}"
            self.query_one(f"#{error.field}").focus()
        else:
            shown = f"Not saved: {error.message}"
        self.query_one("#problem", Label).update(Text(one_line(shown)))

    async def action_save(self) -> None:
        typed = self.values()
        try:
            changed = differences(self.editing, parse_edit(self.editing.id, typed))
        except InvalidInput as error:
            self._problem(error)
            return
        if not changed:
            self.notify(f"Nothing changed in {self.editing.id}.")
            self.dismiss(None)
            return
        try:
            fields = {name: typed[name] for name in changed}
            self.saved = await self.save(fields)
        except ControlRoomError as error:  # held meanwhile, a cycle, an unknown dependency
            self._problem(error)
            return
        self.dismiss(fields)


async def edit(
    app: App[None], coordinator: Coordinator, task_id: str, known_ids: Iterable[str]
) -> Task | None:
    """Open the form on the task (refused at once when its status allows no edit); the task as
    saved, or None."""
    try:
        task = await coordinator.task(task_id)
        require(Action.EDIT, task.id, task.status)
    except ControlRoomError as error:
        app.notify(one_line(error.message), title=f"Not editable: {task_id}", severity="error",
                   markup=False)  # fmt: skip
        return None

    async def save(fields: dict[str, Any]) -> Task:
        return await coordinator.edit_task(task_id, fields)

    form = EditTask(task, save, known_ids)
    await app.push_screen_wait(form)
    return form.saved
