"""Conversions between SQLite rows and domain records."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from control_room.domain import (
    Agent,
    AgentStatus,
    Decision,
    Event,
    Priority,
    RoutingDecision,
    Run,
    Status,
    Task,
)
from control_room.store import build

DELIVERY_COLUMNS = (
    "repository", "branch", "base_branch", "base_commit", "commit_sha", "merged_commit"
)  # fmt: skip


def json_list(value: str | None) -> tuple[str, ...]:
    if not value or value == "[]":
        return ()
    items = json.loads(value)
    return tuple(str(item) for item in items) if isinstance(items, list) else ()


def _priority(value: str) -> Priority:
    return Priority(value[:2].upper())


_STATUS = {str(s): s for s in Status}
_PRIORITY = {str(p): p for p in Priority}


def task(row: sqlite3.Row) -> Task:
    priority = row["priority"]
    return build.task(
        {
            "id": row["task_id"],
            "title": row["title"],
            "status": _STATUS[row["status"]],
            "priority": _PRIORITY.get(priority) or _priority(priority),
            "description": row["description"],
            "project": row["project_name"],
            "type": row["task_type"],
            "capabilities": json_list(row["required_capabilities"]),
            "criteria": json_list(row["acceptance_criteria"]),
            "checks": json_list(row["checks"]),
            "depends_on": json_list(row["depends_on"]),
            "manual": bool(row["manual"]),
            "max_attempts": row["max_attempts"],
            "approved": bool(row["approved"]),
            "attempts": row["attempts"],
            "epoch": row["epoch"],
            "agent_id": row["agent_id"],
            "lease_expires_at": row["lease_expires_at"],
            "progress": row["progress"],
            "note": row["note"],
            "reason": row["reason"],
            "feedback": row["feedback"],
            "summary": row["summary"],
            "files": json_list(row["files"]),
            "hours": row["hours"],
            "created_by": row["created_by"],
            "created_at": float(row["created_at"]),
            "updated_at": float(row["updated_at"]),
            **{name: row[name] for name in DELIVERY_COLUMNS},
            "agent_type": row["agent_type"],
        }
    )


def task_params(t: Task, now: float) -> dict[str, Any]:
    """Named parameters of sql.UPDATE_TASK for the task as it should now be stored."""
    return {
        "id": t.id,
        "epoch": t.epoch,
        "status": str(t.status),
        "agent_id": t.agent_id,
        "lease_expires_at": t.lease_expires_at,
        "attempts": t.attempts,
        "approved": int(t.approved),
        "progress": t.progress,
        "note": t.note,
        "reason": t.reason,
        "feedback": t.feedback,
        "summary": t.summary,
        "files": json.dumps(list(t.files)),
        "hours": t.hours,
        "now": now,
    }


def agent(row: sqlite3.Row) -> Agent:
    return Agent(
        id=row["agent_id"],
        name=row["name"],
        capabilities=json_list(row["capabilities"]),
        runtime=row["runtime"],
        status=AgentStatus(row["status"]),
        created_at=float(row["created_at"]),
        last_seen=row["last_seen"],
        task_id=row["task_id"],
        pid=row["pid"],
        turns=row["turns"],
        cost_usd=row["cost_usd"],
        host=row["host"],
    )


def run(row: sqlite3.Row) -> Run:
    return Run(**{name: row[name] for name in row.keys()})  # noqa: SIM118 (sqlite3.Row)


def event(row: sqlite3.Row) -> Event:
    return Event(
        id=row["id"],
        at=row["at"],
        kind=row["kind"],
        actor=row["actor"],
        task_id=row["task_id"],
        agent_id=row["agent_id"],
        from_status=Status(row["from_status"]) if row["from_status"] else None,
        to_status=Status(row["to_status"]) if row["to_status"] else None,
        message=row["message"],
        data=json.loads(row["data"]) if row["data"] else {},
    )


def decision(row: sqlite3.Row) -> RoutingDecision:
    return RoutingDecision(
        task_id=row["task_id"],
        decision=Decision(row["decision"]),
        rule=row["rule"],
        why=row["why"],
        agent_type=row["agent_type"],
        runtime=row["runtime"],
        budget_usd=row["budget_usd"],
        at=row["at"],
    )
