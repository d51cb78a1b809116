"""Steering a live agent: the operator's message to a running claude-code agent.

Whoever asks (the CLI in another process, the screen, REST) records a `said` event through the
registry: the message is untrusted data in the event's message, the agent and its task named.
The engine that runs the agent hears it through the registry's change feed (every process's
commits), sends it to the agent's open input and writes
it into the agent's report, where the report pane shows it. What cannot take a message is
refused before anything is recorded: a runtime without streaming input, an agent that has
ended, an agent Control Room did not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from control_room.domain import Conflict, ControlRoomError, Event, InvalidInput, NotFound, Run
from control_room.domain import specs as check
from control_room.engine import processes

if TYPE_CHECKING:
    from control_room.engine.service import Coordinator

log = logging.getLogger(__name__)
SAID = "said"  # the event: the operator's message to an agent
NOT_DELIVERED = "say_failed"  # the engine could not hand it to the agent
STEERABLE = frozenset({"claude-code"})  # runtimes that take messages while they run
PAGE = 1000  # events read at a time
REPORT_MARK = "--- Control Room: the operator said:"


async def target_run(coordinator: Coordinator, target: str) -> Run:
    """The live run `target` names (an agent id, or the id of a task a live agent works on);
    Conflict or NotFound, saying why, when there is none that could take a message."""
    target = check.text(target, "id", 200).strip()
    if not target:
        raise InvalidInput("id", "name an agent or a task")
    live = await coordinator.runs(live=True)
    run = next((r for r in live if r.agent_id == target), None)
    run = run or next((r for r in reversed(live) if r.task_id == target), None)
    if run is None:
        registry = coordinator.registry
        with contextlib.suppress(NotFound):
            await registry.get_run(target)
            raise Conflict(f"agent {target} has ended: it takes no messages")
        with contextlib.suppress(NotFound):
            await registry.get_agent(target)
            raise Conflict(f"agent {target} was not started by Control Room: it takes no messages")
        with contextlib.suppress(NotFound):
            task = await coordinator.task(target)
            raise Conflict(f"task {task.id} has no running agent ({task.status})")
        raise NotFound(f"no agent or task {target}")
    if run.runtime not in STEERABLE:
        raise Conflict(
            f"agent {run.agent_id} runs {run.runtime}: only claude-code agents take messages"
        )
    if run.owner_pid is not None and not processes.alive(run.owner_pid):
        raise Conflict(
            f"agent {run.agent_id} is not watched by a running Control Room: it takes no messages"
        )
    return run


async def say(coordinator: Coordinator, target: str, text: str, actor: str = "operator") -> Run:
    """Record the operator's message to the live agent `target` names; its run."""
    text = check.text(text, "text", check.ITEM_MAX).strip()
    if not text:
        raise InvalidInput("text", "the message is empty")
    run = await target_run(coordinator, target)
    await coordinator.note(SAID, actor, text, task_id=run.task_id, agent_id=run.agent_id)
    return run


def report_line(text: str) -> bytes:
    """How a message appears in the agent's report: one plain line the report pane shows."""
    return f"{REPORT_MARK} {' '.join(text.split())}\n".encode()


class Steering:
    """The engine's side: hands `said` events to the agents it runs. `attempts` is the
    supervisor's table of running attempts (each with `.run` and `.handle`)."""

    def __init__(self, coordinator: Coordinator, attempts: Mapping[str, Any]) -> None:
        self.coordinator = coordinator
        self.attempts = attempts
        self._seen: dict[str, int] = {}  # agent id -> the last event id looked at
        self._again = False
        self._job: asyncio.Task[None] | None = None
        self.watch = coordinator.feed.watch(self._on_events)  # every process's commits

    def _on_events(self, events: Sequence[Event]) -> None:
        if any(e.kind == SAID for e in events):
            self.wake()

    def wake(self) -> None:
        """Look for new messages soon (one look at a time; a wake during a look adds one)."""
        self._again = True
        if self._job is None or self._job.done():
            with contextlib.suppress(RuntimeError):  # no loop running: nothing to deliver to
                self._job = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._again:
            self._again = False
            try:
                await self.step()
            except ControlRoomError as error:
                log.warning("delivering messages: %s", error.message)

    async def step(self) -> None:
        """Deliver every message recorded for a running claude-code agent since the last look."""
        for agent_id, attempt in list(self.attempts.items()):
            run: Run = attempt.run
            if run.runtime not in STEERABLE or attempt.handle is None:
                continue  # starting: its messages wait for its process
            while True:
                after = self._seen.get(agent_id, 0)
                events = await self.coordinator.events(after, PAGE, task_id=run.task_id)
                if events:
                    self._seen[agent_id] = events[-1].id
                for event in events:
                    if event.kind == SAID and event.agent_id == agent_id:
                        await self._deliver(attempt, event.message)
                if len(events) < PAGE:
                    break
        self._seen = {a: i for a, i in self._seen.items() if a in self.attempts}

    async def _deliver(self, attempt: Any, text: str) -> None:
        run: Run = attempt.run
        say = getattr(attempt.handle, "say", None)
        try:
            if say is None:
                raise Conflict("the agent was adopted after a restart: its input is gone")
            await say(text)
        except Conflict as refused:
            await self.coordinator.note(
                NOT_DELIVERED, "engine", f"not delivered: {refused.message}",
                task_id=run.task_id, agent_id=run.agent_id,
            )  # fmt: skip
            return
        append(Path(run.run_dir) / "report.log", report_line(text))


def append(report: Path, line: bytes) -> None:
    """One write in append mode: the agent's own lines (also appended) stay whole."""
    with contextlib.suppress(OSError):
        fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
