"""Stuck agents are stopped (issue 15 item 3): a real engine over a real server on 127.0.0.1,
real agent processes (tests/spawned.py, `sleep` as a managed agent, the real Claude Code CLI
against the scripted model), a real registry file. Timings are bounded, never tight."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from control_room.config import Settings, load_settings
from control_room.domain import Event, InvalidInput, Run, Status
from control_room.domain.permissions import InboxItem
from control_room.domain.routing import AgentType
from control_room.engine import Coordinator, processes
from control_room.engine.stall import StallGuard, Watched
from control_room.store import permission_ops
from control_room.store.watch_store import Activity
from tests import test_claude_code
from tests.conftest import run_cli
from tests.engine_world import ended, engine_world, scripted, settings_with, status_is, wait_for
from tests.fake_anthropic import Block, scripted_model, text, tool_results, tool_use
from tests.hooks import Hook

STALL = 2.0  # seconds
SLACK = 6.0  # what a busy 2-core machine may add (the watch looks once a second)


def stalling(kind: AgentType, **changes: Any) -> Settings:
    return replace(settings_with(kind), stall_seconds=STALL, **changes)


async def stalled_events(c: Coordinator, task_id: str) -> list[Event]:
    return [e for e in await c.events(task_id=task_id) if e.kind == "stalled"]


async def inbox_of(c: Coordinator, kind: str) -> list[InboxItem]:
    return [item for item in await c.registry.inbox() if item.kind == kind]


async def test_a_sleeping_agent_is_stopped_as_stalled_and_its_task_released(
    tmp_path: Path, hook: Hook
) -> None:
    settings = replace(stalling(scripted("hang", "work")), notify_urls=(hook.url,))
    async with engine_world(tmp_path, settings) as world:
        c = world.coordinator
        task = await c.add_task({"title": "Sleepy", "priority": "P0"})
        held = await wait_for(lambda: status_is(c, task.id, "IN_PROGRESS"), what="IN_PROGRESS")
        (first,) = await c.runs()
        run = await wait_for(lambda: ended(c, first.agent_id), within=30, what="the stall")
        (event,) = await stalled_events(c, task.id)
        # Its last sign of life was its progress call (the task's update): stopped within
        # stall_seconds and a little more, long before its 3600 s wall-clock limit.
        assert STALL <= event.at - held.updated_at < STALL + SLACK
        assert event.agent_id == first.agent_id and event.data["rule"] == "stall"
        assert "made no progress" in event.message
        assert "was stopped: it made no progress" in run.outcome
        assert run.pid and not processes.alive(run.pid, run.pid_identity)
        release = next(e for e in await c.events(task_id=task.id) if e.kind == "released")
        assert "made no progress" in release.message and "stall_seconds" in release.message
        notice = await wait_for(lambda: _notice(hook, task.id), within=15, what="the notice")
        assert "stalled" in notice["title"] and "made no progress" in notice["message"]
        # The next attempt claims it: the stalled item leaves the inbox; the attempt counted.
        done = await wait_for(lambda: status_is(c, task.id, "COMPLETED"), what="the 2nd run")
        assert done.attempts == 1
        assert await inbox_of(c, "stalled") == []


async def _notice(hook: Hook, task_id: str) -> dict[str, Any] | None:
    return next((n for n in hook.received if task_id in n["title"]), None)


async def test_a_stalled_task_waits_in_the_inbox_until_it_is_claimed_again(
    tmp_path: Path,
) -> None:
    async with engine_world(tmp_path, stalling(scripted("hang"))) as world:
        c = world.coordinator
        task = await c.add_task({"title": "Sleepy", "priority": "P0", "max_attempts": 1})
        failed = await wait_for(lambda: status_is(c, task.id, "FAILED"), what="the stall")
        (event,) = await stalled_events(c, task.id)
        (item,) = await inbox_of(c, "stalled")
        assert (item.id, item.task, item.agent) == (str(event.id), task.id, event.agent_id)
        assert item.summary.startswith("Sleepy: agent ") and "made no progress" in item.summary
        assert "made no progress" in failed.reason
        shown = run_cli("inbox", data_dir=world.server.home.root).stdout
        assert "stalled" in shown and f"control-room task show {task.id}" in shown
        await c.retry(task.id)  # the operator tries again: the next claim clears the item
        await wait_for(lambda: _claimed_twice(c, task.id), what="the second claim")
        assert await inbox_of(c, "stalled") == []


async def _claimed_twice(c: Coordinator, task_id: str) -> bool:
    return sum(e.kind == "claimed" for e in await c.events(task_id=task_id)) >= 2


async def test_a_managed_agent_with_no_output_stalls_though_its_lease_is_renewed(
    tmp_path: Path,
) -> None:
    sleeper = AgentType("sleeper", "command", (), ("sleep", "600"), managed=True)
    # Control Room renews the 0.5 s lease every 0.125 s: that is not the agent's progress.
    settings = replace(stalling(sleeper), lease_seconds=0.5)
    async with engine_world(tmp_path, settings) as world:
        c = world.coordinator
        task = await c.add_task({"title": "Silent", "priority": "P0", "max_attempts": 1})
        await wait_for(lambda: status_is(c, task.id, "CLAIMED"), what="the claim")
        (first,) = await c.runs()
        run = await wait_for(lambda: ended(c, first.agent_id), within=30, what="the stall")
        events = await c.events(task_id=task.id)
        assert not any(e.kind == "expired" for e in events), "its lease never lapsed"
        (event,) = [e for e in events if e.kind == "stalled"]
        claimed = next(e for e in events if e.kind == "claimed")
        assert event.at - claimed.at >= STALL > 2 * settings.lease_seconds
        assert "no output;" in event.message and "heartbeat" not in event.message
        assert "made no progress" in run.outcome
        failed = await c.task(task.id)
        assert failed.status is Status.FAILED and "made no progress" in failed.reason


async def test_a_pending_permission_request_pauses_the_clock(tmp_path: Path) -> None:
    async with engine_world(tmp_path, stalling(scripted("hang"))) as world:
        c = world.coordinator
        task = await c.add_task({"title": "Asks first", "priority": "P0", "max_attempts": 1})
        await wait_for(lambda: status_is(c, task.id, "IN_PROGRESS"), what="IN_PROGRESS")
        (run,) = await c.runs()
        request = await c.registry.write(
            permission_ops.request,
            run.agent_id,
            "Bash",
            json.dumps({"command": "make deploy"}),
            "Bash(make:*)",
        )
        asked = time.monotonic()
        # Three times stall_seconds while the operator has not answered: it keeps running.
        while time.monotonic() - asked < 3 * STALL:
            assert (await c.registry.get_run(run.agent_id)).live, "stopped while waiting"
            await _pause()
        assert await stalled_events(c, task.id) == []
        await c.registry.write(
            permission_ops.answer, request.id, False, False, "not today", "operator"
        )
        stopped: Run = await wait_for(lambda: ended(c, run.agent_id), within=30, what="stall")
        assert "made no progress" in stopped.outcome  # answered, the clock runs again


async def _pause() -> None:
    await asyncio.sleep(0.1)


def repeat_script(path: str) -> Any:
    """Claim, then read the same file every turn, whatever it says."""

    def script(body: dict[str, Any]) -> list[Block]:
        results = tool_results(body)
        if not results:
            return [text("Claiming."), tool_use(test_claude_code.TOOL + "claimTask", {}, 1)]
        return [text("Reading again."), tool_use("Read", {"file_path": path}, len(results) + 1)]

    return script


@pytest.mark.usefixtures("model_env")
async def test_a_claude_code_agent_repeating_a_call_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = AgentType("coder", "claude-code")
    settings = replace(
        settings_with(kind), claude_binary=str(test_claude_code.CLAUDE), max_repeats=3
    )
    notes = tmp_path / "project" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("the same thing every time\n")
    with scripted_model(repeat_script(str(notes))) as model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{model.server_address[1]}")
        async with engine_world(tmp_path, settings) as world:
            c = world.coordinator
            task = await c.add_task({"title": "Loops", "priority": "P0", "max_attempts": 1})
            failed = await wait_for(
                lambda: status_is(c, task.id, "FAILED"), within=120, what="the stop"
            )
            (run,) = await c.runs()
            run = await wait_for(lambda: ended(c, run.agent_id), what="the run's end")
            (event,) = await stalled_events(c, task.id)
    assert event.data["rule"] == "repeats"
    # The report is looked at once a second: a fast agent may repeat a few more times.
    found = re.search(r"made the same tool call (\d+) times in a row: Read\((.*)\)$", event.message)
    assert found and int(found[1]) >= 3, event.message
    assert json.loads(found[2]) == {"file_path": str(notes)}
    assert "same tool call" in failed.reason and "was stopped: it made the same" in run.outcome
    assert run.exit_code is None, "stopped, not run to its turn limit"


@pytest.fixture
def model_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")


def test_the_guard_pauses_while_waiting_and_is_off_at_zero(tmp_path: Path) -> None:
    now = [0.0]
    guard = StallGuard(10.0, 0, clock=lambda: now[0])
    agent = Watched("a1", tmp_path / "report.log", False, "", 0)
    seen = {"a1": Activity(last_seen=5.0, waiting=False)}
    assert guard.check([agent], seen) == []  # first look: the clock starts
    now[0] = 6.0
    assert guard.check([agent], seen) == []  # 6 s idle
    now[0] = 30.0  # 24 s waiting for the operator: not counted
    assert guard.check([agent], {"a1": Activity(5.0, waiting=True)}) == []
    now[0] = 33.0
    assert guard.check([agent], seen) == []  # 6 + 3 = 9 s idle
    now[0] = 34.0
    (verdict,) = guard.check([agent], seen)
    assert verdict.rule == "stall" and "stall_seconds = 10" in verdict.why
    # A call (its last_seen moves) starts the clock again.
    now[0] = 50.0
    assert guard.check([agent], {"a1": Activity(49.0, waiting=False)}) == []
    off = StallGuard(0.0, 0, clock=lambda: now[0])
    assert not off.enabled
    now[0] = 1e6
    assert off.check([agent], seen) == []


async def test_the_daily_budget_stops_spawning_until_the_next_day(
    tmp_path: Path, hook: Hook
) -> None:
    settings = settings_with(scripted("costly"))
    rules = replace(settings.routing, daily_budget_usd=0.4)
    settings = replace(settings, routing=rules, notify_urls=(hook.url,))
    async with engine_world(tmp_path, settings) as world:
        c = world.coordinator
        first = await c.add_task({"title": "Costly", "priority": "P0"})
        await wait_for(lambda: status_is(c, first.id, "COMPLETED"), what="the first task")
        (run,) = await c.runs()
        run = await wait_for(lambda: ended(c, run.agent_id), what="the first run's end")
        assert run.cost_usd == 0.5, "the cost of its result event"
        second = await c.add_task({"title": "Next", "priority": "P0"})
        held = await wait_for(lambda: _held(c, second.id), what="the budget hold")
        assert "daily budget of $0.4" in held.why and "until tomorrow" in held.why
        third = await c.add_task({"title": "And another", "priority": "P1"})
        await wait_for(lambda: _held(c, third.id), what="the second hold")
        assert len(await c.runs()) == 1, "nothing more was spawned"
        assert (await c.task(second.id)).status is Status.AVAILABLE
        (item,) = await inbox_of(c, "budget")
        assert item.id == f"budget-{date.today().isoformat()}" and "$0.50" in item.summary
        notice = await wait_for(lambda: _budget_notice(hook), within=15, what="the notice")
        assert "past the daily budget of $0.4" in notice["message"]
        logged = [e for e in await c.events() if e.kind == "daily_budget"]
        assert len(logged) == 1, "once a day"
        # The next day (the budget's clock moved on a day), the held tasks spawn.
        assigner = world.engine.assigner
        assert assigner is not None
        assigner.budget.clock = lambda: time.time() + 86_400
        world.engine._poke("assignment")
        await wait_for(lambda: _completed(c, second.id, third.id), what="the next day's runs")


async def _completed(c: Coordinator, *task_ids: str) -> bool:
    tasks = [await c.task(task_id) for task_id in task_ids]
    return all(t.status is Status.COMPLETED for t in tasks)


async def _held(c: Coordinator, task_id: str) -> Any:
    return next(
        (d for d in await c.decisions() if d.task_id == task_id and d.rule == "daily-budget"),
        None,
    )


async def _budget_notice(hook: Hook) -> dict[str, Any] | None:
    return next((n for n in hook.received if "daily budget" in n["title"]), None)


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ("[agents]\nstall_seconds = -1\n", "agents.stall_seconds"),
        ("[agents]\nmax_repeats = -2\n", "agents.max_repeats"),
        ("[agents]\nmax_repeats = 1.5\n", "agents.max_repeats"),
        ("[routing]\ndaily_budget_usd = -5\n", "routing.daily_budget_usd"),
        ('[routing]\ndaily_budget_usd = "lots"\n', "routing.daily_budget_usd"),
    ],
)
def test_bad_stall_and_budget_settings_are_refused(tmp_path: Path, toml: str, where: str) -> None:
    path = tmp_path / "control-room.toml"
    path.write_text(toml)
    with pytest.raises(InvalidInput) as raised:
        load_settings(path)
    assert where in str(raised.value)


def test_the_settings_turn_off_at_zero(tmp_path: Path) -> None:
    path = tmp_path / "control-room.toml"
    path.write_text(
        "[agents]\nstall_seconds = 0\nmax_repeats = 0\n[routing]\ndaily_budget_usd = 0\n"
    )
    settings = load_settings(path)
    assert (settings.stall_seconds, settings.max_repeats) == (0, 0)
    assert settings.routing.daily_budget_usd is None
    assert not StallGuard(settings.stall_seconds, settings.max_repeats).enabled
    defaults = Settings()
    assert (defaults.stall_seconds, defaults.max_repeats) == (600, 5)
