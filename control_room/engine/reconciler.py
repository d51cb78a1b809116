"""The reconciler: makes the registry agree with the processes and worktrees that really exist.

At start and every INTERVAL seconds it looks at the runs the registry thinks are live. A run
this process watches is fine; one whose Control Room is gone is adopted if its process still
runs (or stopped, when adoption is off), and settled at once if its process is gone, so its task
goes back to the queue without waiting for the lease. A process whose run has already ended is
an orphan and is stopped. Worktrees nobody uses are removed as the cleanup policy says.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from control_room.domain import Run
from control_room.engine import processes
from control_room.engine.loops import Loop
from control_room.engine.peers import Peers
from control_room.engine.service import Coordinator
from control_room.engine.supervisor import Supervisor
from control_room.engine.workspaces import Workspaces

log = logging.getLogger(__name__)
RECENT_RUNS = 200


class Reconciler:
    INTERVAL_SECONDS = 30.0

    def __init__(
        self,
        coordinator: Coordinator,
        supervisor: Supervisor,
        workspaces: Workspaces,
        *,
        adopt: bool = True,
        peers: Peers | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.supervisor = supervisor
        self.workspaces = workspaces
        self.adopt = adopt
        self.peers = peers  # the other engines sharing the registry (engine/peers.py)
        self.loop = Loop("reconciler", self.INTERVAL_SECONDS, self.step)

    def _watched_elsewhere(self, run: Run) -> bool:
        """Whether another living Control Room process watches this run: a live other engine
        sharing the registry, or (a run that names no engine) a living process on this host."""
        known = self.peers.watched_elsewhere(run) if self.peers is not None else None
        if known is not None:
            return known
        owner = run.owner_pid
        return owner is not None and owner != os.getpid() and processes.alive(owner)

    def _here(self, run: Run) -> bool:
        return self.peers is None or self.peers.on_this_host(run)

    async def step(self) -> None:
        if self.peers is not None:
            await self.peers.refresh()
        for run in await self.coordinator.runs(live=True):
            if run.agent_id in self.supervisor.attempts or self._watched_elsewhere(run):
                continue
            await self._settle(run)
        for run in await self.coordinator.runs(limit=RECENT_RUNS):
            if not run.live and self._here(run) and _ours_and_running(run):
                assert run.pid is not None
                await processes.stop_group(
                    run.pid, self.supervisor.stop_grace_seconds, run.pid_identity
                )
                await self.coordinator.note(
                    "orphan_stopped", "reconciler",
                    f"stopped pid {run.pid}, left running after its run ended",
                    agent_id=run.agent_id, task_id=run.task_id,
                )  # fmt: skip
        await self.workspaces.collect()

    async def _settle(self, run: Run) -> None:
        here = self._here(run)
        home = self.peers is None or self.peers.same_home(run)
        running = here and _ours_and_running(run)
        if running and self.adopt and self.supervisor.accepting and home:
            self.supervisor.adopt(run, await self.coordinator.task(run.task_id))
            await self.coordinator.note(
                "agent_adopted", "reconciler", f"watching pid {run.pid} again after a restart",
                agent_id=run.agent_id, task_id=run.task_id,
            )  # fmt: skip
            return
        if running:
            assert run.pid is not None
            await processes.stop_group(
                run.pid, self.supervisor.stop_grace_seconds, run.pid_identity
            )
            outcome, counts = "was stopped: the Control Room that started it had ended", False
        elif not here:  # on another machine: its process cannot be seen from here
            outcome, counts = "was left: the Control Room that started it elsewhere is gone", False
        elif run.pid is None:  # its Control Room ended before the agent was started
            outcome, counts = "never started: the Control Room starting it had ended", False
        else:
            outcome, counts = "was gone: its process ended while no Control Room watched it", True
        workdir = Path(run.workdir) if run.workdir and home else None
        await self.workspaces.attempt_ended(run, workdir, outcome)
        await self.coordinator.end_run(run.agent_id, None, outcome, counts=counts)


def _ours_and_running(run: Run) -> bool:
    """Whether the run's process still runs, known by its start time: a pid whose identity was
    not recorded may belong to anyone by now, and is left alone."""
    if run.pid is None or run.pid_identity is None:
        return False
    return processes.alive(run.pid, run.pid_identity)
