"""The task status machine: one explicit table of which action moves a task from where to where.

The store consults `require` before every write, so a transition that is not in TRANSITIONS can
never happen, whichever front end asked for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from control_room.domain.errors import Conflict


class Status(StrEnum):
    PENDING = "PENDING"
    AVAILABLE = "AVAILABLE"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    CLAIMED = "CLAIMED"
    IN_PROGRESS = "IN_PROGRESS"
    VALIDATING = "VALIDATING"
    COMPLETED = "COMPLETED"
    BLOCKED = "BLOCKED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class Action(StrEnum):
    READY = "ready"  # every dependency completed
    AWAIT_APPROVAL = "await_approval"  # routing holds the task for the operator
    APPROVE = "approve"
    GO = "go"  # operator: start an agent for this AVAILABLE task now, whatever its priority
    REJECT = "reject"
    CLAIM = "claim"
    PROGRESS = "progress"
    COMPLETE = "complete"  # hand in: VALIDATING when the task has checks, else COMPLETED
    VERDICT = "verdict"  # checks ran: COMPLETED, or back to AVAILABLE (FAILED when out of attempts)
    RELEASE = "release"  # the holder gives up: AVAILABLE, or FAILED when out of attempts
    EXPIRE = "expire"  # the lease ran out: same targets as release
    BLOCK = "block"
    CANCEL = "cancel"
    RETRY = "retry"  # operator: a fresh start, PENDING when dependencies are not done
    ABANDON = "abandon"  # an agent started for the task ended before anyone claimed it
    GIVE_UP = "give_up"  # its agent could not be started again and again: BLOCKED
    IMPORT = "import"  # a task imported from a backlog where it was already done or dropped
    EDIT = "edit"  # operator: fields changed; new dependencies may hold or free the task


S = Status
HELD = (S.CLAIMED, S.IN_PROGRESS)
"""Statuses in which an agent holds a live lease."""
FINAL = (S.COMPLETED, S.FAILED, S.CANCELLED)
"""Statuses no agent or loop leaves by itself (only an operator's retry does, not for COMPLETED)."""

_AFTER_FAILURE = (S.AVAILABLE, S.FAILED)
_RESTART = (S.AVAILABLE, S.PENDING)

TRANSITIONS: Mapping[Action, Mapping[Status, tuple[Status, ...]]] = {
    Action.READY: {S.PENDING: (S.AVAILABLE,)},
    Action.AWAIT_APPROVAL: {S.AVAILABLE: (S.AWAITING_APPROVAL,)},
    Action.APPROVE: {S.AWAITING_APPROVAL: (S.AVAILABLE,), S.BLOCKED: (S.AVAILABLE,)},
    Action.GO: {S.AVAILABLE: (S.AVAILABLE,)},
    Action.REJECT: {S.AWAITING_APPROVAL: (S.CANCELLED,), S.BLOCKED: (S.CANCELLED,)},
    Action.CLAIM: {S.AVAILABLE: (S.CLAIMED,)},
    Action.PROGRESS: {S.CLAIMED: (S.IN_PROGRESS,), S.IN_PROGRESS: (S.IN_PROGRESS,)},
    Action.COMPLETE: {s: (S.VALIDATING, S.COMPLETED) for s in HELD},
    Action.VERDICT: {S.VALIDATING: (S.COMPLETED, *_AFTER_FAILURE)},
    Action.RELEASE: {s: _AFTER_FAILURE for s in HELD},
    Action.EXPIRE: {s: _AFTER_FAILURE for s in HELD},
    Action.BLOCK: {s: (S.BLOCKED,) for s in HELD},
    Action.CANCEL: {
        s: (S.CANCELLED,)
        for s in (S.PENDING, S.AVAILABLE, S.AWAITING_APPROVAL, *HELD, S.VALIDATING, S.BLOCKED)
    },
    Action.RETRY: {s: _RESTART for s in (S.BLOCKED, S.FAILED, S.CANCELLED)},
    Action.ABANDON: {S.AVAILABLE: _AFTER_FAILURE},
    Action.GIVE_UP: {S.AVAILABLE: (S.BLOCKED,)},
    # Only inside the transaction that creates the task (store/import_ops.py).
    Action.IMPORT: {s: (S.COMPLETED, S.CANCELLED) for s in (S.PENDING, S.AVAILABLE)},
    # Never while an agent holds the task or its checks run, nor once COMPLETED (final).
    Action.EDIT: {
        S.PENDING: (S.PENDING, S.AVAILABLE),
        S.AVAILABLE: (S.AVAILABLE, S.PENDING),
        S.AWAITING_APPROVAL: (S.AWAITING_APPROVAL, S.PENDING),
        **{s: (s,) for s in (S.BLOCKED, S.FAILED, S.CANCELLED)},
    },
}


def allowed_from(action: Action) -> frozenset[Status]:
    """The statuses from which `action` is legal."""
    return frozenset(TRANSITIONS[action])


def require(action: Action, task_id: str, source: Status, target: Status | None = None) -> None:
    """Raise Conflict unless `action` may move a task from `source` (to `target`, when given)."""
    targets = TRANSITIONS[action].get(source)
    if targets is None:
        legal = ", ".join(sorted(TRANSITIONS[action]))
        raise Conflict(
            f"cannot {action.replace('_', ' ')} {task_id}: it is {source} (needs {legal})"
        )
    if target is not None and target not in targets:
        raise AssertionError(f"illegal transition {source} -> {target} by {action}")


HOLDER_WRITES: Mapping[Action, tuple[str, ...]] = {
    Action.CLAIM: ("claimed",),
    Action.PROGRESS: ("progress",),
    Action.COMPLETE: ("handed_in", "completed"),
    Action.RELEASE: ("released",),
    Action.BLOCK: ("blocked",),
}
"""The event kinds each holder write logs (its actor is the holder)."""
HOLDER_EVENTS = tuple(kind for kinds in HOLDER_WRITES.values() for kind in kinds)


def repeats(
    action: Action, agent_id: str, epoch: int, task_epoch: int, last: tuple[str, str] | None
) -> bool:
    """Whether a write the rules refuse is the agent repeating its last accepted write on the
    task (its answer was lost, and it tries again): nobody has claimed the task since (its
    epoch is still `epoch`), and the task's last holder write, `last` = (event kind, actor),
    was this agent's and of the same kind. Such a repeat is answered with the task's current
    state and changes nothing. Progress by the holder never needs this: it is accepted again
    for as long as the agent holds the task; once the task left it, a progress is refused."""
    if last is None or task_epoch != epoch or action is Action.PROGRESS:
        return False
    kind, actor = last
    return actor == agent_id and kind in HOLDER_WRITES.get(action, ())


def after_failed_attempt(attempts_so_far: int, max_attempts: int) -> Status:
    """Where a task goes when an attempt ends without success: retry, or dead letter."""
    return S.FAILED if attempts_so_far + 1 >= max_attempts else S.AVAILABLE
