"""Issue 11, finding 9: the data directory is private, whatever the umask.

Through the real CLI and a real `run --headless` spawning a scripted agent in a git worktree,
with the permissive umask 002: the data directory and every folder in it are 0700, every file
Control Room writes there 0600 (registry.db and its -wal/-shm, control-room.toml,
operator.token, runs/*/*/prompt.md and report.log, engine.lock); the worktree keeps git's modes
(an executable stays executable) and the agent's own files get the user's umask. A directory
left readable is made private at the next start, with one warning line.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

from tests.engine_world import SPAWNED
from tests.lines import Lines
from tests.serving import free_port
from tests.test_headless import _wait

SCRIPT = Path(sys.executable).with_name("control-room")
UMASK = 0o002


def cli(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    return subprocess.run(
        [str(SCRIPT), "--data-dir", str(home), *args],
        capture_output=True, text=True, timeout=60, env=env, umask=UMASK, cwd=cwd,
    )  # fmt: skip


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def loose(home: Path) -> dict[str, str]:
    """Everything under `home` but worktrees/ that others may read or enter."""
    found = {}
    for path in [home, *home.rglob("*")]:
        inside = path.relative_to(home).parts
        if path.is_symlink() or (inside[:1] == ("worktrees",) and len(inside) > 1):
            continue
        if mode(path) & 0o077:
            found[str(path.relative_to(home))] = oct(mode(path))
    return found


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                   capture_output=True, umask=UMASK)  # fmt: skip


def test_everything_control_room_writes_is_private_and_worktrees_keep_gits_modes(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q")
    git(project, "config", "user.email", "t@example.com")
    git(project, "config", "user.name", "t")
    (project / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (project / "run.sh").chmod(0o775)
    (project / "README").write_text("hello\n")
    (project / "README").chmod(0o664)
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "start")
    home = project / ".control-room"

    assert cli(home, "init", cwd=project).returncode == 0
    assert mode(home) == 0o700
    for name in ("registry.db", "control-room.toml", "operator.token", ".gitignore"):
        assert mode(home / name) == 0o600, name
    command = [sys.executable, str(SPAWNED), "work", "{run_dir}"]
    (home / "control-room.toml").write_text(
        '[worktrees]\ncleanup = "never"\n\n[[agent_types]]\nname = "scripted"\n'
        f'runtime = "command"\ncommand = {json.dumps(command)}\n\n'
        '[routing]\ndefault_agent = "scripted"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    engine = subprocess.Popen(
        [str(SCRIPT), "--data-dir", str(home), "run", "--headless", "--port", str(free_port())],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=project, env=env,
        umask=UMASK,
    )  # fmt: skip
    try:
        added = cli(home, "task", "add", "--title", "work", "--priority", "P0", "--id", "T-1")
        assert added.returncode == 0, added.stderr

        def done() -> bool:
            shown = cli(home, "task", "show", "T-1", "--json")
            return bool(json.loads(shown.stdout)["status"] == "COMPLETED")

        _wait(done, timeout=60)
        assert (home / "registry.db-wal").exists() and (home / "engine.lock").exists()
        assert loose(home) == {}, "readable by others while running"
    finally:
        engine.send_signal(signal.SIGTERM)
        _, err = engine.communicate(timeout=30)
    assert engine.returncode == 0, err
    assert "warning" not in err, "nothing needed fixing"
    assert loose(home) == {}
    run_dir = home / "runs" / "T-1" / "1"
    for name in ("prompt.md", "report.log"):
        assert mode(run_dir / name) == 0o600, name
    (worktree,) = (home / "worktrees").iterdir()
    assert mode(worktree / "run.sh") == 0o775, "git's modes: an executable stays executable"
    assert mode(worktree / "README") == 0o664
    assert mode(worktree / "work.txt") == 0o664, "the agent works with the user's umask"


def test_a_readable_data_directory_is_made_private_at_start_with_a_warning(
    tmp_path: Path,
) -> None:
    home = tmp_path / "data"
    assert cli(home, "init").returncode == 0
    (home / "runs" / "T-1" / "1").mkdir(parents=True)
    report = home / "runs" / "T-1" / "1" / "report.log"
    report.write_text("secret agent output\n")
    for path, loose_mode in (
        (home, 0o755), (home / "registry.db", 0o644), (home / "operator.token", 0o644),
        (home / "runs", 0o755), (home / "runs" / "T-1", 0o755), (report, 0o644),
    ):  # fmt: skip
        path.chmod(loose_mode)

    listed = cli(home, "task", "list")  # a short command fixes the top level
    assert listed.returncode == 0, listed.stderr
    (warning,) = listed.stderr.splitlines()
    assert warning.startswith("control-room: warning: ") and "private" in warning
    assert mode(home) == 0o700
    assert mode(home / "registry.db") == mode(home / "operator.token") == 0o600
    assert cli(home, "task", "list").stderr == "", "warned once: nothing left to fix"

    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    server = subprocess.Popen(
        [str(SCRIPT), "--data-dir", str(home), "serve", "--port", str(free_port())],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, umask=UMASK,
    )  # fmt: skip
    assert server.stderr is not None
    said = Lines(server.stderr)
    try:
        said.wait_for(lambda line: '"event": "started"' in line)
        first = said.lines[0]
        assert first.startswith("control-room: warning: ") and "private" in first, first
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        said.join()
        server.stderr.close()
    assert server.returncode == 0
    assert mode(report) == 0o600 and mode(home / "runs" / "T-1") == 0o700
    assert loose(home) == {}
