"""Issue 11, finding 11: a stop while `serve` starts, unknown themes and key ids in the config,
and what the screen says when an approve is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


def _opened_registry(pid: int) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith("registry.db")
                   for fd in os.listdir(f"/proc/{pid}/fd"))  # fmt: skip
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_serve_starts_is_a_clean_exit(tmp_path: Path, signum: int) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("no /proc here to see when serve opens its registry")
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    process = subprocess.Popen(
        [str(SCRIPT), "--data-dir", str(home), "serve", "--port", str(free_port())],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not _opened_registry(process.pid):  # start-up is opening the registry right now
        assert process.poll() is None and time.monotonic() < deadline, "serve never opened it"
        time.sleep(0.002)
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "Event loop is closed" not in err, err


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
