"""The registry's write operations, as plain functions run inside one SQLite transaction.

Each operation receives a `Tx` (the connection, the time, and the events it writes) and either
returns its result or raises a domain error; the writer (store/sqlite.py) wraps each one in a
savepoint, so a refused operation changes nothing, and commits a whole batch at once. Every
status change is checked against the domain's transition table and logged as one event. The
decisions (who may claim or write, what a failed attempt leads to, verdicts, revocation) are the
domain's (domain/claims.py, domain/attempts.py); here they meet the rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from control_room.domain import (
    Action,
    Agent,
    Claim,
    Conflict,
    InvalidInput,
    Lease,
    NotFound,
    Status,
    Task,
    TaskSpec,
    attempts,
)
from control_room.domain.claims import (
    check_holder,
    check_repeated_claim,
    claim_target,
    inactive,
    refuse_claim,
)
from control_room.domain.specs import find_cycle, new_task_id
from control_room.domain.status import repeats, require
from control_room.store import rows, sql
from control_room.store.tx import Tx


def _held(tx: Tx, task_id: str, agent_id: str, epoch: int, action: Action) -> tuple[Task, bool]:
    """The task, if `agent_id` holds it under `epoch` and `action` is legal now, with False; the
    task as it is, with True, when this write repeats the agent's last accepted one (nothing
    to do: see domain.status.repeats); else Conflict (domain.claims.check_holder)."""
    tx.touch_agent(agent_id)
    t = tx.task(task_id)
    try:
        check_holder(t, agent_id, epoch, action)
    except Conflict:
        if repeats(action, agent_id, epoch, t.epoch, tx.last_holder_write(task_id)):
            return t, True
        raise
    return t, False


# -- tasks -----------------------------------------------------------------------------------


def create_tasks(tx: Tx, specs: Sequence[TaskSpec], actor: str) -> list[Task]:
    """All or nothing: every spec is checked against the registry before any is written."""
    given = [s.id for s in specs if s.id is not None]
    seen: set[str] = set()
    for task_id in given:
        if task_id in seen:
            raise InvalidInput("id", f"{task_id} appears twice")
        seen.add(task_id)
        if tx.conn.execute(sql.TASK_EXISTS, (task_id,)).fetchone():
            raise Conflict(f"task {task_id} already exists")
    ids = [s.id or _unused_id(tx, seen) for s in specs]
    seen.update(ids)
    statuses: dict[str, str] = {}
    for task_id, spec in zip(ids, specs, strict=True):
        for dep in spec.depends_on:
            row = None if dep in seen else tx.conn.execute(sql.TASK_EXISTS, (dep,)).fetchone()
            if dep not in seen and row is None:
                needed_by = spec.id or repr(spec.title)
                raise InvalidInput("depends_on", f"no task {dep} (a dependency of {needed_by})")
            if row is None or row[0] != Status.COMPLETED:
                statuses[task_id] = Status.PENDING
    cycle = find_cycle({task_id: s.depends_on for task_id, s in zip(ids, specs, strict=True)})
    if cycle:
        raise InvalidInput("depends_on", "dependency cycle: " + " -> ".join(cycle))
    by_id = dict(zip(ids, specs, strict=True))
    for task_id in _dependencies_first(by_id):  # a dependency row needs its task to exist
        spec = by_id[task_id]
        tx.conn.execute(sql.INSERT_TASK, _insert_params(tx, task_id, spec, actor, statuses))
        tx.conn.executemany(sql.INSERT_DEPENDENCY, [(task_id, dep) for dep in spec.depends_on])
        tx.events.append(rows.event(tx.conn.execute(sql.CREATED_EVENT, (task_id,)).fetchone()))
    return [tx.task(task_id) for task_id in ids]


def _dependencies_first(specs: dict[str, TaskSpec]) -> list[str]:
    """The ids in their given order, except that a task comes after the ones it depends on
    (the batch has no cycle: checked before)."""
    order: list[str] = []
    placed: set[str] = set()
    for start in specs:
        stack = [start]
        while stack:
            task_id = stack[-1]
            waiting = [d for d in specs[task_id].depends_on if d in specs and d not in placed]
            if waiting:
                stack.append(waiting[0])
                continue
            stack.pop()
            if task_id not in placed:
                placed.add(task_id)
                order.append(task_id)
    return order


def _unused_id(tx: Tx, taken: set[str]) -> str:
    while True:
        task_id = new_task_id()
        if task_id not in taken and not tx.conn.execute(sql.TASK_EXISTS, (task_id,)).fetchone():
            taken.add(task_id)
            return task_id


def _insert_params(
    tx: Tx, task_id: str, spec: TaskSpec, actor: str, statuses: dict[str, str]
) -> dict[str, Any]:
    return {
        "id": task_id,
        "title": spec.title,
        "description": spec.description,
        "project": spec.project,
        "priority": str(spec.priority),
        "type": spec.type,
        "capabilities": json.dumps(list(spec.capabilities)),
        "criteria": json.dumps(list(spec.criteria)),
        "checks": json.dumps(list(spec.checks)),
        "manual": int(spec.manual),
        "max_attempts": spec.max_attempts,
        "status": str(statuses.get(task_id, Status.AVAILABLE)),
        "actor": actor,
        "now": tx.now,
    }


def claim(tx: Tx, agent_id: str, task_id: str | None, lease_seconds: float) -> Claim:
    """Atomically move one AVAILABLE task to CLAIMED under a new epoch and lease."""
    row = tx.conn.execute(sql.TOUCH_CLAIMER, (tx.now, agent_id)).fetchone()
    if row is None:
        raise inactive(agent_id)
    capabilities, holding, started_for = rows.json_list(row[0]), row[1], row[2]
    if holding:
        held = tx.task(holding)
        check_repeated_claim(agent_id, task_id, held, tx.last_holder_write(holding))
        # the claim was accepted and its answer lost: the same answer again
        expires = held.lease_expires_at or tx.now
        return Claim(held, Lease(held.id, agent_id, held.epoch, expires))
    task_id = claim_target(agent_id, task_id, started_for)
    expires = tx.now + lease_seconds
    params = {
        "id": task_id,
        "agent": agent_id,
        "expires": expires,
        "now": tx.now,
        "any": int("*" in capabilities),
        "capabilities": json.dumps(capabilities),
    }
    row = tx.conn.execute(sql.CLAIM, params).fetchone()
    if row is None:
        refuse_claim(task_id, capabilities, None if task_id is None else tx.task(task_id))
    claimed = rows.task(row)
    lease = Lease(claimed.id, agent_id, claimed.epoch, expires)
    transition = (Status.AVAILABLE, Status.CLAIMED)
    data: dict[str, Any] = {"epoch": claimed.epoch, "expires_at": expires}
    tx.log(
        "claimed", agent_id, task_id=claimed.id, agent_id=agent_id, transition=transition, **data
    )
    return Claim(claimed, lease)


def progress(
    tx: Tx, task_id: str, agent_id: str, epoch: int, percent: int, note: str, lease_seconds: float
) -> Task:
    before, repeated = _held(tx, task_id, agent_id, epoch, Action.PROGRESS)
    if repeated:
        return before
    return tx.save(
        Action.PROGRESS,
        before,
        "progress",
        agent_id,
        message=note,
        data={"percent": percent},
        status=Status.IN_PROGRESS,
        progress=percent,
        note=note,
        lease_expires_at=tx.now + lease_seconds,
    )


def heartbeat(tx: Tx, task_id: str, agent_id: str, epoch: int, lease_seconds: float) -> Lease:
    """Renew the lease without a status change; writes no event."""
    t, _ = _held(tx, task_id, agent_id, epoch, Action.PROGRESS)  # progress never repeats
    expires = tx.now + lease_seconds
    tx.conn.execute(sql.RENEW_LEASE, (expires, task_id))
    return Lease(t.id, agent_id, epoch, expires)


def complete(
    tx: Tx,
    task_id: str,
    agent_id: str,
    epoch: int,
    summary: str,
    files: tuple[str, ...],
    hours: float | None,
) -> Task:
    """Hand in: VALIDATING when the task has checks to run, COMPLETED otherwise."""
    before, repeated = _held(tx, task_id, agent_id, epoch, Action.COMPLETE)
    if repeated:
        return before
    return tx.apply(before, attempts.handed_in(before, summary, files, hours), agent_id)


def verdict(tx: Tx, task_id: str, epoch: int, passed: bool, output: str, actor: str) -> Task:
    """The checks of a VALIDATING task ran: COMPLETED, or another attempt with the feedback."""
    before = tx.task(task_id)
    return tx.apply(before, attempts.verdict(before, epoch, passed, output), actor)


def release(tx: Tx, task_id: str, agent_id: str, epoch: int, reason: str) -> Task:
    before, repeated = _held(tx, task_id, agent_id, epoch, Action.RELEASE)
    if repeated:
        return before
    return tx.apply(before, attempts.released(before, reason), agent_id)


def block(tx: Tx, task_id: str, agent_id: str, epoch: int, reason: str) -> Task:
    before, repeated = _held(tx, task_id, agent_id, epoch, Action.BLOCK)
    if repeated:
        return before
    free = {"agent_id": None, "lease_expires_at": None}
    return tx.save(
        Action.BLOCK, before, "blocked", agent_id, status=Status.BLOCKED, reason=reason, **free
    )


def expire_leases(tx: Tx) -> list[Task]:
    """Every task whose lease ran out goes back to AVAILABLE (or FAILED), one attempt counted."""
    expired = []
    for row in tx.conn.execute(sql.EXPIRED_LEASES, (tx.now,)).fetchall():
        before = rows.task(row)
        expired.append(tx.apply(before, attempts.expired(before), "reaper"))
    return expired


# -- operator actions --------------------------------------------------------------------------


def _operator(tx: Tx, action: Action, task_id: str, kind: str, actor: str, **changes: Any) -> Task:
    before = tx.task(task_id)
    require(action, task_id, before.status)
    return tx.save(action, before, kind, actor, **changes)


def await_approval(tx: Tx, task_id: str, why: str, actor: str) -> Task:
    status = Status.AWAITING_APPROVAL
    return _operator(
        tx, Action.AWAIT_APPROVAL, task_id, "awaiting_approval", actor, status=status, reason=why
    )


def approve(tx: Tx, task_id: str, actor: str) -> Task:
    return _operator(
        tx, Action.APPROVE, task_id, "approved", actor, message=f"approved by {actor}",
        status=Status.AVAILABLE, approved=True, reason="",
    )  # fmt: skip


def go(tx: Tx, task_id: str, actor: str) -> Task:
    """The operator's go-ahead: routing starts an agent for it (within the limits)."""
    return _operator(
        tx, Action.GO, task_id, "go", actor, message=f"start now, said {actor}",
        status=Status.AVAILABLE, approved=True,
    )  # fmt: skip


