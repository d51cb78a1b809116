"""The SQL of permission requests and of the operator's inbox (schema: sql.MIGRATIONS).

The inbox is one query per kind of item, each giving (id, task, agent, summary, since); a new
kind is one more entry in INBOX_SOURCES (and, where it needs one, a summary function)."""

from __future__ import annotations

REQUEST_COLUMNS = """
    p.id, p.task_id, p.agent_id, p.tool, p.input, p.grant_key, p.tool_use_id, p.status,
    p.always, p.reason, p.created_at, p.answered_at, p.answered_by
"""
GET_REQUEST = f"SELECT {REQUEST_COLUMNS} FROM permission_requests p WHERE p.id = ?"
LIST_REQUESTS = f"SELECT {REQUEST_COLUMNS} FROM permission_requests p"
REQUEST_ORDER = " ORDER BY p.created_at, p.id"
INSERT_REQUEST = """
    INSERT INTO permission_requests (task_id, agent_id, tool, input, grant_key, tool_use_id,
        status, always, reason, created_at, answered_at, answered_by)
    VALUES (:task_id, :agent_id, :tool, :input, :grant_key, :tool_use_id,
        :status, 0, :reason, :now, :answered_at, :answered_by)
    RETURNING id
"""
ANSWER_REQUEST = """
    UPDATE permission_requests SET status = :status, always = :always, reason = :reason,
        answered_at = :now, answered_by = :actor
    WHERE id = :id AND status = 'PENDING'
"""
GRANTED_ALWAYS = """
    SELECT id FROM permission_requests
    WHERE task_id = ? AND grant_key = ? AND always = 1 AND status = 'ALLOWED'
    ORDER BY id LIMIT 1
"""
# The task an agent asks for: the one it holds, else the one it was started for.
TASK_OF_AGENT = """
    SELECT coalesce(
        (SELECT t.task_id FROM tasks t WHERE t.agent_id = :agent
            AND t.status IN ('CLAIMED', 'IN_PROGRESS') LIMIT 1),
        (SELECT r.task_id FROM runs r WHERE r.agent_id = :agent AND r.ended_at IS NULL))
"""
PENDING_OF_AGENT = "SELECT id FROM permission_requests WHERE agent_id = ? AND status = 'PENDING'"
AGENT_STATUS = "SELECT status FROM agents WHERE agent_id = ?"
TOOL_USE_IDS = "SELECT tool_use_id FROM permission_requests WHERE agent_id = ?"

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
}
