"""Git repositories for the delivery tests: a project with one commit on `main`, git run with an
explicit identity (Control Room itself must not need one), and a task whose branch holds an
agent's change, made by the same code the engine uses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from control_room.config import Home
from control_room.domain import Task
from control_room.engine import Coordinator
from control_room.engine.delivery import Delivery
from control_room.engine.workspaces import Workspaces
from control_room.engine.worktrees import Worktrees

GREETING_FILES = {"greeting.txt": "hello from the agent\n"}
IDENTITY = ("-c", "user.name=Operator", "-c", "user.email=operator@example.com")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=True,
        stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    return done.stdout.strip()


def no_git_identity(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Nobody's git identity is configured: no global or system config, no GIT_* names."""
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("AUTHOR", "COMMITTER"):
        for part in ("NAME", "EMAIL"):
            monkeypatch.delenv(f"GIT_{name}_{part}", raising=False)


def make_project(folder: Path) -> Path:
    project = folder / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "README.md").write_text("hello\n")
    (project / ".gitignore").write_text("*.log\n")
    git(project, "add", ".")
    git(project, "commit", "-qm", "start")
    return project


def commit_on_main(project: Path, name: str, text: str) -> str:
    """A commit of the operator's on main (checked out in the project)."""
    (project / name).write_text(text)
    git(project, "add", name)
    git(project, "commit", "-qm", f"operator: {name}")
    return git(project, "rev-parse", "HEAD")


async def task_with_branch(
    coordinator: Coordinator, home: Home, project: Path, files: dict[str, str]
) -> tuple[Task, Delivery]:
    """A task whose attempt wrote `files` in its worktree, collected at hand-in as the engine
    does (the worktree is then removed: it is committed)."""
    task = await coordinator.add_task({"title": "Write the greeting", "priority": "P2"})
    delivery = Delivery(coordinator, project=project, worktrees_root=home.worktrees)
    trees = Worktrees(project, home.worktrees)
    workspaces = Workspaces(coordinator, project, trees, "completed", delivery)
    workdir, place = await workspaces.prepare(task.id, 1)
    assert place is not None and place.continues_from is None
    for name, text in files.items():
        (workdir / name).write_text(text)
    task = await delivery.collect(workdir, task.id, None)
    await trees.remove(workdir)
    return task, delivery
