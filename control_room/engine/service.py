"""The coordination service: the one set of operations every front end calls.

It validates what callers send (domain rules) and applies it through the registry: each write
is `registry.write(op, ...)`, an operation of the store defined once, in one transaction; the
registry's change feed carries every committed event in commit order (`coordinator.feed`). The
CLI, the server, the loops and the screen all go through here, so they share exactly the same
semantics.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from control_room.domain import (
    Agent,
    Claim,
    Event,
    InvalidInput,
    Lease,
    RoutingDecision,
    Run,
    Status,
    Task,
    TaskSpec,
    listing,
    parse_task_spec,
)
from control_room.domain import specs as check
from control_room.domain.edits import parse_edit
from control_room.domain.listing import Page, TaskFilter
from control_room.domain.models import AgentStatus
from control_room.domain.stats import Stats
from control_room.engine import steering, tokens
from control_room.engine.front_door import FrontDoor
from control_room.engine.loops import Loop
from control_room.engine.permissions import PermissionDesk
from control_room.engine.plans import PlanDesk
from control_room.engine.shared_registry import SharedRegistry
from control_room.store import Registry, edit_ops, import_ops, keyed_ops, ops, run_ops
from control_room.store.routing_store import append_decisions

MAX_EPOCH = 2**62


class Coordinator(FrontDoor, SharedRegistry):
    def __init__(self, registry: Registry, *, lease_seconds: float = 300.0) -> None:
        self.registry = registry
        self.lease_seconds = lease_seconds
        self.loops: list[Loop] = []  # the loops running in this process, for observers
        self.engine_id: str | None = None  # this process's engine in the registry, if it runs one
        self.permissions = PermissionDesk(self)  # agents' permission requests, the inbox
        self.plans = PlanDesk(self)  # plans proposed by planner agents (engine/plans.py)

    # -- tasks -----------------------------------------------------------------------------

    async def add_task(self, raw: Mapping[str, Any], actor: str = "operator") -> Task:
        (task,) = await self.registry.write(ops.create_tasks, [parse_task_spec(raw)], actor)
        return task

    async def add_task_once(
        self, raw: Mapping[str, Any], key: str, actor: str = "operator"
    ) -> tuple[Task, bool]:
        """Add a task under an idempotency key: (the task, True) the first time; (the task that
        key made, False) when the same key comes again with the same fields."""
        if not (0 < len(key) <= 255 and key.isascii() and key.isprintable()):
            raise InvalidInput("Idempotency-Key", "must be 1 to 255 printable ASCII characters")
        spec = parse_task_spec(raw)
        canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
        return await self.registry.write(keyed_ops.create_task_once, spec, actor, key, fingerprint)

    async def add_tasks(
        self, raws: Sequence[Mapping[str, Any]], actor: str = "operator"
    ) -> list[Task]:
        """All or nothing; an error names the task (by position and title) and the field."""
        return await self.registry.write(ops.create_tasks, _specs(raws), actor)

    async def import_tasks(
        self,
        raws: Sequence[Mapping[str, Any]],
        finished: Mapping[str, tuple[Status, str]] | None = None,
        *,
        dry_run: bool = False,
        actor: str = "operator",
    ) -> list[Task]:
        """Like add_tasks, in one transaction with moving the tasks in `finished` (an id ->
        COMPLETED or CANCELLED and why) to that status, logged as `imported`. Ids that already
        exist are all named and nothing is created. A dry run changes nothing."""
        specs = _specs(raws)
        ids = {spec.id for spec in specs}
        done = dict(finished or {})
        for task_id, (status, _) in done.items():
            if task_id not in ids or status not in (Status.COMPLETED, Status.CANCELLED):
                raise InvalidInput("finished", f"{task_id}: not an imported task, or not final")
        try:
            return await self.registry.write(
                import_ops.import_tasks, specs, done, actor, dry_run=dry_run
            )
        except import_ops.DryRun as rolled_back:
            return rolled_back.tasks

    async def claim(self, agent_id: str, task_id: str | None = None) -> Claim:
        if task_id is not None:
            task_id = check.reference(task_id, "task_id")
        return await self.registry.write(ops.claim, _agent(agent_id), task_id, self.lease_seconds)

    async def progress(
        self, task_id: str, agent_id: str, epoch: int, percent: int, note: str = ""
    ) -> Task:
        percent = check.integer(percent, "percent", 0, 100)
        note = check.text(note, "note", check.ITEM_MAX)
        task_id, agent_id, epoch = _held(task_id, agent_id, epoch)
        return await self.registry.write(
            ops.progress, task_id, agent_id, epoch, percent, note, self.lease_seconds
        )

    async def heartbeat(self, task_id: str, agent_id: str, epoch: int) -> Lease:
        task_id, agent_id, epoch = _held(task_id, agent_id, epoch)
        return await self.registry.write(
            ops.heartbeat, task_id, agent_id, epoch, self.lease_seconds
        )

    async def complete(
        self,
        task_id: str,
        agent_id: str,
        epoch: int,
        summary: str,
        files: Sequence[str] = (),
        hours: float | None = None,
    ) -> Task:
        summary = check.text(summary, "summary").strip()
        paths = check.texts(files, "files")
        if hours is not None:
            hours = check.number(hours, "hours", 0, 10_000)
        task_id, agent_id, epoch = _held(task_id, agent_id, epoch)
        return await self.registry.write(
            ops.complete, task_id, agent_id, epoch, summary, paths, hours
        )

    async def record_verdict(
        self, task_id: str, epoch: int, passed: bool, output: str, actor: str = "validator"
    ) -> Task:
        task_id = check.reference(task_id, "task_id")
        epoch = check.integer(epoch, "epoch", 0, MAX_EPOCH)
        passed = check.boolean(passed, "passed")
        output = check.text(output, "output", 10 * check.TEXT_MAX)
        return await self.registry.write(ops.verdict, task_id, epoch, passed, output, actor)

    async def release(self, task_id: str, agent_id: str, epoch: int, reason: str) -> Task:
        reason = check.reason(reason)
        task_id, agent_id, epoch = _held(task_id, agent_id, epoch)
        return await self.registry.write(ops.release, task_id, agent_id, epoch, reason)

    async def block(self, task_id: str, agent_id: str, epoch: int, reason: str) -> Task:
        reason = check.reason(reason)
        task_id, agent_id, epoch = _held(task_id, agent_id, epoch)
        return await self.registry.write(ops.block, task_id, agent_id, epoch, reason)

    async def expire_leases(self) -> list[Task]:
        return await self.registry.write(ops.expire_leases)

    async def await_approval(self, task_id: str, why: str, actor: str = "router") -> Task:
        why = check.text(why, "why", check.ITEM_MAX)
        task_id = check.reference(task_id, "task_id")
        return await self.registry.write(ops.await_approval, task_id, why, actor)

    async def approve(self, task_id: str, actor: str = "operator") -> Task:
        return await self.registry.write(ops.approve, check.reference(task_id, "task_id"), actor)

    async def go(self, task_id: str, actor: str = "operator") -> Task:
        """Start an agent for an AVAILABLE task now, whatever its priority (routing still
        keeps to max_running: it starts when a place frees)."""
        return await self.registry.write(ops.go, check.reference(task_id, "task_id"), actor)

    async def reject(self, task_id: str, reason: str, actor: str = "operator") -> Task:
        reason = check.reason(reason)
        task_id = check.reference(task_id, "task_id")
        return await self.registry.write(ops.reject, task_id, reason, actor)

    async def cancel(self, task_id: str, reason: str = "", actor: str = "operator") -> Task:
        reason = check.text(reason, "reason", check.ITEM_MAX).strip() or f"cancelled by {actor}"
        task_id = check.reference(task_id, "task_id")
        return await self.registry.write(ops.cancel, task_id, reason, actor)

    async def retry(self, task_id: str, actor: str = "operator") -> Task:
        return await self.registry.write(ops.retry, check.reference(task_id, "task_id"), actor)

    async def edit_task(
        self, task_id: str, fields: Mapping[str, Any], actor: str = "operator"
    ) -> Task:
        """Change the named fields of a task that no agent holds (domain/edits.py)."""
        task_id = check.reference(task_id, "task_id")
        changes = parse_edit(task_id, fields)
        return await self.registry.write(edit_ops.edit_task, task_id, changes, actor)

    async def task(self, task_id: str) -> Task:
        return await self.registry.get_task(check.reference(task_id, "task_id"))

    async def tasks(
        self, status: Status | None = None, capability: str | None = None
    ) -> list[Task]:
        return await self.registry.list_tasks(status, capability)

    async def task_page(
        self, where: TaskFilter | None = None, cursor: str | None = None, limit: int = 100
    ) -> Page[Task]:
        """One page of a listing (domain/listing.py); pass its `next` back as `cursor`."""
        return await self.registry.task_page(listing.checked(where or TaskFilter()), cursor, limit)

    async def count_tasks(self, where: TaskFilter, cap: int = 1000) -> int:
        """How many tasks match `where`, counting no further than `cap`."""
        return await self.registry.count_tasks(listing.checked(where), cap)

    # -- agents ----------------------------------------------------------------------------

    async def register_agent(
        self, name: str, capabilities: Sequence[str] = (), runtime: str = "external"
    ) -> tuple[Agent, str]:
        """A new agent and its token; the token is returned once and stored only as a hash."""
        name = check.one_line(check.text(name, "name", 100).strip(), "name", 100)
        if not name:
            raise InvalidInput("name", "a name is required")
        caps = check.words(capabilities, "capabilities")
        runtime = check.word(runtime, "runtime")
        token = tokens.new_token()
        agent = await self.registry.write(
            ops.register_agent, tokens.new_agent_id(), name, caps, runtime, tokens.token_hash(token)
        )
        return agent, token

    async def revoke_agent(self, agent_id: str, actor: str = "operator") -> Agent:
        return await self.registry.write(ops.revoke_agent, _agent(agent_id), actor)

    async def authenticate(self, token: str) -> Agent | None:
        """The active agent this token belongs to, or None."""
        if not isinstance(token, str) or not token:
            return None
        agent = await self.registry.agent_by_token_hash(tokens.token_hash(token))
        if agent is None or agent.status != "ACTIVE":
            return None
        return agent

    async def agents(self) -> list[Agent]:
        return await self.registry.list_agents()

    async def agent_page(
        self, status: AgentStatus | None = None, cursor: str | None = None, limit: int = 100
    ) -> Page[Agent]:
        return await self.registry.agent_page(status, cursor, limit)

    # -- runs of the agents Control Room starts ---------------------------------------------

    async def start_run(
        self, task_id: str, agent_type: str, runtime: str, capabilities: Sequence[str], root: Path
    ) -> tuple[Run, str]:
        """A new agent for one attempt at `task_id`, and its token (returned once)."""
        token = tokens.new_token()
        agent = Agent(tokens.new_agent_id(), agent_type, tuple(capabilities), runtime)
        run = await self.registry.write(
            run_ops.start_run,
            agent, tokens.token_hash(token), task_id, agent_type, str(root), os.getpid(),
            self.engine_id,
        )  # fmt: skip
        return run, token

    async def run_process(
        self, agent_id: str, pid: int | None, identity: str | None, workdir: Path
    ) -> Run:
        return await self.registry.write(run_ops.run_process, agent_id, pid, identity, str(workdir))

    async def end_run(
        self,
        agent_id: str,
        exit_code: int | None,
        outcome: str,
        *,
        counts: bool = True,
        turns: int | None = None,
        cost_usd: float | None = None,
    ) -> Run:
        """The run is over: its task is settled and its token revoked, in one transaction."""
        return await self.registry.write(
            run_ops.end_run,
            agent_id, exit_code, outcome, counts=counts, turns=turns, cost_usd=cost_usd,
        )  # fmt: skip

    async def start_failed(
        self, agent_id: str, why: str, failures: int, *, give_up: bool = False
    ) -> Run | None:
        """The run's agent could not start: a run that never ran is deleted (None), one that
        did is ended without counting an attempt; with `give_up` the task becomes BLOCKED."""
        why = check.text(why, "why", check.ITEM_MAX)
        return await self.registry.write(run_ops.start_failed, agent_id, why, failures, give_up)

    async def run_usage(self, agent_id: str, turns: int | None, cost_usd: float | None) -> None:
        await self.registry.write(run_ops.run_usage, agent_id, turns, cost_usd)

    async def runs(self, *, live: bool = False, limit: int = 200) -> list[Run]:
        return await self.registry.runs(live=live, limit=limit)

    async def say(self, target: str, text: str, actor: str = "operator") -> Run:
        """The operator's message to a live claude-code agent (an agent or its task's id)."""
        return await steering.say(self, target, text, actor)

    async def note(self, kind: str, actor: str, message: str, **data: Any) -> None:
        """Log an event that changes no task (a loop failing, an orphan stopped)."""
        message = check.text(message, "message", check.ITEM_MAX)
        await self.registry.write(run_ops.note, kind, actor, message, **data)

    # -- routing ---------------------------------------------------------------------------

    async def append_decisions(self, decisions: Sequence[RoutingDecision]) -> list[RoutingDecision]:
        """Store (and publish) `decisions` as they are, stamped with the time; the caller keeps
        only those that are news (domain.routing.is_news)."""
        if not decisions:
            return []
        return await self.registry.write(append_decisions, decisions)

    async def decisions(self, limit: int = 200) -> list[RoutingDecision]:
        return await self.registry.recent_decisions(limit)

    # -- history ---------------------------------------------------------------------------

    async def events(
        self, after: int = 0, limit: int = 1000, task_id: str | None = None
    ) -> list[Event]:
        return await self.registry.events(after, limit, task_id)

    async def recent_events(self, limit: int, task_id: str | None = None) -> list[Event]:
        return await self.registry.recent_events(limit, task_id)

    # -- figures (store/stats_sql.py; engine/metrics.py keeps the /metrics counters) -------

    async def stats(self, within: float | None = None) -> Stats:
        """The figures over the last `within` seconds (tasks added, runs started), or all."""
        now = time.time()
        return await self.registry.stats(None if within is None else now - within, now)

    async def live_counts(self) -> dict[str, Any]:
        return await self.registry.live_counts()

    async def event_counts(self, after: int) -> tuple[int, dict[str, int]]:
        return await self.registry.event_counts(after)


def _specs(raws: Sequence[Mapping[str, Any]]) -> list[TaskSpec]:
    """Every raw task validated; an error names the task (by position and title) and the field."""
    specs = []
    for number, raw in enumerate(raws, 1):
        if not isinstance(raw, Mapping):
            raise InvalidInput(f"tasks[{number - 1}]", f"task {number} is not a table/object")
        try:
            specs.append(parse_task_spec(raw))
        except InvalidInput as error:
            label = f"task {number}" + (f" ({raw['title']!r})" if "title" in raw else "")
            raise InvalidInput(
                f"tasks[{number - 1}].{error.field}", f"{label}: {error.field}: {error.detail}"
            ) from None
    return specs


def _agent(agent_id: str) -> str:
    return check.reference(agent_id, "agent_id")


def _held(task_id: str, agent_id: str, epoch: int) -> tuple[str, str, int]:
    """The (task, agent, epoch) of a holder's write, each checked for type and shape."""
    return (
        check.reference(task_id, "task_id"),
        _agent(agent_id),
        check.integer(epoch, "epoch", 0, MAX_EPOCH),
    )
