"""The screen follows the world: it loads what the panes hold, then follows the registry's
change feed (every process's writes, in order) and updates the rows that changed, cell by cell.
Counts come from the registry (capped, indexed), not from the rows held, so they are right at
any size."""

from __future__ import annotations

import asyncio
import gc
import time

from control_room.domain import Event, Status
from control_room.domain.counters import FINISHED
from control_room.domain.listing import TaskFilter
from control_room.domain.text import one_line
from control_room.tui.agent_rows import AgentRows
from control_room.tui.base import ScreenBase
from control_room.tui.figures import HeaderFigures
from control_room.tui.task_rows import TaskRows

COUNT_SECONDS = 2.0
RECOUNT_SECONDS = 0.5  # after a change, counts are read again at most this often
FINISHED_EVERY = 5  # finished tasks are counted every 5th time (10 s)
CHEAP_COUNT = 10_000  # a status with fewer tasks is counted on every change
COUNT_CAP = 100_000  # counts above this show as "100000+"
AGENT_EVENTS = ("agent_", "claimed", "released", "expired", "completed", "handed_in", "blocked")


class Feed(ScreenBase):
    """Loading and following (mixed into ControlRoomApp)."""

    _last_event: int
    loaded_at: float | None
    load_started: float | None = None
    rows: TaskRows
    agent_rows: AgentRows
    counts: dict[Status, int]
    _counted_at: float
    figures: HeaderFigures

    async def load(self) -> None:
        """The first page of each pane, drawn at once; the rest comes as the operator scrolls."""
        assert self.coordinator is not None
        self.load_started = time.perf_counter()
        self._last_event = await self.coordinator.last_event_id()
        self.tasks.show(await self.rows.more(self.coordinator, self.tasks.tasks), announce=False)
        await self.show_agents()
        await self._permissions_changed(await self.pending.refresh(self.coordinator))
        for event in await self.coordinator.recent_events(500):
            if event.kind == "routed":
                self.decisions.add(event)
        await self.count(finished=False)  # the finished ones follow at once (counting)
        self.show_status()
        self.loaded_at = time.perf_counter()
        # Start-up made many objects that live as long as the screen: keep them out of the
        # garbage collector's full passes, which otherwise stall keys for a tenth of a second.
        gc.collect()
        gc.freeze()

    async def load_more(self) -> None:
        """The next rows of the tasks pane (the operator scrolled past the end)."""
        if self.coordinator is None or self.rows.exhausted:
            return
        self.tasks.show(await self.rows.more(self.coordinator, self.tasks.tasks), announce=False)

    async def refilter(self, needle: str) -> None:
        """A new search: the pane holds what matches it (found in SQL), from the start."""
        self.rows.restart(needle)
        self.tasks.filter = needle
        self.tasks.forget()
        await self.load_more()
        self.tasks.border_title = (
            f"tasks · filter: {needle}  (/ changes, Escape clears)" if needle else "tasks"
        )
        self.show_status()

    async def show_agents(self) -> None:
        assert self.coordinator is not None
        shown = await self.agent_rows.read(self.coordinator, time.time(), self.tasks.tasks)
        self.agents.show_rows(shown)

    async def count(self, *, finished: bool = True) -> None:
        """The count of tasks in each status; a finished status holding CHEAP_COUNT tasks or
        more (a big, slow count) only when `finished`, else its last count is kept."""
        assert self.coordinator is not None
        found = dict(self.counts)
        for status in Status:
            cheap = self.counts.get(status, CHEAP_COUNT) < CHEAP_COUNT  # (known to be small)
            if finished or cheap or status not in FINISHED:
                where = TaskFilter(statuses=(status,))
                found[status] = await self.coordinator.count_tasks(where, COUNT_CAP)
        self.counts = found
        self._counted_at = time.monotonic()

    async def follow(self) -> None:
        """Follow the change feed from the last event loaded, and show what changed. A burst
        that comes while a batch is shown is one batch next (read from the log if large)."""
        assert self.coordinator is not None
        with self.coordinator.feed.subscribe(self._last_event) as subscription:
            async for events in subscription.batches():
                self._last_event = events[-1].id
                await self.apply(events)

    async def counting(self) -> None:
        """Counts, and the agents pane (SEEN moves on, ended agents hide), every few seconds;
        the key figures when the events changed something (tui/figures.py: not here on start,
        which stays quick on any registry, nor in `follow`, which a long read would hold up)."""
        rounds = 0
        while True:
            await self.count(finished=rounds % FINISHED_EVERY == 0)
            assert self.coordinator is not None
            await self.figures.refresh(self.coordinator)
            self.show_status()
            await asyncio.sleep(COUNT_SECONDS)
            rounds += 1
            await self.show_agents()

    async def apply(self, events: list[Event]) -> None:
        assert self.coordinator is not None
        changed = {e.task_id for e in events if e.task_id}
        tasks = [await self.coordinator.task(task_id) for task_id in changed]
        # Rows held change in place; a new task joins when it is open and the search finds it.
        needle = self.tasks.filter.lower()
        shown = [
            t
            for t in tasks
            if t.id in self.tasks.tasks
            or (t.status not in FINISHED and (not needle or needle in f"{t.id} {t.title}".lower()))
        ]
        for task in self.tasks.show(shown):
            self.bell()
            verb = (
                "awaits approval (a)" if task.status is Status.AWAITING_APPROVAL else "is BLOCKED"
            )
            text = one_line(f"{task.id} {verb}: {task.title}")
            self.notify(text, title="Inbox", severity="warning", markup=False)
        if tasks and time.monotonic() - self._counted_at > RECOUNT_SECONDS:
            await self.count(finished=False)
        await self._permissions_changed(await self.pending.refresh(self.coordinator, events))
        for asked in self.pending.asked(events):
            self.bell()
            text = one_line(f"{asked.agent_id} asks: {asked.message} (p)")
            self.notify(text, title="Permission", markup=False)
        if any(e.kind.startswith(AGENT_EVENTS) for e in events):
            await self.show_agents()
        for event in events:
            if event.kind == "routed":
                self.decisions.add(event)
            elif event.kind == "plan_proposed":
                self.bell()
                text = one_line(f"{event.message} by {event.actor} (b)")
                self.notify(text, title="Plan", severity="warning", markup=False)
        self.figures.note(events)
        self.show_status()

    async def _permissions_changed(self, task_ids: set[str]) -> None:
        if task_ids and self.coordinator is not None:
            self.tasks.waiting = self.pending.tasks
            self.tasks.show([await self.coordinator.task(t) for t in task_ids], announce=False)
