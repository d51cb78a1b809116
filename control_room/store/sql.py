"""The named queries Control Room runs (the schema and its migrations: store/schema.py).

Times are unix seconds (REAL). Lists are JSON text.
"""

from __future__ import annotations


def _task_columns(table: str) -> str:
    return f"""
    {table}.task_id, {table}.title, {table}.status, {table}.priority, {table}.description,
    {table}.project_name, {table}.task_type, {table}.required_capabilities,
    {table}.acceptance_criteria, {table}.checks,
    (SELECT json_group_array(d.depends_on) FROM task_dependencies d
        WHERE d.task_id = {table}.task_id) AS depends_on,
    {table}.manual, {table}.max_attempts, {table}.approved, {table}.attempts, {table}.epoch,
    {table}.agent_id, {table}.lease_expires_at, {table}.progress, {table}.note, {table}.reason,
    {table}.feedback, {table}.summary, {table}.files, {table}.hours, {table}.created_by,
    {table}.created_at, coalesce({table}.updated_at, {table}.created_at) AS updated_at,
    {table}.repository, {table}.branch, {table}.base_branch, {table}.base_commit,
    {table}.commit_sha, {table}.merged_commit, {table}.agent_type
    """


TASK_COLUMNS = _task_columns("t")
GET_TASK = f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.task_id = ?"
LIST_TASKS = f"SELECT {TASK_COLUMNS} FROM tasks t"
TASK_ORDER = " ORDER BY t.priority, t.created_at, t.rowid"
# Filters LIST_TASKS may take, joined with AND after WHERE.
TASK_HAS_STATUS = "t.status = ?"
TASK_NEEDS_CAPABILITY = "EXISTS (SELECT 1 FROM json_each(t.required_capabilities) WHERE value = ?)"
TASK_EXISTS = "SELECT status FROM tasks WHERE task_id = ?"

INSERT_TASK = """
    INSERT INTO tasks (
        task_id, title, description, project_name, priority, task_type, required_capabilities,
        acceptance_criteria, checks, manual, max_attempts, status, created_by, created_at
    ) VALUES (
        :id, :title, :description, :project, :priority, :type, :capabilities,
        :criteria, :checks, :manual, :max_attempts, :status, :actor, :now
    )
"""
INSERT_DEPENDENCY = "INSERT INTO task_dependencies (task_id, depends_on) VALUES (?, ?)"
CREATED_EVENT = (
    "SELECT * FROM events WHERE task_id = ? AND kind = 'created' ORDER BY id DESC LIMIT 1"
)

# The claim: one compare-and-set from AVAILABLE to CLAIMED under the next epoch, returning the
# claimed task. Without :id it takes the best fit for the agent: highest priority, then oldest,
# among tasks whose every required capability the agent has (`:any` is 1 for `*` agents).
CLAIM = f"""
    UPDATE tasks SET status = 'CLAIMED', agent_id = :agent, epoch = epoch + 1,
        lease_expires_at = :expires, progress = 0, note = '', updated_at = :now
    WHERE status = 'AVAILABLE' AND task_id = coalesce(:id, (
        SELECT t.task_id FROM tasks t
        WHERE t.status = 'AVAILABLE' AND (:any = 1 OR NOT EXISTS (
            SELECT 1 FROM json_each(t.required_capabilities) need
            WHERE need.value NOT IN (SELECT value FROM json_each(:capabilities))))
        ORDER BY t.priority, t.created_at, t.rowid
        LIMIT 1))
    RETURNING {_task_columns("tasks")}
"""

# One statement for every other task write; unchanged columns are passed back as they were.
UPDATE_TASK = """
    UPDATE tasks SET status = :status, agent_id = :agent_id, lease_expires_at = :lease_expires_at,
        attempts = :attempts, approved = :approved, progress = :progress, note = :note,
        reason = :reason, feedback = :feedback, summary = :summary, files = :files, hours = :hours,
        updated_at = :now
    WHERE task_id = :id AND epoch = :epoch
"""
RENEW_LEASE = "UPDATE tasks SET lease_expires_at = ? WHERE task_id = ?"

