"""The numbers on the screen: the key figures in the status line (Stats.headline(): done/total,
auto share, first-attempt rate, median time, cost), read again only when the event log says
something changed (at most every REFRESH_SECONDS, never per frame; on a registry so big that
the read takes long, at most COST_SHARE of the time goes to it), with the inbox items the
task counts do not cover (plans, stalls, the daily budget); and the stats view (key `s`): every
figure of `control-room stats`, over all history or the last hour, day or week."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from control_room.domain import Event
from control_room.domain.stats import Stats
from control_room.domain.stats_text import stats_text
from control_room.engine import Coordinator

REFRESH_SECONDS = 2.0
COST_SHARE = 0.05  # a read that took 1 s waits 20 s for the next one (measured: 30-70 ms for
# 20,000 tasks and 2,000 completed on this 2-core machine)
WIDE_LINE = 66  # a figure's line longer than this goes on at "; " under its value (80x24)
VALUE_COLUMN = 23  # where stats_text's values start
QUIET = ("progress", "routed")  # events that change no figure (they come often)
COUNTED = ("approval", "blocked", "permission")  # inbox kinds the status line counts already
# (key, binding id, label, seconds; None: all history)
WINDOWS: tuple[tuple[str, str, str, float | None], ...] = (
    ("a", "stats-all", "all", None),
    ("h", "stats-hour", "1h", 3600.0),
    ("d", "stats-day", "24h", 86400.0),
    ("w", "stats-week", "7d", 604800.0),
)


class HeaderFigures:
    """What the status line shows beside the counts; `note` the events, `refresh` when due."""

    def __init__(self) -> None:
        self.stats: Stats | None = None
        self.waiting = 0  # inbox items of kinds not in COUNTED
        self.stale = True
        self.read_at = 0.0  # monotonic
        self.took = 0.0  # seconds the last read took
        self.reads = 0

    def note(self, events: Sequence[Event]) -> None:
        if any(e.kind not in QUIET for e in events):
            self.stale = True

    async def refresh(self, coordinator: Coordinator, *, now: float | None = None) -> bool:
        """Read the figures again if something changed and the last read is old enough."""
        now = time.monotonic() if now is None else now
        if not self.stale or now - self.read_at < max(REFRESH_SECONDS, self.took / COST_SHARE):
            return False
        self.stale = False
        self.read_at = now
        started = time.perf_counter()
        self.stats = await coordinator.stats()
        items = await coordinator.permissions.inbox()
        self.took = time.perf_counter() - started
        self.waiting = sum(1 for item in items if item.kind not in COUNTED)
        self.reads += 1
        return True

    def headline(self) -> str:
        return self.stats.headline() if self.stats is not None else ""


Fetch = Callable[[float | None], Awaitable[Stats]]


class StatsView(ModalScreen[None]):
    """Every figure of `control-room stats`; a key picks the window."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(key, f"window('{label}')", label, id=i) for key, i, label, _ in WINDOWS),
        Binding("escape", "dismiss", "Close", id="stats-close"),
    ]

    def __init__(self, fetch: Fetch) -> None:
        super().__init__(classes="dialog")
        self.fetch = fetch
        self.window = "all"
        self.figures = Static("reading the figures…", id="stats-figures")
        self.shown: Stats | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="box wide", id="stats-box"):
            yield self.figures

    async def on_mount(self) -> None:
        await self.action_window("all")

    async def action_window(self, label: str) -> None:
        seconds = next(s for _, _, name, s in WINDOWS if name == label)
        self.window = label
        self.shown = await self.fetch(seconds)
        self.figures.update(self.render_figures(self.shown))

    def render_figures(self, stats: Stats) -> Text:
        lines = stats_text(stats, None if self.window == "all" else self.window).splitlines()
        under = "\n" + " " * VALUE_COLUMN
        text = Text("\n".join(s.replace("; ", under) if len(s) > WIDE_LINE else s for s in lines))
        text.append("\n\nwindow  ", style="bold")
        for key, _, label, _ in WINDOWS:
            style = "bold reverse" if label == self.window else ""
            text.append(f" {label} ", style=style)
            text.append(f"({key})  ", style="dim")
        text.append("\nEscape closes this.", style="dim")
        return text
