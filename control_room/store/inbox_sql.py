"""The operator's inbox: one query per kind of item, each giving the columns id, task, agent,
summary and since (unix seconds); the store merges them, oldest first. A new kind is one more
entry in INBOX_SOURCES; a kind whose summary needs more than one column gives its own columns
and a function in SUMMARIES (row -> one line)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from control_room.domain.permissions import describe

INBOX_SOURCES: dict[str, str] = {
    "approval": """
        SELECT t.task_id AS id, t.task_id AS task, NULL AS agent,
            t.title || CASE WHEN t.reason != '' THEN ' (' || t.reason || ')' ELSE '' END
                AS summary,
            coalesce(t.updated_at, t.created_at) AS since
        FROM tasks t WHERE t.status = 'AWAITING_APPROVAL'
    """,
    "blocked": """
        SELECT t.task_id AS id, t.task_id AS task,
            (SELECT e.agent_id FROM events e WHERE e.task_id = t.task_id AND e.kind = 'blocked'
                ORDER BY e.id DESC LIMIT 1) AS agent,
            t.title || ': ' || t.reason AS summary,
            coalesce(t.updated_at, t.created_at) AS since
        FROM tasks t WHERE t.status = 'BLOCKED'
    """,
    # only requests whose agent is still there: an ended agent's request has nobody to answer
    "permission": """
        SELECT CAST(p.id AS TEXT) AS id, p.task_id AS task, p.agent_id AS agent,
            p.tool AS tool, p.input AS input, p.created_at AS since
        FROM permission_requests p JOIN agents a ON a.agent_id = p.agent_id
        WHERE p.status = 'PENDING' AND a.status = 'ACTIVE'
    """,
    # an agent stopped as stalled (engine/stall.py), by its event id: shown until its task is
    # claimed again (or stalls again: the newer one shows) or is COMPLETED or CANCELLED
    "stalled": """
        SELECT CAST(e.id AS TEXT) AS id, e.task_id AS task, e.agent_id AS agent,
            t.title || ': ' || e.message AS summary, e.at AS since
        FROM events e JOIN tasks t ON t.task_id = e.task_id
        WHERE e.kind = 'stalled' AND t.status NOT IN ('COMPLETED', 'CANCELLED')
            AND NOT EXISTS (SELECT 1 FROM events n WHERE n.task_id = e.task_id AND n.id > e.id
                AND n.kind IN ('claimed', 'stalled'))
    """,
    # the daily budget is spent (engine/budget.py): shown for the rest of that (local) day
    "budget": """
        SELECT 'budget-' || json_extract(e.data, '$.day') AS id, NULL AS task, NULL AS agent,
            e.message AS summary, e.at AS since
        FROM events e
        WHERE e.kind = 'daily_budget' AND json_extract(e.data, '$.day') = date('now', 'localtime')
    """,
    # a planner's proposal (store/plan_ops.py) waiting for `control-room plan approve|reject`
    "plan": """
        SELECT p.plan_id AS id, p.task_id AS task, p.agent_id AS agent,
            json_array_length(p.tasks) || ' tasks proposed: ' || t.title AS summary,
            p.created_at AS since
        FROM plans p JOIN tasks t ON t.task_id = p.task_id WHERE p.status = 'PENDING'
    """,
}


SUMMARIES: dict[str, Callable[[sqlite3.Row], str]] = {
    "permission": lambda row: describe(row["tool"], row["input"]),
}
