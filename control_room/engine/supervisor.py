"""The supervisor: starts an agent for a task, watches it, and settles the task when it ends.

Each attempt gets a fresh agent with its own token, a folder runs/<task>/<attempt>/ with its
prompt and report, and a working directory (its own git worktree when the project is a git
repository). When the process ends, one registry transaction releases the task if the agent
still held it (or abandons it if nobody claimed it), counts the attempt and revokes the token,
right away: a crashed agent's task is back in the queue within milliseconds, not at lease expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from control_room.domain import Conflict, ControlRoomError, Event, RoutingDecision, Run, Task
from control_room.domain.plans import PLANNING_TYPE
from control_room.domain.routing import AgentType, RoutingRules, World
from control_room.engine import processes, reports
from control_room.engine.managed import Managed, preflight
from control_room.engine.prompt import build_prompt
from control_room.engine.runtimes import Handle, Launch, Runtime
from control_room.engine.service import Coordinator
from control_room.engine.stall import StallGuard, Verdict, Watched
from control_room.engine.start_failures import StartFailures
from control_room.engine.steering import Steering
from control_room.engine.workspaces import Workspaces
from control_room.engine.worktrees import slug

log = logging.getLogger(__name__)
RuntimeFactory = Callable[[AgentType], Runtime]
WHY_MAX = 500
STOP_ON = frozenset({"cancelled", "rejected", "retried"})  # what the task went through


class AgentStartError(ControlRoomError):
    """An agent could not be started (its run is over, no attempt counted)."""


@dataclass
class Attempt:
    run: Run
    handle: Handle | None = None
    watcher: asyncio.Task[None] | None = None
    workdir: Path | None = None
    stopping: bool = False
    managed: Managed | None = None  # Control Room claims and hands in for this agent
    tail: reports.ReportTail = field(init=False)
    recorded: reports.Usage = field(default_factory=reports.Usage)

    def __post_init__(self) -> None:
        self.tail = reports.ReportTail(Path(self.run.run_dir) / "report.log")


def describe_exit(code: int | None, timed_out: bool, limit: float) -> str:
    if timed_out:
        return f"ran past its {limit:g} s limit and was stopped"
    if code is None:
        return "ended (exit code unknown)"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return "exited" if code == 0 else f"exited with code {code}"


class Supervisor:
    def __init__(
        self,
        coordinator: Coordinator,
        *,
        runs_root: Path,
        server_url: str,
        rules: RoutingRules,
        runtime_for: RuntimeFactory,
        workspaces: Workspaces,
        wall_clock_seconds: float = 3600.0,
        stop_grace_seconds: float = 5.0,
        on_exit: Callable[[Run], None] = lambda run: None,
        start_failures: StartFailures | None = None,
        wake: Callable[[], None] = lambda: None,
        stall_seconds: float = 0.0,
        max_repeats: int = 0,
    ) -> None:
        self.coordinator = coordinator
        self.runs_root = runs_root
        self.server_url = server_url
        self.rules = rules
        self.runtime_for = runtime_for
        self.workspaces = workspaces
        self.wall_clock_seconds = wall_clock_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self.on_exit = on_exit
        self.attempts: dict[str, Attempt] = {}  # by agent id, while they run
        # Tasks another engine sharing the registry has a live agent for (found when this one
        # tried to start one): task id -> that agent's id. Held as "already starting".
        self.elsewhere: dict[str, str] = {}
        self.accepting = True
        self.start_failures = start_failures or StartFailures()
        self.wake = wake  # asks for another assignment pass (a resting task may start again)
        self._stopping: set[asyncio.Task[Run | None]] = set()
        self.watch = coordinator.feed.watch(self._on_events)  # every process's commits
        self.steering = Steering(coordinator, self.attempts)  # the operator's messages
        self.guard = StallGuard(stall_seconds, max_repeats)  # stuck agents (engine/stall.py)

    def world(self) -> World:
        """What routing needs to know: how many agents run, for which tasks, and which agent
        tasks' agents could not be started lately."""
        tasks = frozenset(a.run.task_id for a in self.attempts.values()) | frozenset(self.elsewhere)
        failing = self.start_failures.resting()
        return World(running=len(self.attempts), starting=tasks, failing=failing)

    def _on_events(self, events: Sequence[Event]) -> None:
        """A task cancelled, rejected or restarted under a running agent: that agent stops."""
        for event in events:
            if event.kind not in STOP_ON or not event.task_id:
                continue
            for attempt in list(self.attempts.values()):
                if attempt.run.task_id == event.task_id and not attempt.stopping:
                    why = f"was stopped: its task was {event.kind}"
                    job = asyncio.get_running_loop().create_task(
                        self.stop(attempt.run.agent_id, why)
                    )
                    self._stopping.add(job)
                    job.add_done_callback(self._stopping.discard)

    async def forget_ended_elsewhere(self) -> None:
        """Drop the tasks whose agent started by another engine has ended."""
        for task_id, agent_id in list(self.elsewhere.items()):
            with contextlib.suppress(ControlRoomError):
                if not (await self.coordinator.registry.get_run(agent_id)).live:
                    del self.elsewhere[task_id]

    async def read_reports(self) -> None:
        """The report watcher's step: follow each running agent's report, and record its
        turns and cost so far when they change (`agent list`, GET /api/agents show them)."""
        for attempt in list(self.attempts.values()):
            if attempt.tail.read() == 0 or attempt.watcher is None:
                continue
            usage = attempt.tail.usage
            if usage != attempt.recorded:
                attempt.recorded = usage
                with contextlib.suppress(ControlRoomError):  # ended meanwhile
                    await self.coordinator.run_usage(
                        attempt.run.agent_id, usage.turns, usage.cost_usd
                    )
        if self.guard.enabled:
            await self._stop_stuck()

    async def _stop_stuck(self) -> None:
        """Stop the agents the stall guard finds stuck: a `stalled` event, then the agent is
        stopped and its task released with the reason (an attempt counts)."""
        live = [a for a in self.attempts.values() if a.watcher is not None and not a.stopping]
        watched = [
            Watched(a.run.agent_id, a.tail.report, a.managed is not None, *a.tail.calls.seen())
            for a in live
        ]
        if not watched:
            return
        ids = [a.agent_id for a in watched]
        activity = await self.coordinator.registry.activity(ids) if self.guard.stall_seconds else {}
        for verdict in self.guard.check(watched, activity):
            attempt = self.attempts.get(verdict.agent_id)
            if attempt is not None and not attempt.stopping:
                await self._stalled(attempt, verdict)

    async def _stalled(self, attempt: Attempt, verdict: Verdict) -> None:
        run = attempt.run
        self.guard.forget(run.agent_id)
        with contextlib.suppress(ControlRoomError):
            await self.coordinator.note(
                "stalled", "control-room", f"agent {run.agent_id} {verdict.why}",
                task_id=run.task_id, agent_id=run.agent_id, rule=verdict.rule,
            )  # fmt: skip
        job = asyncio.get_running_loop().create_task(
            self.stop(run.agent_id, f"was stopped: it {verdict.why}", counts=True)
        )
        self._stopping.add(job)
        job.add_done_callback(self._stopping.discard)

    def _agent_type(self, name: str | None) -> AgentType:
        found = self.rules.agent_type_named(name) if name else None
        return found or self.rules.default_agent_type

    async def spawn(self, task: Task, decision: RoutingDecision) -> Run:
        """Start an agent for `task` as `decision` says; returns its run. When it cannot start
        (a missing binary, a git error), no attempt counts and no agent is left behind, the
        task rests (longer after each failure in a row; BLOCKED after too many), and
        AgentStartError says why. A managed agent's task is claimed before it starts."""
        kind = self._agent_type(decision.agent_type)
        root = self.runs_root / slug(task.id)
        try:
            run, token = await self.coordinator.start_run(
                task.id, kind.name, kind.runtime, task.capabilities, root
            )
        except Conflict as error:  # another engine's agent runs for it: routed again when it ends
            if "started_by" in error.details:
                self.elsewhere[task.id] = str(error.details["started_by"])
            raise
        attempt = Attempt(run)
        self.attempts[run.agent_id] = attempt
        try:
            attempt.workdir, place = await self.workspaces.prepare(task.id, run.attempt)
            if kind.managed:
                preflight(kind.command, attempt.workdir)
                attempt.managed = await Managed.claim(
                    self.coordinator, task, run.agent_id, attempt.workdir, self.workspaces.project
                )
            launch = Launch(
                task_id=task.id,
                agent_id=run.agent_id,
                token=token,
                server_url=self.server_url,
                prompt=build_prompt(task, place, managed=kind.managed),
                planning=task.type == PLANNING_TYPE,
                run_dir=Path(run.run_dir),
                workdir=attempt.workdir,
                wall_clock_seconds=self.wall_clock_seconds,
                budget_usd=decision.budget_usd,
            )
            attempt.handle = await self.runtime_for(kind).start(launch)
            if attempt.stopping:  # stopped while it was starting: stop() settles the run
                await attempt.handle.stop(self.stop_grace_seconds)
                return run
            handle = attempt.handle
            run = await self.coordinator.run_process(
                run.agent_id, handle.pid, handle.identity, attempt.workdir
            )
        except Exception as error:
            if attempt.handle is not None:
                await attempt.handle.stop(self.stop_grace_seconds)
            if attempt.managed is not None:
                await attempt.managed.stop()
            if isinstance(error, Conflict):  # the task was taken or changed meanwhile
                await self._finish(attempt, None, f"not started ({error.message})", counts=False)
                raise
            why = str(error) if isinstance(error, ControlRoomError | OSError) else repr(error)
            await self._start_failed(attempt, kind, why[:WHY_MAX])
            raise AgentStartError(f"{kind.name} could not start: {why}") from None
        self.start_failures.clear(task.id)
        attempt.run = run
        if attempt.managed is not None:
            attempt.managed.keep_alive()
        attempt.watcher = asyncio.create_task(self._watch(attempt), name=f"agent-{run.agent_id}")
        return run

    async def _start_failed(self, attempt: Attempt, kind: AgentType, why: str) -> None:
        """Settle a run that could not start: its rows go (or it ends, when it claimed or its
        process ran), the task rests or, after too many failures in a row, is BLOCKED."""
        task_id = attempt.run.task_id
        failures, give_up = self.start_failures.failed(task_id, kind.name, why)
        try:
            run = await self.coordinator.start_failed(
                attempt.run.agent_id, why, failures, give_up=give_up
            )
        finally:
            self.attempts.pop(attempt.run.agent_id, None)
        if attempt.workdir is not None and run is None:
            with contextlib.suppress(Exception):  # else the reconciler collects it
                await self.workspaces.discard(attempt.workdir)
        delay = self.start_failures.next_wake()
        if delay is not None:
            asyncio.get_running_loop().call_later(delay + 0.01, self.wake)

    def adopt(self, run: Run, task: Task | None = None) -> None:
        """Watch a live process another Control Room started (it crashed or was stopped); a
        managed one's lease (`task` held by it) is kept alive again."""
        assert run.pid is not None
        attempt = Attempt(run, processes.Adopted(run.pid, run.pid_identity))
        attempt.workdir = Path(run.workdir) if run.workdir else None
        kind = self._agent_type(run.agent_type)
        if kind.managed and task is not None and task.agent_id == run.agent_id:
            workdir = attempt.workdir or self.workspaces.project
            attempt.managed = Managed(
                self.coordinator, task.id, run.agent_id, task.epoch, workdir,
                self.workspaces.project,
            )  # fmt: skip
            attempt.managed.keep_alive(at_once=True)
        self.attempts[run.agent_id] = attempt
        attempt.watcher = asyncio.create_task(self._watch(attempt), name=f"agent-{run.agent_id}")

    async def _watch(self, attempt: Attempt) -> None:
        assert attempt.handle is not None
        code = await attempt.handle.wait()
        timed_out = bool(getattr(attempt.handle, "timed_out", False))
        if isinstance(attempt.handle, processes.Adopted):
            outcome = "ended (adopted after a restart; exit code unknown)"
            code_or_none = None
        else:
            outcome = describe_exit(code, timed_out, self.wall_clock_seconds)
            code_or_none = code
        if attempt.managed is not None:
            attempt.tail.drain()
            await attempt.managed.settle(code_or_none, outcome, attempt.tail.report)
        await self._finish(attempt, code_or_none, outcome)
        # Children it left behind in its process group go too.
        await attempt.handle.stop(self.stop_grace_seconds)

    async def _finish(
        self, attempt: Attempt, code: int | None, outcome: str, *, counts: bool = True
    ) -> Run:
        if attempt.managed is not None:
            await attempt.managed.stop()
        attempt.tail.drain()
        usage = attempt.tail.usage
        run = attempt.run
        with contextlib.suppress(ControlRoomError):  # Claude Code's own refusals, as events
            await self.coordinator.permissions.record_denials(
                run.agent_id, run.task_id, attempt.tail.denials
            )
        # Its work is committed before the task is settled: the next attempt starts from it.
        try:
            await self.workspaces.attempt_ended(attempt.run, attempt.workdir, outcome)
        except Exception:  # the worktree, uncommitted, is kept
            log.exception("collecting the work in %s", attempt.workdir)
        try:
            run = await self.coordinator.end_run(
                attempt.run.agent_id, code, outcome,
                counts=counts, turns=usage.turns, cost_usd=usage.cost_usd,
            )  # fmt: skip
        finally:
            self.attempts.pop(attempt.run.agent_id, None)
        with contextlib.suppress(ControlRoomError):
            await self.coordinator.permissions.agent_ended(run.agent_id, outcome)
        if attempt.workdir is not None:
            try:
                task = await self.coordinator.task(run.task_id)
                await self.workspaces.finished(attempt.workdir, task.status)
            except Exception:  # a worktree left behind is collected by the reconciler
                log.exception("cleaning up %s", attempt.workdir)
        self.on_exit(run)
        return run

    async def stop(self, agent_id: str, outcome: str, *, counts: bool = False) -> Run | None:
        """Stop one running agent and settle its task."""
        attempt = self.attempts.get(agent_id)
        if attempt is None or attempt.stopping:
            return None
        attempt.stopping = True
        if attempt.watcher is not None:
            attempt.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await attempt.watcher
        if attempt.handle is not None:
            await attempt.handle.stop(self.stop_grace_seconds)
        return await self._finish(attempt, None, outcome, counts=counts)

    async def stop_all(self, outcome: str = "was stopped: Control Room shut down") -> None:
        """Stop every agent (their tasks go back without counting an attempt)."""
        self.accepting = False
        await asyncio.gather(
            *(self.stop(agent_id, outcome) for agent_id in list(self.attempts)),
            return_exceptions=True,
        )

    async def leave_all(self) -> None:
        """Stop watching, leave the agents running: the next start adopts them."""
        self.accepting = False
        for attempt in list(self.attempts.values()):
            if attempt.watcher is not None:
                attempt.watcher.cancel()
        await asyncio.gather(
            *(a.watcher for a in self.attempts.values() if a.watcher), return_exceptions=True
        )
        self.attempts.clear()
