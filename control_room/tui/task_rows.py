"""Which tasks the tasks pane holds, read a page at a time so the screen stays light at a million
tasks: the open ones (by priority, then age), then the most recent finished ones, more as the
operator scrolls past the end. A filter runs in SQL (the store's paged listing, any status).

Finished ones are found from the event log read backwards (store/listing_sql.py
RECENT_FINISHED), so no query sorts the whole table by time."""

from __future__ import annotations

from control_room.domain import Task
from control_room.domain.listing import OPEN, TaskFilter
from control_room.engine import Coordinator

PAGE = 500  # rows read at once (the store's pages hold up to 1000)
FINISHED_ROWS = 200  # finished tasks shown after the open ones; `[screen] finished_rows`


class TaskRows:
    """Where the pane's listing stands: the next page's cursor, and how far back into the
    finished ones it has read."""

    def __init__(self, finished_rows: int = FINISHED_ROWS) -> None:
        self.finished_rows = finished_rows
        self.text = ""
        self._cursor: str | None = None
        self._phase = "open"  # "open", then "finished", then "end"
        self._finished_before: int | None = None  # the oldest finishing event read so far

    @property
    def exhausted(self) -> bool:
        return self._phase == "end"

    def restart(self, text: str) -> None:
        self.text, self._cursor, self._finished_before = text, None, None
        self._phase = "open"

    async def more(self, c: Coordinator, held: dict[str, Task]) -> list[Task]:
        """The next rows to show (none once everything is shown)."""
        if self._phase == "open":
            where = TaskFilter(statuses=OPEN, text=self.text or None)
            if self.text:  # a search covers every status
                where = TaskFilter(text=self.text)
            page = await c.task_page(where, self._cursor, PAGE)
            self._cursor = page.next
            if page.next is None:
                self._phase = "end" if self.text else "finished"
            found = [t for t in page.items if t.id not in held]
            if len(page.items) >= PAGE // 2 or self._phase != "finished":
                return found
            return found + await self._finished(c, held)  # a short page: finished ones too
        if self._phase == "finished":
            return await self._finished(c, held)
        return []

    async def _finished(self, c: Coordinator, held: dict[str, Task]) -> list[Task]:
        if self.finished_rows <= 0:
            self._phase = "end"
            return []
        before = self._finished_before if self._finished_before is not None else 2**62
        found: list[Task] = []
        while len(found) < self.finished_rows:
            batch = await c.recent_finished(before, self.finished_rows)
            if not batch:
                self._phase = "end"
                break
            before = batch[-1][0]
            for _, task in batch:
                if task.id not in held and all(t.id != task.id for t in found):
                    found.append(task)
        self._finished_before = before
        return found
