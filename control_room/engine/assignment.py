"""The assignment loop: routes the AVAILABLE tasks that changed and carries out the decisions.

It runs at once when a task becomes AVAILABLE or an agent ends (from the event bus, or from the
registry watcher for other processes' writes) and on a slow tick. A pass costs what changed:

- the first pass (and so every restart) routes every AVAILABLE task; it also reads, once, the
  last stored decision of every open task, kept in memory from then on;
- later passes read the events committed since the last one they saw and route only the tasks
  that moved (a task whose dependencies completed becomes AVAILABLE with a `ready` event), plus
  the held tasks whose reason may have changed: held by the agent limit when a slot is free (the
  first ones in queue order), resting after a failed start when the rest is over, and started
  ones whose agent never came;
- only decisions that differ from the task's last stored one are stored, in one batched write;
- spawns run in the background: a slow start never holds up routing the next arrivals. A start
  that fails shows as the loop's error on the next pass;
- a big pass (the first one, on a registry of thousands of AVAILABLE tasks) is read a page at a
  time and routed and stored a chunk at a time, in queue order: the event loop and the registry's
  writer serve claims between chunks instead of stalling for the whole pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Sequence

from control_room.domain import ControlRoomError, Decision, Event, RoutingDecision, Status, Task
from control_room.domain.listing import TaskFilter
from control_room.domain.routing import RoutingRules, World, is_news, route_all
from control_room.engine.budget import DailyBudget
from control_room.engine.loops import Loop
from control_room.engine.service import Coordinator
from control_room.engine.supervisor import AgentStartError, Supervisor

log = logging.getLogger(__name__)
WAKE_KINDS = frozenset({"agent_ended"})
FINISHED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
# Decisions that depend on the engine's state rather than the task's: looked at again when
# that state changes.
LIMITED, RESTING, STARTING = "agent-limit", "start-failed", "already-starting"
BUDGET = "daily-budget"  # looked at again once the day's budget is not spent
STOP_SECONDS = 10.0
# Tasks routed, and their decisions stored (one write), per chunk of a pass; AVAILABLE tasks read
# per page by the first pass. Each costs ~1-3 ms of the event loop or the writer.
ROUTE_CHUNK = 64
READ_PAGE = 250
AVAILABLE = TaskFilter(statuses=(Status.AVAILABLE,))


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
        self.watch = coordinator.feed.watch(self._on_events)  # every process's commits
        self._after: int | None = None  # the last event id looked at; None: not started
        self._tasks: dict[str, Task] = {}  # the AVAILABLE tasks, as last read
        self._stored: dict[str, RoutingDecision] = {}  # each open task's last stored decision
        self._waiting: dict[str, RoutingDecision] = {}  # decided by the engine's state
        self._spawning: dict[str, asyncio.Task[None]] = {}  # by task id
        self._failure: Exception | None = None
        self._due: set[str] = set()  # moved since they were last routed
        self.decided = 0  # tasks routed since the start, for tests and benchmarks
        self.budget = DailyBudget(coordinator, rules.daily_budget_usd, clock)
        self._over_budget: str | None = None

    def _on_events(self, events: Sequence[Event]) -> None:
        if any(e.to_status is Status.AVAILABLE or e.kind in WAKE_KINDS for e in events):
            self.loop.poke()

    async def step(self) -> None:
        failure, self._failure = self._failure, None
        if self.supervisor.accepting:
            await self.supervisor.forget_ended_elsewhere()  # another engine's agents
            # Kept until routed: a pass that fails half-way leaves them for the next one.
            self._due |= await (self._catch_up() if self._after is not None else self._start())
            self._over_budget = await self.budget.over()
            tasks = [
                self._tasks[i]
                for i in self._due | self._reconsider(self._world())
                if i in self._tasks
            ]
            await self._route(tasks)
            self._due.clear()
        if failure is not None:
            raise failure

    async def _start(self) -> set[str]:
        """The first pass: every AVAILABLE task, and every open task's last decision."""
        registry = self.coordinator.registry
        after = await registry.last_event()
        self._stored = await registry.open_decisions()
        tasks: dict[str, Task] = {}
        cursor: str | None = None
        while True:  # a page per read: converting rows costs the event loop ~10 us each
            page = await registry.task_page(AVAILABLE, cursor, READ_PAGE)
            tasks.update((t.id, t) for t in page.items)
            if page.next is None:
                break
            cursor = page.next
        self._tasks = tasks
        self._after = after
        return set(self._tasks)

    async def _catch_up(self) -> set[str]:
        """The tasks that moved since the last pass, read again when they are AVAILABLE."""
        after = self._after
        assert after is not None
        statuses: dict[str, Status] = {}
        while True:
            changes = await self.coordinator.registry.changes_since(after)
            statuses.update(changes.statuses)
            after = changes.last_id
            if not changes.more:
                break
        ready = []
        for task_id, status in statuses.items():
            if status is Status.AVAILABLE:
                ready.append(task_id)
            else:
                self._forget(task_id, finished=status in FINISHED)
        for task in await self.coordinator.registry.tasks_by_id(ready):
            if task.status is Status.AVAILABLE:
                self._tasks[task.id] = task
            else:
                self._forget(task.id, finished=task.status in FINISHED)
        self._after = after  # only once every change it covers is taken in
        return {i for i in ready if i in self._tasks}

    def _forget(self, task_id: str, finished: bool) -> None:
        self._tasks.pop(task_id, None)
        self._waiting.pop(task_id, None)
        if finished:
            self._stored.pop(task_id, None)

    def _world(self) -> World:
        """The supervisor's view, with the agents being started in the background."""
        world = self.supervisor.world()
        pending = [i for i in self._spawning if i not in world.starting]
        return World(
            world.running + len(pending), world.starting | set(pending), world.failing,
            self._over_budget,
        )  # fmt: skip

    def _reconsider(self, world: World) -> set[str]:
        """Held tasks whose reason may have changed."""
        again: set[str] = set()
        limited: list[str] = []
        for task_id, made in self._waiting.items():
            if made.rule == LIMITED:
                limited.append(task_id)
            elif made.rule == BUDGET:
                if world.over_budget is None:
                    again.add(task_id)
            elif made.rule == RESTING:
                if world.failing.get(task_id) != made.why:
                    again.add(task_id)
            elif task_id not in world.starting:  # started, and its agent is gone
                again.add(task_id)
        free = self.rules.max_running - world.running
        if limited and free > 0:
            tasks = self._tasks
            again.update(
                heapq.nsmallest(
                    free, limited, key=lambda i: (tasks[i].priority, tasks[i].created_at)
                )
            )
        return again

    async def _route(self, tasks: list[Task]) -> None:
        """Route `tasks` in queue order, a chunk at a time: each chunk sees the world as the
        chunks before it left it (their spawns count against the agent limit) and is carried
        out, its decisions stored in one write, before the next is routed."""
        tasks.sort(key=lambda t: (t.priority, t.created_at))
        for start in range(0, len(tasks), ROUTE_CHUNK):
            chunk = tasks[start : start + ROUTE_CHUNK]
            await self._carry_out(route_all(chunk, self._world(), self.rules, self.clock()))

    async def _carry_out(self, decisions: list[RoutingDecision]) -> None:
        self.decided += len(decisions)
        news = []
        for made in decisions:
            if made.rule in (LIMITED, RESTING, STARTING, BUDGET) or made.decision is Decision.SPAWN:
                self._waiting[made.task_id] = made
            else:
                self._waiting.pop(made.task_id, None)
            # "An agent was started and has not claimed it yet" follows every spawn: not news.
            if made.rule != STARTING and is_news(self._stored.get(made.task_id), made):
                news.append(made)
        for stored in await self.coordinator.append_decisions(news):
            self._stored[stored.task_id] = stored
        holds = []
        for made in decisions:
            if made.decision is Decision.AWAIT_APPROVAL:
                holds.append(self._hold(made))
            elif made.decision is Decision.SPAWN:
                task = self._tasks[made.task_id]
                job = asyncio.create_task(self._spawn(task, made), name=f"spawn-{task.id}")
                self._spawning[task.id] = job
        await asyncio.gather(*holds)

    async def _hold(self, decision: RoutingDecision) -> None:
        try:
            await self.coordinator.await_approval(decision.task_id, decision.why)
        except ControlRoomError as error:  # claimed or cancelled meanwhile
            log.info("not holding %s: %s", decision.task_id, error.message)

    async def _spawn(self, task: Task, decision: RoutingDecision) -> None:
        try:
            await self.supervisor.spawn(task, decision)
        except AgentStartError as error:
            self._failure = error  # shown as the loop's error; the task rests a while
        except ControlRoomError as error:  # the task changed meanwhile
            log.info("not spawned: %s", error.message)
        except Exception as error:
            self._failure = error
        finally:
            self._spawning.pop(task.id, None)
            self.loop.poke()

    async def stop(self) -> None:
        """Let the starts under way finish (a while), so the supervisor can settle them."""
        jobs = list(self._spawning.values())
        if jobs:
            _, late = await asyncio.wait(jobs, timeout=STOP_SECONDS)
            for job in late:
                job.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*late, return_exceptions=True)
