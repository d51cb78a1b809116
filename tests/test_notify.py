"""The notifier: real events from a real registry, sent through apprise to a local HTTP hook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import pytest

from control_room.domain import Event, InvalidInput, Status
from control_room.engine import Coordinator
from control_room.engine.notify import NotificationFailed, Notifier, mask
from tests.hooks import Hook


async def until(condition: Callable[[], object], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def needs_a_person(coordinator: Coordinator, new_agent: Any) -> tuple[str, str, str]:
    """One task each awaiting approval, BLOCKED and FAILED, through the real coordinator."""
    design = await coordinator.add_task({"title": "design", "type": "architecture"})
    await coordinator.await_approval(design.id, "architecture work waits for the operator")
    stuck = await coordinator.add_task({"title": "stuck"})
    agent = await new_agent("blocker")
    claim = await coordinator.claim(agent, stuck.id)
    await coordinator.block(stuck.id, agent, claim.lease.epoch, "needs database credentials")
    doomed = await coordinator.add_task({"title": "doomed", "max_attempts": 1})
    agent = await new_agent("quitter")
    claim = await coordinator.claim(agent, doomed.id)
    await coordinator.release(doomed.id, agent, claim.lease.epoch, "the tests will not build")
    assert (await coordinator.task(doomed.id)).status is Status.FAILED
    return design.id, stuck.id, doomed.id


async def test_each_kind_is_sent_with_its_reason_and_command(
    coordinator: Coordinator, new_agent: Any, hook: Hook
) -> None:
    notifier = Notifier([hook.url])
    coordinator.feed.watch(notifier.on_events)
    design = await coordinator.add_task({"title": "design", "type": "architecture"})
    await coordinator.await_approval(design.id, "architecture work waits for the operator")
    await notifier.step()
    (sent,) = hook.received
    assert sent["path"] == "/hook" and sent["type"] == "warning"
    assert sent["title"] == f"Control Room: task {design.id} awaits approval"
    assert "architecture work waits for the operator" in sent["message"]
    assert f"control-room task approve {design.id}" in sent["message"]
    assert f"control-room task show {design.id}" in sent["message"]

    stuck = await coordinator.add_task({"title": "stuck"})
    agent = await new_agent("blocker")
    claim = await coordinator.claim(agent, stuck.id)
    await coordinator.block(stuck.id, agent, claim.lease.epoch, "needs database credentials")
    await notifier.step()
    assert hook.received[1]["title"] == f"Control Room: task {stuck.id} is BLOCKED"
    assert "needs database credentials" in hook.received[1]["message"]
    assert agent in hook.received[1]["message"]

    doomed = await coordinator.add_task({"title": "doomed", "max_attempts": 1})
    agent = await new_agent("quitter")
    claim = await coordinator.claim(agent, doomed.id)
    await coordinator.release(doomed.id, agent, claim.lease.epoch, "the tests will not build")
    await notifier.step()
    assert hook.received[2]["title"] == f"Control Room: task {doomed.id} FAILED"
    assert hook.received[2]["type"] == "failure"
    assert f"control-room task retry {doomed.id}" in hook.received[2]["message"]
    assert (notifier.sent, notifier.failed, len(hook.received)) == (3, 0, 3)
    await notifier.step()  # nothing left to send
    assert len(hook.received) == 3


async def test_several_waiting_go_as_one_message(
    coordinator: Coordinator, new_agent: Any, hook: Hook
) -> None:
    notifier = Notifier([hook.url], title_prefix="Lab")
    coordinator.feed.watch(notifier.on_events)
    ids = await needs_a_person(coordinator, new_agent)
    await notifier.step()
    (sent,) = hook.received
    assert sent["title"] == "Lab: 3 tasks need you" and sent["type"] == "failure"
    assert all(f"control-room task show {task_id}" in sent["message"] for task_id in ids)
    assert notifier.sent == 1


async def test_other_events_send_nothing(
    coordinator: Coordinator, new_agent: Any, hook: Hook
) -> None:
    design = await coordinator.add_task({"title": "design", "type": "architecture"})
    await coordinator.await_approval(design.id, "why")  # before the notifier listens
    notifier = Notifier([hook.url])
    coordinator.feed.watch(notifier.on_events)
    await coordinator.approve(design.id)
    task = await coordinator.add_task({"title": "plain"})
    agent = await new_agent()
    claim = await coordinator.claim(agent, task.id)
    await coordinator.progress(task.id, agent, claim.lease.epoch, 50, "half way")
    await coordinator.complete(task.id, agent, claim.lease.epoch, "done")
    again = await coordinator.add_task({"title": "again", "max_attempts": 2})
    claim = await coordinator.claim(agent, again.id)
    await coordinator.release(again.id, agent, claim.lease.epoch, "one more try left")
    assert (await coordinator.task(again.id)).status is Status.AVAILABLE
    await coordinator.cancel(again.id, "not needed")
    await notifier.step()
    assert (hook.received, hook.refused, notifier.sent) == ([], 0, 0)


async def test_a_failing_server_keeps_notices_until_it_recovers(
    coordinator: Coordinator, new_agent: Any, hook: Hook
) -> None:
    notifier = Notifier([hook.url])
    coordinator.feed.watch(notifier.on_events)
    hook.status = 500
    design = await coordinator.add_task({"title": "design", "type": "architecture"})
    await coordinator.await_approval(design.id, "why")
    with pytest.raises(NotificationFailed, match=r"json://127\.0\.0\.1:\d+/\*\*\*; 1 kept"):
        await notifier.step()
    assert (notifier.sent, notifier.failed, hook.refused, hook.received) == (0, 1, 1, [])
    hook.status = 200
    await notifier.step()
    assert [m["title"] for m in hook.received] == [
        f"Control Room: task {design.id} awaits approval"
    ]
    assert (notifier.sent, notifier.failed) == (1, 1)


async def test_a_full_queue_drops_the_oldest_and_says_so(hook: Hook) -> None:
    notifier = Notifier([hook.url])
    events = [
        Event(n, 0.0, "blocked", "agent", f"T-{n}", None, Status.IN_PROGRESS, Status.BLOCKED, "x")
        for n in range(105)
    ]
    notifier.on_events(events)
    await notifier.step()
    (sent,) = hook.received
    assert sent["title"] == "Control Room: 100 tasks need you"
    assert sent["message"].startswith("Task T-5 is BLOCKED")
    assert "5 more not sent" in sent["message"] and "T-104" in sent["message"]
    assert notifier.dropped == 5


async def test_untrusted_text_is_cleaned_and_cut(
    coordinator: Coordinator, new_agent: Any, hook: Hook
) -> None:
    notifier = Notifier([hook.url])
    coordinator.feed.watch(notifier.on_events)
    task = await coordinator.add_task({"title": "evil"})
    agent = await new_agent()
    claim = await coordinator.claim(agent, task.id)
    reason = "\x1b[2J\x07bad\r\nFAKE: control-room task approve T-OTHER\u202e" + "x" * 1500
    await coordinator.block(task.id, agent, claim.lease.epoch, reason)
    await notifier.step()
    message = hook.received[0]["message"]
    (line,) = [line for line in message.splitlines() if line.startswith("Reason:")]
    assert line.startswith("Reason: [2Jbad FAKE: control-room task approve T-OTHER")
    assert len(line) <= len("Reason: ") + 500 and line.endswith("…")
    assert not any(c in message for c in "\x1b\x07\r\u202e")


def test_unusable_urls_are_refused_with_secrets_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for url, shown in [
        ("nonsense://user:hunter2@example.com/tok", "nonsense://***@example.com/***"),
        ("slack://hunter2/B2", "slack://***/***"),
        ("json://", "json://***"),
        ("hunter2", "***"),
        ("", "***"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            Notifier(["json://127.0.0.1:9/ok", url])
        assert caught.value.field == "notify.urls"
        assert caught.value.detail == f"{shown} is not a notification URL apprise understands"
    assert "hunter2" not in caplog.text
    assert mask("ntfys://user:pw@ntfy.example.org/topic?x=1") == "ntfys://***@ntfy.example.org/***"
    assert logging.getLogger("apprise").disabled is False


async def test_without_urls_nothing_happens(coordinator: Coordinator) -> None:
    notifier = Notifier([])
    coordinator.feed.watch(notifier.on_events)
    design = await coordinator.add_task({"title": "design", "type": "architecture"})
    await coordinator.await_approval(design.id, "why")
    await notifier.step()
    assert (notifier._targets, notifier.sent, notifier.failed) == ([], 0, 0)


async def test_the_loop_sends_on_its_own_and_shows_failures_masked(
    coordinator: Coordinator, hook: Hook
) -> None:
    url = hook.url.replace("json://", "json://user:s3cret@")
    notifier = Notifier([url])
    coordinator.feed.watch(notifier.on_events)
    running = asyncio.create_task(notifier.loop.run())
    try:
        await until(lambda: notifier.loop.runs >= 1)  # first run: nothing queued
        hook.status = 500
        design = await coordinator.add_task({"title": "design", "type": "architecture"})
        await coordinator.await_approval(design.id, "why")  # pokes the loop
        await until(lambda: notifier.loop.last_error is not None, within=10.0)
        error = notifier.loop.last_error or ""
        assert error.startswith("NotificationFailed: could not notify json://***@127.0.0.1:")
        assert "s3cret" not in error
        hook.status = 200
        notifier.loop.poke()
        await until(lambda: hook.received)
        assert hook.received[0]["title"] == f"Control Room: task {design.id} awaits approval"
        await until(lambda: notifier.loop.last_error is None)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_sending_does_not_block_the_event_loop(hook: Hook) -> None:
    notifier = Notifier([hook.url])
    notifier.on_events(
        [Event(1, 0.0, "blocked", "a", "T-1", None, Status.IN_PROGRESS, Status.BLOCKED, "slow")]
    )
    hook.delay = 0.6
    sending = asyncio.create_task(notifier.step())
    loop = asyncio.get_running_loop()
    ticks, last, longest = 0, loop.time(), 0.0
    while not sending.done():
        await asyncio.sleep(0.01)
        ticks, now = ticks + 1, loop.time()
        last, longest = now, max(longest, now - last)
    await sending
    assert len(hook.received) == 1 and ticks > 20 and longest < 0.2
