"""The registry's schema on PostgreSQL: the same tables and columns as the SQLite schema
(store/schema.py) at version BASE_VERSION, as PostgreSQL DDL, then one script per SQLite
migration after it (PG_MIGRATIONS, in the same order). A one-row table records the version
(SQLite's PRAGMA user_version).

Differences that follow from PostgreSQL, not from choice: times are `double precision` (REAL is
4 bytes there), counters `bigint`; text compares byte by byte (COLLATE "C", as SQLite does), so
listings page in the same order; ids of events and the other logs come from identity
sequences; tasks carry a `rowid` column (a sequence) because the claim orders ties by SQLite's
rowid; the id rule of `task add` is a CHECK. The SQLite functions the shared queries use exist
as small SQL functions (COMPAT), so each query is written once.

Every commit that logs an event notifies the channel CHANGES (one notification per transaction:
PostgreSQL folds identical ones), which `PostgresRegistry.wait_for_change` listens to.
"""

from __future__ import annotations

from control_room.store import schema

CHANNEL = "control_room_changes"
BASE_VERSION = 11  # the SQLite migrations BASE covers
WRITE_LOCK = 0x43524547  # pg_advisory_xact_lock key every writer takes first ("CREG")

_T = 'TEXT COLLATE "C"'
_NOW = "extract(epoch from clock_timestamp())::double precision"
_STATUSES = (
    "'PENDING', 'AVAILABLE', 'AWAITING_APPROVAL', 'CLAIMED', 'IN_PROGRESS', 'VALIDATING', "
    "'COMPLETED', 'BLOCKED', 'FAILED', 'CANCELLED'"
)

# The SQLite functions and spellings the shared queries use, for PostgreSQL.
COMPAT = """
CREATE OR REPLACE FUNCTION json_each(text) RETURNS TABLE (value text)
    LANGUAGE sql IMMUTABLE AS $$ SELECT json_array_elements_text($1::json) $$;
CREATE OR REPLACE FUNCTION json_array_length(text) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT json_array_length($1::json) $$;
CREATE OR REPLACE FUNCTION json_extract(text, text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT ($1::json) ->> substr($2, 3) $$;
CREATE OR REPLACE FUNCTION date(text, text) RETURNS text
    LANGUAGE sql STABLE AS $$ SELECT to_char(now(), 'YYYY-MM-DD') $$;
CREATE OR REPLACE FUNCTION cr_json_array(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT to_json(coalesce($1, '{}'::text[]))::text $$;
CREATE AGGREGATE json_group_array(text) (
    sfunc = array_append, stype = text[], finalfunc = cr_json_array);
CREATE OR REPLACE FUNCTION cr_count_true(bigint, boolean) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$ SELECT $1 + CASE WHEN $2 THEN 1 ELSE 0 END $$;
CREATE AGGREGATE sum(boolean) (sfunc = cr_count_true, stype = bigint, initcond = '0');
CREATE OR REPLACE FUNCTION cr_same(text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;
CREATE OPERATOR + (RIGHTARG = text, FUNCTION = cr_same);
"""

