"""Where an attempt works: its own git worktree when the project is a git repository (and
worktrees are on), else the project directory itself; and when a worktree is cleaned up.

Cleanup policies: "always" removes an attempt's worktree when it ends (after its checks),
"completed" (the default) removes it once its task is COMPLETED and keeps the others for the
operator to inspect, "never" keeps them all. The branch, holding the work, always stays, and
a worktree holding uncommitted changes is never removed: the work is committed on the branch
(engine/delivery.py) at hand-in and when an attempt ends, before its task is settled, so the
next attempt starts from it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from control_room.domain import NotFound, Run, Status, Task
from control_room.engine.delivery import Delivery
from control_room.engine.prompt import Place
from control_room.engine.service import Coordinator
from control_room.engine.worktrees import Uncommitted, Worktrees
from control_room.store import delivery_ops

log = logging.getLogger(__name__)
CLEANUP = ("always", "completed", "never")


class Workspaces:
    def __init__(
        self,
        coordinator: Coordinator,
        project: Path,
        worktrees: Worktrees | None = None,
        cleanup: str = "completed",
        delivery: Delivery | None = None,
    ) -> None:
        if cleanup not in CLEANUP:
            raise ValueError(f"cleanup must be one of {CLEANUP}")
        self.coordinator = coordinator
        self.project = project
        self.worktrees = worktrees
        self.cleanup = cleanup
        self.delivery = delivery

    async def uses_worktrees(self) -> bool:
        return self.worktrees is not None and await self.worktrees.enabled()

    async def prepare(self, task_id: str, attempt: int) -> tuple[Path, Place | None]:
        """The attempt's working directory, and (in a worktree) its place for the prompt. The
        task's first worktree records the branch and where it started."""
        trees = self.worktrees
        if trees is None or not await trees.enabled():
            return self.project, None
        task = await self.coordinator.task(task_id)
        if task.branch and task.base_commit:
            base, start = task.base_branch, task.base_commit
        else:
            base, start = await trees.start_point(task_id)
        path = await trees.create(task_id, attempt, start)
        branch = trees.branch_for(task_id)
        if not task.branch:
            task = await self.coordinator.registry.write(
                delivery_ops.set_branch, task_id, str(trees.project), branch, base, start
            )
        tip = await trees.git.at(path)("rev-parse", "--verify", "HEAD^{commit}")
        return path, Place(path, branch, tip if tip != task.base_commit else None)

    async def handed_in(self, task: Task) -> tuple[Path, Path | None]:
        """`dirs_of` for the checks of a task just handed in: the work in its attempt's
        worktree is committed first, so the checks run on that commit."""
        workdir, run_dir = await self.dirs_of(task)
        if self.delivery is not None and task.agent_id and self.delivery.is_worktree(workdir):
            await self.delivery.collect_safely(workdir, task.id, task.agent_id)
        return workdir, run_dir

    async def checked(self, task: Task) -> None:
        """A handed-in task's checks ran in its worktree: what they left there (and anything
        written since the hand-in) is kept aside (a commit under refs/control-room/kept/), so
        nothing is lost, the branch stays as handed in and the worktree can be removed."""
        workdir, _ = await self.dirs_of(task)
        if self.delivery is not None and task.agent_id and self.delivery.is_worktree(workdir):
            await self.delivery.collect_safely(workdir, task.id, task.agent_id, "after its checks")

    async def attempt_ended(self, run: Run, workdir: Path | None, outcome: str) -> None:
        """An attempt ended (`outcome`: how), its task not yet settled: its work is committed
        on the branch, where the next attempt continues."""
        if self.delivery is not None and self.delivery.is_worktree(workdir):
            assert workdir is not None
            await self.delivery.collect_safely(workdir, run.task_id, run.agent_id, outcome)

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
        try:
            await self.worktrees.remove(workdir)
        except Uncommitted as kept:
            log.info("%s", kept)

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
            try:
                await self.worktrees.remove(path)
            except Uncommitted as kept:
                log.info("%s", kept)
                continue
            log.info("removed worktree %s", path)
            removed.append(path)
        return removed

    async def _finished_with(self, task_id: str) -> bool:
        try:
            return self._removable((await self.coordinator.task(task_id)).status)
        except NotFound:
            return True