EXPIRED_LEASES = f"""
    SELECT {TASK_COLUMNS} FROM tasks t
    WHERE t.lease_expires_at < ? AND t.status IN ('CLAIMED', 'IN_PROGRESS')
"""
READY_DEPENDENTS = """
    SELECT d.task_id FROM task_dependencies d JOIN tasks t ON t.task_id = d.task_id
    WHERE d.depends_on = ? AND t.status = 'PENDING' AND NOT EXISTS (
        SELECT 1 FROM task_dependencies d2 JOIN tasks t2 ON t2.task_id = d2.depends_on
        WHERE d2.task_id = d.task_id AND t2.status != 'COMPLETED')
"""
UNFINISHED_DEPENDENCIES = """
    SELECT count(*) FROM task_dependencies d JOIN tasks t ON t.task_id = d.depends_on
    WHERE d.task_id = ? AND t.status != 'COMPLETED'
"""

INSERT_EVENT = """
    INSERT INTO events (at, kind, actor, task_id, agent_id, from_status, to_status, message, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    RETURNING id
"""
LIST_EVENTS = "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?"
LIST_TASK_EVENTS = "SELECT * FROM events WHERE task_id = ? AND id > ? ORDER BY id LIMIT ?"
RECENT_EVENTS = "SELECT * FROM (SELECT * FROM events ORDER BY id DESC LIMIT ?) AS e ORDER BY id"
RECENT_TASK_EVENTS = """
    SELECT * FROM (SELECT * FROM events WHERE task_id = ? ORDER BY id DESC LIMIT ?) AS e ORDER BY id
"""
# The task's last write by a holder (kinds given as a JSON list): who, and which operation.
LAST_HOLDER_WRITE = """
    SELECT kind, actor FROM events
    WHERE task_id = ? AND kind IN (SELECT value FROM json_each(?)) ORDER BY id DESC LIMIT 1
"""
GET_IDEMPOTENCY_KEY = "SELECT fingerprint, task_id FROM idempotency_keys WHERE key = ?"
INSERT_IDEMPOTENCY_KEY = """
    INSERT INTO idempotency_keys (key, fingerprint, task_id, created_at) VALUES (?, ?, ?, ?)
"""
COUNT_TASK_EVENTS = "SELECT count(*) FROM events WHERE task_id = ?"
LAST_EVENT_ID = "SELECT coalesce(max(id), 0) FROM events"

AGENT_COLUMNS = """
    a.agent_id, a.name, a.capabilities, a.runtime, a.status, a.created_at, a.last_seen,
    (SELECT t.task_id FROM tasks t WHERE t.agent_id = a.agent_id
        AND t.status IN ('CLAIMED', 'IN_PROGRESS') LIMIT 1) AS task_id,
    (SELECT r.pid FROM runs r WHERE r.agent_id = a.agent_id AND r.ended_at IS NULL) AS pid,
    (SELECT r.turns FROM runs r WHERE r.agent_id = a.agent_id) AS turns,
    (SELECT r.cost_usd FROM runs r WHERE r.agent_id = a.agent_id) AS cost_usd,
    (SELECT e.host FROM runs r JOIN engines e ON e.engine_id = r.engine_id
        WHERE r.agent_id = a.agent_id) AS host
"""
INSERT_AGENT = """
    INSERT INTO agents (agent_id, name, capabilities, runtime, token_hash, created_at)
    VALUES (?, ?, ?, ?, ?, ?)
"""
GET_AGENT = f"SELECT {AGENT_COLUMNS} FROM agents a WHERE a.agent_id = ?"
AGENT_BY_TOKEN = f"SELECT {AGENT_COLUMNS}, a.token_hash FROM agents a WHERE a.token_hash = ?"
LIST_AGENTS = f"SELECT {AGENT_COLUMNS} FROM agents a ORDER BY a.created_at, a.agent_id"
TOUCH_AGENT = "UPDATE agents SET last_seen = ? WHERE agent_id = ? AND status = 'ACTIVE'"
TOUCH_CLAIMER = """
    UPDATE agents SET last_seen = ? WHERE agent_id = ? AND status = 'ACTIVE'
    RETURNING capabilities, (SELECT t.task_id FROM tasks t WHERE t.agent_id = agents.agent_id
        AND t.status IN ('CLAIMED', 'IN_PROGRESS') LIMIT 1) AS holding,
        (SELECT r.task_id FROM runs r WHERE r.agent_id = agents.agent_id
        AND r.ended_at IS NULL) AS started_for
"""
DELETE_RUN = "DELETE FROM runs WHERE agent_id = ?"
DELETE_AGENT = "DELETE FROM agents WHERE agent_id = ?"
REVOKE_AGENT = "UPDATE agents SET status = 'REVOKED', token_hash = NULL WHERE agent_id = ?"

