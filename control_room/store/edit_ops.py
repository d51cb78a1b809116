"""An operator's edit of a task, as one operation inside the writer's transaction.

Refused while an agent holds the task or its checks run, or is starting on it (spawned, its
prompt written, not claimed yet), and once it is COMPLETED. New dependencies must name
existing tasks and must not close a cycle (the same check `task add` uses); a task whose
dependencies are not all COMPLETED after the edit goes PENDING, and a PENDING one whose
dependencies are now all done becomes AVAILABLE (the domain's transition table, Action.EDIT,
says which moves are legal). A task still to run keeps an attempt: its max_attempts stays
above the attempts already failed. The edit is logged as one `edited` event whose data lists
each changed field, from and to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from control_room.domain import Action, Conflict, InvalidInput, Status, Task
from control_room.domain.edits import differences
from control_room.domain.specs import find_cycle
from control_room.domain.status import require
from control_room.store import sql
from control_room.store.engine_ops import LIVE_RUN_OF_TASK
from control_room.store.tx import Tx

HELD_BY_WORK = (Status.CLAIMED, Status.IN_PROGRESS, Status.VALIDATING)
OPEN = (Status.PENDING, Status.AVAILABLE, Status.AWAITING_APPROVAL)
MAY_RUN = (*OPEN, Status.BLOCKED)  # still to be claimed again, on the attempts it has left

UPDATE_FIELDS = """
    UPDATE tasks SET title = :title, description = :description, priority = :priority,
        task_type = :type, required_capabilities = :capabilities,
        acceptance_criteria = :criteria, checks = :checks, max_attempts = :max_attempts,
        status = :status, updated_at = :now
    WHERE task_id = :id AND epoch = :epoch
"""
ALL_DEPENDENCIES = "SELECT task_id, depends_on FROM task_dependencies"
DELETE_DEPENDENCIES = "DELETE FROM task_dependencies WHERE task_id = ?"


def edit_task(tx: Tx, task_id: str, changes: Mapping[str, Any], actor: str) -> Task:
    """Apply validated `changes` (domain.edits.parse_edit) to the task; all or nothing."""
    before = tx.task(task_id)
    if before.status in HELD_BY_WORK:
        holder = f" by {before.agent_id}" if before.agent_id else ""
        raise Conflict(
            f"cannot edit {task_id}: it is {before.status}{holder}; "
            "edit it once it is released, handed back or finished"
        )
    require(Action.EDIT, task_id, before.status)
    starting = tx.conn.execute(LIVE_RUN_OF_TASK, (task_id,)).fetchone()
    if starting is not None:  # spawned, its prompt written with the task as it is, not claimed
        raise Conflict(
            f"cannot edit {task_id}: agent {starting[0]} is starting on it; edit it once the "
            "agent has released it or its run has ended"
        )
    changed = differences(before, changes)
    if not changed:
        return before
    limit = changes.get("max_attempts")
    if limit is not None and before.status in MAY_RUN and limit <= before.attempts:
        raise InvalidInput(
            "max_attempts",
            f"{limit} leaves no attempt: {before.attempts} already failed (give at least "
            f"{before.attempts + 1}, or cancel the task)",
        )
    status = before.status
    if "depends_on" in changed:
        deps: tuple[str, ...] = changes["depends_on"]
        unfinished = _check_dependencies(tx, task_id, deps)
        if status in OPEN and unfinished:
            status = Status.PENDING
        elif status is Status.PENDING and not unfinished:
            status = Status.AVAILABLE
    require(Action.EDIT, task_id, before.status, status)
    values = {name: changes.get(name, getattr(before, name)) for name in _COLUMNS}
    params = {
        **{k: json.dumps(list(v)) if isinstance(v, tuple) else v for k, v in values.items()},
        "priority": str(values["priority"]),
        "status": str(status),
        "now": tx.now,
        "id": task_id,
        "epoch": before.epoch,
    }
    if tx.conn.execute(UPDATE_FIELDS, params).rowcount != 1:
        raise Conflict(f"{task_id} changed while it was being edited; try again")
    if "depends_on" in changed:
        tx.conn.execute(DELETE_DEPENDENCIES, (task_id,))
        tx.conn.executemany(sql.INSERT_DEPENDENCY, [(task_id, d) for d in changes["depends_on"]])
    tx.log(
        "edited", actor, task_id=task_id, agent_id=before.agent_id,
        transition=(before.status, status),
        message=f"edited by {actor}: {', '.join(changed)}", changes=changed,
    )  # fmt: skip
    return tx.task(task_id)


_COLUMNS = (
    "title", "description", "priority", "type", "capabilities", "criteria", "checks",
    "max_attempts",
)  # fmt: skip


def _check_dependencies(tx: Tx, task_id: str, deps: tuple[str, ...]) -> int:
    """How many of `deps` are not COMPLETED; refuses unknown ids and cycles."""
    unfinished = 0
    for dep in deps:
        row = tx.conn.execute(sql.TASK_EXISTS, (dep,)).fetchone()
        if row is None:
            raise InvalidInput("depends_on", f"no task {dep}")
        unfinished += row[0] != Status.COMPLETED
    edges: dict[str, list[str]] = {}
    for dependent, dep in tx.conn.execute(ALL_DEPENDENCIES).fetchall():
        edges.setdefault(str(dependent), []).append(str(dep))
    edges[task_id] = list(deps)
    cycle = find_cycle(edges)
    if cycle:
        raise InvalidInput("depends_on", "dependency cycle: " + " -> ".join(cycle))
    return unfinished