BASE = f"""
CREATE TABLE control_room_schema (version integer NOT NULL);

CREATE TABLE tasks (
    task_id {_T} NOT NULL PRIMARY KEY
        CHECK (task_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}$'),
    project_name {_T} NOT NULL DEFAULT '',
    title {_T} NOT NULL CHECK (length(trim(title)) > 0),
    description {_T} NOT NULL DEFAULT '',
    priority {_T} NOT NULL DEFAULT 'P2'
        CHECK (upper(substr(priority, 1, 2)) IN ('P0', 'P1', 'P2', 'P3')),
    task_type {_T} NOT NULL DEFAULT 'implementation',
    required_capabilities {_T} NOT NULL DEFAULT '[]'
        CHECK (json_typeof(required_capabilities::json) IS NOT NULL),
    acceptance_criteria {_T} NOT NULL DEFAULT '[]'
        CHECK (json_typeof(acceptance_criteria::json) IS NOT NULL),
    checks {_T} NOT NULL DEFAULT '[]' CHECK (json_typeof(checks::json) IS NOT NULL),
    manual bigint NOT NULL DEFAULT 0,
    max_attempts bigint NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    status {_T} NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ({_STATUSES})),
    approved bigint NOT NULL DEFAULT 0,
    attempts bigint NOT NULL DEFAULT 0,
    epoch bigint NOT NULL DEFAULT 0,
    agent_id {_T},
    lease_expires_at double precision,
    progress bigint NOT NULL DEFAULT 0,
    note {_T} NOT NULL DEFAULT '',
    reason {_T} NOT NULL DEFAULT '',
    feedback {_T} NOT NULL DEFAULT '',
    summary {_T} NOT NULL DEFAULT '',
    files {_T} NOT NULL DEFAULT '[]',
    hours double precision,
    created_by {_T} NOT NULL DEFAULT 'sql',
    created_at double precision NOT NULL DEFAULT ({_NOW}),
    updated_at double precision,
    repository {_T},
    branch {_T},
    base_branch {_T},
    base_commit {_T},
    commit_sha {_T},
    merged_commit {_T},
    agent_type {_T},
    rowid bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX tasks_queue ON tasks (status, priority, created_at, rowid);
CREATE INDEX tasks_holders ON tasks (agent_id, status) WHERE agent_id IS NOT NULL;
CREATE INDEX tasks_listing ON tasks (priority, created_at, task_id);
CREATE INDEX tasks_open ON tasks (priority, created_at, task_id)
    WHERE status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED');
CREATE INDEX tasks_by_status ON tasks (status, priority, created_at, task_id);
CREATE INDEX tasks_created ON tasks (created_at);

CREATE TABLE task_dependencies (
    task_id {_T} NOT NULL REFERENCES tasks (task_id),
    depends_on {_T} NOT NULL REFERENCES tasks (task_id),
    PRIMARY KEY (task_id, depends_on)
);
CREATE INDEX task_dependents ON task_dependencies (depends_on);

CREATE TABLE agents (
    agent_id {_T} PRIMARY KEY,
    name {_T} NOT NULL,
    capabilities {_T} NOT NULL DEFAULT '[]',
    runtime {_T} NOT NULL DEFAULT 'external',
    token_hash {_T} UNIQUE,
    status {_T} NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'REVOKED')),
    created_at double precision NOT NULL DEFAULT ({_NOW}),
    last_seen double precision
);
CREATE INDEX agents_listing ON agents (created_at, agent_id);
CREATE INDEX agents_live ON agents (created_at, agent_id) WHERE status = 'ACTIVE';

CREATE TABLE events (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at double precision NOT NULL,
    kind {_T} NOT NULL,
    actor {_T} NOT NULL,
    task_id {_T},
    agent_id {_T},
    from_status {_T},
    to_status {_T},
    message {_T} NOT NULL DEFAULT '',
    data {_T} NOT NULL DEFAULT '{{}}'
);
CREATE INDEX events_by_task ON events (task_id, id);
CREATE INDEX events_by_kind ON events (kind, task_id, id);
CREATE INDEX events_stalled ON events (task_id, id) WHERE kind = 'stalled';
CREATE INDEX events_daily_budget ON events (id) WHERE kind = 'daily_budget';

CREATE FUNCTION cr_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION cr_append_only();
CREATE TRIGGER events_append_only_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION cr_append_only();

CREATE FUNCTION cr_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION cr_changed();

-- A row inserted by hand starts unclaimed, with its priority in the short form, and its
-- creation is logged like any other.
CREATE FUNCTION cr_task_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status NOT IN ('AVAILABLE', 'PENDING') THEN
        RAISE EXCEPTION 'a new task must start AVAILABLE or PENDING';
    END IF;
    NEW.priority := upper(substr(NEW.priority, 1, 2));
    RETURN NEW;
END $$;
CREATE TRIGGER tasks_start_unclaimed BEFORE INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION cr_task_inserted();
CREATE FUNCTION cr_task_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (at, kind, actor, task_id, to_status, message)
    VALUES (NEW.created_at, 'created', NEW.created_by, NEW.task_id, NEW.status, NEW.title);
    RETURN NULL;
END $$;
CREATE TRIGGER tasks_created AFTER INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION cr_task_created();

CREATE TABLE routing_decisions (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at double precision NOT NULL,
    task_id {_T} NOT NULL,
    decision {_T} NOT NULL
        CHECK (decision IN ('spawn', 'await_approval', 'wait_for_claim', 'hold')),
    rule {_T} NOT NULL,
    why {_T} NOT NULL,
    agent_type {_T},
    runtime {_T},
    budget_usd double precision
);
CREATE INDEX routing_by_task ON routing_decisions (task_id, id);

CREATE TABLE runs (
    agent_id {_T} PRIMARY KEY REFERENCES agents (agent_id),
    task_id {_T} NOT NULL,
    attempt bigint NOT NULL,
    agent_type {_T} NOT NULL,
    runtime {_T} NOT NULL,
    run_dir {_T} NOT NULL,
    workdir {_T} NOT NULL,
    started_at double precision NOT NULL,
    pid bigint,
    pid_identity {_T},
    owner_pid bigint,
    ended_at double precision,
    exit_code bigint,
    outcome {_T} NOT NULL DEFAULT '',
    turns bigint,
    cost_usd double precision,
    commit_sha {_T},
    UNIQUE (task_id, attempt)
);
CREATE INDEX runs_live ON runs (started_at) WHERE ended_at IS NULL;
CREATE INDEX runs_started ON runs (started_at);

CREATE TABLE permission_requests (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    task_id {_T} NOT NULL,
    agent_id {_T} NOT NULL,
    tool {_T} NOT NULL,
    input {_T} NOT NULL DEFAULT '{{}}',
    grant_key {_T} NOT NULL,
    tool_use_id {_T} NOT NULL DEFAULT '',
    status {_T} NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'ALLOWED', 'DENIED')),
    always bigint NOT NULL DEFAULT 0,
    reason {_T} NOT NULL DEFAULT '',
    created_at double precision NOT NULL,
    answered_at double precision,
    answered_by {_T} NOT NULL DEFAULT ''
);
CREATE INDEX permission_requests_pending ON permission_requests (created_at)
    WHERE status = 'PENDING';
CREATE INDEX permission_requests_grants ON permission_requests (task_id, grant_key)
    WHERE always = 1;
CREATE INDEX permission_requests_created ON permission_requests (created_at);

CREATE TABLE idempotency_keys (
    key {_T} NOT NULL PRIMARY KEY,
    fingerprint {_T} NOT NULL,
    task_id {_T} NOT NULL REFERENCES tasks (task_id),
    created_at double precision NOT NULL
);

CREATE TABLE plans (
    plan_id {_T} NOT NULL PRIMARY KEY,
    task_id {_T} NOT NULL REFERENCES tasks (task_id),
    agent_id {_T},
    status {_T} NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
    tasks {_T} NOT NULL,
    reason {_T} NOT NULL DEFAULT '',
    created {_T} NOT NULL DEFAULT '[]',
    created_at double precision NOT NULL,
    decided_at double precision,
    decided_by {_T}
);
CREATE INDEX plans_pending ON plans (status, created_at);
"""

