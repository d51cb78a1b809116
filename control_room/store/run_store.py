"""The SQLite registry's runs of the agents Control Room starts (store/run_ops.py): a part of
SqliteRegistry (mixed in), kept apart so the registry's main module stays small."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from control_room.domain import Agent, NotFound, Run
from control_room.store import rows, run_ops, sql
from control_room.store.tx import Tx

T = TypeVar("T")


class RunStore:
    """Mixed into SqliteRegistry, which provides `_write` and `_fetch`."""

    async def _write(self, op: Callable[[Tx], T]) -> T:
        raise NotImplementedError

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def start_run(
        self,
        agent: Agent,
        token_hash: str,
        task_id: str,
        agent_type: str,
        run_root: str,
        owner_pid: int,
        engine_id: str | None = None,
    ) -> Run:
        return await self._write(
            lambda tx: run_ops.start_run(
                tx, agent, token_hash, task_id, agent_type, run_root, owner_pid, engine_id
            )
        )

    async def run_process(
        self, agent_id: str, pid: int | None, identity: str | None, workdir: str
    ) -> Run:
        return await self._write(
            lambda tx: run_ops.run_process(tx, agent_id, pid, identity, workdir)
        )

    async def end_run(
        self,
        agent_id: str,
        exit_code: int | None,
        outcome: str,
        *,
        counts: bool = True,
        turns: int | None = None,
        cost_usd: float | None = None,
    ) -> Run:
        return await self._write(
            lambda tx: run_ops.end_run(
                tx, agent_id, exit_code, outcome, counts=counts, turns=turns, cost_usd=cost_usd
            )
        )

    async def start_failed(
        self, agent_id: str, why: str, failures: int, give_up: bool
    ) -> Run | None:
        return await self._write(
            lambda tx: run_ops.start_failed(tx, agent_id, why, failures, give_up)
        )

    async def run_usage(self, agent_id: str, turns: int | None, cost_usd: float | None) -> None:
        await self._write(lambda tx: run_ops.run_usage(tx, agent_id, turns, cost_usd))

    async def note(self, kind: str, actor: str, message: str, **data: Any) -> None:
        await self._write(lambda tx: run_ops.note(tx, kind, actor, message, **data))

    async def get_run(self, agent_id: str) -> Run:
        found = await self._fetch(sql.GET_RUN, (agent_id,))
        if not found:
            raise NotFound(f"no run for agent {agent_id}")
        return rows.run(found[0])

    async def runs(self, *, live: bool = False, limit: int = 200) -> list[Run]:
        """The live runs, or the newest `limit` runs; oldest first."""
        query, params = (sql.LIVE_RUNS, ()) if live else (sql.RECENT_RUNS, (limit,))
        return [rows.run(r) for r in await self._fetch(query, params)]
