"""One operation's view of the writer's open transaction: the connection, the time, and the
events it has written. Every status change goes through `save`, which checks the domain's
transition table and logs exactly one event."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from control_room.domain import Action, Conflict, Event, NotFound, Status, Task
from control_room.domain.attempts import Outcome
from control_room.domain.claims import inactive
from control_room.domain.status import HOLDER_EVENTS, require
from control_room.store import build, rows, sql


class Tx:
    """One operation's view of the open transaction."""

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self.conn = conn
        self.now = now
        self.events: list[Event] = []

    def log(
        self,
        kind: str,
        actor: str,
        *,
        task_id: str | None = None,
        agent_id: str | None = None,
        transition: tuple[Status, Status] | None = None,
        message: str = "",
        **data: Any,
    ) -> None:
        source, target = transition or (None, None)
        values = (self.now, kind, actor, task_id, agent_id, source, target, message)
        (event_id,) = self.conn.execute(sql.INSERT_EVENT, (*values, json.dumps(data))).fetchone()
        self.events.append(
            Event(event_id, self.now, kind, actor, task_id, agent_id, source, target, message, data)
        )

    def task(self, task_id: str) -> Task:
        row = self.conn.execute(sql.GET_TASK, (task_id,)).fetchone()
        if row is None:
            raise NotFound(f"no task {task_id}")
        return rows.task(row)

    def save(
        self,
        action: Action,
        before: Task,
        kind: str,
        actor: str,
        *,
        message: str | None = None,
        data: dict[str, Any] | None = None,
        **changes: Any,
    ) -> Task:
        """Write `before` with `changes` (same epoch) and log the transition as one event."""
        after = build.changed(before, {**changes, "updated_at": self.now})
        require(action, before.id, before.status, after.status)
        if self.conn.execute(sql.UPDATE_TASK, rows.task_params(after, self.now)).rowcount != 1:
            raise Conflict(f"{before.id} changed while it was being written; try again")
        self.log(
            kind,
            actor,
            task_id=after.id,
            agent_id=before.agent_id,
            transition=(before.status, after.status),
            message=after.reason if message is None else message,
            **(data or {}),
        )
        if after.status is Status.COMPLETED:
            self._ready_dependents(after.id)
        return after

    def apply(self, before: Task, outcome: Outcome, actor: str) -> Task:
        """Write a decision of the domain (domain/attempts.py) about `before`."""
        return self.save(
            outcome.action, before, outcome.kind, actor,
            message=outcome.message, data=outcome.data, **outcome.changes,
        )  # fmt: skip

    def last_holder_write(self, task_id: str) -> tuple[str, str] | None:
        """(event kind, actor) of the task's last write by a holder."""
        params = (task_id, json.dumps(HOLDER_EVENTS))
        row = self.conn.execute(sql.LAST_HOLDER_WRITE, params).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def touch_agent(self, agent_id: str) -> None:
        """Mark the agent seen."""
        if self.conn.execute(sql.TOUCH_AGENT, (self.now, agent_id)).rowcount != 1:
            raise inactive(agent_id)

    def _ready_dependents(self, task_id: str) -> None:
        for (dependent,) in self.conn.execute(sql.READY_DEPENDENTS, (task_id,)).fetchall():
            before = self.task(dependent)
            done = f"{task_id} done"
            self.save(
                Action.READY, before, "ready", "registry", message=done, status=Status.AVAILABLE
            )


Op = Callable[[Tx], Any]
"""An operation: run inside the writer's transaction, returns a result or raises."""
