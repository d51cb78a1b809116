"""The validation runner: runs the checks of handed-in tasks and records the verdict.

A task's checks are commands written by the operator. Each is split like a shell would split it
(shlex) and run as an argv, never through a shell, in the working directory, with a time limit.
All pass: COMPLETED. One fails or times out: the task goes back for another attempt, with the
output as feedback for the next agent. Tasks left VALIDATING by a crash are picked up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shlex
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from control_room.domain import ControlRoomError, Event, Status, Task
from control_room.engine.loops import Loop
from control_room.engine.service import Coordinator
from control_room.private import user_umask

log = logging.getLogger(__name__)
DirsOf = Callable[[Task], Awaitable[tuple[Path, Path | None]]]
"""(working directory, run folder or None) of the attempt that handed a task in."""
OnPassed = Callable[[Task], Awaitable[bool]]
"""Told of a task whose checks passed, before its verdict (a merge on checks); True when it
settled the task itself (a merge conflict sent it back)."""
OUTPUT_TAIL = 8_000


async def run_check(command: str, workdir: Path, limit_seconds: float) -> tuple[bool, str]:
    """(passed, output) of one check command."""
    try:
        argv = shlex.split(command)
    except ValueError as error:
        return False, f"$ {command}\ncannot parse this check: {error}"
    if not argv:
        return True, ""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # so a time-out can stop the whole process group
            **user_umask(),  # the project's files keep the user's modes
        )
    except OSError as error:
        return False, f"$ {command}\ncannot run it: {error.strerror or error}"
    try:
        async with asyncio.timeout(limit_seconds):
            out, _ = await process.communicate()
    except TimeoutError:
        await _kill(process)
        return False, f"$ {command}\ntimed out after {limit_seconds:g} s"
    except asyncio.CancelledError:  # shutting down: the check goes too
        await asyncio.shield(_kill(process))
        raise
    text = out.decode(errors="replace")
    return process.returncode == 0, f"$ {command}\n{text}(exit {process.returncode})"


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


class ValidationRunner:
    """`loop` (named "validation") runs `step` every TICK_SECONDS, and at once when a task is
    handed in through this process; the tick also finds hand-ins from other processes."""

    TICK_SECONDS = 2.0

    def __init__(
        self,
        coordinator: Coordinator,
        dirs_of: DirsOf,
        timeout: float = 600.0,
        on_passed: OnPassed | None = None,
        after_checks: Callable[[Task], Awaitable[None]] | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.dirs_of = dirs_of
        self.timeout = timeout
        self.on_passed = on_passed
        self.after_checks = after_checks  # before the verdict: what the checks left is kept
        self.loop = Loop("validation", self.TICK_SECONDS, self.step)
        # Whether this process checks a task (several control rooms on one registry: the one
        # whose agent handed it in); None: every task.
        self.mine: Callable[[Task], Awaitable[bool]] | None = None
        self._running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self.watch = coordinator.feed.watch(self._on_events)  # every process's commits

    def _on_events(self, events: Sequence[Event]) -> None:
        if any(e.to_status is Status.VALIDATING for e in events):
            self.loop.poke()

    async def step(self) -> None:
        """Start checks for every VALIDATING task not already being checked."""
        for task in await self.coordinator.tasks(status=Status.VALIDATING):
            key = (task.id, task.epoch)
            if key not in self._running and (self.mine is None or await self.mine(task)):
                job = asyncio.create_task(self._validate(task), name=f"validate-{task.id}")
                self._running[key] = job
                job.add_done_callback(functools.partial(self._finished, key))

    def _finished(self, key: tuple[str, int], job: asyncio.Task[None]) -> None:
        self._running.pop(key, None)

    async def _validate(self, task: Task) -> None:
        workdir, run_dir = await self.dirs_of(task)
        outputs = []
        passed = True
        for command in task.checks:
            ok, output = await run_check(command, workdir, self.timeout)
            outputs.append(output)
            if not ok:
                passed = False
                break
        report = "\n".join(outputs)[-OUTPUT_TAIL:]
        if run_dir is not None:
            verdict = "passed" if passed else "failed"
            with contextlib.suppress(OSError), (run_dir / "report.log").open("a") as handle:
                handle.write(f"\n--- Control Room: checks {verdict} ---\n{report}\n")
        if self.after_checks is not None:
            await self.after_checks(task)
        if passed and self.on_passed is not None and await self.on_passed(task):
            return
        try:
            await self.coordinator.record_verdict(task.id, task.epoch, passed, report)
        except ControlRoomError as error:  # cancelled or retried meanwhile: nothing to record
            log.info("verdict for %s not recorded: %s", task.id, error.message)

    async def stop(self) -> None:
        for job in list(self._running.values()):
            job.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
