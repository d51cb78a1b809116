"""What the screen holds at scale, on real registries through Pilot: open tasks a page at a
time and then the most recent finished ones (more on scrolling past the end), a search run in
SQL, agents as people see them (live first, ended ones saying how, `k` only on live ones), and
the counters (TRIES as the event log counts, DONE in `task list`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from control_room.config import Home, Settings
from control_room.domain import Status
from control_room.engine import init_home, open_coordinator
from control_room.tui import agent_rows, dialogs
from control_room.tui.app import ControlRoomApp
from control_room.tui.task_rows import PAGE
from tests.conftest import run_cli
from tests.test_tui import until, world_on

SIZE = (140, 44)
QUIET = Settings(worktrees=False)


async def filled(tmp_path: Path, open_tasks: int, cancelled: int) -> Home:
    """Tasks ROW-0000...: `open_tasks` open, and before them `cancelled` cancelled in order."""
    home = Home(tmp_path / "data")
    await init_home(home)
    home.config.write_text("[routing]\nspawn_priorities = []\napproval_types = []\n")
    async with open_coordinator(home) as c:
        total = open_tasks + cancelled
        specs = [
            {"id": f"ROW-{n:04d}", "title": f"row {n}", "priority": "P2"} for n in range(total)
        ]
        for start in range(0, total, 500):
            await c.add_tasks(specs[start : start + 500])
        for n in range(cancelled):
            await c.cancel(f"ROW-{n:04d}")
    return home


async def loaded(app: ControlRoomApp) -> bool:
    return app.loaded_at is not None


async def test_the_tasks_pane_pages_open_tasks_then_recent_finished_ones(tmp_path: Path) -> None:
    home = await filled(tmp_path, PAGE + 17, 3)
    app = ControlRoomApp(world_on(home, QUIET, spawn=False), finished_rows=2)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loaded(app))
        assert app.tasks.row_count == PAGE, "the first page only"
        assert not any(app.tasks.tasks[k].status is Status.CANCELLED for k in app.tasks.tasks)
        assert app.counts[Status.AVAILABLE] == PAGE + 17, "counts are of the registry"
        app.tasks.focus()
        await pilot.press("ctrl+end")  # past the end: the rest of the open ones, then 2 finished
        await until(pilot, lambda: _rows(app, PAGE + 17 + 2))
        last_two = [app.tasks.coordinate_to_cell_key((r, 0)).row_key.value
                    for r in (PAGE + 17, PAGE + 18)]  # fmt: skip
        assert last_two == ["ROW-0002", "ROW-0001"], "the most recently finished first"
        await pilot.press("ctrl+end")
        await until(pilot, lambda: _rows(app, PAGE + 17 + 3))
        assert "ROW-0000" in app.tasks.tasks
        await pilot.press("slash")  # a search runs in SQL, over every status
        await until(pilot, lambda: _dialog(app))
        await pilot.press(*"ROW-0000", "enter")
        await until(pilot, lambda: _rows(app, 1))
        assert list(app.tasks.tasks) == ["ROW-0000"]
        assert "filter: ROW-0000" in str(app.status.render())
        await app.action_quit()
        await until(pilot, lambda: _exited(app), within=20)


async def test_agents_live_first_ended_ones_say_how_and_k_spares_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = await filled(tmp_path, 3, 0)
    async with open_coordinator(home) as c:
        run, _ = await c.start_run("ROW-0000", "builder", "command", (), home.runs / "ROW-0000")
        await c.run_process(run.agent_id, None, None, home.root)
        await c.end_run(run.agent_id, None, "was stopped by the operator", counts=False)
        live, _ = await c.register_agent("outside-helper", ["*"])
        await c.claim(live.id, "ROW-0001")
    app = ControlRoomApp(world_on(home, QUIET, spawn=False))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loaded(app))
        keys = [app.agents.coordinate_to_cell_key((r, 0)).row_key.value
                for r in range(app.agents.row_count)]  # fmt: skip
        assert keys == [live.id, run.agent_id], "live first"
        assert app.agents.get_cell(run.agent_id, "status").plain == "killed"
        assert app.agents.get_cell(live.id, "status").plain == "working"
        app.agents.focus()
        app.agents.move_cursor(row=1)
        await pilot.press("k")  # an ended agent: nothing to stop, no question
        await pilot.pause()
        assert not isinstance(app.screen, dialogs.Confirm)
        app.agents.move_cursor(row=0)
        await pilot.press("k")
        await until(pilot, lambda: _confirm(app))
        question = str(app.screen.question)  # type: ignore[attr-defined]
        assert "outside-helper" in question and "ROW-0001" in question, question
        await pilot.press("n")
        monkeypatch.setattr(agent_rows, "ENDED_SECONDS", 0.0)  # ended ones hide after a while
        await app.show_agents()
        assert app.agents.row_count == 1
        await pilot.press("e")  # ... and show again on a key
        await until(pilot, lambda: _agent_rows(app, 2))
        await app.action_quit()
        await until(pilot, lambda: _exited(app), within=20)


async def test_tries_count_the_try_that_succeeded_and_done_says_when(tmp_path: Path) -> None:
    home = await filled(tmp_path, 1, 0)
    async with open_coordinator(home) as c:
        agent, _ = await c.register_agent("worker", ["*"])
        claim = await c.claim(agent.id, "ROW-0000")
        done = await c.complete("ROW-0000", agent.id, claim.lease.epoch, "did it")
        assert done.status is Status.COMPLETED and done.attempts == 0
    listed = run_cli("task", "list", "--all", data_dir=home.root)
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if "ROW-0000" in x)
    assert " 1/3 " in line, line
    assert time.strftime("%H:%M", time.localtime(done.updated_at)) in line, line


async def _rows(app: ControlRoomApp, count: int) -> bool:
    return app.tasks.row_count == count


async def _agent_rows(app: ControlRoomApp, count: int) -> bool:
    return app.agents.row_count == count


async def _dialog(app: ControlRoomApp) -> bool:
    return isinstance(app.screen, dialogs.Ask)


async def _confirm(app: ControlRoomApp) -> bool:
    return isinstance(app.screen, dialogs.Confirm)


async def _exited(app: ControlRoomApp) -> bool:
    return not app.is_running
