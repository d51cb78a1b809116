"""The real binary in a real terminal: `control-room demo` in tmux, read with capture-pane,
driven with send-keys, at 120x40 and at 80x24."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
SCRIPT = Path(sys.executable).with_name("control-room")
PANES = ("tasks", "agents", "routing", "report")


def tmux(*args: str) -> str:
    done = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10)
    return done.stdout


@contextmanager
def demo_in_tmux(folder: Path, width: int, height: int) -> Iterator[str]:
    session = f"cr-{uuid.uuid4().hex[:8]}"
    # The size comes from the terminal, not from COLUMNS/LINES this test process may carry.
    command = f"env -u COLUMNS -u LINES {SCRIPT} --data-dir {folder / 'world'} demo"
    # The window gets its size first (whatever else this tmux server runs), then the program
    # starts in it, so it draws at that size from the start.
    tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), "sh")
    tmux("set-option", "-t", session, "window-size", "manual")
    tmux("resize-window", "-t", session, "-x", str(width), "-y", str(height))
    tmux("send-keys", "-t", session, f"exec {command}", "Enter")
    try:
        yield session
    finally:
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 15
        while session in tmux("ls") and time.monotonic() < deadline:
            time.sleep(0.2)
        tmux("kill-session", "-t", session)


def screen_of(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for(session: str, seen: Callable[[str], bool], within: float = 30) -> str:
    deadline = time.monotonic() + within
    while True:
        shown = screen_of(session)
        if seen(shown):
            return shown
        assert time.monotonic() < deadline, f"not seen in time; the screen:\n{shown}"
        time.sleep(0.2)


def row(shown: str, task_id: str) -> str:
    return next((line for line in shown.splitlines() if task_id in line), "")


def test_the_demo_screen_approves_the_waiting_task_with_one_key(tmp_path: Path) -> None:
    with demo_in_tmux(tmp_path, 120, 40) as session:
        shown = wait_for(
            session, lambda s: "APPROVAL?" in row(s, "DEMO-PLUGINS") and "inbox 1" in s
        )
        assert all(f"─ {pane}" in shown for pane in PANES), shown
        footer = shown.rstrip().splitlines()[-1]
        for hint in ("a Approve", "x Reject", "/ Filter", "? Help", "q Quit"):
            assert hint in footer, footer
        for column in ("ID", "PRI", "STATUS", "AGENT", "%", "TRIES", "TITLE"):
            assert f" {column} " in row(shown, "STATUS"), "every column fits at 120"
        # The search (in SQL) leaves the one task; a answers it.
        tmux("send-keys", "-t", session, "/")
        wait_for(session, lambda s: "Show tasks containing" in s)
        tmux("send-keys", "-t", session, "PLUGINS", "Enter")
        wait_for(session, lambda s: "filter: PLUGINS" in s and "DEMO-API" not in row(s, "P1"))
        tmux("send-keys", "-t", session, "a")
        shown = wait_for(session, lambda s: "APPROVAL?" not in row(s, "DEMO-PLUGINS"))
        wait_for(session, lambda s: "COMPLETED" in row(s, "DEMO-PLUGINS"))
        wait_for(session, lambda s: "DEMO-PLUGINS  spawn" in s or "approved" in s.lower())


def test_the_screen_is_usable_at_80_by_24(tmp_path: Path) -> None:
    with demo_in_tmux(tmp_path, 80, 24) as session:
        shown = wait_for(session, lambda s: "APPROVAL?" in row(s, "DEMO-PLUGINS"))
        assert all(f"─ {pane}" in shown for pane in PANES), shown
        assert all(len(line) <= 80 for line in shown.splitlines())
        footer = shown.rstrip().splitlines()[-1]
        assert "? Help" in footer and "q Quit" in footer, footer
        assert "TITLE" in row(shown, "STATUS"), shown


def test_the_layout_follows_the_terminal_both_ways(tmp_path: Path) -> None:
    with demo_in_tmux(tmp_path, 120, 40) as session:
        wait_for(session, lambda s: "APPROVAL?" in row(s, "DEMO-PLUGINS"))
        tmux("resize-window", "-t", session, "-x", "80", "-y", "24")
        shown = wait_for(  # stacked, with the whole footer drawn
            session, lambda s: "╮╭" not in row(s, "─ tasks") and "q Quit" in s.rstrip()[-20:]
        )
        assert all(len(line) <= 80 for line in shown.splitlines())
        footer = shown.rstrip().splitlines()[-1]
        assert "? Help" in footer and "q Quit" in footer, footer
        tmux("resize-window", "-t", session, "-x", "120", "-y", "40")
        shown = wait_for(  # side by side, the footer with room for more hints
            session, lambda s: "╮╭─ agents" in row(s, "─ tasks") and "r Retry" in s
        )
        assert "TITLE" in row(shown, "STATUS"), shown
