"""The SQLite registry's permission requests and the operator's inbox (store/inbox_sql.py): a
part of SqliteRegistry (mixed in), kept apart so the registry's main module stays small."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from control_room.domain import NotFound
from control_room.domain.permissions import InboxItem, PermissionRequest
from control_room.store import inbox_sql, permission_ops
from control_room.store import permission_sql as psql


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _summary(kind: str, row: sqlite3.Row) -> str:
    special = inbox_sql.SUMMARIES.get(kind)
    return special(row) if special else _one_line(row["summary"] or "")


class PermissionStore:
    """Mixed into SqliteRegistry, which provides `_fetch`; the writes are
    store/permission_ops.py's operations, run through `write`."""

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def get_permission(self, request_id: int) -> PermissionRequest:
        found = await self._fetch(psql.GET_REQUEST, (request_id,))
        if not found:
            raise NotFound(f"no permission request {request_id}")
        return permission_ops.row_to_request(found[0])

    async def permission_requests(
        self, *, task_id: str | None = None, pending: bool = False
    ) -> list[PermissionRequest]:
        where, params = [], []
        if task_id is not None:
            where.append("p.task_id = ?")
            params.append(task_id)
        if pending:
            where.append("p.status = 'PENDING'")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        found = await self._fetch(psql.LIST_REQUESTS + clause + psql.REQUEST_ORDER, params)
        return [permission_ops.row_to_request(r) for r in found]

    async def inbox(self) -> list[InboxItem]:
        """Everything waiting for the operator, oldest first."""
        items = []
        for kind, query in inbox_sql.INBOX_SOURCES.items():
            for row in await self._fetch(query):
                items.append(
                    InboxItem(
                        kind, row["id"], row["task"], row["agent"], _summary(kind, row),
                        float(row["since"] or 0.0),
                    )
                )  # fmt: skip
        return sorted(items, key=lambda item: (item.since, item.kind, item.id))
