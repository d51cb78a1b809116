"""The screen's inbox view (b), the go key (g), the full new-task form and the small things
(Escape clears the filter, the empty-table hint, timestamps in the details history), through
Textual's Pilot with a real registry, engine and server inside the screen."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from textual.app import App
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, TextArea

from control_room.config import Home
from control_room.domain import Status
from control_room.engine import init_home
from control_room.tui import dialogs, inbox, task_form
from control_room.tui.app import ControlRoomApp
from tests.engine_world import scripted, settings_with
from tests.test_tui import (
    SIZE,
    _exited,
    _has_row,
    _on_top,
    _ready,
    screen,
    select_task,
    until,
    world_on,
)


async def _status(c: Any, task_id: str, status: Status) -> bool:
    return (await c.task(task_id)).status is status


async def test_the_inbox_lists_every_kind_oldest_first_and_its_keys_answer(
    tmp_path: Path,
) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    app = ControlRoomApp(world_on(home, settings_with(scripted("work")), spawn=False))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _ready(app))
        c = app.coordinator
        assert c is not None
        plan = await c.add_task({"title": "A plan", "type": "architecture"})
        await c.await_approval(plan.id, "architecture waits")
        stuck = await c.add_task({"title": "Stuck one"})
        agent, _ = await c.register_agent("dev")
        claim = await c.claim(agent.id, stuck.id)
        await c.block(stuck.id, agent.id, claim.task.epoch, "needs a key")
        asking = await c.add_task({"title": "Wants a shell"})
        other, _ = await c.register_agent("ops")
        await c.claim(other.id, asking.id)
        answer = asyncio.create_task(c.permissions.ask(other.id, "Bash", {"command": "ls -la"}))
        await until(pilot, lambda: _inbox_size(c, 3))
        await until(pilot, lambda: _says(app, "inbox 3 (b)"))

        await pilot.press("b")
        view = await until(pilot, lambda: _top(app, inbox.InboxView))
        assert [i.kind for i in view.items] == ["approval", "blocked", "permission"]
        assert [i.id for i in view.items][:2] == [plan.id, stuck.id], "oldest first"
        assert "a: approve" in str(view.hint.render())
        await pilot.press("w")  # allow always: not an answer for an approval
        await pilot.pause()
        assert (await c.task(plan.id)).status is Status.AWAITING_APPROVAL
        await pilot.press("a")  # approve the plan
        await until(pilot, lambda: _status(c, plan.id, Status.AVAILABLE))

        view = await until(pilot, lambda: _fresh_view(app, 2))  # opens again, one fewer
        assert "a: unblock" in str(view.hint.render())
        await pilot.press("x")  # reject the BLOCKED task: a reason is asked for
        await until(pilot, lambda: _on_top(app, dialogs.Ask))
        await pilot.press(*"no key", "enter")
        await until(pilot, lambda: _status(c, stuck.id, Status.CANCELLED))
        assert (await c.task(stuck.id)).reason == "no key"

        view = await until(pilot, lambda: _fresh_view(app, 1))
        assert "Bash" in view.items[0].summary and "w: allow always" in str(view.hint.render())
        await pilot.press("a")  # allow once: the agent's wait ends
        said = await asyncio.wait_for(answer, 10)
        assert "allow" in said.lower()
        await until(pilot, lambda: _no_inbox_view(app))
        assert await c.permissions.inbox() == []
        await app.action_quit()
        await until(pilot, lambda: _exited(app), within=20)


async def _top(app: ControlRoomApp, kind: type) -> Any:
    return app.screen if isinstance(app.screen, kind) else None


async def _inbox_size(c: Any, n: int) -> bool:
    return len(await c.permissions.inbox()) == n


async def _says(app: ControlRoomApp, text: str) -> bool:
    app.show_status()
    return text in str(app.status.render())


async def _fresh_view(app: ControlRoomApp, n: int) -> Any:
    screen = app.screen
    return screen if isinstance(screen, inbox.InboxView) and len(screen.items) == n else None


async def _main(app: ControlRoomApp) -> bool:
    return not isinstance(app.screen, ModalScreen)


async def _no_inbox_view(app: ControlRoomApp) -> bool:
    return not isinstance(app.screen, inbox.InboxView)


async def test_go_starts_an_agent_for_a_low_priority_task(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "Some day", "priority": "P3"})
        await select_task(app, pilot, task.id)
        await pilot.pause(0.5)
        assert (await c.task(task.id)).status is Status.AVAILABLE, "P3 waits for a claim"
        assert await c.runs() == []
        await pilot.press("g")
        await until(pilot, lambda: _status(c, task.id, Status.COMPLETED), within=30)
        (run,) = await c.runs()
        assert run.task_id == task.id
        kinds = [e.kind for e in await c.events(task_id=task.id, limit=50)]
        assert "go" in kinds


async def test_go_refuses_a_task_that_is_not_available(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "Gone", "manual": True})
        await select_task(app, pilot, task.id)
        await c.cancel(task.id)
        await until(pilot, lambda: _cell_is(app, task.id, "CANCELLED"))
        await pilot.press("g")
        await until(pilot, lambda: _notified(app, "Not starting"))
        assert (await c.task(task.id)).status is Status.CANCELLED


async def _cell_is(app: ControlRoomApp, task_id: str, text: str) -> bool:
    return str(app.tasks.get_cell(task_id, "status")) == text


async def _notified(app: ControlRoomApp, text: str) -> bool:
    return any(text in (n.title or "") + n.message for n in app._notifications)


async def test_the_form_has_every_field_tab_walks_them_and_errors_keep_the_input(
    tmp_path: Path,
) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        first = await c.add_task({"id": "API-1", "title": "The API", "manual": True})
        await until(pilot, lambda: _has_row(app.tasks, first.id))
        await pilot.press("n")
        form = await until(pilot, lambda: _top(app, task_form.NewTask))
        # Tab walks every field in order (the text areas give Tab back), shift+Tab walks back
        order = [key for key, _, _ in task_form.FIELDS]
        form.query_one("#id").focus()
        await pilot.pause()
        seen = []
        for _ in order:
            seen.append(form.focused.id if form.focused else None)
            await pilot.press("tab")
        assert seen == order
        form.query_one("#max_attempts").focus()
        await pilot.press("shift+tab", "shift+tab")
        assert form.focused is not None and form.focused.id == "depends_on"

        # typing into every field, as a person would
        form.query_one("#id").focus()
        await pilot.press(*"API-2", "tab", *"The client", "tab")
        await pilot.press(*"Calls the API", "enter", *"and retries", "tab")
        assert form.focused.id == "priority", "Tab left the description"
        await pilot.press(*"P9", "tab", *"testing", "tab", *"backend, api", "tab")
        await pilot.press(*"it calls", "enter", *"it retries", "tab", *"true", "tab")
        await pilot.press(*"AP")
        await until(pilot, lambda: _suggests(form, "API-1"))
        await pilot.press("right", "tab", "space", "tab", *"5")
        await pilot.press("ctrl+s")
        await pilot.pause()
        problem = str(form.query_one("#problem").render())
        assert problem.startswith("Priority:"), problem
        assert form.focused.id == "priority", "the refused field takes the focus"
        assert form.query_one("#title", Input).value == "The client", "what was typed stays"
        assert len(await c.tasks()) == 1, "nothing stored"

        form.query_one("#priority", Input).value = "P3"
        await pilot.press("ctrl+s")
        task = await until(pilot, lambda: _task_or_none(c, "API-2"))
        assert (task.title, task.description) == ("The client", "Calls the API\nand retries")
        assert (str(task.priority), task.type, task.capabilities) == (
            "P3", "testing", ("backend", "api")
        )  # fmt: skip
        assert (task.criteria, task.checks) == (("it calls", "it retries"), ("true",))
        assert (task.depends_on, task.manual, task.max_attempts) == (("API-1",), True, 5)
        await until(pilot, lambda: _has_row(app.tasks, "API-2"))


async def _suggests(form: Any, text: str) -> bool:
    field = form.query_one("#depends_on", Input)
    return bool(field._suggestion == text)


async def _task_or_none(c: Any, task_id: str) -> Any:
    return next((t for t in await c.tasks() if t.id == task_id), None)


async def test_the_form_names_a_bad_max_attempts_and_a_bad_dependency(tmp_path: Path) -> None:
    form = task_form.NewTask(["API-1"])
    for field, value, named in (("max_attempts", "lots", "Max attempts"),
                                ("depends_on", "not an id!", "Depends on")):  # fmt: skip
        async with _Harness(form).run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = pilot.app.screen
            screen.query_one("#title", Input).value = "t"
            screen.query_one(f"#{field}", Input).value = value
            screen.query_one("#manual", Checkbox).value = True
            screen.query_one("#description", TextArea).load_text("kept")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert str(screen.query_one("#problem").render()).startswith(f"{named}:")
            assert screen.query_one("#description", TextArea).text == "kept"
            assert screen.query_one(f"#{field}", Input).value == value
        form = task_form.NewTask(["API-1"])


class _Harness(App[None]):
    def __init__(self, form: task_form.NewTask) -> None:
        super().__init__()
        self.form = form

    def on_mount(self) -> None:
        self.push_screen(self.form)


async def test_escape_clears_the_filter_and_an_empty_table_says_press_n(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        await until(pilot, lambda: _subtitle(app, "no tasks yet: press n to add one"))
        one = await c.add_task({"title": "alpha job", "manual": True})
        await until(pilot, lambda: _has_row(app.tasks, one.id))
        await until(pilot, lambda: _subtitle(app, ""))
        await pilot.press("slash", *"zeta", "enter")
        await until(pilot, lambda: _subtitle(app, "no task matches the filter: Escape clears it"))
        assert "filter: zeta" in str(app.tasks.border_title)
        await pilot.press("escape")
        await until(pilot, lambda: _has_row(app.tasks, one.id))
        assert app.tasks.filter == "" and app.tasks.border_title == "tasks"

        await select_task(app, pilot, one.id)
        await pilot.press("enter")
        await until(pilot, lambda: _on_top(app, dialogs.Details))
        shown = str(app.screen.query_one("Static").render())
        stamped = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  created", shown)
        assert stamped, shown
        await pilot.press("escape")
        await until(pilot, lambda: _main(app))
        await pilot.press("question_mark")
        help_screen = await until(pilot, lambda: _top(app, dialogs.Help))
        keys = dict(help_screen.keys)
        assert "[filter]" in keys["/"] and "[help]" in keys["?"], "keys as a person types them"
        assert "[clear-filter]" in keys["escape"] and "[details]" in keys["enter"]
        assert "[inbox]" in keys["b"] and "[go]" in keys["g"]
        await pilot.press("escape")


async def _subtitle(app: ControlRoomApp, text: str) -> bool:
    app.show_status()
    shown = app.tasks.border_subtitle or ""
    return (shown.plain if hasattr(shown, "plain") else str(shown)) == text
