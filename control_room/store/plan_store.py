"""The SQLite registry's plans (store/plan_ops.py): a part of SqliteRegistry (mixed in), kept
apart so the registry's main module stays small."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from control_room.domain import NotFound
from control_room.domain.plans import Plan
from control_room.store import plan_ops


class PlanStore:
    """Mixed into SqliteRegistry, which provides `_fetch`; the writes are store/plan_ops.py's
    operations, run through `write`."""

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def get_plan(self, plan_id: str) -> Plan:
        found = await self._fetch(plan_ops.GET_PLAN, (plan_id,))
        if not found:
            raise NotFound(f"no plan {plan_id}")
        return plan_ops.row_to_plan(found[0])
