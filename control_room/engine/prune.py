"""`control-room prune`: remove what finished tasks left on disk, never unfinished work.

For every task that is COMPLETED, FAILED or CANCELLED and whose last event is older than the
cutoff, its run folders (`runs/<task>/`, reports and prompts) are removed. For every such task
whose branch was merged (`merged_commit` set), its attempts' worktrees are removed when they are
clean (git itself refuses one with changes; engine/worktrees.py) and then its branch with
`git branch -d`, which git refuses for a branch not merged into the checked-out one. Anything
refused is kept and reported. The registry and its event log are never touched.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from control_room.domain import Status, Task
from control_room.engine.git import last_line
from control_room.engine.worktrees import WorktreeError, Worktrees, slug
from control_room.store import Registry

FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)


@dataclass(slots=True)
class PruneReport:
    """What a prune removed (or would remove, in a dry run) and what it kept, and why."""

    runs: list[Path] = field(default_factory=list)
    worktrees: list[Path] = field(default_factory=list)
    branches: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    kept: list[str] = field(default_factory=list)


def size_of(path: Path) -> int:
    """Bytes of the files under `path` (symlinks not followed)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


async def finished_before(registry: Registry, cutoff: float) -> list[Task]:
    """Finished tasks whose last event happened before `cutoff` (a Unix time)."""
    found = []
    for status in FINISHED:
        for task in await registry.list_tasks(status):
            last = await registry.recent_events(1, task_id=task.id)
            at = last[-1].at if last else task.updated_at
            if at < cutoff:
                found.append(task)
    return found


async def prune(
    registry: Registry, runs_root: Path, worktrees_root: Path, older_than: float,
    *, dry_run: bool = False,
) -> PruneReport:  # fmt: skip
    report = PruneReport()
    for task in await finished_before(registry, time.time() - older_than):
        runs = runs_root / slug(task.id)
        if await asyncio.to_thread(runs.is_dir):
            report.bytes_freed += await asyncio.to_thread(size_of, runs)
            if not dry_run:
                await asyncio.to_thread(shutil.rmtree, runs)
            report.runs.append(runs)
        if task.merged_commit and task.repository and task.branch:
            await _merged(task, Path(task.repository), worktrees_root, report, dry_run)
    return report


async def _merged(
    task: Task, repository: Path, root: Path, report: PruneReport, dry_run: bool
) -> None:
    assert task.branch is not None
    trees = Worktrees(repository, root)
    if not await asyncio.to_thread(repository.is_dir):
        report.kept.append(f"{task.id}: repository {repository} is gone")
        return
    attempt = re.compile(re.escape(slug(task.id)) + r"-[0-9]+")
    clean = True
    for path in await trees.listed():
        if not attempt.fullmatch(path.name):
            continue
        dirty = await trees.uncommitted(path) if (path / ".git").exists() else []
        if dirty:
            report.kept.append(f"{path}: {len(dirty)} uncommitted change(s)")
            clean = False
            continue
        size = await asyncio.to_thread(size_of, path)
        if not dry_run:
            try:
                await trees.remove(path)
            except WorktreeError as error:
                report.kept.append(str(error))
                clean = False
                continue
        report.worktrees.append(path)
        report.bytes_freed += size
    if not clean:
        return  # the branch is still checked out in a kept worktree
    if task.branch != trees.branch_for(task.id):
        report.kept.append(f"{task.branch}: not a Control Room task branch")
        return
    if not await trees.has_branch(task.id):
        return  # deleted already
    if dry_run:
        code, _, err = await trees.git.run(
            "merge-base", "--is-ancestor", f"refs/heads/{task.branch}", "HEAD"
        )
        if code == 0:
            report.branches.append(task.branch)
        else:
            report.kept.append(f"{task.branch}: not merged into the checked-out branch")
        return
    code, _, err = await trees.git.run("branch", "-d", "--", task.branch)
    if code == 0:
        report.branches.append(task.branch)
    else:
        report.kept.append(f"{task.branch}: {last_line(err, f'git branch -d: exit {code}')}")
