"""The new-task form (key `n`): every field `control-room task add` has, checked by the same
parse_task_spec. Tab and shift+Tab move through all the fields (the text areas give Tab back to
the focus chain); depends-on completes the ids of known tasks; a refused field is named, focused,
and everything typed stays."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, TextArea

from control_room.domain import InvalidInput, parse_task_spec

# (key, label, placeholder); the kind of widget is chosen below.
FIELDS = (
    ("id", "Id", "optional, e.g. API-7 (default: a generated T-XXXXXX)"),
    ("title", "Title", "what should be done"),
    ("description", "Description", ""),
    ("priority", "Priority", "P0, P1, P2 (default) or P3"),
    ("type", "Type", "implementation, architecture, strategic, testing..."),
    ("capabilities", "Capabilities", "comma separated, e.g. backend, api"),
    ("criteria", "Criteria", ""),
    ("checks", "Checks", ""),
    ("depends_on", "Depends on", "task ids, comma separated (completes known ids)"),
    ("manual", "Manual", ""),
    ("max_attempts", "Max attempts", "1 to 100 (default 3)"),
)
AREAS = {"description", "criteria", "checks"}  # several lines (criteria, checks: one a line)
COMMAS = {"capabilities", "depends_on"}
LINES = {"criteria", "checks"}


class LastIdSuggester(Suggester):
    """Completes the last comma-separated part of the value from `ids`."""

    def __init__(self, ids: Iterable[str]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.ids = sorted(set(ids))

    async def get_suggestion(self, value: str) -> str | None:
        head, comma, last = value.rpartition(",")
        typed = last.lstrip()
        if not typed:
            return None
        for known in self.ids:
            if known.lower().startswith(typed.lower()) and known != typed:
                return f"{head}{comma}{last[: len(last) - len(typed)]}{known}"
        return None


class NewTask(ModalScreen[dict[str, Any] | None]):
    """A task form; what it returns has passed the same checks as `control-room task add`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="cancel-task"),
        Binding("ctrl+s", "save", "Add", id="save-task"),
    ]

    HEADING = "New task · Tab, shift+Tab: next, previous · Ctrl+S adds · Escape cancels"

    def __init__(self, known_ids: Iterable[str] = ()) -> None:
        super().__init__(classes="dialog")
        self.known_ids = list(known_ids)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="box wide tall"):
            yield Label(Text(self.HEADING))
            with Vertical(id="form"):
                for key, label, hint in FIELDS:
                    with Horizontal(classes="field"):
                        yield Label(label)
                        yield self._field(key, hint)
            yield Label("", id="problem", classes="problem")

    def _field(self, key: str, hint: str) -> Widget:
        if key in AREAS:
            area = TextArea(id=key, tab_behavior="focus", soft_wrap=True, compact=True)
            area.placeholder = {
                "description": "what and why (several lines)",
                "criteria": "one a line",
                "checks": "one command a line, e.g. pytest -q",
            }[key]
            return area
        if key == "manual":
            return Checkbox("waits for a human-started agent", id=key)
        if key == "depends_on":
            return Input(
                placeholder=hint, id=key, compact=True, suggester=LastIdSuggester(self.known_ids)
            )
        return Input(placeholder=hint, id=key, compact=True)

    def raw(self) -> dict[str, Any]:
        """What was typed, shaped as `task add` gives it to parse_task_spec."""
        found: dict[str, Any] = {}
        for key, _, _ in FIELDS:
            widget = self.query_one(f"#{key}")
            if isinstance(widget, Checkbox):
                if widget.value:
                    found[key] = True
                continue
            value = widget.text if isinstance(widget, TextArea) else self.query_one(
                f"#{key}", Input
            ).value  # fmt: skip
            if not value.strip():
                continue
            if key in COMMAS:
                found[key] = [part.strip() for part in value.split(",") if part.strip()]
            elif key in LINES:
                found[key] = [line.strip() for line in value.splitlines() if line.strip()]
            elif key == "max_attempts" and value.strip().isdigit():
                found[key] = int(value.strip())
            elif key == "description":
                found[key] = value
            else:
                found[key] = value.strip()
        return found

    async def action_save(self) -> None:
        raw = self.raw()
        try:
            parse_task_spec(raw)
        except InvalidInput as error:
            label = dict((key, label) for key, label, _ in FIELDS).get(error.field, error.field)
            self.query_one("#problem", Label).update(Text(f"{label}: {error.detail}"))
            if error.field in dict((key, 0) for key, _, _ in FIELDS):
                self.query_one(f"#{error.field}").focus()
            return
        self.dismiss(raw)

    async def on_input_submitted(self) -> None:
        await self.action_save()

    def action_cancel(self) -> None:
        self.dismiss(None)
