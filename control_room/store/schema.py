"""The registry's schema: the migration scripts, in order (PRAGMA user_version counts them).

Times are unix seconds (REAL). Lists are JSON text. The tasks table keeps the column names of
the original design, so its documented shell statement still works:

    INSERT INTO tasks (task_id, project_name, title, description, priority,
                       required_capabilities, status, created_at)
    VALUES ('T-TEST-001', 'central-mcp', '...', '...', 'P1-HIGH', '["frontend", "ui"]',
            'AVAILABLE', datetime('now'));

A trigger normalises such a row (long priority, text date) and logs its creation like any other.
"""

from __future__ import annotations

_NOW = "((julianday('now') - 2440587.5) * 86400.0)"
_STATUSES = (
    "'PENDING', 'AVAILABLE', 'AWAITING_APPROVAL', 'CLAIMED', 'IN_PROGRESS', 'VALIDATING', "
    "'COMPLETED', 'BLOCKED', 'FAILED', 'CANCELLED'"
)


def _bad_id(column: str) -> str:
    """SQL true when `column` is not a task id `task add` accepts (domain/specs.py TASK_ID:
    1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)."""
    return (
        f"NOT (length({column}) BETWEEN 1 AND 64 AND {column} GLOB '[A-Za-z0-9]*' "
        f"AND {column} NOT GLOB '*[^A-Za-z0-9._-]*')"
    )


_ID_RULE = (
    "'task_id must be 1-64 letters, digits, ''.'', ''_'' or ''-'', starting with a letter or digit'"
)
_BAD_ID_REASON = (
    "'its task id is not one Control Room accepts (written outside it): never spawned; add "
    "it again with a valid id'"
)

