"""Named loops: a failing step never ends the loop, and is logged calmly.

An expected failure (the registry gone, a full disk: a ControlRoomError) is one log line without
a traceback, once per kind of failure; an unexpected one keeps its traceback for the developer.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import control_room
from control_room.domain import StoreError
from control_room.engine.loops import Loop


async def run_until(loop: Loop, runs: int) -> None:
    job = asyncio.create_task(loop.run())
    try:
        async with asyncio.timeout(10):
            while loop.runs < runs:
                loop.poke()
                await asyncio.sleep(0.01)
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)


async def test_an_expected_failure_is_one_line_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    told: list[tuple[str, str]] = []

    async def step() -> None:
        raise StoreError("the registry /x/registry.db was removed or replaced while in use")

    async def on_error(name: str, text: str) -> None:
        told.append((name, text))

    loop = Loop("lease-reaper", 60, step, on_error=on_error)
    with caplog.at_level(logging.ERROR, logger="control_room.engine.loops"):
        await run_until(loop, 3)
    assert loop.runs >= 3, "a failing step ended the loop"
    assert len(caplog.records) == 1, [r.getMessage() for r in caplog.records]
    record = caplog.records[0]
    assert record.exc_info is None and "Traceback" not in caplog.text
    assert "lease-reaper" in record.getMessage() and "removed or replaced" in record.getMessage()
    assert told == [("lease-reaper", loop.last_error)]
    assert loop.last_error is not None and loop.last_error.startswith("StoreError: the registry")


async def test_an_unexpected_failure_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def step() -> None:
        raise KeyError("bug")

    loop = Loop("validation", 60, step)
    with caplog.at_level(logging.ERROR, logger="control_room.engine.loops"):
        await run_until(loop, 2)
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None
    assert loop.last_error == "KeyError: 'bug'"


async def test_a_step_that_recovers_clears_the_error() -> None:
    failures = [StoreError("the disk is full")]

    async def step() -> None:
        if failures:
            raise failures.pop()

    loop = Loop("validation", 60, step)
    await run_until(loop, 2)
    assert loop.last_error is None


def test_nothing_waits_with_asyncio_wait_for() -> None:
    """On Python 3.11, asyncio.wait_for returns the inner result when a cancellation arrives
    as the inner future completes: the cancellation is lost. A loop poked while it was being
    stopped then ran on, and the engine's shutdown waited for it forever (a rare CI hang).
    asyncio.timeout() has no such race; the code uses it everywhere."""
    package = Path(control_room.__file__).parent
    found = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "wait_for(" in line
    ]
    assert not found, found


async def test_a_loop_poked_as_it_is_cancelled_stops() -> None:
    """The race itself: the poke and the cancellation in the same turn of the event loop."""

    async def step() -> None:
        return None

    for _ in range(50):
        loop = Loop("assignment", 60, step)
        job = asyncio.create_task(loop.run())
        for _ in range(100):  # the first step runs, then the loop waits for a poke
            await asyncio.sleep(0)
            if loop.runs:
                break
        await asyncio.sleep(0)
        loop.poke()
        job.cancel()
        done, _ = await asyncio.wait({job}, timeout=5)
        assert done, "a loop poked as it was cancelled kept running"
