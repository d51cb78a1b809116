"""Issue 15 on the screen, through Textual's Pilot with a real registry, engine and server inside
it: a plan in the inbox (its tasks as a tree; a creates them all, x rejects with a reason), the
task form on an existing task (E; only the changed fields saved; a cycle, an unknown dependency
or a held task refused with nothing changed), and the numbers (the key figures on top, read
again when tasks change and not otherwise; the stats view on s, with its windows)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rich.console import Console
from textual.widgets import Input, TextArea

from control_room.config import Home
from control_room.domain import Event, Status
from control_room.domain.plans import Plan, parse_proposal
from control_room.domain.stats import Spread, Stats
from control_room.engine import Coordinator, init_home
from control_room.tui import dialogs, figures, inbox, plan_view, task_edit
from control_room.tui.app import ControlRoomApp
from control_room.tui.status_line import status_line
from tests.conftest import coordinator_at
from tests.engine_world import scripted, settings_with
from tests.test_plans import GOOD, planning
from tests.test_tui import SIZE, _exited, _has_row, _ready, screen, select_task, until, world_on
from tests.test_tui_inbox import _fresh_view, _notified, _says, _top


def _text(renderable: Any, width: int = 120) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


async def _plan_status(c: Coordinator, plan_id: str, status: str) -> bool:
    return (await c.plans.get(plan_id)).status == status


async def test_a_plan_waits_in_the_inbox_as_a_tree_a_creates_it_x_rejects_it(
    tmp_path: Path,
) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        agent, task_id, epoch = await planning(c)
        plan = await c.plans.propose(task_id, agent.id, epoch, GOOD)
        await until(pilot, lambda: _says(app, "inbox 1 (b)"))  # a plan counts in the inbox
        await until(pilot, lambda: _notified(app, f"plan {plan.id}: 3 tasks proposed"))

        await pilot.press("b")
        view = await until(pilot, lambda: _top(app, inbox.InboxView))
        assert [(i.kind, i.id) for i in view.items] == [("plan", plan.id)]
        assert "a: approve: create every task" in str(view.hint.render())
        assert view.plan_box.display
        shown = _text(view.plan.content)
        lines = [line.rstrip() for line in shown.splitlines()]
        assert any(line.endswith("#0 [P1] Cart") for line in lines), shown
        checkout = next(line for line in lines if "Checkout" in line)
        docs = next(line for line in lines if "Docs" in line)
        assert checkout.endswith("after #0") and docs.endswith("after #0, #1"), shown
        # each under the last proposed task it waits for: deeper and deeper
        indent = [len(line) - len(line.lstrip(" │├└─")) for line in (checkout, docs)]
        assert indent[0] < indent[1], shown

        await pilot.press("a")  # every task at once, with its dependencies
        await until(pilot, lambda: _plan_status(c, plan.id, "APPROVED"))
        approved = await c.plans.get(plan.id)
        cart, pay, docs_task = [await c.task(t) for t in approved.created]
        assert (cart.title, pay.title, docs_task.title) == ("Cart", "Checkout", "Docs")
        assert pay.depends_on == (cart.id,) and set(docs_task.depends_on) == {cart.id, pay.id}
        await until(pilot, lambda: _notified(app, f"Approved plan {plan.id}: created"))
        await until(pilot, lambda: _has_row(app.tasks, pay.id))

        # a second plan, rejected with a reason: nothing is created
        agent2, task2, epoch2 = await planning(c)
        other = await c.plans.propose(task2, agent2.id, epoch2, GOOD[:1])
        before = len(await c.tasks())
        await until(pilot, lambda: _says(app, "inbox 1 (b)"))
        await pilot.press("b")
        await until(pilot, lambda: _fresh_view(app, 1))
        await pilot.press("x")
        asked = await until(pilot, lambda: _top(app, dialogs.Ask))
        assert f"Why reject plan {other.id}?" in str(asked.question)
        await pilot.press(*"too vague", "enter")
        await until(pilot, lambda: _plan_status(c, other.id, "REJECTED"))
        assert (await c.plans.get(other.id)).reason == "too vague"
        assert len(await c.tasks()) == before, "a rejected plan creates nothing"
        await until(pilot, lambda: _says(app, "inbox 0"))


def test_the_plan_tree_nests_by_dependency_and_names_other_waits() -> None:
    tasks = parse_proposal([
        {"title": "Schema"}, {"title": "API", "dependencies": [0]},
        {"title": "UI", "dependencies": [1, "OLD-1"], "type": "design"},
        {"title": "[red]Docs[/red]", "priority": "P3"},
    ])  # fmt: skip
    plan = Plan("P-1", "T-PLAN", "A-1", "PENDING", tuple(tasks))
    lines = [line.rstrip() for line in _text(plan_view.plan_tree(plan)).splitlines()]
    assert lines[0] == "plan P-1: 4 tasks proposed by A-1 for T-PLAN"
    assert lines[1:] == [
        "├── #0 [P2] Schema",
        "│   └── #1 [P2] API  after #0",
        "│       └── #2 [P2] UI  design  after #1, OLD-1",
        "└── #3 [P3] [red]Docs[/red]",  # a planner's text: never markup
    ]


async def _field(form: Any, key: str) -> str:
    widget = form.query_one(f"#{key}")
    return str(widget.text if isinstance(widget, TextArea) else widget.value)


async def test_edit_opens_the_form_filled_in_and_saves_only_what_changed(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        first = await c.add_task({"id": "ED-1", "title": "First", "manual": True})
        second = await c.add_task({
            "id": "ED-2", "title": "Second", "description": "line one\nline two",
            "priority": "P3", "capabilities": ["backend", "api"], "criteria": ["works"],
            "checks": ["true"], "manual": True, "max_attempts": 4,
        })  # fmt: skip
        await select_task(app, pilot, second.id)
        await pilot.press("E")
        form = await until(pilot, lambda: _top(app, task_edit.EditTask))
        assert [await _field(form, k) for k in ("id", "title", "description", "priority")] == [
            "ED-2", "Second", "line one\nline two", "P3",
        ]  # fmt: skip
        assert [await _field(form, k) for k in ("capabilities", "criteria", "max_attempts")] == [
            "backend, api", "works", "4",
        ]  # fmt: skip
        assert form.query_one("#id", Input).disabled, "the id is not editable"
        assert form.focused is not None and form.focused.id == "title"

        form.query_one("#title", Input).value = "Second, renamed"
        form.query_one("#depends_on", Input).value = first.id
        form.query_one("#checks", TextArea).load_text("")  # an emptied list clears it
        await pilot.press("ctrl+s")
        await until(pilot, lambda: _main_screen(app))
        edited = await c.task(second.id)
        assert (edited.title, edited.depends_on, edited.checks) == (
            "Second, renamed", (first.id,), ()
        )  # fmt: skip
        assert edited.status is Status.PENDING, "it now waits for ED-1"
        assert (edited.description, edited.capabilities) == (second.description, ("backend", "api"))
        (event,) = [e for e in await c.events(task_id=second.id, limit=50) if e.kind == "edited"]
        assert sorted(event.data["changes"]) == ["checks", "depends_on", "title"]
        await until(pilot, lambda: _cell(app, second.id, "title", "Second, renamed"))

        # a cycle is refused in the form: it stays open with what was typed, nothing changes
        await select_task(app, pilot, first.id)
        await pilot.press("E")
        form = await until(pilot, lambda: _top(app, task_edit.EditTask))
        form.query_one("#title", Input).value = "First, renamed"
        form.query_one("#depends_on", Input).value = second.id
        await pilot.press("ctrl+s")
        await until(pilot, lambda: _problem(form, "Depends on: dependency cycle"))
        assert isinstance(app.screen, task_edit.EditTask) and form.focused.id == "depends_on"
        assert await _field(form, "title") == "First, renamed", "what was typed stays"
        form.query_one("#depends_on", Input).value = "NOPE-9"  # an unknown task: refused too
        await pilot.press("ctrl+s")
        await until(pilot, lambda: _problem(form, "Depends on: no task NOPE-9"))
        unchanged = await c.task(first.id)
        assert (unchanged.title, unchanged.depends_on) == ("First", ())
        assert not [e for e in await c.events(task_id=first.id, limit=50) if e.kind == "edited"]
        await pilot.press("escape")
        await until(pilot, lambda: _main_screen(app))
        assert (await c.task(first.id)).title == "First"


async def test_edit_is_refused_while_an_agent_holds_the_task(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        held = await c.add_task({"id": "HELD-1", "title": "Held", "manual": True})
        later = await c.add_task({"id": "LATE-1", "title": "Later", "manual": True})
        agent, _ = await c.register_agent("outside", ["*"])
        await c.claim(agent.id, held.id)
        await until(pilot, lambda: _cell(app, held.id, "status", "CLAIMED"))
        await select_task(app, pilot, held.id)
        await pilot.press("E")  # refused at once: no form
        await until(pilot, lambda: _notified(app, "Not editable: HELD-1"))
        assert not isinstance(app.screen, task_edit.EditTask)

        # claimed while the form is open: the save is refused, the form says why
        await select_task(app, pilot, later.id)
        await pilot.press("E")
        form = await until(pilot, lambda: _top(app, task_edit.EditTask))
        form.query_one("#title", Input).value = "Later, renamed"
        other, _ = await c.register_agent("another", ["*"])
        await c.claim(other.id, later.id)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: _problem(form, "Not saved: cannot edit LATE-1: it is CLAIMED"))
        assert (await c.task(later.id)).title == "Later"
        await pilot.press("escape")


async def test_the_key_figures_follow_the_tasks_and_s_shows_every_figure(tmp_path: Path) -> None:
    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        await until(pilot, lambda: _says(app, "0/0 done"))
        task = await c.add_task({"id": "ST-1", "title": "Counted", "manual": True})
        await c.add_task({"id": "ST-2", "title": "Still open", "manual": True})
        agent, _ = await c.register_agent("outside", ["*"])
        claim = await c.claim(agent.id, task.id)
        await c.complete(task.id, agent.id, claim.lease.epoch, "done", [], None)
        await until(pilot, lambda: _says(app, "1/2 done · auto 0% · 1st try 100%"))

        # nothing happens: the figures are not read again
        reads = app.figures.reads
        await pilot.pause(figures.REFRESH_SECONDS + 0.5)
        assert app.figures.reads == reads, "read again although nothing changed"

        await pilot.press("s")
        view = await until(pilot, lambda: _top(app, figures.StatsView))
        await until(pilot, lambda: _view_says(view, "tasks                2: "))
        shown = str(view.figures.render())
        assert "Control Room stats (all tasks)" in shown
        assert "started auto         0% (0 of 1); by hand 1" in shown
        assert "first-attempt wins   100% (1 of 1)" in shown and "cost " in shown
        await pilot.press("d")
        await until(pilot, lambda: _view_says(view, "(tasks added in the last 24h)"))
        assert view.shown is not None and view.shown.since is not None
        await pilot.press("escape")
        await until(pilot, lambda: _main_screen(app))


async def test_the_new_keys_are_remapped_through_screen_keys(tmp_path: Path) -> None:
    home = Home(tmp_path / "data")
    await init_home(home)
    opener = world_on(home, settings_with(scripted("work")), spawn=False)
    app = ControlRoomApp(opener, keys={"stats": "f5", "edit-task": "ctrl+e"})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: _ready(app))
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "Remapped", "manual": True})
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, figures.StatsView), "s no longer opens the stats"
        await pilot.press("f5")
        await until(pilot, lambda: _top(app, figures.StatsView))
        await pilot.press("escape")
        await select_task(app, pilot, task.id)
        await pilot.press("ctrl+e")
        await until(pilot, lambda: _top(app, task_edit.EditTask))
        await pilot.press("escape")
        await pilot.press("question_mark")
        help_screen = await until(pilot, lambda: _top(app, dialogs.Help))
        typed = {what.rsplit("[", 1)[1].rstrip("]"): key for key, what in help_screen.keys}
        assert typed["stats"] == "f5" and typed["edit-task"] in ("ctrl+e", "^e"), typed
        await pilot.press("escape")
        await app.action_quit()
        await until(pilot, lambda: _exited(app), within=20)


def test_the_status_line_shows_the_figures_and_counts_plans_in_the_inbox() -> None:
    stats = Stats(now=100.0, since=None, tasks_total=12, completed=9, started=10,
                  started_auto=8, finished=9, first_attempt_successes=6,
                  to_completed=Spread(9, 720.0, 1500.0), cost_usd=1.5)  # fmt: skip
    line = status_line(None, {Status.BLOCKED: 1}, 0, 100_000, "", "", stats.headline(), 2)
    text = line.plain
    assert "9/12 done · auto 80% · 1st try 67% · p50 12m · $1.50 (s)" in text
    assert "inbox 3 (b)" in text, "a BLOCKED task and two other items (a plan, a stall)"


async def _main_screen(app: ControlRoomApp) -> bool:
    return app.screen is app.screen_stack[0]


async def _cell(app: ControlRoomApp, task_id: str, column: str, text: str) -> bool:
    return await _has_row(app.tasks, task_id) and str(app.tasks.get_cell(task_id, column)) == text


async def _problem(form: Any, text: str) -> bool:
    return str(form.query_one("#problem").render()).startswith(text)


async def _view_says(view: figures.StatsView, text: str) -> bool:
    return text in str(view.figures.render())


def test_a_narrow_status_line_makes_room_for_the_figures() -> None:
    headline = "5/6 done · auto 100% · 1st try 83% · p50 2s · $0.00"

    world: Any = SimpleNamespace(url="http://127.0.0.1:3915", coordinator=SimpleNamespace(loops=[]))
    first = status_line(world, {}, 0, 100_000, headline=headline, narrow=True).plain
    first = first.splitlines()[0]
    assert first == f"127.0.0.1:3915  ●  {headline}" and len(first) <= 78, first
    wide = status_line(world, {}, 0, 100_000, headline=headline).plain.splitlines()[0]
    assert wide.startswith("Control Room · http://") and wide.endswith(f"{headline} (s)")


async def test_the_figures_are_read_when_something_changed_and_not_too_often(
    tmp_path: Path,
) -> None:
    async with coordinator_at(tmp_path / "registry.db") as c:
        header = figures.HeaderFigures()
        assert await header.refresh(c, now=100.0) and header.headline() == "0/0 done · $0.00"
        await c.add_task({"title": "one", "manual": True})
        header.note(await c.events(after=0, limit=10))
        assert not await header.refresh(c, now=101.0), "changed, but read 1 s ago"
        assert await header.refresh(c, now=102.5) and header.headline().startswith("0/1 done")
        assert not await header.refresh(c, now=200.0), "nothing changed: not read"
        header.note([Event(1, 0.0, "progress", "A-1", "T-1")])
        assert not header.stale, "progress changes no figure"
        header.note([Event(2, 0.0, "plan_proposed", "A-1", "T-1")])
        header.took = 1.5  # a big registry: the next read waits 30 s
        assert not await header.refresh(c, now=110.0)
        assert await header.refresh(c, now=133.0) and header.reads == 3
