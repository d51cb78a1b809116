"""The SQLite registry's reads for the stall guard and the daily budget (engine/stall.py,
engine/budget.py): a part of SqliteRegistry (mixed in), kept apart so its main module stays
small."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

IDS_MAX = 500  # agent ids per query (SQLite's variable limit is far above)

ACTIVITY = """
    SELECT a.agent_id, a.last_seen,
        EXISTS (SELECT 1 FROM permission_requests p
                WHERE p.agent_id = a.agent_id AND p.status = 'PENDING') AS waiting
    FROM agents a WHERE a.agent_id IN ({marks})
"""
SPENT_SINCE = "SELECT coalesce(sum(cost_usd), 0.0) FROM runs WHERE started_at >= ?"
NOTED_SINCE = "SELECT 1 FROM events WHERE kind = ? AND at >= ? LIMIT 1"


@dataclass(frozen=True, slots=True)
class Activity:
    """What the registry knows of a running agent's life: when it last called (any claim,
    progress, heartbeat...), and whether it waits for the operator's answer to a permission."""

    last_seen: float | None
    waiting: bool


class WatchStore:
    """Mixed into SqliteRegistry, which provides `_fetch`."""

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def activity(self, agent_ids: Sequence[str]) -> dict[str, Activity]:
        """Each known agent's activity, by id."""
        found: dict[str, Activity] = {}
        ids = list(dict.fromkeys(agent_ids))
        for start in range(0, len(ids), IDS_MAX):
            part = ids[start : start + IDS_MAX]
            query = ACTIVITY.format(marks=", ".join("?" * len(part)))
            for row in await self._fetch(query, part):
                found[row["agent_id"]] = Activity(row["last_seen"], bool(row["waiting"]))
        return found

    async def spent_since(self, since: float) -> float:
        """The recorded cost (USD) of the runs started at `since` or later."""
        rows = await self._fetch(SPENT_SINCE, (since,))
        return float(rows[0][0]) if rows else 0.0

    async def noted_since(self, kind: str, since: float) -> bool:
        """Whether an event of `kind` was logged at `since` or later."""
        return bool(await self._fetch(NOTED_SINCE, (kind, since)))