PG_MIGRATIONS: tuple[str, ...] = (
    # 12: engines heartbeat in the registry; runs name their engine; operator tokens, hashed
    f"""
    CREATE TABLE engines (
        engine_id {_T} NOT NULL PRIMARY KEY,
        host {_T} NOT NULL,
        pid bigint NOT NULL,
        data_dir {_T} NOT NULL,
        url {_T} NOT NULL DEFAULT '',
        started_at double precision NOT NULL,
        seen_at double precision NOT NULL,
        stopped_at double precision
    );
    CREATE INDEX engines_seen ON engines (seen_at) WHERE stopped_at IS NULL;
    ALTER TABLE runs ADD COLUMN engine_id {_T};
    CREATE INDEX runs_live_by_task ON runs (task_id) WHERE ended_at IS NULL;
    CREATE TABLE operators (
        token_hash {_T} NOT NULL PRIMARY KEY,
        name {_T} NOT NULL,
        status {_T} NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'REVOKED')),
        created_at double precision NOT NULL,
        revoked_at double precision
    );
    """,
    # 13: the machine and PID namespace each engine runs in
    f"""
    ALTER TABLE engines ADD COLUMN machine {_T} NOT NULL DEFAULT '';
    """,
)
"""The PostgreSQL spelling of each SQLite migration after BASE_VERSION, in order: a new
migration is written for both (tests/test_pg_store.py checks the counts match)."""

VERSION = BASE_VERSION + len(PG_MIGRATIONS)
assert len(schema.MIGRATIONS) >= VERSION


def scripts_after(version: int) -> list[str]:
    """The scripts that bring a database at `version` (0: empty) to VERSION."""
    if version == 0:
        return [COMPAT, BASE, *PG_MIGRATIONS]
    return list(PG_MIGRATIONS[version - BASE_VERSION :])
