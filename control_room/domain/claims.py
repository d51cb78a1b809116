"""Who may claim a task, and who may write to one they hold: the checks and the refusals.

Pure functions over domain data, used by every registry backend (the store reads the rows they
look at, and writes what they allow). Which AVAILABLE task a claim without a task id takes is
the store's query (highest priority, then oldest, that the agent fits: `Agent.fits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from control_room.domain.errors import Conflict, InactiveAgent, NothingToClaim
from control_room.domain.models import Task
from control_room.domain.status import HELD, Action, repeats, require


def inactive(agent_id: str) -> InactiveAgent:
    """The refusal of any write by an agent that is not active (revoked, or its run ended)."""
    return InactiveAgent(f"no active agent {agent_id} (revoked, or its run ended)")


def check_repeated_claim(
    agent_id: str, wanted: str | None, held: Task, last: tuple[str, str] | None
) -> None:
    """An agent that already holds `held` claims again: fine (return, and answer it with the
    same claim) when this repeats its accepted claim of `held` whose answer was lost (`last`:
    the task's last holder write, see status.repeats); otherwise Conflict: one task at a time."""
    if wanted in (None, held.id) and repeats(Action.CLAIM, agent_id, held.epoch, held.epoch, last):
        return
    raise Conflict(
        f"{agent_id} already holds {held.id} (epoch {held.epoch}): complete or release it first",
        task_id=held.id,
        epoch=held.epoch,
    )


def claim_target(agent_id: str, wanted: str | None, started_for: str | None) -> str | None:
    """The task a claim is for: `wanted` (None: the best fit), except that an agent Control
    Room started (`started_for` its task) works on its own task only."""
    if started_for is None:
        return wanted
    if wanted not in (None, started_for):
        raise Conflict(f"{agent_id} was started for {started_for}: it may claim only that")
    return started_for


def refuse_claim(wanted: str | None, capabilities: Sequence[str], taken: Task | None) -> NoReturn:
    """A claim that matched no AVAILABLE task: nothing fits the agent (no task id), or the task
    asked for (`taken`, as it is now) is held or in a status a claim cannot leave."""
    if wanted is None or taken is None:
        fits = ", ".join(capabilities) or "none"
        raise NothingToClaim(f"no available task fits this agent (capabilities: {fits})")
    if taken.status in HELD:
        raise Conflict(f"{wanted} is already claimed by {taken.agent_id}")
    require(Action.CLAIM, wanted, taken.status)
    raise AssertionError(f"claim of AVAILABLE task {wanted} matched no row")


def check_holder(t: Task, agent_id: str, epoch: int, action: Action) -> None:
    """A holder's write (progress, complete, release, block): Conflict unless `agent_id` holds
    `t` under `epoch` and `action` is legal from its status. The store answers a refused write
    that repeats the agent's last accepted one (status.repeats) with the task as it is."""
    if t.agent_id != agent_id:
        holder = f" (held by {t.agent_id})" if t.agent_id and t.status in HELD else ""
        raise Conflict(f"{t.id} is not held by {agent_id}{holder}; claim a task first")
    if t.epoch != epoch:
        raise Conflict(f"stale epoch {epoch} for {t.id}: it is now {t.epoch}; claim again")
    require(action, t.id, t.status)


def check_epoch(t: Task, epoch: int, action: Action) -> None:
    """A write for a task's attempt by Control Room itself (a verdict of its checks, a merge
    conflict): Conflict when the task was claimed again since (another epoch), or `action` is
    not legal from its status."""
    if t.epoch != epoch:
        raise Conflict(f"stale epoch {epoch} for {t.id}: it is now {t.epoch}")
    require(action, t.id, t.status)
