"""The screen through Textual's Pilot, with a real registry, engine and server inside it:
each key flow is checked on the registry, not on pixels."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from control_room.config import Home, Settings, load_settings
from control_room.domain import Status
from control_room.engine import init_home
from control_room.server.run import StopSignals
from control_room.tui import dialogs
from control_room.tui.app import ControlRoomApp, create_app
from control_room.tui.themes import load_themes, remember_theme
from control_room.world import World, open_world
from tests.engine_world import scripted, settings_with

SIZE = (140, 44)


def world_on(
    home: Home, settings: Settings, *, spawn: bool = True
) -> Callable[[], contextlib.AbstractAsyncContextManager[World]]:
    """What the screen opens: the real world on `home` (a free port, nothing printed)."""
    signals = StopSignals()

    def opener() -> contextlib.AbstractAsyncContextManager[World]:
        return open_world(home, settings, "127.0.0.1", 0, spawn=spawn, signals=signals,
                          project=home.root.parent, quiet=True)  # fmt: skip

    return opener


def app_on(home: Home, settings: Settings) -> ControlRoomApp:
    return ControlRoomApp(world_on(home, settings))


async def until(pilot: Pilot[None], check: Callable[[], Awaitable[Any]], within: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await pilot.pause(0.05)


@contextlib.asynccontextmanager
async def screen(
    tmp_path: Path, settings: Settings | None = None
) -> AsyncIterator[tuple[ControlRoomApp, Pilot[None]]]:
    home = Home(tmp_path / "data")
    await init_home(home)
    app = app_on(home, settings or settings_with(scripted("work")))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _ready(app))
        yield app, pilot
        if app.is_running:  # quit as a person would: agents stopped, server closed
            await app.action_quit()
            await until(pilot, lambda: _exited(app), within=20)


async def _ready(app: ControlRoomApp) -> bool:
    return app.world is not None and app.tasks.row_count >= 0


async def select_task(app: ControlRoomApp, pilot: Pilot[None], task_id: str) -> None:
    table = app.tasks
    await until(pilot, lambda: _has_row(table, task_id))
    table.focus()
    table.move_cursor(row=table.get_row_index(task_id))
    await pilot.pause()


async def _has_row(table: DataTable[Any], key: str) -> bool:
    return key in table.rows


async def test_approve_with_one_key_spawns_the_waiting_task(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "Design it", "type": "architecture"})
        await until(pilot, lambda: _status(c, task.id, Status.AWAITING_APPROVAL))
        await select_task(app, pilot, task.id)
        await pilot.press("a")
        await until(pilot, lambda: _status(c, task.id, Status.COMPLETED), within=30)


async def _status(c: Any, task_id: str, status: Status) -> bool:
    return (await c.task(task_id)).status is status


async def test_reject_asks_for_a_reason_and_keeps_it(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "A strategy", "type": "strategic"})
        await until(pilot, lambda: _status(c, task.id, Status.AWAITING_APPROVAL))
        await select_task(app, pilot, task.id)
        await pilot.press("x")
        await pilot.press("enter")  # an empty reason is not accepted
        assert isinstance(app.screen.focused, Input)
        await pilot.press(*"not now", "enter")
        await until(pilot, lambda: _status(c, task.id, Status.CANCELLED))
        assert (await c.task(task.id)).reason == "not now"


async def test_a_new_task_from_the_form_is_stored_and_bad_input_is_refused(
    tmp_path: Path,
) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#title", Input).value = "From the screen"
        app.screen.query_one("#priority", Input).value = "P9"
        await pilot.press("ctrl+s")
        await pilot.pause()
        problem = str(app.screen.query_one("#problem").render())
        assert "priority" in problem
        assert await c.tasks() == [], "nothing stored"
        app.screen.query_one("#priority", Input).value = "P3"
        app.screen.query_one("#capabilities", Input).value = "backend, api"
        await pilot.press("ctrl+s")
        (task,) = await until(pilot, lambda: c.tasks())
        assert (task.title, str(task.priority), task.capabilities) == (
            "From the screen", "P3", ("backend", "api")
        )  # fmt: skip
        await until(pilot, lambda: _has_row(app.tasks, task.id))


async def test_kill_stops_the_agent_after_a_confirmation(tmp_path: Path) -> None:
    async with screen(tmp_path, settings_with(scripted("hang"))) as (app, pilot):
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "Long", "priority": "P0"})
        await until(pilot, lambda: _status(c, task.id, Status.IN_PROGRESS))
        (run,) = await c.runs()
        await until(pilot, lambda: _has_row(app.agents, run.agent_id))
        app.agents.focus()
        app.agents.move_cursor(row=app.agents.get_row_index(run.agent_id))
        await pilot.press("k")
        await pilot.press("n")  # no: nothing happens
        await pilot.pause(0.2)
        assert (await c.registry.get_run(run.agent_id)).live
        await pilot.press("k", "y")
        ended = await until(pilot, lambda: _ended(c, run.agent_id))
        assert ended.outcome == "was stopped by the operator"
        task_now = await c.task(task.id)
        assert (task_now.status, task_now.attempts) == (Status.AVAILABLE, 0) or (
            task_now.status in (Status.CLAIMED, Status.IN_PROGRESS)  # already respawned
        )


async def _ended(c: Any, agent_id: str) -> Any:
    run = await c.registry.get_run(agent_id)
    return None if run.live else run


async def test_cancel_and_retry_and_the_row_follows(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "Maybe later", "manual": True})
        await select_task(app, pilot, task.id)
        await pilot.press("c", "y")
        await until(pilot, lambda: _status(c, task.id, Status.CANCELLED))
        await until(pilot, lambda: _cell(app, task.id, "status", "CANCELLED"))
        await pilot.press("r")
        await until(pilot, lambda: _status(c, task.id, Status.AVAILABLE))
        await until(pilot, lambda: _cell(app, task.id, "status", "AVAILABLE"))


async def _cell(app: ControlRoomApp, row: str, column: str, text: str) -> bool:
    return str(app.tasks.get_cell(row, column)) == text


async def test_filter_help_and_quit(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        one = await c.add_task({"title": "alpha job", "manual": True})
        two = await c.add_task({"title": "beta job", "manual": True})
        await until(pilot, lambda: _has_row(app.tasks, two.id))
        await pilot.press("slash", *"beta", "enter")
        await pilot.pause()
        assert list(app.tasks.rows) == [two.id] or [k.value for k in app.tasks.rows] == [two.id]
        await pilot.press("slash")
        app.screen.query_one(Input).value = ""
        await pilot.press("enter")
        await until(pilot, lambda: _has_row(app.tasks, one.id))
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Approve" in str(app.screen.query_one("Static").render())
        await pilot.press("escape", "q")
        await until(pilot, lambda: _exited(app))


async def _exited(app: ControlRoomApp) -> bool:
    return not app.is_running


async def test_the_theme_key_switches_theme_and_remembers_it(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    opener = world_on(home, settings_with(scripted("work")), spawn=False)
    app = create_app(
        opener, theme_name="control-room-dark",
        remember_theme=lambda name: remember_theme(home.config, name),
    )  # fmt: skip
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _ready(app))
        assert app.theme == "control-room-dark"
        await pilot.press("t")
        assert app.theme != "control-room-dark" and app.theme in load_themes()
        assert load_settings(home.config).theme == app.theme
        await app.action_quit()
        await until(pilot, lambda: _exited(app), within=20)


async def test_the_report_pane_shows_the_selected_tasks_report_readably(tmp_path: Path) -> None:
    async with screen(tmp_path, settings_with(scripted("report"))) as (app, pilot):
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "Chatty", "priority": "P0"})
        await until(pilot, lambda: _status(c, task.id, Status.IN_PROGRESS))
        await select_task(app, pilot, task.id)
        shown = await until(pilot, lambda: _report_says(app, "done in 2 turns · $0.1200"))
        assert '"type"' not in shown, "stream-json is rendered, not shown raw"
        assert app.report.border_title == f"report · {task.id}"


async def _report_says(app: ControlRoomApp, text: str) -> str | None:
    shown = "\n".join(line.text for line in app.report.lines)
    return shown if text in shown else None


async def test_enter_shows_a_tasks_details_and_history(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        task = await c.add_task(
            {"title": "Explained", "manual": True, "description": "why [bold]this[/] matters"}
        )
        await select_task(app, pilot, task.id)
        await pilot.press("enter")
        await until(pilot, lambda: _on_top(app, dialogs.Details))
        shown = str(app.screen.query_one("Static").render())
        assert "Explained" in shown and "why [bold]this[/] matters" in shown, "text as typed"
        assert "created" in shown, "the history"
        await pilot.press("escape")


async def _on_top(app: ControlRoomApp, kind: type) -> bool:
    return isinstance(app.screen, kind)


async def test_keys_are_remapped_by_their_ids(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    home.config.write_text('[screen]\nkeys = { approve = "A" }\n')
    settings = load_settings(home.config)
    keys = dict(settings.keys) | {"nothing": "z"}  # given directly: the config refuses it
    app = create_app(world_on(home, settings, spawn=False), keys=keys)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _ready(app))
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "Plan", "type": "architecture"})
        await c.await_approval(task.id, "routing is off here")
        await select_task(app, pilot, task.id)
        await pilot.press("a")
        await pilot.pause(0.3)
        assert (await c.task(task.id)).status is Status.AWAITING_APPROVAL, "a is not approve"
        await pilot.press("A")
        await until(pilot, lambda: _status(c, task.id, Status.AVAILABLE))
        assert any("nothing" in n.message for n in app._notifications), "an unknown id is named"
        await app.action_quit()
        await until(pilot, lambda: _exited(app), within=20)
