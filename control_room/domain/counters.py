"""Counters people read: how many tries a task has had, and when it finished.

`Task.attempts` counts attempts that did not succeed (a release, an expired lease, failed
checks): the number the limit `max_attempts` is checked against. The try under way, or the one
that succeeded, is not in it yet, so a task completed on its first try has `attempts == 0`.
`tries` counts as the event log's "attempt N" does: every try begun in this set of attempts."""

from __future__ import annotations

from control_room.domain.models import Task
from control_room.domain.status import Status

IN_A_TRY = (Status.CLAIMED, Status.IN_PROGRESS, Status.VALIDATING, Status.COMPLETED)
FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)


def tries(task: Task) -> int:
    """Tries begun: the failed ones, plus the one under way or the one that succeeded."""
    under_way = task.status in IN_A_TRY or (task.status is Status.BLOCKED and task.agent_id)
    return task.attempts + (1 if under_way else 0)


def finished_at(task: Task) -> float | None:
    """When a finished task finished (its last change), None while it is open."""
    return task.updated_at if task.status in FINISHED else None
