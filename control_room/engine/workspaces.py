"""Where an attempt works: its own git worktree when the project is a git repository (and
worktrees are on), else the project directory itself; and when a worktree is cleaned up.

Cleanup policies: "always" removes an attempt's worktree when it ends (after its checks),
"completed" (the default) removes it once its task is COMPLETED and keeps the others for the
operator to inspect, "never" keeps them all. The branch, holding the work, always stays.
"""

from __future__ import annotations

import logging
from pathlib import Path

from control_room.domain import NotFound, Status, Task
from control_room.engine.service import Coordinator
from control_room.engine.worktrees import Worktrees

log = logging.getLogger(__name__)
CLEANUP = ("always", "completed", "never")


class Workspaces:
    def __init__(
        self,
        coordinator: Coordinator,
        project: Path,
        worktrees: Worktrees | None = None,
        cleanup: str = "completed",
    ) -> None:
        if cleanup not in CLEANUP:
            raise ValueError(f"cleanup must be one of {CLEANUP}")
        self.coordinator = coordinator
        self.project = project
        self.worktrees = worktrees
        self.cleanup = cleanup

    async def uses_worktrees(self) -> bool:
        return self.worktrees is not None and await self.worktrees.enabled()

    async def prepare(self, task_id: str, attempt: int) -> Path:
        if self.worktrees is not None and await self.worktrees.enabled():
            return await self.worktrees.create(task_id, attempt)
        return self.project

    def _removable(self, status: Status) -> bool:
        if status is Status.VALIDATING:
            return False  # its checks run there
        return self.cleanup == "always" or (
            self.cleanup == "completed" and status is Status.COMPLETED
        )

    async def finished(self, workdir: Path, status: Status) -> None:
        """An attempt in `workdir` ended and its task is now `status`."""
        if self.worktrees is None or workdir == self.project or not self._removable(status):
            return
        await self.worktrees.remove(workdir)

    async def discard(self, workdir: Path) -> None:
        """Remove the worktree of an attempt that never started."""
        if self.worktrees is not None and workdir != self.project:
            await self.worktrees.remove(workdir)

    async def dirs_of(self, task: Task) -> tuple[Path, Path | None]:
        """(working directory, run folder) of the attempt that handed `task` in: its worktree
        and report folder if Control Room started it, else the project directory."""
        if task.agent_id:
            try:
                run = await self.coordinator.registry.get_run(task.agent_id)
            except NotFound:
                return self.project, None
            workdir = Path(run.workdir) if run.workdir else self.project
            return (workdir if workdir.is_dir() else self.project), Path(run.run_dir)
        return self.project, None

    async def collect(self) -> list[Path]:
        """Remove worktrees no live attempt uses and the policy does not keep."""
        if self.worktrees is None or not await self.uses_worktrees():
            return []
        # The worktrees first, the runs second: a run is recorded before its worktree is made,
        # so every worktree listed here has its run in what is read next.
        listed = await self.worktrees.listed()
        runs = await self.coordinator.runs(limit=10_000)
        by_path = {self.worktrees.path_for(r.task_id, r.attempt): r for r in runs}
        removed = []
        for path in listed:
            run = by_path.get(path)
            if run is not None and (run.live or not await self._finished_with(run.task_id)):
                continue
            await self.worktrees.remove(path)
            log.info("removed worktree %s", path)
            removed.append(path)
        return removed

    async def _finished_with(self, task_id: str) -> bool:
        try:
            return self._removable((await self.coordinator.task(task_id)).status)
        except NotFound:
            return True
