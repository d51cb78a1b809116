"""The assignment loop: routes every AVAILABLE task and carries out the decisions.

It runs at once when a task becomes AVAILABLE or an agent ends (from the event bus, or from the
registry watcher for other processes' writes) and on a slow tick. Each pass asks the routing
policy about every AVAILABLE task, stores the decisions that changed (with the rule and why),
holds approval-bound tasks for the operator and starts agents for the ones to spawn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from control_room.domain import ControlRoomError, Decision, Event, Status
from control_room.domain.routing import RoutingRules, route_all
from control_room.engine.loops import Loop
from control_room.engine.service import Coordinator
from control_room.engine.supervisor import AgentStartError, Supervisor

log = logging.getLogger(__name__)
WAKE_KINDS = frozenset({"agent_ended"})


class Assigner:
    TICK_SECONDS = 15.0

    def __init__(
        self,
        coordinator: Coordinator,
        supervisor: Supervisor,
        rules: RoutingRules,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.coordinator = coordinator
        self.supervisor = supervisor
        self.rules = rules
        self.clock = clock
        self.loop = Loop("assignment", self.TICK_SECONDS, self.step)
        coordinator.registry.listeners.append(self._on_events)

    def _on_events(self, events: Sequence[Event]) -> None:
        if any(e.to_status is Status.AVAILABLE or e.kind in WAKE_KINDS for e in events):
            self.loop.poke()

    async def step(self) -> None:
        if not self.supervisor.accepting:
            return
        tasks = {t.id: t for t in await self.coordinator.tasks(status=Status.AVAILABLE)}
        if not tasks:
            return
        decisions = route_all(tasks.values(), self.supervisor.world(), self.rules, self.clock())
        # "An agent was started and has not claimed it yet" follows every spawn: not news.
        await self.coordinator.record_decisions(
            [d for d in decisions if d.rule != "already-starting"]
        )
        spawns = []
        for decision in decisions:
            if decision.decision is Decision.AWAIT_APPROVAL:
                try:
                    await self.coordinator.await_approval(decision.task_id, decision.why)
                except ControlRoomError as error:  # claimed or cancelled meanwhile
                    log.info("not holding %s: %s", decision.task_id, error.message)
            elif decision.decision is Decision.SPAWN:
                spawns.append(self.supervisor.spawn(tasks[decision.task_id], decision))
        # Started side by side: their registry writes share group commits.
        failed = None
        for outcome in await asyncio.gather(*spawns, return_exceptions=True):
            if isinstance(outcome, AgentStartError):
                failed = outcome  # shown as the loop's error; the type rests a while
            elif isinstance(outcome, ControlRoomError):  # the task changed meanwhile
                log.info("not spawned: %s", outcome.message)
            elif isinstance(outcome, BaseException):
                raise outcome
        if failed is not None:
            raise failed