def reject(tx: Tx, task_id: str, reason: str, actor: str) -> Task:
    return _operator(
        tx, Action.REJECT, task_id, "rejected", actor, status=Status.CANCELLED, reason=reason
    )


def cancel(tx: Tx, task_id: str, reason: str, actor: str) -> Task:
    return _operator(
        tx, Action.CANCEL, task_id, "cancelled", actor,
        status=Status.CANCELLED, agent_id=None, lease_expires_at=None, reason=reason,
    )  # fmt: skip


def retry(tx: Tx, task_id: str, actor: str) -> Task:
    """A fresh start with a full set of attempts; PENDING while dependencies are unfinished."""
    (unfinished,) = tx.conn.execute(sql.UNFINISHED_DEPENDENCIES, (task_id,)).fetchone()
    return _operator(
        tx, Action.RETRY, task_id, "retried", actor, message=f"retried by {actor}",
        status=Status.PENDING if unfinished else Status.AVAILABLE,
        agent_id=None, lease_expires_at=None, attempts=0, reason="",
    )  # fmt: skip


# -- agents ----------------------------------------------------------------------------------


def register_agent(
    tx: Tx, agent_id: str, name: str, capabilities: tuple[str, ...], runtime: str, token_hash: str
) -> Agent:
    values = (agent_id, name, json.dumps(list(capabilities)), runtime, token_hash, tx.now)
    tx.conn.execute(sql.INSERT_AGENT, values)
    tx.log("agent_registered", name, agent_id=agent_id, message=f"{name} ({runtime})")
    return Agent(agent_id, name, capabilities, runtime, created_at=tx.now)


def revoke_agent(tx: Tx, agent_id: str, actor: str) -> Agent:
    """Revoke the token; a task the agent holds is released at once (one attempt counted)."""
    row = tx.conn.execute(sql.GET_AGENT, (agent_id,)).fetchone()
    if row is None:
        raise NotFound(f"no agent {agent_id}")
    agent = rows.agent(row)
    if agent.task_id:
        held = tx.task(agent.task_id)
        tx.apply(held, attempts.revoked(held, agent_id), actor)
    tx.conn.execute(sql.REVOKE_AGENT, (agent_id,))
    tx.log("agent_revoked", actor, agent_id=agent_id, message=f"{agent.name} revoked")
    return rows.agent(tx.conn.execute(sql.GET_AGENT, (agent_id,)).fetchone())
