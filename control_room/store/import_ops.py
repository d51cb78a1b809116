"""Importing a backlog in one transaction: create every task, then move those the source had
already finished to COMPLETED or CANCELLED, each with an `imported` event saying so.

A dry run does all of it and rolls it back, so it shows exactly what would be created (ids,
statuses after the dependencies are counted) or the error the real import would meet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from control_room.domain import Action, Conflict, ControlRoomError, Status, Task, TaskSpec
from control_room.store import ops, sql
from control_room.store.tx import Tx

NAMED = 8  # existing ids named in the refusal; the rest are counted


class DryRun(ControlRoomError):
    """Raised at the end of a dry run so the writer rolls it back; carries what it created."""

    code = "dry_run"

    def __init__(self, tasks: list[Task]) -> None:
        super().__init__("dry run: nothing was changed")
        self.tasks = tasks


def import_tasks(
    tx: Tx,
    specs: Sequence[TaskSpec],
    finished: Mapping[str, tuple[Status, str]],
    actor: str,
    *,
    dry_run: bool = False,
) -> list[Task]:
    """Create `specs` (all or nothing); `finished` maps an id to its final status and reason."""
    taken = [s.id for s in specs if s.id and tx.conn.execute(sql.TASK_EXISTS, (s.id,)).fetchone()]
    if taken:
        more = len(taken) - NAMED
        named = ", ".join(taken[:NAMED]) + (f" and {more} more" if more > 0 else "")
        raise Conflict(
            f"already in the registry: {named} ({len(taken)} of {len(specs)} tasks); "
            "nothing was imported"
        )
    created = {task.id: task for task in ops.create_tasks(tx, specs, actor)}
    for task_id, (status, why) in finished.items():
        before = tx.task(task_id)  # dependents may have become AVAILABLE meanwhile
        tx.save(
            Action.IMPORT, before, "imported", actor, message=why, status=status,
            reason=why if status is Status.CANCELLED else "",
        )  # fmt: skip
    result = [tx.task(task_id) for task_id in created]
    if dry_run:
        raise DryRun(result)
    return result
