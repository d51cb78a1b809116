"""The `say` key (i) under Pilot, with a real engine inside the screen: a message typed for the
real Claude Code agent working on the selected task reaches the (scripted) model mid-run and
shows in the report; on a command agent the key refuses at once, before anything is typed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from control_room.domain import Status
from control_room.domain.routing import AgentType
from control_room.engine.steering import REPORT_MARK
from control_room.tui import dialogs
from tests.engine_world import scripted, settings_with
from tests.fake_anthropic import scripted_model
from tests.test_claude_code import CLAUDE
from tests.test_steer import WORDS, heard, waiting_script
from tests.test_tui import _has_row, _status, screen, select_task, until


async def _said(c: Any, task_id: str) -> list[Any]:
    return [e for e in await c.events(task_id=task_id) if e.kind == "said"]


async def test_the_say_key_refuses_a_command_agent(tmp_path: Path) -> None:
    async with screen(tmp_path, settings_with(scripted("hang"))) as (app, pilot):
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": "Long", "priority": "P0"})
        await until(pilot, lambda: _status(c, task.id, Status.IN_PROGRESS))
        (run,) = await c.runs()
        await until(pilot, lambda: _has_row(app.agents, run.agent_id))
        app.agents.focus()
        app.agents.move_cursor(row=app.agents.get_row_index(run.agent_id))
        await pilot.press("i")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, dialogs.Ask), "no message is asked for"
        notices = [n.message for n in app._notifications]
        assert any("only claude-code agents take messages" in n for n in notices), notices
        assert await _said(c, task.id) == []


async def test_the_say_key_sends_a_message_to_a_real_claude_code_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = AgentType("coder", "claude-code", allowed_tools=("Bash(sleep:*)",))
    settings = replace(settings_with(kind), claude_binary=str(CLAUDE))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")
    with scripted_model(waiting_script) as model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{model.server_address[1]}")
        async with screen(tmp_path, settings) as (app, pilot):
            c = app.coordinator
            assert c is not None
            task = await c.add_task({"title": "Steer me from the screen", "priority": "P0"})
            await until(pilot, lambda: _working(model), within=60)
            await select_task(app, pilot, task.id)
            await pilot.press("i")
            await until(pilot, lambda: _asking(app))
            app.screen.query_one("#answer", Input).value = WORDS
            await pilot.press("enter")
            await until(pilot, lambda: _status(c, task.id, Status.COMPLETED), within=90)
            (said,) = await _said(c, task.id)
            assert said.message == WORDS and said.actor == "operator"
            assert any(heard(r) for r in model.requests), "the model got the message"
            (run,) = await c.runs()
            report = (Path(run.run_dir) / "report.log").read_text()
            assert f"{REPORT_MARK} {WORDS}" in report


async def _working(model: Any) -> bool:
    """The agent claimed and went to work (at least one sleep asked for)."""
    return len(model.requests) >= 3


async def _asking(app: Any) -> bool:
    return isinstance(app.screen, dialogs.Ask)
