"""Delivery through the engine: real git repositories, real agent processes (tests/spawned.py,
which write files in their worktrees), a real server. The work an agent leaves is committed on
its task's branch, checked on that commit, kept, and (on checks) merged."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from control_room.config import Home, Settings
from control_room.domain import Status, Task
from control_room.engine import Coordinator, init_home, open_coordinator
from control_room.engine.delivery import Delivery
from control_room.engine.workspaces import Workspaces
from control_room.engine.worktrees import Uncommitted, Worktrees
from tests.conftest import run_cli
from tests.delivery_repo import commit_on_main, git, make_project, no_git_identity
from tests.engine_world import ended, engine_world, scripted, settings_with, status_is, wait_for

COMMITTED_CHECK = "git cat-file -e HEAD:work.txt"  # passes only when work.txt is committed


def delivery_settings(*modes: str, **changes: object) -> Settings:
    return replace(settings_with(scripted(*modes)), worktrees=True, **changes)  # type: ignore[arg-type]


async def _gone(path: Path) -> bool:
    return not await asyncio.to_thread(path.exists)


async def merged(c: Coordinator, task_id: str) -> Task | None:
    task = await c.task(task_id)
    return task if task.merged_commit else None


async def test_an_agents_edit_is_committed_at_hand_in_checked_there_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    start = git(project, "rev-parse", "HEAD")
    settings = delivery_settings("work")
    async with engine_world(tmp_path, settings, project=project) as world:
        c = world.coordinator
        task = await c.add_task(
            {"title": "Write work.txt", "priority": "P0", "checks": [COMMITTED_CHECK]}
        )
        done = await wait_for(lambda: status_is(c, task.id, "COMPLETED"), what="COMPLETED")
        (run,) = await c.runs()
        run = await wait_for(lambda: ended(c, run.agent_id), what="the run's end")
        worktree = Path(run.workdir)
        await wait_for(lambda: _gone(worktree), what="the committed worktree's removal")
        kinds = [e.kind for e in await c.events(task_id=task.id)]
        home = world.server.home
    sha = done.commit_sha
    assert sha and run.commit_sha == sha, "the commit is recorded on the task and the run"
    branch = f"control-room/{task.id}"
    assert (done.branch, done.base_branch, done.base_commit) == (branch, "main", start)
    assert git(project, "rev-parse", branch) == sha
    assert git(project, "show", f"{sha}:work.txt") == task.id, "the agent's file is committed"
    assert git(project, "log", "-1", "--format=%an <%ae>", sha) == (
        "Control Room <control-room@localhost>"
    )
    message = git(project, "log", "-1", "--format=%B", sha)
    assert message.startswith(f"{task.id}: Write work.txt") and "done" in message
    assert kinds.index("committed") < kinds.index("checks_passed"), kinds
    assert "branch_created" in kinds
    assert git(project, "status", "--porcelain") == "", "the project's checkout is untouched"
    assert git(project, "rev-parse", "main") == start, "manual merge: nothing merged by itself"

    shown = run_cli("task", "show", task.id, data_dir=home.root)
    assert shown.returncode == 0 and sha in shown.stdout and branch in shown.stdout
    as_json = json.loads(run_cli("task", "show", task.id, "--json", data_dir=home.root).stdout)
    assert (as_json["commit_sha"], as_json["base_commit"]) == (sha, start)
    assert as_json["merged_commit"] is None


async def test_a_failed_attempts_work_is_kept_and_the_next_attempt_starts_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    settings = delivery_settings("partial", "echo")
    async with engine_world(tmp_path, settings, project=project) as world:
        c = world.coordinator
        task = await c.add_task({"title": "Two tries", "priority": "P0"})
        done = await wait_for(lambda: status_is(c, task.id, "COMPLETED"), what="COMPLETED")
        first, second = await c.runs()
        await wait_for(lambda: ended(c, second.agent_id), what="the second run's end")
        done = await c.task(task.id)  # no checks: its hand-in is collected as the agent ends
        first = await c.registry.get_run(first.agent_id)
        received = json.loads((world.run_dir(task.id, 2) / "received.json").read_text())
        events = await c.events(task_id=task.id)
    assert first.exit_code == 3 and first.commit_sha, "the failed attempt's work was committed"
    assert git(project, "show", f"{first.commit_sha}:partial.txt").startswith("attempt 1")
    assert "partial.txt" in received["files"], "the second attempt started from that work"
    prompt = received["prompt"]
    assert f"on the branch control-room/{task.id}" in prompt
    feedback = json.loads(prompt.split("<<<TASK DATA\n")[1].split("\nTASK DATA>>>")[0])[
        "feedback_from_the_last_attempt"
    ]
    assert "previous attempt's work is kept" in feedback and first.commit_sha[:12] in feedback
    assert "exited with code 3" in feedback
    files = git(project, "ls-tree", "--name-only", done.commit_sha or "-")
    assert {"partial.txt", "work.txt"} <= set(files.splitlines())
    git(
        project, "merge-base", "--is-ancestor", first.commit_sha, done.commit_sha or ""
    )  # or raises
    committed = [e for e in events if e.kind == "committed"]
    assert "attempt 1 exited with code 3" in committed[0].message, committed[0].message


async def test_a_worktree_with_uncommitted_changes_is_never_removed(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    trees = Worktrees(project, tmp_path / "data" / "worktrees")
    path = await trees.create("T-1", 1)
    (path / "new.txt").write_text("untracked work")
    (path / "build.log").write_text("ignored: does not count")
    with pytest.raises(Uncommitted, match="1 uncommitted change"):
        await trees.remove(path)
    (path / "README.md").write_text("changed\n")
    assert await trees.collect(keep=[]) == []
    assert (path / "new.txt").read_text() == "untracked work"
    assert (path / "README.md").read_text() == "changed\n"

    workspaces = Workspaces(None, project, trees, "always")  # type: ignore[arg-type]
    await workspaces.finished(path, Status.COMPLETED)
    assert path.is_dir() and (path / "new.txt").exists(), "kept: uncommitted"

    git(path, "add", "--all")
    git(path, "commit", "-qm", "the work")
    await workspaces.finished(path, Status.COMPLETED)
    assert not path.exists(), "committed: removed"
    assert git(project, "show", "control-room/T-1:new.txt") == "untracked work"


async def test_on_checks_merges_into_the_checked_out_base_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    start = git(project, "rev-parse", "HEAD")
    settings = delivery_settings("work", delivery_merge="on-checks")
    async with engine_world(tmp_path, settings, project=project) as world:
        c = world.coordinator
        added = time.monotonic()
        task = await c.add_task(
            {"title": "Merge me", "priority": "P0", "checks": [COMMITTED_CHECK]}
        )
        done = await wait_for(lambda: merged(c, task.id), what="the merge")
        took = time.monotonic() - added
        done = await wait_for(lambda: status_is(c, task.id, "COMPLETED"), what="COMPLETED")
        events = await c.events(task_id=task.id)
        kinds = [e.kind for e in events]
    logged = events[kinds.index("merged")].at - events[0].at
    print(
        f"\ntask added -> merged (scripted agent, on-checks): {took:.2f} s ({logged:.2f} s logged)"
    )
    main = git(project, "rev-parse", "main")
    assert done.merged_commit == main != start
    assert git(project, "rev-parse", "main^1", "main^2").splitlines() == [start, done.commit_sha]
    assert (project / "work.txt").read_text() == f"{task.id}\n", "the checkout is updated"
    assert git(project, "status", "--porcelain") == ""
    assert kinds.index("checks_passed") > kinds.index("merged") > kinds.index("committed")


async def test_on_checks_sends_a_conflicting_task_back_with_the_conflict_as_feedback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    settings = delivery_settings("wait", "echo", delivery_merge="on-checks")
    async with engine_world(tmp_path, settings, project=project) as world:
        c = world.coordinator
        task = await c.add_task(
            {"title": "Conflicts", "priority": "P0", "checks": ["true"], "max_attempts": 2}
        )
        await wait_for(lambda: status_is(c, task.id, "IN_PROGRESS"), what="the first claim")
        theirs = commit_on_main(project, "work.txt", "the operator's own work.txt\n")
        (world.run_dir(task.id, 1) / "go").write_text("")
        failed = await wait_for(lambda: status_is(c, task.id, "FAILED"), what="FAILED")
        events = await c.events(task_id=task.id)
        received = json.loads((world.run_dir(task.id, 2) / "received.json").read_text())
    conflicts = [e for e in events if e.kind == "merge_conflict"]
    assert len(conflicts) == 2 and conflicts[0].data["files"] == ["work.txt"]
    assert (str(conflicts[0].from_status), str(conflicts[0].to_status)) == (
        "VALIDATING", "AVAILABLE",
    )  # fmt: skip
    assert "merged" not in [e.kind for e in events]
    assert git(project, "rev-parse", "main") == theirs, "a conflict changes nothing"
    assert (project / "work.txt").read_text() == "the operator's own work.txt\n"
    assert git(project, "status", "--porcelain") == ""
    assert "conflicts in: work.txt" in received["prompt"], "the conflict is the feedback"
    assert failed.merged_commit is None and "merge conflict" in failed.reason


async def test_an_outside_agent_is_not_affected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    start = git(project, "rev-parse", "HEAD")
    settings = delivery_settings("work", delivery_merge="on-checks")
    async with engine_world(tmp_path, settings, project=project) as world:
        c = world.coordinator
        task = await c.add_task({"title": "By hand", "manual": True, "checks": ["true"]})
        agent, _ = await c.register_agent("outside", ["*"])
        claim = await c.claim(agent.id, task.id)
        (project / "edited.txt").write_text("an outside agent's edit in the project\n")
        await c.complete(task.id, agent.id, claim.lease.epoch, "done by hand")
        done = await wait_for(lambda: status_is(c, task.id, "COMPLETED"), what="COMPLETED")
        kinds = [e.kind for e in await c.events(task_id=task.id)]
    assert (done.branch, done.commit_sha, done.merged_commit) == (None, None, None)
    assert not {"committed", "merged", "branch_created", "merge_refused"} & set(kinds), kinds
    assert git(project, "rev-parse", "HEAD") == start
    assert git(project, "status", "--porcelain") == "?? edited.txt", "left as the agent left it"


async def test_failed_checks_keep_the_work_and_what_checks_leave_is_kept_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    counter = tmp_path / "checked"  # outside the worktree: fails the first time only
    script = (
        f"import pathlib, sys; p = pathlib.Path({str(counter)!r}); n = p.exists(); "
        "p.write_text('x'); pathlib.Path('check-artifact.txt').write_text('left by a check'); "
        "print('E first check fails' if not n else 'ok'); sys.exit(0 if n else 1)"
    )
    check = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"
    async with engine_world(tmp_path, delivery_settings("work", "echo"), project=project) as world:
        c = world.coordinator
        task = await c.add_task({"title": "Checked twice", "priority": "P0", "checks": [check]})
        await wait_for(lambda: status_is(c, task.id, "COMPLETED"), what="COMPLETED")
        first, second = await c.runs()
        second = await wait_for(lambda: ended(c, second.agent_id), what="the second run's end")
        worktree = Path(second.workdir)
        await wait_for(lambda: _gone(worktree), what="its removal: clean after its checks")
        first = await c.registry.get_run(first.agent_id)
        done = await c.task(task.id)
        received = json.loads((world.run_dir(task.id, 2) / "received.json").read_text())
        kinds = [e.kind for e in await c.events(task_id=task.id)]
        delivery = world.engine.delivery
        diff = await delivery.diff(done)
        merged_task = (await delivery.merge(task.id)).task
    assert kinds.count("checks_failed") == 1 and kinds.count("kept_aside") == 2, kinds
    assert git(project, "show", f"{first.commit_sha}:work.txt") == task.id
    assert "work.txt" in received["files"], "the second attempt started from the first's work"
    assert "check-artifact.txt" not in received["files"], "what checks leave is not work"
    assert "previous attempt's work is kept" in received["prompt"]
    assert "E first check fails" in received["prompt"]
    # The branch holds the checked commit; what the checks left is kept aside, not lost.
    assert git(project, "rev-parse", f"control-room/{task.id}") == done.commit_sha
    assert second.commit_sha == done.commit_sha
    kept = git(project, "for-each-ref", "--format=%(refname)", "refs/control-room/kept/")
    assert kept.splitlines() == [f"refs/control-room/kept/{task.id}-{n}" for n in (1, 2)]
    assert git(project, "show", f"refs/control-room/kept/{task.id}-2:check-artifact.txt") == (
        "left by a check"
    )
    assert "check-artifact.txt" not in diff and "work.txt" in diff
    assert git(project, "rev-parse", "main^2") == done.commit_sha
    assert merged_task.merged_commit == git(project, "rev-parse", "main")
    assert not (project / "check-artifact.txt").exists()


async def test_an_agent_that_commits_by_itself_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    home = Home(tmp_path / "data")
    await init_home(home)
    async with open_coordinator(home) as c:
        task = await c.add_task({"title": "Self-committing"})
        delivery = Delivery(c, project=project, worktrees_root=home.worktrees)
        workspaces = Workspaces(c, project, Worktrees(project, home.worktrees), "always", delivery)
        workdir, _ = await workspaces.prepare(task.id, 1)
        (workdir / "own.txt").write_text("committed by the agent\n")
        git(workdir, "add", "own.txt")
        git(workdir, "commit", "-qm", "the agent's own commit")
        (workdir / "more.txt").write_text("and left uncommitted\n")
        done = await delivery.collect(workdir, task.id, None)
        events = await c.events(task_id=task.id)
    assert done.commit_sha == git(workdir, "rev-parse", "HEAD")
    assert git(workdir, "log", "--format=%s", "-2").splitlines() == [
        f"{task.id}: Self-committing", "the agent's own commit",
    ]  # fmt: skip
    assert git(workdir, "status", "--porcelain") == ""
    assert [e.message for e in events if e.kind == "committed"] == [
        f"{done.commit_sha[:12]} on control-room/{task.id} (hand-in: 1 changed file(s) committed)"
    ]
