"""Named loops: a failing step never ends the loop, and is logged calmly.

An expected failure (the registry gone, a full disk: a ControlRoomError) is one log line without
a traceback, once per kind of failure; an unexpected one keeps its traceback for the developer.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

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
