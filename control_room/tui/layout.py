"""The screen follows the terminal: side by side from WIDE columns, stacked below (set again on
every resize), and a footer that shows whole key hints only, as many as fit, quit and help
always (help lists every key)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

WIDE = 100  # columns from which the panes sit side by side
ALWAYS = ("help", "quit")  # the footer's hints that never go
# The rest of the footer's hints, most wanted first (the others are in help).
FOOTER = (
    "approve", "reject", "new-task", "filter", "kill-agent", "cancel-task", "retry", "stats",
    "edit-task",
)  # fmt: skip


def hint_width(binding: Binding, key_display: str) -> int:
    """Columns a FooterKey takes: " key description " (Textual's padding)."""
    return len(key_display) + len(binding.description) + 3


def bindings_as_mapped(app: App[None], bindings: Sequence[BindingType]) -> list[Binding]:
    """The app's bindings with the keys `[screen] keys` gave them."""
    found = []
    for binding in bindings:
        if isinstance(binding, Binding):
            key = app._keymap.get(binding.id or "", binding.key)
            found.append(dataclasses.replace(binding, key=key))
    return found


def footer_ids(app: App[None], bindings: Sequence[Binding], width: int) -> set[str]:
    """Which hints fit in `width` columns: quit and help, then FOOTER's in order."""
    by_id = {b.id: b for b in bindings if b.id}
    shown: set[str] = set()
    used = 0
    for key_id in (*ALWAYS, *FOOTER):
        binding = by_id.get(key_id)
        if binding is None:
            continue
        needed = hint_width(binding, app.get_key_display(binding))
        if used + needed > width:
            if key_id in ALWAYS:
                shown.add(key_id)
            continue
        shown.add(key_id)
        used += needed
    return shown


class KeyFooter(Footer):
    """Textual's footer, showing only the hints `shown` names (whole ones; nothing is cut)."""

    def __init__(self) -> None:
        super().__init__(show_command_palette=False)
        self.shown: set[str] = set(ALWAYS) | set(FOOTER)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        actions: set[str] = set()
        keys = []
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.id not in self.shown or binding.action in actions:
                continue
            actions.add(binding.action)
            keys.append(
                FooterKey(
                    binding.key,
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    disabled=not enabled,
                    tooltip=tooltip,
                ).data_bind(compact=Footer.compact)
            )
        self.styles.grid_size_columns = len(keys)
        yield from keys


def follow_size(app: App[None], bindings: Sequence[BindingType], width: int) -> None:
    """Stacked or side by side, and the footer's hints, for a terminal `width` columns wide."""
    app.screen.set_class(width < WIDE, "narrow")
    for footer in app.query(KeyFooter):
        shown = footer_ids(app, bindings_as_mapped(app, bindings), width)
        if shown != footer.shown:
            footer.shown = shown
            footer.refresh(recompose=True)
