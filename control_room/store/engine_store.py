"""The SQLite registry's part for control rooms sharing it (store/engine_ops.py): a part of
SqliteRegistry (mixed in), kept apart so the registry's main module stays small."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from control_room.domain.engines import EngineInfo
from control_room.store import engine_ops
from control_room.store.tx import Tx

T = TypeVar("T")


class EngineStore:
    """Mixed into SqliteRegistry, which provides `_write` and `_fetch`."""

    async def _write(self, op: Callable[[Tx], T]) -> T:
        raise NotImplementedError

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def register_engine(
        self, engine_id: str, host: str, pid: int, data_dir: str, url: str
    ) -> EngineInfo:
        return await self._write(
            lambda tx: engine_ops.register_engine(tx, engine_id, host, pid, data_dir, url)
        )

    async def engine_heartbeat(self, engine_id: str) -> bool:
        return await self._write(lambda tx: engine_ops.heartbeat(tx, engine_id))

    async def engine_stopped(self, engine_id: str) -> None:
        await self._write(lambda tx: engine_ops.stopped(tx, engine_id))

    async def engine_found_gone(
        self, engine_id: str, seen_before: float, why: str, by: str
    ) -> bool:
        return await self._write(
            lambda tx: engine_ops.found_gone(tx, engine_id, seen_before, why, by)
        )

    async def get_engine(self, engine_id: str) -> EngineInfo | None:
        found = await self._fetch(engine_ops.GET_ENGINE, (engine_id,))
        return engine_ops.engine(tuple(found[0])) if found else None

    async def engines(self, *, running_runs: bool = False) -> list[EngineInfo]:
        """The engines registered as running; with `running_runs`, those with live runs
        (stopped or not)."""
        query = engine_ops.RUN_ENGINES if running_runs else engine_ops.LIVE_ENGINES
        return [engine_ops.engine(tuple(r)) for r in await self._fetch(query)]

    async def register_operator(self, token_hash: str, name: str) -> str:
        return await self._write(lambda tx: engine_ops.register_operator(tx, token_hash, name))

    async def revoke_operator(self, name: str, actor: str) -> int:
        return await self._write(lambda tx: engine_ops.revoke_operator(tx, name, actor))

    async def operator_status(self, token_hash: str) -> str | None:
        found = await self._fetch(engine_ops.OPERATOR_STATUS, (token_hash,))
        return str(found[0][0]) if found else None

    async def operators(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._fetch(engine_ops.LIST_OPERATORS)]
