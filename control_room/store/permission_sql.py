"""The SQL of permission requests (schema: store/schema.py)."""

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
