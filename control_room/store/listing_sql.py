"""The SQL of paged listings: keyset pages over keys that never change, filters in the WHERE.

Tasks page by (priority, created_at, task_id), agents by (created_at, agent_id): neither key
moves when a row's status does, so a cursor (the last row's key) stays valid while rows are
added, claimed and finished. The indexes of the listings migration (store/sql.py) serve the
default views without a sort: open tasks (a partial index holding only them), every task, one
status (getAvailableTasks), live agents, every agent (tests/test_paging.py checks the plans).
(tasks_queue cannot serve a one-status view: it orders ties by rowid, as claims want, and a
batch of tasks added together ties on (priority, created_at): 22 ms to sort 40,000 of them.)
"""

from __future__ import annotations

from typing import Any

from control_room.domain.listing import AgentKey, TaskFilter, TaskKey
from control_room.domain.models import AgentStatus
from control_room.store.sql import AGENT_COLUMNS, TASK_COLUMNS

# The literal text matters: SQLite uses the partial index tasks_open only for a query whose
# WHERE holds this same term (a bound parameter would not do).
TASK_IS_OPEN = "t.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')"
TASK_AFTER = "(t.priority, t.created_at, t.task_id) > (?, ?, ?)"
TASK_ORDER = " ORDER BY t.priority, t.created_at, t.task_id LIMIT ?"
TASK_NEEDS_CAPABILITY = "EXISTS (SELECT 1 FROM json_each(t.required_capabilities) WHERE value = ?)"
TASK_HELD_BY = "t.agent_id = ?"
# lower() on both sides: SQLite's LIKE already ignores ASCII case (and lower() folds only
# ASCII there, so nothing changes); PostgreSQL's LIKE does not, and its lower() folds all case.
TASK_MENTIONS = (
    "(lower(t.task_id) LIKE lower(?) ESCAPE '\\' OR lower(t.title) LIKE lower(?) ESCAPE '\\'"
    " OR lower(t.description) LIKE lower(?) ESCAPE '\\')"
)

AGENT_AFTER = "(a.created_at, a.agent_id) > (?, ?)"
AGENT_ORDER = " ORDER BY a.created_at, a.agent_id LIMIT ?"


def like_pattern(text: str) -> str:
    """`text` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(terms: list[str]) -> str:
    return f" WHERE {' AND '.join(terms)}" if terms else ""


def task_filter(where: TaskFilter) -> tuple[list[str], list[Any]]:
    """The WHERE terms and parameters of a task filter."""
    terms: list[str] = []
    params: list[Any] = []
    if where.open_only:
        terms.append(TASK_IS_OPEN)
    elif where.statuses is not None:
        terms.append(f"t.status IN ({', '.join('?' for _ in where.statuses)})")
        params += [str(s) for s in where.statuses]
    if where.capability is not None:
        terms.append(TASK_NEEDS_CAPABILITY)
        params.append(where.capability)
    if where.agent_id is not None:
        terms.append(TASK_HELD_BY)
        params.append(where.agent_id)
    if where.text:
        terms.append(TASK_MENTIONS)
        params += [like_pattern(where.text)] * 3
    return terms, params


def task_page(where: TaskFilter, after: TaskKey | None, limit: int) -> tuple[str, list[Any]]:
    """One page of tasks: at most `limit` rows after the key `after` (from the start if None)."""
    terms, params = task_filter(where)
    if after is not None:
        terms.append(TASK_AFTER)
        params += list(after)
    query = f"SELECT {TASK_COLUMNS} FROM tasks t{_where(terms)}{TASK_ORDER}"
    return query, [*params, limit]


def task_count(where: TaskFilter, cap: int) -> tuple[str, list[Any]]:
    """How many tasks match, counting no further than `cap` (the cost stays bounded)."""
    terms, params = task_filter(where)
    query = f"SELECT count(*) FROM (SELECT 1 FROM tasks t{_where(terms)} LIMIT ?) AS found"
    return query, [*params, cap]


def agent_page(
    status: AgentStatus | None, after: AgentKey | None, limit: int
) -> tuple[str, list[Any]]:
    terms: list[str] = []
    params: list[Any] = []
    if status is AgentStatus.ACTIVE:
        terms.append("a.status = 'ACTIVE'")  # literal, for the partial index agents_live
    elif status is not None:
        terms.append("a.status = ?")
        params.append(str(status))
    if after is not None:
        terms.append(AGENT_AFTER)
        params += list(after)
    query = f"SELECT {AGENT_COLUMNS} FROM agents a{_where(terms)}{AGENT_ORDER}"
    return query, [*params, limit]


# The finished tasks, most recently finished first: the event log read backwards by id (its
# primary key) until enough finishing events are found, so no query sorts the tasks by time.
# A task finished again later (after a retry) is met twice; the caller keeps the first.
RECENT_FINISHED = f"""
    SELECT e.id AS finished_event, {TASK_COLUMNS}
    FROM events e JOIN tasks t ON t.task_id = e.task_id
    WHERE e.to_status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND t.status = e.to_status
    AND e.id < ? ORDER BY e.id DESC LIMIT ?
"""
