"""What the incremental assignment loop (engine/assignment.py) reads and writes: which tasks
changed since an event id, tasks by id in one query, each open task's last routing decision
(read once, when the loop starts), and decisions appended in one batch.

A part of SqliteRegistry (mixed in), kept apart so the registry's main module stays small."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from control_room.domain import RoutingDecision, Status, Task
from control_room.store import rows, sql
from control_room.store.tx import Tx

CHUNK = 500  # ids per query: well under SQLite's limit on bound parameters
CONVERT_CHUNK = 1000  # rows converted between two yields to the event loop (a few ms)

# The latest transition of each task that moved after an event id; events without a
# transition (progress, routed, agent_started ...) change nothing routing looks at.
CHANGES_SINCE = """
    SELECT id, task_id, to_status, kind FROM events
    WHERE id > ? AND (to_status IS NOT NULL OR kind = 'agent_ended')
    ORDER BY id LIMIT ?
"""
LAST_EVENT = "SELECT coalesce(max(id), 0) FROM events"
OPEN_DECISIONS = """
    SELECT d.* FROM tasks t JOIN routing_decisions d ON d.id = (
        SELECT max(id) FROM routing_decisions WHERE task_id = t.task_id)
    WHERE t.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')
"""


@dataclass(frozen=True, slots=True)
class Changes:
    """What moved after an event id: each task's latest status, and whether an agent ended."""

    last_id: int
    statuses: dict[str, Status]
    agent_ended: bool
    more: bool  # the batch was full: ask again from `last_id`


def append_decisions(tx: Tx, decisions: Sequence[RoutingDecision]) -> list[RoutingDecision]:
    """Store `decisions` as they are (the caller already knows they are news), each with its
    `routed` event: one batched insert, no query per task."""
    tx.conn.executemany(
        sql.INSERT_DECISION,
        [
            (tx.now, d.task_id, str(d.decision), d.rule, d.why, d.agent_type, d.runtime,
             d.budget_usd)
            for d in decisions
        ],
    )  # fmt: skip
    for d in decisions:
        tx.log(
            "routed", "router", task_id=d.task_id, message=d.why,
            decision=str(d.decision), rule=d.rule, agent_type=d.agent_type, runtime=d.runtime,
        )  # fmt: skip
    return [replace(d, at=tx.now) for d in decisions]


class RoutingStore:
    """Mixed into SqliteRegistry, which provides `_fetch`; `append_decisions` above is an
    operation, run through `write`."""

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def changes_since(self, after: int, limit: int = 2000) -> Changes:
        found = await self._fetch(CHANGES_SINCE, (after, limit))
        statuses: dict[str, Status] = {}
        ended = False
        for row in found:
            if row["kind"] == "agent_ended":
                ended = True
            if row["task_id"] is not None and row["to_status"] is not None:
                statuses[row["task_id"]] = Status(row["to_status"])
        last = int(found[-1]["id"]) if found else after
        return Changes(last, statuses, ended, len(found) == limit)

    async def last_event(self) -> int:
        (row,) = await self._fetch(LAST_EVENT)
        return int(row[0])

    async def tasks_by_id(self, ids: Sequence[str]) -> list[Task]:
        """The tasks of `ids` that exist, a query per 500 ids."""
        found: list[Task] = []
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"{sql.LIST_TASKS} WHERE t.task_id IN ({marks})"
            found.extend(rows.task(r) for r in await self._fetch(query, chunk))
        return found

    async def open_decisions(self) -> dict[str, RoutingDecision]:
        """The last routing decision of every unfinished task that has one (rows converted a
        chunk at a time, letting the event loop serve between chunks)."""
        found = await self._fetch(OPEN_DECISIONS)
        decisions: dict[str, RoutingDecision] = {}
        for start in range(0, len(found), CONVERT_CHUNK):
            if start:
                await asyncio.sleep(0)
            decisions.update(
                (r["task_id"], rows.decision(r)) for r in found[start : start + CONVERT_CHUNK]
            )
        return decisions
