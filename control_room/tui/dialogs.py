"""The screen's dialogs: confirm, a reason to reject, details, help (the new-task form is in
tui/task_form.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

CLOSE: list[BindingType] = [Binding("escape", "dismiss", "Close", id="close")]


class Confirm(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "No", id="no"),
        Binding("y", "answer(True)", "Yes", id="yes"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__(classes="dialog")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label(Text(self.question))
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class Ask(ModalScreen[str | None]):
    """One line of text (a reason, a filter); None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="cancel-input")
    ]

    def __init__(self, question: str, value: str = "", required: bool = True) -> None:
        super().__init__(classes="dialog")
        self.question, self.value, self.required = question, value, required

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label(Text(self.question))
            yield Input(value=self.value, id="answer")
            yield Label("", id="problem", classes="problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.required and not event.value.strip():
            self.query_one("#problem", Label).update("A reason is required.")
            return
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class Details(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = CLOSE

    def __init__(self, lines: Sequence[Text]) -> None:
        super().__init__(classes="dialog")
        self.lines = lines

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="box wide tall"):
            yield Static(Text("\n").join(self.lines))


class Help(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = CLOSE

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__(classes="dialog")
        self.keys = keys

    def compose(self) -> ComposeResult:
        text = Text("Keys\n\n")
        for key, what in self.keys:
            text.append(f"  {key:<10}", style="bold")
            text.append(f"{what}\n")
        text.append("\nEscape closes this.", style="dim")
        with VerticalScroll(classes="box"):
            yield Static(text)
