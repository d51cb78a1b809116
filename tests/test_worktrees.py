"""Git worktrees per attempt: real git in a temporary directory, no mocks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_room.engine.worktrees import WorktreeError, Worktrees, slug

HOSTILE = '--help; rm -rf ~ "quoted" ../../x ~^:?*[ é.lock'
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=ENV,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def valid_branch(name: str) -> bool:
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, check=False
    )
    return done.returncode == 0


def commit_file(repo: Path, name: str, text: str) -> None:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"add {name}")


def snapshot(base: Path, *skip: Path) -> dict[Path, bytes | None]:
    """Every path under `base` (outside `skip`) with its file contents."""
    found: dict[Path, bytes | None] = {}
    for path in base.rglob("*"):
        if not any(path == s or path.is_relative_to(s) for s in skip):
            found[path] = path.read_bytes() if path.is_file() else None
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    commit_file(repo, "README.md", "hello\n")
    return repo


@pytest.fixture
def worktrees(project: Path, tmp_path: Path) -> Worktrees:
    return Worktrees(project, tmp_path / "data" / "worktrees")


async def test_enabled_only_in_a_repository_with_a_commit(
    worktrees: Worktrees, tmp_path: Path
) -> None:
    assert await worktrees.enabled()
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not await Worktrees(plain, tmp_path / "w1").enabled()
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    unborn = Worktrees(empty, tmp_path / "w2")
    assert not await unborn.enabled()
    commit_file(empty, "a.txt", "a")
    assert not await unborn.enabled()  # the answer is cached
    assert await Worktrees(empty, tmp_path / "w3").enabled()


async def test_create_checks_out_the_task_branch_with_the_projects_files(
    worktrees: Worktrees, project: Path
) -> None:
    path = await worktrees.create("T-1", 1)
    assert path == worktrees.path_for("T-1", 1) == worktrees.root / "T-1-1"
    assert worktrees.branch_for("T-1") == "control-room/T-1"
    assert git(path, "branch", "--show-current") == "control-room/T-1"
    assert (path / "README.md").read_text() == "hello\n"
    assert await worktrees.listed() == [path]
    assert git(project, "branch", "--show-current") == "main"  # the main checkout is untouched


async def test_a_retry_continues_from_the_previous_attempts_commits(
    worktrees: Worktrees, project: Path
) -> None:
    first = await worktrees.create("T-1", 1)
    commit_file(first, "work.txt", "attempt one\n")
    await worktrees.remove(first)
    assert not first.exists()
    assert git(project, "rev-parse", "--verify", "control-room/T-1")  # the branch is kept
    second = await worktrees.create("T-1", 2)
    assert (second / "work.txt").read_text() == "attempt one\n"
    assert git(second, "branch", "--show-current") == "control-room/T-1"
    assert not (project / "work.txt").exists()


async def test_a_kept_earlier_worktree_does_not_block_the_retry(worktrees: Worktrees) -> None:
    first = await worktrees.create("T-1", 1)
    commit_file(first, "work.txt", "attempt one\n")
    (first / "scratch.txt").write_text("uncommitted")
    second = await worktrees.create("T-1", 2)
    assert (second / "work.txt").exists()
    assert git(second, "branch", "--show-current") == "control-room/T-1"
    assert git(first, "branch", "--show-current") == ""  # detached, files kept for inspection
    assert (first / "scratch.txt").read_text() == "uncommitted"


async def test_a_hostile_task_id_stays_inside_root(
    worktrees: Worktrees, project: Path, tmp_path: Path
) -> None:
    worktrees.root.parent.mkdir()  # the data directory exists; root itself is made on demand
    before = snapshot(tmp_path, worktrees.root, project / ".git")
    branch = worktrees.branch_for(HOSTILE)
    assert valid_branch(branch)
    assert worktrees.path_for(HOSTILE, 1).parent == worktrees.root
    path = await worktrees.create(HOSTILE, 1)
    assert path.parent == worktrees.root and path.is_dir()
    assert git(path, "branch", "--show-current") == branch
    await worktrees.remove(path)
    assert not path.exists()
    assert snapshot(tmp_path, worktrees.root, project / ".git") == before
    assert git(project, "status", "--porcelain") == ""


def test_branch_names_are_valid_for_awkward_ids(tmp_path: Path) -> None:
    worktrees = Worktrees(tmp_path, tmp_path / "root")
    awkward = ["", ".", "..", "-", "-rf", ".hidden", "a.", "a.lock", "a.lock.lock", "a..b", "@"]
    awkward += ["@{u}", "HEAD", "x/y", "a b", "é", "~^:?*[\\", "a" * 64, "..lock", ".-.lock."]
    branches = [worktrees.branch_for(task_id) for task_id in awkward]
    assert all(valid_branch(branch) for branch in branches), branches
    assert len(set(branches)) == len(awkward)
    assert worktrees.branch_for("plain-id_1.2") == "control-room/plain-id_1.2"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=64))
def test_any_task_id_gives_a_valid_branch_and_a_path_in_root(task_id: str) -> None:
    worktrees = Worktrees(Path("/nonexistent/project"), Path("/nonexistent/root"))
    assert valid_branch(worktrees.branch_for(task_id))
    assert worktrees.path_for(task_id, 3).parent == worktrees.root


@given(st.lists(st.text(max_size=64), min_size=2, max_size=6, unique=True))
def test_different_ids_never_share_a_slug(task_ids: list[str]) -> None:
    assert len({slug(task_id) for task_id in task_ids}) == len(task_ids)


async def test_ids_that_slug_alike_get_different_branches(worktrees: Worktrees) -> None:
    ids = ["a b", "a-b", "a:b", "a/b"]
    assert len({worktrees.branch_for(i) for i in ids}) == len(ids)
    paths = [await worktrees.create(i, 1) for i in ids]
    assert len(set(paths)) == len(ids)
    for task_id, path in zip(ids, paths, strict=True):
        assert git(path, "branch", "--show-current") == worktrees.branch_for(task_id)


async def test_crash_leftovers_do_not_block_create(worktrees: Worktrees, project: Path) -> None:
    path = await worktrees.create("T-1", 1)
    (path / "half-done.txt").write_text("crashed here")
    again = await worktrees.create("T-1", 1)  # directory and registration both still there
    assert again == path and not (path / "half-done.txt").exists()
    assert (path / "README.md").exists()
    aside = path.with_name("T-1-1.kept-1")  # uncommitted work is moved aside, never deleted
    assert (aside / "half-done.txt").read_text() == "crashed here"
    assert git(aside, "status", "--porcelain") == "?? half-done.txt"

    registered_only = await worktrees.create("T-2", 1)
    shutil.rmtree(registered_only)
    assert str(registered_only) in git(project, "worktree", "list")
    assert (await worktrees.create("T-2", 1)) == registered_only
    assert (registered_only / "README.md").exists()

    plain = worktrees.path_for("T-3", 1)
    plain.mkdir(parents=True)
    (plain / "junk").write_text("not a worktree")
    assert (await worktrees.create("T-3", 1)) == plain
    assert not (plain / "junk").exists()
    assert git(plain, "branch", "--show-current") == "control-room/T-3"


async def test_remove_of_a_missing_path_is_fine(worktrees: Worktrees, project: Path) -> None:
    await worktrees.remove(worktrees.path_for("never-made", 1))
    path = await worktrees.create("T-1", 1)
    await worktrees.remove(path)
    await worktrees.remove(path)
    assert await worktrees.listed() == []
    with pytest.raises(WorktreeError, match="not an attempt's worktree"):
        await worktrees.remove(project)
    assert (project / "README.md").exists()


async def test_collect_removes_only_what_is_not_kept(
    worktrees: Worktrees, project: Path, tmp_path: Path
) -> None:
    kept = await worktrees.create("kept", 1)
    (kept / "wip.txt").write_text("in progress")
    orphan = await worktrees.create("orphan", 1)
    gone = await worktrees.create("gone", 1)
    shutil.rmtree(gone)
    stray = worktrees.root / "stray"
    stray.mkdir()
    (stray / "file").write_text("left by someone")
    outside = tmp_path / "data" / "keep-me.txt"
    outside.write_text("outside root")
    assert await worktrees.listed() == sorted([kept, orphan, gone, stray])

    removed = await worktrees.collect([kept])
    assert sorted(removed) == sorted([orphan, gone, stray])
    assert not orphan.exists() and not stray.exists()
    assert (kept / "wip.txt").read_text() == "in progress"
    assert await worktrees.listed() == [kept]
    assert outside.read_text() == "outside root"
    assert (project / "README.md").read_text() == "hello\n"
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-parse", "--verify", "control-room/orphan")  # branches stay
    assert await worktrees.collect([kept]) == []


async def test_git_failures_raise_worktree_error(
    worktrees: Worktrees, project: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(WorktreeError, match=r"git worktree add .* failed: .*HEAD"):
        await Worktrees(empty, tmp_path / "w1").create("T-1", 1)

    assert await worktrees.enabled()
    git(project, "checkout", "-q", "--orphan", "unborn")
    worktrees._enabled = None
    assert not await worktrees.enabled()
    with pytest.raises(WorktreeError, match="HEAD"):
        await worktrees.create("T-1", 1)

    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(WorktreeError, match="not a git repository"):
        await Worktrees(plain, tmp_path / "w2").create("T-1", 1)
