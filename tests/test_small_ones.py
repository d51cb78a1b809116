"""Issue 11, finding 11: a stop while `serve` starts, unknown themes and key ids in the config,
and what the screen says when an approve is refused."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from textual.binding import Binding

from control_room.config import Home, load_settings
from control_room.domain import InvalidInput
from control_room.engine import init_home
from control_room.tui.app import ControlRoomApp
from control_room.tui.themes import load_themes
from control_room.ui_names import KEY_IDS, theme_names
from tests.conftest import run_cli
from tests.serving import free_port
from tests.test_tui import SIZE, _exited, _ready, select_task, until, world_on

SCRIPT = Path(sys.executable).with_name("control-room")


# `control-room serve` in a real process that signals itself at a precise moment of start-up:
# just before the server libraries are imported (the moment the issue hit), or while the
# registry opens.
DRIVER = """
import asyncio, os, signal, sys
from control_room.cli import commands, main
from control_room.store import sqlite

when, signum = sys.argv[1], int(sys.argv[2])
if when == "imports":
    doors = commands.doors
    async def signalled(*args):
        os.kill(os.getpid(), signum)
        return await doors(*args)
    commands.doors = signalled
else:
    opening = sqlite.SqliteRegistry._open
    async def signalled(self):
        os.kill(os.getpid(), signum)
        await asyncio.sleep(0)
        return await opening(self)
    sqlite.SqliteRegistry._open = signalled
sys.exit(main.main(sys.argv[3:]))
"""


@pytest.mark.parametrize("when", ["imports", "registry"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_serve_starts_is_a_clean_exit(tmp_path: Path, when: str, signum: int) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    argv = ["--data-dir", str(home), "serve", "--port", str(free_port())]
    stopped = subprocess.run(
        [sys.executable, "-c", DRIVER, when, str(int(signum)), *argv],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    assert "Traceback" not in stopped.stderr, stopped.stderr
    assert "Event loop is closed" not in stopped.stderr


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[screen]\ntheme = "solarized"\n', "screen.theme"),
        ('[screen]\nkeys = { aprove = "Z" }\n', "screen.keys.aprove"),
    ],
)
def test_unknown_themes_and_key_ids_are_config_errors(tmp_path: Path, text: str, key: str) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    (home / "control-room.toml").write_text(text)
    refused = run_cli("task", "list", data_dir=home)
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert key in refused.stderr and "use one of" in refused.stderr
    with pytest.raises(InvalidInput, match=key.replace(".", r"\.")):
        load_settings(home / "control-room.toml")
    good = '[screen]\ntheme = "control-room-light"\nkeys = { approve = "Z" }\n'
    (home / "control-room.toml").write_text(good)
    assert run_cli("task", "list", data_dir=home).returncode == 0


def test_the_plain_lists_match_the_screen() -> None:
    """The config layer knows key ids and themes without Textual; they are the screen's."""
    bound = [b.id for b in ControlRoomApp.BINDINGS if isinstance(b, Binding)]
    assert sorted(KEY_IDS) == sorted(i for i in bound if i), "every key has an id, listed"
    assert theme_names() == sorted(load_themes())


async def test_a_refused_approve_says_it_did_not_happen(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    settings = load_settings(home.config)
    app = ControlRoomApp(world_on(home, settings, spawn=False))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _ready(app))
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "Nothing to approve", "priority": "P3"})
        await select_task(app, pilot, task.id)
        await pilot.press("a")
        await until(pilot, lambda: _refused(app))
        (note,) = [n for n in app._notifications if n.severity == "error"]
        assert note.title == f"Not approved: {task.id}", note.title
        assert "Approved" not in note.title + note.message
        await app.action_quit()
        await until(pilot, lambda: _exited(app), within=20)


async def _refused(app: ControlRoomApp) -> bool:
    return any(n.severity == "error" for n in app._notifications)
