"""The SQL of `control-room stats` and `GET /metrics` (store/stats_store.py runs it).

Every query is driven by an index (migration "stats" in store/schema.py): tasks by creation
time or status, events by (kind, task_id, id) for a task's first claim, its completion and its
merge, runs and permission requests by start time. A window `?` is a lower bound on the time
a task was added (or a run, stall or request started); pass NO_WINDOW for all history.
Percentiles are nearest-rank, computed with window functions (SQLite has no percentile_cont).
"""

from __future__ import annotations

from fractions import Fraction

from control_room.store.spelling import Sql

NO_WINDOW = -1.0e18

TASKS_BY_STATUS = """
    SELECT status, count(*) AS n FROM tasks WHERE created_at >= ? GROUP BY status
"""
TASKS_BY_STATUS_ALL = "SELECT status, count(*) AS n FROM tasks GROUP BY status"

# Tasks claimed at least once; who made the first claim (a spawned agent has a run row).
STARTED = """
    SELECT count(*) AS started,
        coalesce(sum(EXISTS (SELECT 1 FROM runs r WHERE r.agent_id = e.agent_id)), 0) AS auto,
        coalesce(sum(t.status IN ('COMPLETED', 'FAILED')), 0) AS finished,
        coalesce(sum(t.status = 'COMPLETED' AND t.attempts = 0), 0) AS first_try
    FROM tasks t
    JOIN events e ON e.id = (
        SELECT min(f.id) FROM events f WHERE f.kind = 'claimed' AND f.task_id = t.task_id
    )
    WHERE t.created_at >= ?
"""

COMPLETED = """
    SELECT count(*) AS n, coalesce(sum(hours), 0.0) AS hours
    FROM tasks WHERE status = 'COMPLETED' AND created_at >= ?
"""


def _first_event_after_added(kinds: str, windowed: bool) -> str:
    """Seconds from each windowed COMPLETED task's creation to its first event of `kinds`
    (only a COMPLETED task has completed or been merged). Over all history the status index
    finds the COMPLETED tasks; in a window, `+t.status` leaves it aside for the creation time
    index, so a short window reads only the tasks added in it."""
    status = "+t.status" if windowed else "t.status"
    return f"""
        SELECT e.at - t.created_at AS v FROM tasks t
        JOIN events e ON e.id = (
            SELECT min(f.id) FROM events f WHERE f.kind IN ({kinds}) AND f.task_id = t.task_id
        )
        WHERE {status} = 'COMPLETED' AND t.created_at >= ?
    """


def _rank(p: float) -> str:
    """The nearest rank ceil(p * n) (at least 1, as n >= 1 and p > 0), in integer arithmetic
    that SQLite and PostgreSQL compute alike: ceil(a / b) = (a + b - 1) / b."""
    ratio = Fraction(p).limit_denominator(1000)
    num, den = ratio.numerator, ratio.denominator
    return f"((n * {num} + {den - 1}) / {den})"


def spread(values: str) -> str:
    """count, median and p90 of the column `v` of the query `values`."""
    return f"""
        WITH d AS ({values}),
        r AS (SELECT v, row_number() OVER (ORDER BY v) AS rn, count(*) OVER () AS n FROM d)
        SELECT coalesce(max(n), 0) AS n,
            max(CASE WHEN rn = {_rank(0.5)} THEN v END) AS median,
            max(CASE WHEN rn = {_rank(0.9)} THEN v END) AS p90
        FROM r
    """


TO_COMPLETED = {
    w: spread(_first_event_after_added("'completed', 'checks_passed'", w)) for w in (False, True)
}
TO_MERGED = {w: spread(_first_event_after_added("'merged'", w)) for w in (False, True)}

RUNS = """
    SELECT count(*) AS n, coalesce(sum(cost_usd), 0.0) AS cost,
        coalesce(sum(coalesce(ended_at, ?) - started_at), 0.0) / 3600.0 AS hours
    FROM runs WHERE started_at >= ?
"""

STALLS = "SELECT count(*) AS n FROM events WHERE kind = 'stalled' AND at >= ?"

PERMISSIONS = """
    SELECT count(*) AS n, coalesce(sum(status = 'PENDING'), 0) AS pending
    FROM permission_requests WHERE created_at >= ?
"""
PERMISSION_WAIT = spread("""
    SELECT answered_at - created_at AS v FROM permission_requests
    WHERE created_at >= ? AND answered_at IS NOT NULL
""")

# -- live figures for /metrics ------------------------------------------------------------

LAST_EVENT = "SELECT coalesce(max(id), 0) AS id FROM events"
EVENTS_BY_KIND = """
    SELECT kind, count(*) AS n FROM events WHERE id > ? AND id <= ? GROUP BY kind
"""
# The first count reads the whole log: through the kind index, already in kind order.
ALL_EVENTS_BY_KIND = Sql(
    sqlite="SELECT kind, count(*) AS n FROM events INDEXED BY events_by_kind WHERE id <= ? "
    "GROUP BY kind",
    postgres="SELECT kind, count(*) AS n FROM events WHERE id <= ? GROUP BY kind",
)
AGENTS_LIVE = "SELECT count(*) AS n FROM agents WHERE status = 'ACTIVE'"
RUNS_LIVE = "SELECT count(*) AS n FROM runs WHERE ended_at IS NULL"


def inbox_count(source: str) -> str:
    """How many items one of store/inbox_sql.py's sources gives."""
    return f"SELECT count(*) AS n FROM ({source}) AS items"
