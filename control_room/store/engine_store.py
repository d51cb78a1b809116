"""The SQLite registry's part for control rooms sharing it (store/engine_ops.py): a part of
SqliteRegistry (mixed in), kept apart so the registry's main module stays small."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from control_room.domain.engines import EngineInfo
from control_room.store import engine_ops

T = TypeVar("T")


class EngineStore:
    """Mixed into SqliteRegistry, which provides `_fetch` and `_clock`; the writes are
    engine_ops' operations, run through `registry.write`."""

    _clock: Callable[[], float]

    async def _fetch(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def registry_time(self) -> float:
        """The registry's clock, which engines' heartbeats are stamped with and judged by: the
        database server's on PostgreSQL, this process's clock on SQLite."""
        (row,) = await self._fetch(engine_ops.CLOCK, {"now": self._clock()})
        return float(row[0])

    async def get_engine(self, engine_id: str) -> EngineInfo | None:
        found = await self._fetch(engine_ops.GET_ENGINE, (engine_id,))
        return engine_ops.engine(tuple(found[0])) if found else None

    async def engines(self, *, running_runs: bool = False) -> list[EngineInfo]:
        """The engines registered as running; with `running_runs`, those with live runs
        (stopped or not)."""
        query = engine_ops.RUN_ENGINES if running_runs else engine_ops.LIVE_ENGINES
        return [engine_ops.engine(tuple(r)) for r in await self._fetch(query)]

    async def operator_status(self, token_hash: str) -> str | None:
        found = await self._fetch(engine_ops.OPERATOR_STATUS, (token_hash,))
        return str(found[0][0]) if found else None

    async def operators(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._fetch(engine_ops.LIST_OPERATORS)]
