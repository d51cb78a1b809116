"""`control-room task diff|merge|push` through the real console script, on real repositories.

Each task's branch is made as the engine makes it (a worktree, a file written, the work
collected at hand-in); the commands run in a child process against the same data directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from control_room.config import Home, load_settings
from control_room.domain import InvalidInput, Task
from control_room.engine import init_home, open_coordinator
from control_room.engine.git import Git, GitError
from control_room.private import make_private
from tests.conftest import run_cli
from tests.delivery_repo import commit_on_main, git, make_project, no_git_identity, task_with_branch

GREETING = {"greeting.txt": "hello from the agent\n"}


@dataclass
class Setup:
    home: Home
    project: Path
    task: Task

    def cli(self, *args: str) -> tuple[int, str, str]:
        done = run_cli(*args, data_dir=self.home.root)
        return done.returncode, done.stdout, done.stderr

    def events(self) -> list[str]:
        code, out, _ = self.cli("events", "--task", self.task.id, "--json", "--limit", "100")
        assert code == 0
        return [json.loads(line)["kind"] for line in out.splitlines()]


@pytest.fixture
async def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Setup]:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    home = Home(tmp_path / "data")
    await init_home(home)
    async with open_coordinator(home) as coordinator:
        task, _ = await task_with_branch(coordinator, home, project, GREETING)
    make_private(home.root)  # as Control Room's own processes (umask 077) would have left it
    yield Setup(home, project, task)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


async def test_diff_shows_the_branch_against_its_base_plainly_when_piped(setup: Setup) -> None:
    code, out, err = setup.cli("task", "diff", setup.task.id)
    assert code == 0, err
    assert "+hello from the agent" in out and "greeting.txt" in out
    assert "\x1b" not in out, "no colour when piped"

    code, out, _ = setup.cli("task", "add", "--title", "never worked on")
    code, out, err = setup.cli("task", "diff", out.strip())
    assert code == 1 and out == ""
    assert "has no branch" in one_line(err)


async def test_merge_into_the_checked_out_clean_base_updates_the_checkout(setup: Setup) -> None:
    start = git(setup.project, "rev-parse", "main")
    code, out, err = setup.cli("task", "merge", setup.task.id)
    assert code == 0, err
    main = git(setup.project, "rev-parse", "main")
    assert f"merged control-room/{setup.task.id} into main as {main[:12]}" in out
    assert git(setup.project, "rev-parse", "main^1", "main^2").splitlines() == [
        start, setup.task.commit_sha,
    ]  # fmt: skip
    assert (setup.project / "greeting.txt").read_text() == "hello from the agent\n"
    assert git(setup.project, "status", "--porcelain") == ""
    shown = json.loads(setup.cli("task", "show", setup.task.id, "--json")[1])
    assert shown["merged_commit"] == main
    assert "merged" in setup.events()

    code, out, err = setup.cli("task", "merge", setup.task.id)
    assert code == 0, err
    assert one_line(out) == f"{setup.task.id} is already merged into main ({main[:12]})"
    assert git(setup.project, "rev-parse", "main") == main


async def test_merge_into_a_base_checked_out_nowhere_touches_no_working_tree(
    setup: Setup,
) -> None:
    git(setup.project, "checkout", "-q", "-b", "elsewhere")
    (setup.project / "scratch.txt").write_text("the operator's untracked file\n")
    start = git(setup.project, "rev-parse", "main")
    code, out, err = setup.cli("task", "merge", setup.task.id)
    assert code == 0, err
    main = git(setup.project, "rev-parse", "main")
    assert one_line(out) == f"{setup.task.id}: merged {setup.task.branch} into main as {main[:12]}"
    assert main != start and git(setup.project, "rev-parse", "main^1") == start
    assert git(setup.project, "show", "main:greeting.txt") == "hello from the agent"
    assert not (setup.project / "greeting.txt").exists(), "no working tree was touched"
    assert git(setup.project, "branch", "--show-current") == "elsewhere"
    assert git(setup.project, "status", "--porcelain") == "?? scratch.txt"


async def test_merge_onto_a_dirty_checkout_changes_nothing(setup: Setup) -> None:
    (setup.project / "README.md").write_text("the operator is editing this\n")
    start = git(setup.project, "rev-parse", "main")
    code, out, err = setup.cli("task", "merge", setup.task.id)
    assert code == 1 and out == ""
    line = one_line(err)
    assert "uncommitted changes" in line and "nothing was changed" in line, line
    assert git(setup.project, "rev-parse", "main") == start
    assert (setup.project / "README.md").read_text() == "the operator is editing this\n"
    assert not (setup.project / "greeting.txt").exists()
    assert "merged" not in setup.events()


async def test_a_conflict_changes_nothing_and_names_the_files(setup: Setup) -> None:
    theirs = commit_on_main(setup.project, "greeting.txt", "the operator's greeting\n")
    before = git(setup.project, "status", "--porcelain")
    code, out, err = setup.cli("task", "merge", setup.task.id)
    assert code == 1 and out == ""
    line = one_line(err)
    assert "conflicts with main in greeting.txt" in line and "nothing was changed" in line, line
    assert git(setup.project, "rev-parse", "main") == theirs
    assert (setup.project / "greeting.txt").read_text() == "the operator's greeting\n"
    assert git(setup.project, "status", "--porcelain") == before == ""
    shown = json.loads(setup.cli("task", "show", setup.task.id, "--json")[1])
    assert shown["merged_commit"] is None and shown["status"] == setup.task.status
    assert setup.events()[-1] == "merge_conflict"


async def test_push_sends_the_branch_to_the_configured_remote(setup: Setup, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    config = setup.home.config.read_text().replace('remote = "origin"', f'remote = "{bare}"')
    setup.home.config.write_text(config)
    branch = f"control-room/{setup.task.id}"
    code, out, err = setup.cli("task", "push", setup.task.id)
    assert code == 0, err
    assert one_line(out) == f"{setup.task.id}: pushed {branch} to {bare}"
    assert git(bare, "rev-parse", branch) == setup.task.commit_sha

    code, out, err = setup.cli("task", "push", setup.task.id, "--remote", "nowhere")
    assert code == 1 and "pushing" in one_line(err) and "nowhere" in err


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[delivery]\nmerge = "always"\n', "delivery.merge: use one of manual, on-checks"),
        ('[delivery]\nauthor = "just a name"\n', "delivery.author: use the form 'Name <email>'"),
        ('[delivery]\nremote = "--upload-pack=x"\n', "delivery.remote: must be a remote"),
    ],
)
def test_bad_delivery_settings_are_refused(tmp_path: Path, text: str, error: str) -> None:
    config = tmp_path / "control-room.toml"
    config.write_text(text)
    with pytest.raises(InvalidInput, match=re.escape(error)):
        load_settings(config)
    config.write_text('[delivery]\nmerge = "on-checks"\nauthor = "Bot <bot@example.com>"\n')
    settings = load_settings(config)
    assert (settings.delivery_merge, settings.delivery_author) == (
        "on-checks",
        "Bot <bot@example.com>",
    )


async def test_diff_is_coloured_on_a_terminal_and_defuses_the_agents_control_characters(
    setup: Setup,
) -> None:
    async with open_coordinator(setup.home) as coordinator:
        evil = {"evil.txt": "title\x1b]0;pwned\x07 clear\x1b[2J end\n"}
        task, _ = await task_with_branch(coordinator, setup.home, setup.project, evil)
    code, out = await asyncio.to_thread(on_a_terminal, setup.home, "task", "diff", task.id)
    assert code == 0
    shown = out.decode()
    assert "\x1b[32m+title" in shown, "added lines in green on a terminal"
    escapes = re.findall(r"\x1b\[[0-9;]*m|\x1b", shown)
    assert set(escapes) <= {"\x1b[1m", "\x1b[36m", "\x1b[32m", "\x1b[31m", "\x1b[0m"}, escapes
    assert "\x07" not in shown and "\ufffd]0;pwned\ufffd" in shown


def on_a_terminal(home: Home, *args: str) -> tuple[int, bytes]:
    """The console script with its stdout on a pseudo-terminal: (exit code, what it printed)."""
    script = Path(sys.executable).with_name("control-room")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    env["CONTROL_ROOM_HOME"] = str(home.root)
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(script), *args], stdout=follower, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        os.close(follower)
        out = b""
        while chunk := _read(leader):
            out += chunk
        return process.wait(timeout=60), out
    finally:
        os.close(leader)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the writer closed
        return b""


async def test_a_git_command_past_its_limit_is_stopped_with_what_it_started(
    tmp_path: Path,
) -> None:
    (tmp_path / "bin").mkdir()
    hang = tmp_path / "bin" / "git-hang"  # `git hang` runs it
    child = tmp_path / "child.pid"
    hang.write_text(
        f"#!{sys.executable}\nimport pathlib, subprocess, time\n"
        f"p = subprocess.Popen(['sleep', '300'])\n"
        f"pathlib.Path({str(child)!r}).write_text(str(p.pid))\ntime.sleep(300)\n"
    )
    hang.chmod(0o755)
    git = Git(tmp_path, timeout=1.0)
    git.env["PATH"] = f"{hang.parent}:{git.env['PATH']}"
    started = time.monotonic()
    with pytest.raises(GitError, match="took longer than 1 s"):
        await git("hang")
    assert time.monotonic() - started < 10
    pid = int(child.read_text())
    deadline = time.monotonic() + 10
    while _running(pid):
        assert time.monotonic() < deadline, "what git started was left running"
        await asyncio.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
