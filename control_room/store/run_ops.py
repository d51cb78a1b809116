"""The registry's write operations for the agents Control Room starts: one run per attempt.

A run begins with a fresh agent (its own token) and a row in `runs`; it ends when the process
does. Ending a run is one transaction that settles the task: a task the agent still holds is
released, a task nobody claimed since the start is abandoned (either way an attempt counts,
unless the engine itself stopped the agent: domain/attempts.py decides), and the agent's token
stops working.
"""

from __future__ import annotations

import json
from typing import Any

from control_room.domain import Agent, Conflict, NotFound, Run, Status, attempts
from control_room.store import rows, sql
from control_room.store.engine_ops import live_run_of
from control_room.store.tx import Tx

ACTOR = "supervisor"


def start_run(
    tx: Tx,
    agent: Agent,
    token_hash: str,
    task_id: str,
    agent_type: str,
    run_root: str,
    owner_pid: int,
    engine_id: str | None = None,
) -> Run:
    """Register the run's agent and its row; `run_root` gets the attempt number appended. The
    working directory and the process follow in `run_process`. A task with a live run (started
    by any engine sharing the registry) gets no second one: Conflict, with `started_by`."""
    task = tx.task(task_id)
    if task.status is not Status.AVAILABLE:
        raise Conflict(f"{task_id} is {task.status}: no agent is started for it")
    live = live_run_of(tx, task_id)
    if live is not None:
        agent_id, by = live
        where = f"engine {by}" if by else "another Control Room"
        raise Conflict(
            f"{task_id} already has a running agent {agent_id} (started by {where}): "
            "no second one is started",
            started_by=agent_id,
        )
    (attempt,) = tx.conn.execute(sql.NEXT_ATTEMPT, (task_id,)).fetchone()
    values = (agent.id, agent.name, json.dumps(list(agent.capabilities)), agent.runtime)
    tx.conn.execute(sql.INSERT_AGENT, (*values, token_hash, tx.now))
    run = Run(
        agent.id, task_id, attempt, agent_type, agent.runtime, f"{run_root}/{attempt}", "",
        started_at=tx.now, owner_pid=owner_pid, engine_id=engine_id,
    )  # fmt: skip
    tx.conn.execute(sql.INSERT_RUN, run.to_dict())
    return run


def run_process(tx: Tx, agent_id: str, pid: int | None, identity: str | None, workdir: str) -> Run:
    """The run's process has started (pid None: it runs inside Control Room)."""
    tx.conn.execute(sql.SET_RUN_PROCESS, (pid, identity, workdir, agent_id))
    run = get_run(tx, agent_id)
    where = f"pid {pid}" if pid else "in process"
    tx.log(
        "agent_started", ACTOR, task_id=run.task_id, agent_id=agent_id,
        message=f"{run.agent_type} on {run.runtime} started for attempt {run.attempt} ({where})",
        agent_type=run.agent_type, runtime=run.runtime, attempt=run.attempt, pid=pid,
    )  # fmt: skip
    return run


def run_usage(tx: Tx, agent_id: str, turns: int | None, cost_usd: float | None) -> None:
    """Turns and cost so far, as the agent's report shows them (no event: it changes often)."""
    tx.conn.execute(sql.RUN_USAGE, (turns, cost_usd, agent_id))


def get_run(tx: Tx, agent_id: str) -> Run:
    row = tx.conn.execute(sql.GET_RUN, (agent_id,)).fetchone()
    if row is None:
        raise NotFound(f"no run for agent {agent_id}")
    return rows.run(row)


def end_run(
    tx: Tx,
    agent_id: str,
    exit_code: int | None,
    outcome: str,
    *,
    counts: bool = True,
    turns: int | None = None,
    cost_usd: float | None = None,
) -> Run:
    """Settle the task, revoke the agent, record how the run ended. Ending twice is a no-op."""
    run = get_run(tx, agent_id)
    if not run.live:
        return run
    task = tx.task(run.task_id)
    settled = attempts.run_ended(task, agent_id, outcome, counts, lambda: _claimed_since(tx, run))
    if settled is not None:
        tx.apply(task, settled, ACTOR)
    tx.conn.execute(sql.REVOKE_AGENT, (agent_id,))
    values = {
        "now": tx.now, "agent_id": agent_id, "exit_code": exit_code, "outcome": outcome,
        "turns": turns, "cost_usd": cost_usd,
    }  # fmt: skip
    tx.conn.execute(sql.END_RUN, values)
    seconds = tx.now - run.started_at
    tx.log(
        "agent_ended", ACTOR, task_id=run.task_id, agent_id=agent_id,
        message=f"attempt {run.attempt} {outcome} after {seconds:.1f} s",
        exit_code=exit_code, turns=turns, cost_usd=cost_usd, seconds=round(seconds, 3),
    )  # fmt: skip
    return get_run(tx, agent_id)


def _claimed_since(tx: Tx, run: Run) -> bool:
    return tx.conn.execute(sql.CLAIMED_SINCE, (run.task_id, run.started_at)).fetchone() is not None


def note(tx: Tx, /, kind: str, actor: str, message: str, **data: Any) -> None:
    """An event that changes no task: a loop failing, an orphan process stopped."""
    tx.log(kind, actor, message=message, **data)


def start_failed(tx: Tx, agent_id: str, why: str, failures: int, give_up: bool) -> Run | None:
    """The run's agent could not be started (`failures` times in a row for its task). A run
    whose process never ran and that claimed nothing leaves no trace but the `start_failed`
    event: its run and agent rows go. Otherwise it ends like `end_run` without counting an
    attempt. With `give_up`, the task (if still AVAILABLE) becomes BLOCKED with the reason.
    Returns the ended run, or None when it was deleted."""
    run = get_run(tx, agent_id)
    task = tx.task(run.task_id)
    ended: Run | None = None
    if run.pid is None and task.agent_id != agent_id and not _claimed_since(tx, run):
        tx.conn.execute(sql.DELETE_RUN, (agent_id,))
        tx.conn.execute(sql.DELETE_AGENT, (agent_id,))
    else:
        ended = end_run(tx, agent_id, None, f"could not start ({why})", counts=False)
    message = f"{run.agent_type} could not start ({why}); {failures} failed start(s) in a row"
    tx.log(
        "start_failed", ACTOR, task_id=run.task_id, message=message,
        agent_type=run.agent_type, failures=failures,
    )  # fmt: skip
    if give_up:
        task = tx.task(run.task_id)
        blocked = attempts.gave_up(task, run.agent_type, failures, why)
        if blocked is not None:
            tx.apply(task, blocked, ACTOR)
    return ended
