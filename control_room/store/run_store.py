"""The SQLite registry's runs of the agents Control Room starts (store/run_ops.py): a part of
SqliteRegistry (mixed in), kept apart so the registry's main module stays small."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from control_room.domain import NotFound, Run
from control_room.store import rows, sql


class RunStore:
    """Mixed into SqliteRegistry, which provides `_fetch`; the writes are store/run_ops.py's
    operations, run through `write`."""

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def get_run(self, agent_id: str) -> Run:
        found = await self._fetch(sql.GET_RUN, (agent_id,))
        if not found:
            raise NotFound(f"no run for agent {agent_id}")
        return rows.run(found[0])

    async def runs(self, *, live: bool = False, limit: int = 200) -> list[Run]:
        """The live runs, or the newest `limit` runs; oldest first."""
        query, params = (sql.LIVE_RUNS, ()) if live else (sql.RECENT_RUNS, (limit,))
        return [rows.run(r) for r in await self._fetch(query, params)]
