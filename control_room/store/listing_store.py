"""The SQLite registry's paged listings of tasks and agents (store/listing_sql.py): a part of
SqliteRegistry (mixed in), kept apart so the registry's main module stays small.

A page is read with one query of `limit + 1` rows: the extra row only says whether a next
page exists, so `next` is None on the last page (no empty page to fetch at the end)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from control_room.domain import Agent, Task
from control_room.domain.listing import (
    Page,
    TaskFilter,
    agent_cursor,
    encode_cursor,
    limit_value,
    task_cursor,
)
from control_room.domain.models import AgentStatus
from control_room.store import listing_sql, rows


class ListingStore:
    """Mixed into SqliteRegistry, which provides `_fetch`."""

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def task_page(
        self, where: TaskFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[Task]:
        """Tasks matching `where` by priority, then age (then id), after `cursor`."""
        limit = limit_value(limit)
        after = task_cursor(cursor) if cursor is not None else None
        found = await self._fetch(*listing_sql.task_page(where, after, limit + 1))
        more = len(found) > limit
        del found[limit:]
        last = found[-1] if found and more else None
        next_cursor = (
            encode_cursor("t", (last["priority"], last["created_at"], last["task_id"]))
            if last is not None
            else None
        )
        return Page([rows.task(r) for r in found], next_cursor)

    async def count_tasks(self, where: TaskFilter, cap: int) -> int:
        """How many tasks match `where`, counting at most `cap`."""
        (row,) = await self._fetch(*listing_sql.task_count(where, cap))
        return int(row[0])

    async def agent_page(
        self, status: AgentStatus | None = None, cursor: str | None = None, limit: int = 100
    ) -> Page[Agent]:
        """Agents (of `status`, if given) oldest first, after `cursor`."""
        limit = limit_value(limit)
        after = agent_cursor(cursor) if cursor is not None else None
        found = await self._fetch(*listing_sql.agent_page(status, after, limit + 1))
        more = len(found) > limit
        del found[limit:]
        last = found[-1] if found and more else None
        next_cursor = (
            encode_cursor("a", (last["created_at"], last["agent_id"])) if last is not None else None
        )
        return Page([rows.agent(r) for r in found], next_cursor)

    async def recent_finished(self, before_event: int, limit: int) -> list[tuple[int, Task]]:
        """Finished tasks, newest finish first, from finishing events older than
        `before_event`: (that event's id, the task), to pass the last id back for more."""
        found = await self._fetch(listing_sql.RECENT_FINISHED, (before_event, limit))
        return [(int(r["finished_event"]), rows.task(r)) for r in found]
