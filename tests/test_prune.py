"""`control-room prune` through the real console script on a real repository: it removes what
finished, merged tasks left behind and never unmerged work (a branch not merged, a worktree with
uncommitted changes, the runs of an open or recently finished task)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from control_room.config import Home
from control_room.domain import Status, Task
from control_room.engine import Coordinator, init_home
from control_room.engine.worktrees import Worktrees, slug
from control_room.private import make_private
from control_room.store import SqliteRegistry
from tests.conftest import FakeClock, run_cli
from tests.delivery_repo import git, make_project, no_git_identity, task_with_branch

DAY = 86_400.0


def run_folder(home: Home, task: Task, attempt: int = 1, size: int = 5000) -> Path:
    folder = home.runs / slug(task.id) / str(attempt)
    folder.mkdir(parents=True)
    (folder / "report.jsonl").write_bytes(b"x" * size)
    return folder


async def finished(c: Coordinator, agent: str, task: Task) -> Task:
    claim = await c.claim(agent, task.id)
    return await c.complete(task.id, agent, claim.lease.epoch, "done")


def branches(project: Path) -> set[str]:
    return set(git(project, "branch", "--format=%(refname:short)").splitlines())


async def test_prune_removes_merged_and_finished_leftovers_and_never_unmerged_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    home = Home(tmp_path / "data")
    await init_home(home)
    old = FakeClock(time.time() - 10 * DAY)
    registry = await SqliteRegistry.open(home.registry, clock=old)
    trees = Worktrees(project, home.worktrees)
    try:
        c = Coordinator(registry)
        agent = (await c.register_agent("worker", ["*"]))[0].id
        merged, delivery = await task_with_branch(c, home, project, {"a.txt": "a\n"})
        merged = await finished(c, agent, merged)
        await delivery.merge(merged.id)
        clean_tree = await trees.create(merged.id, 2)  # a later attempt's checkout, committed
        unmerged, _ = await task_with_branch(c, home, project, {"b.txt": "b\n"})
        unmerged = await finished(c, agent, unmerged)
        dirty, _ = await task_with_branch(c, home, project, {"c.txt": "c\n"})
        dirty = await finished(c, agent, dirty)
        await delivery.merge(dirty.id)
        dirty_tree = await trees.create(dirty.id, 2)
        (dirty_tree / "half-done.txt").write_text("uncommitted work\n")
        still_open = await c.add_task({"title": "not finished"})
        recent = await c.add_task({"title": "finished just now"})
    finally:
        await registry.close()
    registry = await SqliteRegistry.open(home.registry)  # today's clock
    try:
        c = Coordinator(registry)
        agent = (await c.register_agent("today", ["*"]))[0].id
        recent = await finished(c, agent, recent)
        assert (await c.task(merged.id)).merged_commit and not unmerged.merged_commit
        assert (await c.task(still_open.id)).status is Status.AVAILABLE
    finally:
        await registry.close()
    runs = {t.id: run_folder(home, t) for t in (merged, unmerged, dirty, still_open, recent)}
    make_private(home.root)
    before_branches = branches(project)
    assert {merged.branch, unmerged.branch, dirty.branch} <= before_branches

    dry = run_cli("prune", "--older-than", "1d", "--dry-run", data_dir=home.root)
    assert dry.returncode == 0, dry.stderr
    first = dry.stdout.splitlines()[0]
    assert first.startswith("would remove 3 run folder(s), 1 worktree(s), 1 branch(es): ")
    assert all(folder.exists() for folder in runs.values()) and clean_tree.exists()
    assert branches(project) == before_branches

    done = run_cli("prune", "--older-than", "1d", data_dir=home.root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == first.replace("would remove", "removed")
    assert "KiB" in first  # 3 x 5000 bytes of reports, at least
    assert f"kept {dirty_tree}: 1 uncommitted change(s)" in done.stdout
    # Removed: the finished tasks' runs, the merged task's clean worktree and branch.
    for task in (merged, unmerged, dirty):
        assert not (home.runs / slug(task.id)).exists()
    assert not clean_tree.exists()
    assert merged.branch not in branches(project)
    # Kept: the unmerged branch, the dirty worktree with its file and branch, open/recent runs.
    assert unmerged.branch in branches(project) and dirty.branch in branches(project)
    assert (dirty_tree / "half-done.txt").read_text() == "uncommitted work\n"
    assert runs[still_open.id].exists() and runs[recent.id].exists()
    # The event log is kept: the merged task's history is all there.
    shown = run_cli("events", "--task", merged.id, "--json", "--limit", "100", data_dir=home.root)
    assert '"merged"' in shown.stdout and '"created"' in shown.stdout
    # The unmerged commits are still reachable on their branch.
    assert git(project, "show", f"{unmerged.branch}:b.txt") == "b"

    again = run_cli("prune", "--older-than", "1d", data_dir=home.root)
    assert again.stdout.splitlines()[0] == (
        "removed 0 run folder(s), 0 worktree(s), 0 branch(es): 0 B"
    )


def test_prune_refuses_a_bad_duration_with_one_line(tmp_path: Path) -> None:
    assert run_cli("init", data_dir=tmp_path).returncode == 0
    bad = run_cli("prune", "--older-than", "soon", data_dir=tmp_path)
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
