"""The registry's write operations on permission requests, run inside one transaction each
(see store/ops.py). Every request and answer is logged as an event carrying the tool name and
its input as untrusted text."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from control_room.domain import Conflict, NotFound
from control_room.domain.permissions import (
    ALLOWED,
    DENIED,
    PENDING,
    PermissionRequest,
    describe,
    input_text,
)
from control_room.store import permission_sql as psql
from control_room.store.tx import Tx


def row_to_request(row: sqlite3.Row) -> PermissionRequest:
    return PermissionRequest(
        id=row["id"], task_id=row["task_id"], agent_id=row["agent_id"], tool=row["tool"],
        input=row["input"], grant_key=row["grant_key"], status=row["status"],
        always=bool(row["always"]), reason=row["reason"], tool_use_id=row["tool_use_id"],
        created_at=row["created_at"], answered_at=row["answered_at"],
        answered_by=row["answered_by"],
    )  # fmt: skip


def _get(tx: Tx, request_id: int) -> PermissionRequest:
    row = tx.conn.execute(psql.GET_REQUEST, (request_id,)).fetchone()
    if row is None:
        raise NotFound(f"no permission request {request_id}")
    return row_to_request(row)


def _log(tx: Tx, kind: str, actor: str, r: PermissionRequest, message: str) -> None:
    data: dict[str, Any] = {"request": r.id, "tool": r.tool, "input": r.input}
    if r.status != PENDING:
        data |= {"always": r.always, "reason": r.reason}
    tx.log(kind, actor, task_id=r.task_id, agent_id=r.agent_id, message=message, **data)


def request(
    tx: Tx, agent_id: str, tool: str, text: str, key: str, tool_use_id: str = ""
) -> PermissionRequest:
    """Store a request of the agent's (for the task it holds or was started for). A grant
    "always" for the same key on that task answers it at once."""
    tx.touch_agent(agent_id)
    (task_id,) = tx.conn.execute(psql.TASK_OF_AGENT, {"agent": agent_id}).fetchone()
    if task_id is None:
        raise Conflict(f"{agent_id} holds no task: claim your task first")
    granted = tx.conn.execute(psql.GRANTED_ALWAYS, (task_id, key)).fetchone()
    values = {
        "task_id": task_id, "agent_id": agent_id, "tool": tool, "input": text, "grant_key": key,
        "tool_use_id": tool_use_id, "status": PENDING, "reason": "", "now": tx.now,
        "answered_at": None, "answered_by": "",
    }  # fmt: skip
    if granted is not None:
        values |= {
            "status": ALLOWED, "answered_at": tx.now, "answered_by": "always",
            "reason": f"allowed always for {task_id} (request {granted[0]})",
        }  # fmt: skip
    (request_id,) = tx.conn.execute(psql.INSERT_REQUEST, values).fetchone()
    r = _get(tx, request_id)
    summary = describe(tool, text)
    if granted is not None:
        _log(tx, "permission_allowed", "always", r, f"{summary} (allowed always)")
    else:
        _log(tx, "permission_requested", agent_id, r, summary)
    return r


def answer(
    tx: Tx, request_id: int, allow: bool, always: bool, reason: str, actor: str
) -> PermissionRequest:
    """The operator's answer (or the timeout's). Answering twice, or a request whose agent has
    ended, is a Conflict that changes nothing."""
    before = _get(tx, request_id)
    if not before.pending:
        by = f" by {before.answered_by}" if before.answered_by else ""
        raise Conflict(
            f"permission request {request_id} was already answered ({before.status.lower()}{by})"
        )
    agent = tx.conn.execute(psql.AGENT_STATUS, (before.agent_id,)).fetchone()
    if agent is None or agent[0] != "ACTIVE":
        raise Conflict(
            f"the agent of permission request {request_id} ({before.agent_id}) has ended: "
            "nobody is waiting for the answer"
        )
    values = {
        "id": request_id, "status": ALLOWED if allow else DENIED, "always": int(allow and always),
        "reason": reason, "now": tx.now, "actor": actor,
    }  # fmt: skip
    tx.conn.execute(psql.ANSWER_REQUEST, values)
    after = _get(tx, request_id)
    summary = describe(after.tool, after.input)
    if allow:
        how = "allowed always for this task" if after.always else "allowed once"
        _log(tx, "permission_allowed", actor, after, f"{summary} ({how})")
    else:
        _log(tx, "permission_denied", actor, after, f"{summary}: {reason}")
    return after


def close_pending(tx: Tx, agent_id: str, reason: str, actor: str) -> int:
    """Deny what the agent still waits for (it has ended: nobody is left to tell)."""
    ids = [row[0] for row in tx.conn.execute(psql.PENDING_OF_AGENT, (agent_id,))]
    for request_id in ids:
        values = {
            "id": request_id, "status": DENIED, "always": 0, "reason": reason, "now": tx.now,
            "actor": actor,
        }  # fmt: skip
        tx.conn.execute(psql.ANSWER_REQUEST, values)
        r = _get(tx, request_id)
        _log(tx, "permission_denied", actor, r, f"{describe(r.tool, r.input)}: {reason}")
    return len(ids)


def record_denials(tx: Tx, agent_id: str, task_id: str, denials: Sequence[dict[str, Any]]) -> int:
    """Claude Code's own `permission_denials` (from its final result) as `tool_denied` events,
    except those already recorded as answered requests. Returns how many were recorded."""
    known = {row[0] for row in tx.conn.execute(psql.TOOL_USE_IDS, (agent_id,)) if row[0]}
    recorded = 0
    for denial in denials:
        tool = str(denial.get("tool_name", "?"))[:200]
        use_id = str(denial.get("tool_use_id", ""))[:200]
        if use_id and use_id in known:
            continue
        text = input_text(denial.get("tool_input", {}))
        tx.log(
            "tool_denied", "claude-code", task_id=task_id, agent_id=agent_id,
            message=f"Claude Code denied {describe(tool, text)}",
            tool=tool, input=text, tool_use_id=use_id,
        )  # fmt: skip
        recorded += 1
    return recorded
