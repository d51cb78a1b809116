"""Start failures, counted per task: how long a task rests before its agent is tried again, and
when to give up on it.

Per task rather than per agent type: what fails is this task's start (its agent type's program,
its worktree, its branch), and the count that ends in BLOCKED is the task's own, so one task with
a broken branch never holds back the other tasks of its type, and each task's wait is the same
whatever else runs. After the n-th failure in a row a task rests `base * 2**(n-1)` seconds
(30 s, 1 min, 2 min, ... by default); at `limit` failures in a row it is given up on (BLOCKED,
for the operator). A successful start clears the count. Kept in memory: an engine restart starts
counting afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

BACKOFF_SECONDS = 30.0
LIMIT = 5


def seconds_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


@dataclass
class StartFailures:
    base_seconds: float = BACKOFF_SECONDS
    limit: int = LIMIT
    clock: Callable[[], float] = time.monotonic
    _count: dict[str, int] = field(default_factory=dict)
    _resting: dict[str, tuple[float, str]] = field(default_factory=dict)  # until, why

    def failed(self, task_id: str, agent_type: str, why: str) -> tuple[int, bool]:
        """Count a failed start; (failures in a row, whether to give up now)."""
        count = self._count.get(task_id, 0) + 1
        if count >= self.limit:
            self.clear(task_id)
            return count, True
        self._count[task_id] = count
        delay = self.base_seconds * 2 ** (count - 1)
        self._resting[task_id] = (
            self.clock() + delay,
            f"{agent_type} could not start ({why}); failure {count} of {self.limit}, trying "
            f"again in {seconds_text(delay)}.",
        )
        return count, False

    def clear(self, task_id: str) -> None:
        self._count.pop(task_id, None)
        self._resting.pop(task_id, None)

    def resting(self) -> dict[str, str]:
        """Tasks not to start yet, with why."""
        now = self.clock()
        return {task: why for task, (until, why) in self._resting.items() if until > now}

    def next_wake(self) -> float | None:
        """Seconds until the next resting task may be tried again, if any rests."""
        now = self.clock()
        left = [until - now for until, _ in self._resting.values() if until > now]
        return min(left) if left else None
