"""The SQLite registry's figures for `control-room stats` and `GET /metrics` (store/stats_sql.py):
a part of SqliteRegistry (mixed in), kept apart so the registry's main module stays small."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from control_room.domain.stats import Spread, Stats
from control_room.store import inbox_sql
from control_room.store import stats_sql as q


def _spread(row: sqlite3.Row) -> Spread:
    return Spread(int(row["n"]), row["median"], row["p90"])


class StatsStore:
    """Mixed into SqliteRegistry, which provides `_fetch`."""

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def stats(self, since: float | None = None, now: float | None = None) -> Stats:
        """The figures over the tasks added (runs, stalls, requests started) at or after
        `since` (unix seconds), or over all history."""
        now = time.time() if now is None else now
        w = q.NO_WINDOW if since is None else since
        by_status = {r["status"]: int(r["n"]) for r in await self._fetch(q.TASKS_BY_STATUS, (w,))}
        (started,) = await self._fetch(q.STARTED, (w,))
        (completed,) = await self._fetch(q.COMPLETED, (w,))
        (to_completed,) = await self._fetch(q.TO_COMPLETED[since is not None], (w,))
        (to_merged,) = await self._fetch(q.TO_MERGED[since is not None], (w,))
        (runs,) = await self._fetch(q.RUNS, (now, w))
        (stalls,) = await self._fetch(q.STALLS, (w,))
        (permissions,) = await self._fetch(q.PERMISSIONS, (w,))
        (wait,) = await self._fetch(q.PERMISSION_WAIT, (w,))
        return Stats(
            now=now,
            since=since,
            tasks_by_status=dict(sorted(by_status.items())),
            tasks_total=sum(by_status.values()),
            started=int(started["started"]),
            started_auto=int(started["auto"]),
            started_by_hand=int(started["started"]) - int(started["auto"]),
            finished=int(started["finished"]),
            first_attempt_successes=int(started["first_try"]),
            completed=int(completed["n"]),
            to_completed=_spread(to_completed),
            to_merged=_spread(to_merged),
            runs=int(runs["n"]),
            cost_usd=float(runs["cost"]),
            agent_hours=float(runs["hours"]),
            reported_hours=float(completed["hours"]),
            stalls=int(stalls["n"]),
            permission_requests=int(permissions["n"]),
            permission_pending=int(permissions["pending"]),
            permission_wait=_spread(wait),
        )

    async def event_counts(self, after: int) -> tuple[int, dict[str, int]]:
        """(the last event id, how many events of each kind came after event `after` up to it)."""
        (last,) = await self._fetch(q.LAST_EVENT)
        upto = int(last["id"])
        if upto <= after:
            return upto, {}
        if after <= 0:
            found = await self._fetch(q.ALL_EVENTS_BY_KIND, (upto,))
        else:
            found = await self._fetch(q.EVENTS_BY_KIND, (after, upto))
        return upto, {r["kind"]: int(r["n"]) for r in found}

    async def live_counts(self) -> dict[str, Any]:
        """Tasks by status (all history), agents and runs live, inbox items by kind."""
        by_status = {r["status"]: int(r["n"]) for r in await self._fetch(q.TASKS_BY_STATUS_ALL)}
        (agents,) = await self._fetch(q.AGENTS_LIVE)
        (runs,) = await self._fetch(q.RUNS_LIVE)
        inbox = {}
        for kind, source in inbox_sql.INBOX_SOURCES.items():
            (row,) = await self._fetch(q.inbox_count(source))
            inbox[kind] = int(row["n"])
        return {
            "tasks": by_status,
            "agents_live": int(agents["n"]),
            "runs_live": int(runs["n"]),
            "inbox": inbox,
        }
