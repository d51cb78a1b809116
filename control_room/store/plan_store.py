"""The SQLite registry's plans (store/plan_ops.py): a part of SqliteRegistry (mixed in), kept
apart so the registry's main module stays small."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from control_room.domain import NotFound, Task, TaskSpec
from control_room.domain.plans import Plan
from control_room.store import plan_ops
from control_room.store.tx import Tx

T = TypeVar("T")


class PlanStore:
    """Mixed into SqliteRegistry, which provides `_write` and `_fetch`."""

    async def _write(self, op: Callable[[Tx], T]) -> T:
        raise NotImplementedError

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def add_planning_task(self, spec: TaskSpec, agent_type: str, actor: str) -> Task:
        return await self._write(lambda tx: plan_ops.add_planning_task(tx, spec, agent_type, actor))

    async def propose_plan(
        self, task_id: str, agent_id: str, epoch: int, tasks: Sequence[dict[str, Any]]
    ) -> Plan:
        return await self._write(lambda tx: plan_ops.propose(tx, task_id, agent_id, epoch, tasks))

    async def approve_plan(self, plan_id: str, actor: str) -> tuple[Plan, list[Task]]:
        return await self._write(lambda tx: plan_ops.approve(tx, plan_id, actor))

    async def reject_plan(self, plan_id: str, reason: str, actor: str) -> Plan:
        return await self._write(lambda tx: plan_ops.reject(tx, plan_id, reason, actor))

    async def get_plan(self, plan_id: str) -> Plan:
        found = await self._fetch(plan_ops.GET_PLAN, (plan_id,))
        if not found:
            raise NotFound(f"no plan {plan_id}")
        return plan_ops.row_to_plan(found[0])