MIGRATIONS: tuple[str, ...] = (
    # version 1
    f"""
    CREATE TABLE tasks (
        task_id TEXT NOT NULL PRIMARY KEY CHECK (length(task_id) BETWEEN 1 AND 64),
        project_name TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL CHECK (length(trim(title)) > 0),
        description TEXT NOT NULL DEFAULT '',
        priority TEXT NOT NULL DEFAULT 'P2'
            CHECK (upper(substr(priority, 1, 2)) IN ('P0', 'P1', 'P2', 'P3')),
        task_type TEXT NOT NULL DEFAULT 'implementation',
        required_capabilities TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(required_capabilities)),
        acceptance_criteria TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(acceptance_criteria)),
        checks TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(checks)),
        manual INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
        status TEXT NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ({_STATUSES})),
        approved INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        epoch INTEGER NOT NULL DEFAULT 0,
        agent_id TEXT,
        lease_expires_at REAL,
        progress INTEGER NOT NULL DEFAULT 0,
        note TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        feedback TEXT NOT NULL DEFAULT '',
        summary TEXT NOT NULL DEFAULT '',
        files TEXT NOT NULL DEFAULT '[]',
        hours REAL,
        created_by TEXT NOT NULL DEFAULT 'sql',
        created_at REAL NOT NULL DEFAULT ({_NOW}),
        updated_at REAL
    );
    CREATE INDEX tasks_queue ON tasks (status, priority, created_at);
    CREATE INDEX tasks_holders ON tasks (agent_id, status) WHERE agent_id IS NOT NULL;

    CREATE TABLE task_dependencies (
        task_id TEXT NOT NULL REFERENCES tasks (task_id),
        depends_on TEXT NOT NULL REFERENCES tasks (task_id),
        PRIMARY KEY (task_id, depends_on)
    ) WITHOUT ROWID;
    CREATE INDEX task_dependents ON task_dependencies (depends_on);

    CREATE TABLE agents (
        agent_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        capabilities TEXT NOT NULL DEFAULT '[]',
        runtime TEXT NOT NULL DEFAULT 'external',
        token_hash TEXT UNIQUE,
        status TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'REVOKED')),
        created_at REAL NOT NULL DEFAULT ({_NOW}),
        last_seen REAL
    );

    -- No AUTOINCREMENT: rows are never deleted (see the triggers), so max(id) + 1 never repeats.
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        task_id TEXT,
        agent_id TEXT,
        from_status TEXT,
        to_status TEXT,
        message TEXT NOT NULL DEFAULT '',
        data TEXT NOT NULL DEFAULT '{{}}'
    );
    CREATE INDEX events_by_task ON events (task_id, id);

    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

    -- A row inserted by hand (the original design's shell statement) starts unclaimed: a row
    -- born CLAIMED would have no lease, and nothing would ever take it back.
    CREATE TRIGGER tasks_start_unclaimed BEFORE INSERT ON tasks
    WHEN NEW.status NOT IN ('AVAILABLE', 'PENDING')
    BEGIN SELECT RAISE(ABORT, 'a new task must start AVAILABLE or PENDING'); END;

    CREATE TRIGGER tasks_normalise AFTER INSERT ON tasks
    WHEN typeof(NEW.created_at) != 'real' OR NEW.priority != upper(substr(NEW.priority, 1, 2))
    BEGIN
        UPDATE tasks SET
            created_at = CASE typeof(NEW.created_at)
                WHEN 'text' THEN coalesce((julianday(NEW.created_at) - 2440587.5) * 86400.0, {_NOW})
                ELSE CAST(NEW.created_at AS REAL) END,
            priority = upper(substr(NEW.priority, 1, 2))
        WHERE task_id = NEW.task_id;
    END;

    CREATE TRIGGER tasks_created AFTER INSERT ON tasks
    BEGIN
        INSERT INTO events (at, kind, actor, task_id, to_status, message)
        VALUES (
            CASE typeof(NEW.created_at) WHEN 'real' THEN NEW.created_at ELSE {_NOW} END,
            'created', NEW.created_by, NEW.task_id, NEW.status, NEW.title
        );
    END;
    """,
    # version 2: the routing pane's history
    """
    CREATE TABLE routing_decisions (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        task_id TEXT NOT NULL,
        decision TEXT NOT NULL
            CHECK (decision IN ('spawn', 'await_approval', 'wait_for_claim', 'hold')),
        rule TEXT NOT NULL,
        why TEXT NOT NULL,
        agent_type TEXT,
        runtime TEXT,
        budget_usd REAL
    );
    CREATE INDEX routing_by_task ON routing_decisions (task_id, id);
    """,
    # version 3: the agents Control Room starts, one run per attempt
    """
    CREATE TABLE runs (
        agent_id TEXT PRIMARY KEY REFERENCES agents (agent_id),
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        agent_type TEXT NOT NULL,
        runtime TEXT NOT NULL,
        run_dir TEXT NOT NULL,
        workdir TEXT NOT NULL,
        started_at REAL NOT NULL,
        pid INTEGER,
        pid_identity TEXT,
        owner_pid INTEGER,
        ended_at REAL,
        exit_code INTEGER,
        outcome TEXT NOT NULL DEFAULT '',
        turns INTEGER,
        cost_usd REAL,
        UNIQUE (task_id, attempt)
    );
    CREATE INDEX runs_live ON runs (started_at) WHERE ended_at IS NULL;
    """,
    # version 4: permission requests of spawned agents, waiting for the operator
    """
    CREATE TABLE permission_requests (
        id INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        tool TEXT NOT NULL,
        input TEXT NOT NULL DEFAULT '{}',
        grant_key TEXT NOT NULL,
        tool_use_id TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'ALLOWED', 'DENIED')),
        always INTEGER NOT NULL DEFAULT 0,
        reason TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        answered_at REAL,
        answered_by TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX permission_requests_pending ON permission_requests (created_at)
        WHERE status = 'PENDING';
    CREATE INDEX permission_requests_grants ON permission_requests (task_id, grant_key)
        WHERE always = 1;
    """,
    # version 5: listings that page (store/listing_sql.py) without sorting the whole table
    """
    CREATE INDEX tasks_listing ON tasks (priority, created_at, task_id);
    CREATE INDEX tasks_open ON tasks (priority, created_at, task_id)
        WHERE status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED');
    CREATE INDEX tasks_by_status ON tasks (status, priority, created_at, task_id);
    CREATE INDEX agents_listing ON agents (created_at, agent_id);
    CREATE INDEX agents_live ON agents (created_at, agent_id) WHERE status = 'ACTIVE';
    """,
    # version 6: delivery: each task's branch, where it started, its commits and its merge
    """
    ALTER TABLE tasks ADD COLUMN repository TEXT;
    ALTER TABLE tasks ADD COLUMN branch TEXT;
    ALTER TABLE tasks ADD COLUMN base_branch TEXT;
    ALTER TABLE tasks ADD COLUMN base_commit TEXT;
    ALTER TABLE tasks ADD COLUMN commit_sha TEXT;
    ALTER TABLE tasks ADD COLUMN merged_commit TEXT;
    ALTER TABLE runs ADD COLUMN commit_sha TEXT;
    """,
    # version 7: task ids as `task add` accepts them (domain/specs.py TASK_ID), also for rows
    # written by a sqlite3 shell. A row an older registry holds with another id is marked
    # FAILED (an event says why) and may never leave FAILED or CANCELLED: it is never spawned
    # or claimed, and stays visible.
    f"""
    INSERT INTO events (at, kind, actor, task_id, from_status, to_status, message)
    SELECT {_NOW}, 'failed', 'migration', task_id, status, 'FAILED', {_BAD_ID_REASON}
    FROM tasks WHERE {_bad_id("task_id")} AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED');
    UPDATE tasks SET status = 'FAILED', reason = {_BAD_ID_REASON}, agent_id = NULL,
        lease_expires_at = NULL, updated_at = {_NOW}
    WHERE {_bad_id("task_id")} AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED');

    CREATE TRIGGER tasks_id_accepted BEFORE INSERT ON tasks WHEN {_bad_id("NEW.task_id")}
    BEGIN SELECT RAISE(ABORT, {_ID_RULE}); END;
    CREATE TRIGGER tasks_id_kept BEFORE UPDATE ON tasks
    WHEN {_bad_id("NEW.task_id")} AND (NEW.task_id IS NOT OLD.task_id
        OR NEW.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED'))
    BEGIN SELECT RAISE(ABORT, {_ID_RULE}); END;
    """,
    # version 8: `Idempotency-Key` of POST /api/tasks: a retry with the same key and body gets
    # the task the first request made (fingerprint: SHA-256 of the body as canonical JSON)
    """
    CREATE TABLE idempotency_keys (
        key TEXT NOT NULL PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        task_id TEXT NOT NULL REFERENCES tasks (task_id),
        created_at REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # version 9: the figures of `control-room stats` and GET /metrics (store/stats_sql.py)
    # read through indexes: a task's first claim, completion and merge by event kind; tasks,
    # runs and permission requests by when they started
    """
    CREATE INDEX events_by_kind ON events (kind, task_id, id);
    CREATE INDEX tasks_created ON tasks (created_at);
    CREATE INDEX runs_started ON runs (started_at);
    CREATE INDEX permission_requests_created ON permission_requests (created_at);
    """,
    # version 10: what the stall guard and the daily budget read often (engine/stall.py,
    # engine/budget.py): stalled agents and budget notices by event id (runs by start time: 9)
    """
    CREATE INDEX events_stalled ON events (task_id, id) WHERE kind = 'stalled';
    CREATE INDEX events_daily_budget ON events (id) WHERE kind = 'daily_budget';
    """,
    # version 11: plans a planner agent proposed from a spec (`control-room plan`): the tasks as
    # JSON (domain/plans.py), PENDING until the operator approves (the ids created kept) or
    # rejects it; and the agent type a task is pinned to (a planning task spawns on it at once)
    """
    CREATE TABLE plans (
        plan_id TEXT NOT NULL PRIMARY KEY,
        task_id TEXT NOT NULL REFERENCES tasks (task_id),
        agent_id TEXT,
        status TEXT NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
        tasks TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL,
        decided_at REAL,
        decided_by TEXT
    );
    CREATE INDEX plans_pending ON plans (status, created_at);
    ALTER TABLE tasks ADD COLUMN agent_type TEXT;
    """,
    # version 12: several control rooms on one registry (store/engine_ops.py): each engine's
    # heartbeat (one silent past [engine] gone_seconds counts as gone, its runs are settled by
    # the others), the engine that started each run, and the operator tokens of every data
    # directory sharing the registry, stored hashed like agent tokens
    """
    CREATE TABLE engines (
        engine_id TEXT NOT NULL PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        data_dir TEXT NOT NULL,
        url TEXT NOT NULL DEFAULT '',
        started_at REAL NOT NULL,
        seen_at REAL NOT NULL,
        stopped_at REAL
    );
    CREATE INDEX engines_seen ON engines (seen_at) WHERE stopped_at IS NULL;
    ALTER TABLE runs ADD COLUMN engine_id TEXT;
    CREATE INDEX runs_live_by_task ON runs (task_id) WHERE ended_at IS NULL;
    CREATE TABLE operators (
        token_hash TEXT NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'REVOKED')),
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    """,
    # version 13: the machine and PID namespace each engine runs in (engine/peers.py): another
    # engine checks its pid only there, not on another machine or container with its host name
    """
    ALTER TABLE engines ADD COLUMN machine TEXT NOT NULL DEFAULT '';
    """,
)
"""Schema scripts in order; PRAGMA user_version records how many have been applied."""
