"""The registry's operations for control rooms sharing it: engines (registered at start,
heartbeat, stopped, found gone) and operator tokens (stored hashed, like agent tokens).

The SQL is portable (plain INSERT/UPDATE/SELECT) so every backend runs the same statements.
An engine's times (started, heartbeat, stopped) are the registry's clock, `:now` in the SQL
(`clocked`): on PostgreSQL the database server's, so control rooms on hosts whose clocks
disagree still agree on which engine has been silent for how long; on SQLite (one machine)
this machine's, the writer's time of the transaction.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from control_room.domain.engines import EngineInfo
from control_room.store.spelling import Sql
from control_room.store.tx import Tx

ACTOR = "engine"

SERVER_NOW = "extract(epoch from clock_timestamp())::double precision"


def clocked(query: str) -> Sql:
    """`query` with `:now` as the registry's clock: the transaction's time on SQLite (bound
    as the parameter `now`), the database server's clock on PostgreSQL."""
    return Sql(query, query.replace(":now", SERVER_NOW))


CLOCK = clocked("SELECT :now")
INSERT_ENGINE = clocked("""
    INSERT INTO engines (engine_id, host, pid, data_dir, url, started_at, seen_at, machine)
    VALUES (:id, :host, :pid, :data_dir, :url, :now, :now, :machine) RETURNING started_at
""")
HEARTBEAT = clocked("""
    UPDATE engines SET seen_at = :now WHERE engine_id = :id AND stopped_at IS NULL
    RETURNING seen_at
""")
STOPPED = clocked("""
    UPDATE engines SET stopped_at = :now, seen_at = :now
    WHERE engine_id = :id AND stopped_at IS NULL
""")
GONE = clocked("""
    UPDATE engines SET stopped_at = :now
    WHERE engine_id = :id AND stopped_at IS NULL AND seen_at < :before
""")
ENGINE_COLUMNS = "engine_id, host, pid, data_dir, url, started_at, seen_at, stopped_at, machine"
GET_ENGINE = f"SELECT {ENGINE_COLUMNS} FROM engines WHERE engine_id = ?"
LIVE_ENGINES = f"""
    SELECT {ENGINE_COLUMNS} FROM engines WHERE stopped_at IS NULL ORDER BY started_at
"""
RUN_ENGINES = f"""
    SELECT {ENGINE_COLUMNS} FROM engines WHERE engine_id IN (
        SELECT r.engine_id FROM runs r WHERE r.ended_at IS NULL)
"""
RUNS_OF_ENGINE = "SELECT 1 FROM runs WHERE engine_id = ? AND ended_at IS NULL LIMIT 1"
LIVE_RUN_OF_TASK = """
    SELECT agent_id, engine_id FROM runs WHERE task_id = ? AND ended_at IS NULL
"""

OPERATOR_STATUS = "SELECT status FROM operators WHERE token_hash = ?"
INSERT_OPERATOR = """
    INSERT INTO operators (token_hash, name, status, created_at) VALUES (?, ?, 'ACTIVE', ?)
"""
LIST_OPERATORS = "SELECT name, status, created_at, revoked_at FROM operators ORDER BY created_at"
REVOKE_OPERATOR = """
    UPDATE operators SET status = 'REVOKED', revoked_at = ? WHERE name = ? AND status = 'ACTIVE'
"""


def engine(row: sqlite3.Row | tuple[Any, ...]) -> EngineInfo:
    return EngineInfo(*row)


def register_engine(
    tx: Tx, engine_id: str, host: str, pid: int, data_dir: str, url: str, machine: str = ""
) -> EngineInfo:
    """A new engine starts (no event: starts and clean stops are the engines table's; only an
    engine found gone is history, `engine_gone`)."""
    values = {"id": engine_id, "host": host, "pid": pid, "data_dir": data_dir, "url": url}
    row = tx.conn.execute(INSERT_ENGINE, {**values, "machine": machine, "now": tx.now}).fetchone()
    started = float(row[0])
    return EngineInfo(engine_id, host, pid, data_dir, url, started, started, None, machine)


def heartbeat(tx: Tx, engine_id: str) -> float | None:
    """The engine is alive: the registry's time of this beat; None when it is no longer
    registered as running (it stopped, or another engine found it gone and settled its runs)."""
    row = tx.conn.execute(HEARTBEAT, {"id": engine_id, "now": tx.now}).fetchone()
    return float(row[0]) if row is not None else None


def stopped(tx: Tx, engine_id: str) -> None:
    """The engine stopped cleanly (its agents were settled before)."""
    tx.conn.execute(STOPPED, {"id": engine_id, "now": tx.now})


def found_gone(tx: Tx, engine_id: str, seen_before: float, why: str, by: str) -> bool:
    """Mark an engine gone if it still has not heartbeat since `seen_before` (the registry's
    time, checked again in this transaction); True when this call marked it. The event
    `engine_gone` is logged when it left live runs (an engine that ended with nothing running
    is not news)."""
    marked = {"id": engine_id, "before": seen_before, "now": tx.now}
    if tx.conn.execute(GONE, marked).rowcount != 1:
        return False
    if tx.conn.execute(RUNS_OF_ENGINE, (engine_id,)).fetchone() is None:
        return True
    tx.log(
        "engine_gone", by, message=f"engine {engine_id} is gone ({why}): its runs are settled",
        engine_id=engine_id,
    )  # fmt: skip
    return True


def live_run_of(tx: Tx, task_id: str) -> tuple[str, str | None] | None:
    """(agent id, engine id) of the task's live run, if any."""
    row = tx.conn.execute(LIVE_RUN_OF_TASK, (task_id,)).fetchone()
    return (str(row[0]), row[1]) if row is not None else None


def register_operator(tx: Tx, token_hash: str, name: str) -> str:
    """Record an operator token's hash (once); returns its status (ACTIVE, or REVOKED: a
    revoked token stays revoked, whoever registers it again)."""
    row = tx.conn.execute(OPERATOR_STATUS, (token_hash,)).fetchone()
    if row is not None:
        return str(row[0])
    tx.conn.execute(INSERT_OPERATOR, (token_hash, name, tx.now))  # no event: not history
    return "ACTIVE"


def revoke_operator(tx: Tx, name: str, actor: str) -> int:
    """Revoke the operator tokens registered under `name`; how many were."""
    count = int(tx.conn.execute(REVOKE_OPERATOR, (tx.now, name)).rowcount)
    if count:
        tx.log("operator_revoked", actor, message=f"operator token of {name} revoked")
    return count
