"""How an attempt at a task ends: a hand-in, or another try or dead letter; the verdict of its
checks, an expired lease, a revoked agent, the end of a run Control Room started. Pure
functions over a Task returning an `Outcome`, the change a registry backend writes (through its
transaction's `apply`) and logs as one event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from control_room.domain.claims import check_epoch
from control_room.domain.models import Task
from control_room.domain.status import HELD, Action, Status, after_failed_attempt

FEEDBACK_MAX = 8_000  # the feedback kept on the task for the next attempt
OUTPUT_LOGGED = 2_000  # the check output kept in the event


@dataclass(frozen=True, slots=True)
class Outcome:
    """A change of a task: the action (checked against the transition table when written),
    the event kind, the fields that change, and the event's message (None: the task's new
    reason) and data."""

    action: Action
    kind: str
    changes: dict[str, Any]
    message: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def failed_attempt(t: Task, reason: str) -> dict[str, Any]:
    """The changes for an attempt that did not succeed: another try, or dead letter."""
    status = after_failed_attempt(t.attempts, t.max_attempts)
    if status is Status.FAILED:
        reason = f"{reason} (attempt {t.attempts + 1} of {t.max_attempts}; no attempts left)"
    return {
        "status": status,
        "agent_id": None,
        "lease_expires_at": None,
        "attempts": t.attempts + 1,
        "reason": reason,
    }


def handed_in(t: Task, summary: str, files: tuple[str, ...], hours: float | None) -> Outcome:
    """The holder hands in: VALIDATING when the task has checks to run, COMPLETED otherwise."""
    changes = {
        "status": Status.VALIDATING if t.checks else Status.COMPLETED,
        "lease_expires_at": None, "progress": 100, "summary": summary, "files": files,
        "hours": hours, "reason": "",
    }  # fmt: skip
    kind = "handed_in" if t.checks else "completed"
    return Outcome(Action.COMPLETE, kind, changes, message=summary, data={"hours": hours})


def released(t: Task, reason: str) -> Outcome:
    """The holder gives the task up: an attempt counted."""
    return Outcome(Action.RELEASE, "released", failed_attempt(t, reason))


def verdict(t: Task, epoch: int, passed: bool, output: str) -> Outcome:
    """The checks of a VALIDATING task ran: COMPLETED, or another attempt with the output as
    feedback. Conflict when the task moved on since the checks started."""
    check_epoch(t, epoch, Action.VERDICT)
    if passed:
        changes: dict[str, Any] = {"status": Status.COMPLETED, "reason": ""}
        return Outcome(Action.VERDICT, "checks_passed", changes, message="checks passed")
    changes = {"feedback": output[-FEEDBACK_MAX:], **failed_attempt(t, "checks failed")}
    data = {"output": output[-OUTPUT_LOGGED:]}
    return Outcome(Action.VERDICT, "checks_failed", changes, data=data)


def merge_conflict(
    t: Task, epoch: int, feedback: str, message: str, data: dict[str, Any]
) -> Outcome:
    """Merging on passed checks conflicted: another attempt, the conflict as its feedback."""
    check_epoch(t, epoch, Action.VERDICT)
    changes = {"feedback": feedback[-FEEDBACK_MAX:], **failed_attempt(t, "merge conflict")}
    return Outcome(Action.VERDICT, "merge_conflict", changes, message=message, data=data)


def expired(t: Task) -> Outcome:
    """The holder's lease ran out: an attempt counted."""
    reason = f"lease expired (agent {t.agent_id}, epoch {t.epoch})"
    return Outcome(Action.EXPIRE, "expired", failed_attempt(t, reason))


def revoked(held: Task, agent_id: str) -> Outcome:
    """The agent holding `held` was revoked: the task is released at once, an attempt counted."""
    return released(held, f"agent {agent_id} was revoked")


def run_ended(
    t: Task, agent_id: str, outcome: str, counts: bool, claimed_since: Callable[[], bool]
) -> Outcome | None:
    """The run of `agent_id`, started for `t`, ended (`outcome`: how). A task the agent still
    holds is released; a task nobody claimed since the run started (`claimed_since`, asked
    only then) is abandoned; either way an attempt counts unless `counts` is False (the engine
    itself stopped the agent). None: nothing to settle."""
    if t.agent_id == agent_id and t.status in HELD:
        reason = f"agent {agent_id} {outcome} without completing"
        if counts:
            return released(t, reason)
        free = {"status": Status.AVAILABLE, "agent_id": None, "lease_expires_at": None}
        return Outcome(
            Action.RELEASE, "released", {**free, "reason": f"{reason} (not counted as an attempt)"}
        )
    if t.status is Status.AVAILABLE and counts and not claimed_since():
        reason = f"agent {agent_id} {outcome} before claiming it"
        return Outcome(Action.ABANDON, "abandoned", failed_attempt(t, reason))
    return None


def gave_up(t: Task, agent_type: str, failures: int, why: str) -> Outcome | None:
    """An agent could not be started for `t`, `failures` times in a row: an AVAILABLE task
    becomes BLOCKED with the reason, for the operator. None when it is no longer AVAILABLE."""
    if t.status is not Status.AVAILABLE:
        return None
    reason = f"{agent_type} could not start {failures} times in a row; last: {why}"
    return Outcome(Action.GIVE_UP, "blocked", {"status": Status.BLOCKED, "reason": reason})
