"""The registry's write operations on plans (domain/plans.py), each inside one transaction:
adding a planning task pinned to its agent type, storing a planner's proposal (and handing in
the planning task with it), and the operator's approval (every task created at once, with
its dependencies, or none) or rejection. Each logs one event."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from typing import Any

from control_room.domain import Conflict, InvalidInput, NotFound, Task, TaskSpec
from control_room.domain.plans import (
    APPROVED,
    PENDING,
    PLANNING_TYPE,
    REJECTED,
    Plan,
    specs_with_ids,
)
from control_room.store import ops, sql
from control_room.store.tx import Tx

GET_PLAN = "SELECT * FROM plans WHERE plan_id = ?"
INSERT_PLAN = """
    INSERT INTO plans (plan_id, task_id, agent_id, status, tasks, created_at)
    VALUES (?, ?, ?, 'PENDING', ?, ?)
"""
DECIDE_PLAN = """
    UPDATE plans SET status = ?, reason = ?, created = ?, decided_at = ?, decided_by = ?
    WHERE plan_id = ? AND status = 'PENDING'
"""
PIN_TASK = "UPDATE tasks SET agent_type = ?, approved = 1 WHERE task_id = ?"


def row_to_plan(row: sqlite3.Row) -> Plan:
    return Plan(
        id=row["plan_id"], task_id=row["task_id"], agent_id=row["agent_id"],
        status=row["status"], tasks=tuple(json.loads(row["tasks"])), reason=row["reason"],
        created=tuple(json.loads(row["created"])), created_at=row["created_at"],
        decided_at=row["decided_at"],
    )  # fmt: skip


def get(tx: Tx, plan_id: str) -> Plan:
    row = tx.conn.execute(GET_PLAN, (plan_id,)).fetchone()
    if row is None:
        raise NotFound(f"no plan {plan_id}")
    return row_to_plan(row)


def add_planning_task(tx: Tx, spec: TaskSpec, agent_type: str, actor: str) -> Task:
    """A task routing spawns at once on `agent_type` (approved: it needs no further go-ahead)."""
    (task,) = ops.create_tasks(tx, [spec], actor)
    tx.conn.execute(PIN_TASK, (agent_type, task.id))
    return tx.task(task.id)


def propose(
    tx: Tx, task_id: str, agent_id: str, epoch: int, tasks: Sequence[dict[str, Any]]
) -> Plan:
    """Store the proposal of the agent holding the planning task `task_id` and hand that task in
    with the proposal as its deliverable; refuses unknown existing ids."""
    for index, task in enumerate(tasks):
        for dep in task["depends_on"]:
            if tx.conn.execute(sql.TASK_EXISTS, (dep,)).fetchone() is None:
                raise InvalidInput(f"tasks[{index}].dependencies", f"no task {dep} exists")
    held = tx.task(task_id)
    if held.type != PLANNING_TYPE:
        raise Conflict(f"{task_id} is not a planning task: only a planner proposes tasks")
    earlier = tx.conn.execute("SELECT plan_id FROM plans WHERE task_id = ?", (task_id,)).fetchone()
    if earlier is not None:
        raise Conflict(f"{task_id} already proposed plan {earlier[0]}")
    plan_id = _unused_id(tx)
    summary = f"Proposed plan {plan_id}: {len(tasks)} tasks, waiting for the operator's approval"
    ops.complete(tx, task_id, agent_id, epoch, summary, (), None)
    tx.conn.execute(INSERT_PLAN, (plan_id, task_id, agent_id, json.dumps(list(tasks)), tx.now))
    tx.log(
        "plan_proposed", agent_id, task_id=task_id, agent_id=agent_id,
        message=f"plan {plan_id}: {len(tasks)} tasks proposed", plan=plan_id, count=len(tasks),
    )  # fmt: skip
    return get(tx, plan_id)


def approve(tx: Tx, plan_id: str, actor: str) -> tuple[Plan, list[Task]]:
    plan = _pending(tx, plan_id)
    taken: set[str] = set()
    ids = [ops._unused_id(tx, taken) for _ in plan.tasks]
    created = ops.create_tasks(tx, specs_with_ids(plan.tasks, ids), actor)
    _decide(tx, plan, APPROVED, "", ids, actor)
    tx.log(
        "plan_approved", actor, task_id=plan.task_id,
        message=f"plan {plan_id}: {len(ids)} tasks created", plan=plan_id, created=ids,
    )  # fmt: skip
    return get(tx, plan_id), created


def reject(tx: Tx, plan_id: str, reason: str, actor: str) -> Plan:
    plan = _pending(tx, plan_id)
    _decide(tx, plan, REJECTED, reason, [], actor)
    tx.log(
        "plan_rejected", actor, task_id=plan.task_id, message=reason, plan=plan_id,
    )  # fmt: skip
    return get(tx, plan_id)


def _pending(tx: Tx, plan_id: str) -> Plan:
    plan = get(tx, plan_id)
    if plan.status != PENDING:
        raise Conflict(f"plan {plan_id} is already {plan.status}")
    return plan


def _decide(tx: Tx, plan: Plan, status: str, reason: str, ids: list[str], actor: str) -> None:
    values = (status, reason, json.dumps(ids), tx.now, actor, plan.id)
    if tx.conn.execute(DECIDE_PLAN, values).rowcount != 1:
        raise Conflict(f"plan {plan.id} changed while it was being decided; try again")


def _unused_id(tx: Tx) -> str:
    alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
    while True:
        plan_id = "PL-" + "".join(secrets.choice(alphabet) for _ in range(6))
        if tx.conn.execute(GET_PLAN, (plan_id,)).fetchone() is None:
            return plan_id