RUN_COLUMNS = """
    r.agent_id, r.task_id, r.attempt, r.agent_type, r.runtime, r.run_dir, r.workdir,
    r.started_at, r.pid, r.pid_identity, r.owner_pid, r.ended_at, r.exit_code, r.outcome,
    r.turns, r.cost_usd, r.commit_sha, r.engine_id
"""
NEXT_ATTEMPT = "SELECT coalesce(max(attempt), 0) + 1 FROM runs WHERE task_id = ?"
INSERT_RUN = """
    INSERT INTO runs (agent_id, task_id, attempt, agent_type, runtime, run_dir, workdir,
        started_at, owner_pid, engine_id)
    VALUES (:agent_id, :task_id, :attempt, :agent_type, :runtime, :run_dir, :workdir,
        :started_at, :owner_pid, :engine_id)
"""
GET_RUN = f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.agent_id = ?"
LIVE_RUNS = f"SELECT {RUN_COLUMNS} FROM runs r WHERE r.ended_at IS NULL ORDER BY r.started_at"
RECENT_RUNS = f"""
    SELECT * FROM (SELECT {RUN_COLUMNS} FROM runs r ORDER BY r.started_at DESC LIMIT ?) AS recent
    ORDER BY started_at
"""
SET_RUN_PROCESS = "UPDATE runs SET pid = ?, pid_identity = ?, workdir = ? WHERE agent_id = ?"
RUN_USAGE = "UPDATE runs SET turns = ?, cost_usd = ? WHERE agent_id = ? AND ended_at IS NULL"
END_RUN = """
    UPDATE runs SET ended_at = :now, exit_code = :exit_code, outcome = :outcome,
        turns = :turns, cost_usd = :cost_usd
    WHERE agent_id = :agent_id AND ended_at IS NULL
"""
CLAIMED_SINCE = "SELECT 1 FROM events WHERE task_id = ? AND kind = 'claimed' AND at >= ? LIMIT 1"

INSERT_DECISION = """
    INSERT INTO routing_decisions
        (at, task_id, decision, rule, why, agent_type, runtime, budget_usd)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
RECENT_DECISIONS = """
    SELECT * FROM (SELECT * FROM routing_decisions ORDER BY id DESC LIMIT ?) AS d ORDER BY id
"""

# Delivery: a task's branch is recorded once, when its first worktree is made.
SET_BRANCH = """
    UPDATE tasks SET repository = ?, branch = ?, base_branch = ?, base_commit = ?
    WHERE task_id = ? AND branch IS NULL
"""
SET_TASK_COMMIT = "UPDATE tasks SET commit_sha = ? WHERE task_id = ?"
SET_RUN_COMMIT = "UPDATE runs SET commit_sha = ? WHERE agent_id = ?"
SET_MERGED = "UPDATE tasks SET merged_commit = ? WHERE task_id = ?"
