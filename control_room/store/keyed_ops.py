"""Creating a task under an idempotency key (`Idempotency-Key` of POST /api/tasks), inside the
writer's transaction like every operation of store/ops.py."""

from __future__ import annotations

from control_room.domain import InvalidInput, Task, TaskSpec
from control_room.store import sql
from control_room.store.ops import create_tasks
from control_room.store.tx import Tx


def create_task_once(
    tx: Tx, spec: TaskSpec, actor: str, key: str, fingerprint: str
) -> tuple[Task, bool]:
    """The task made under idempotency `key` (False), or a new one made now (True). The same
    key with another body (`fingerprint`) is refused, and so is a second task with a given id."""
    row = tx.conn.execute(sql.GET_IDEMPOTENCY_KEY, (key,)).fetchone()
    if row is not None:
        if row[0] != fingerprint:
            raise InvalidInput(
                "Idempotency-Key", f"was used for another request (it made {row[1]})"
            )
        return tx.task(str(row[1])), False
    (task,) = create_tasks(tx, [spec], actor)
    tx.conn.execute(sql.INSERT_IDEMPOTENCY_KEY, (key, fingerprint, task.id, tx.now))
    return task, True
