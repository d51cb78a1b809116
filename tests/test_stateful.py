"""Hypothesis drives random sequences of claims, progress, hand-ins, verdicts, releases, lease
expiries, approvals, cancels and retries (with a fake clock) against the real SQLite registry and
against a plain in-memory model written from DESIGN section 2; both must agree at every step,
including which calls are refused, and every successful write must log the expected events.
The same machine runs on PostgreSQL (a fresh database per example; fewer examples: slower)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from control_room.domain import Conflict, ControlRoomError, NothingToClaim, Status
from control_room.engine import Coordinator
from control_room.store import SqliteRegistry, open_registry
from tests.conftest import FakeClock
from tests.pg import PgServer

LEASE = 100.0
HELD = (Status.CLAIMED, Status.IN_PROGRESS)
T = TypeVar("T")


@dataclass
class ModelTask:
    id: str
    priority: str
    created_at: float
    seq: int
    checks: bool
    max_attempts: int
    deps: list[str]
    status: Status
    epoch: int = 0
    attempts: int = 0
    agent: str | None = None
    lease_until: float | None = None
    last: tuple[str, str] | None = None  # the last holder write: (operation, agent)


def stale_epoch(t: ModelTask) -> int:
    """A valid epoch that is not the task's current one."""
    return t.epoch - 1 if t.epoch > 0 else t.epoch + 1


@dataclass
class Model:
    tasks: dict[str, ModelTask] = field(default_factory=dict)
    events: int = 0

    def held_by(self, agent: str) -> ModelTask | None:
        return next((t for t in self.tasks.values() if t.agent == agent and t.status in HELD), None)

    def check_holder(self, t: ModelTask, agent: str, epoch: int, op: str) -> bool:
        """False when the agent may write now; True when a write the rules refuse repeats its
        last accepted one (same task, epoch and operation; never progress): answered, and
        nothing changes. Otherwise refused."""
        if t.agent != agent or t.epoch != epoch or t.status not in HELD:
            if op != "progress" and t.epoch == epoch and t.last == (op, agent):
                return True
            raise Conflict("model: not the live holder")
        t.last = (op, agent)
        return False

    def fail_attempt(self, t: ModelTask) -> None:
        t.attempts += 1
        t.status = Status.FAILED if t.attempts >= t.max_attempts else Status.AVAILABLE
        t.agent = t.lease_until = None
        self.events += 1

    def complete(self, t: ModelTask) -> None:
        t.status = Status.COMPLETED
        t.lease_until = None
        self.events += 1
        for other in self.tasks.values():
            if other.status is Status.PENDING and t.id in other.deps and self.deps_done(other):
                other.status = Status.AVAILABLE
                self.events += 1

    def deps_done(self, t: ModelTask) -> bool:
        return all(self.tasks[d].status is Status.COMPLETED for d in t.deps)

    def move(self, t: ModelTask, allowed: tuple[Status, ...], target: Status) -> None:
        if t.status not in allowed:
            raise Conflict("model: illegal")
        t.status = target
        self.events += 1


class RegistryMachine(RuleBasedStateMachine):
    pg: PgServer | None = None  # set: each example on a fresh PostgreSQL database

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.clock = FakeClock()
        self.runner = asyncio.Runner()
        path = Path(self.folder.name) / "registry.db"
        self.url = self.pg.fresh_database() if self.pg is not None else None
        where = self.url or path
        self.registry: SqliteRegistry = self.run(open_registry(where, clock=self.clock))
        self.service = Coordinator(self.registry, lease_seconds=LEASE)
        self.model = Model()
        self.agents = [
            self.run(self.service.register_agent(f"a{i}", ["*"]))[0].id for i in range(3)
        ]
        self.model.events = len(self.agents)

    def teardown(self) -> None:
        self.run(self.registry.close())
        self.runner.close()
        self.folder.cleanup()
        if self.pg is not None and self.url is not None:
            self.pg.drop(self.url)

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return self.runner.run(wrapped())

    def both(self, real: Awaitable[Any], model: Any) -> None:
        """Run the real call and the model's; both succeed or both refuse the same way."""
        expected: type[Exception] | None = None
        try:
            model()
        except ControlRoomError as error:
            expected = type(error)
        try:
            self.run(real)
        except ControlRoomError as error:
            assert expected is not None, f"real refused, model accepted: {error}"
            assert isinstance(error, expected), (error, expected)
            return
        assert expected is None, f"model refused ({expected.__name__}), real accepted"

    def pick(self, data: st.DataObject) -> ModelTask:
        return data.draw(st.sampled_from(sorted(self.model.tasks.values(), key=lambda t: t.seq)))

    # -- rules -----------------------------------------------------------------------------

    @rule(
        priority=st.sampled_from(["P0", "P1", "P2", "P3"]),
        checks=st.booleans(),
        max_attempts=st.integers(1, 3),
        data=st.data(),
    )
    def add(self, priority: str, checks: bool, max_attempts: int, data: st.DataObject) -> None:
        existing = list(self.model.tasks)  # insertion order: replays must draw the same way
        deps = (
            data.draw(st.lists(st.sampled_from(existing), max_size=2, unique=True))
            if existing
            else []
        )
        raw = {
            "id": f"T-{len(self.model.tasks)}", "title": "t", "priority": priority,
            "max_attempts": max_attempts, "depends_on": deps,
        }  # fmt: skip
        task = self.run(self.service.add_task(raw | ({"checks": ["make"]} if checks else {})))
        model = ModelTask(
            task.id, priority, self.clock.now, len(self.model.tasks), checks, max_attempts, deps,
            Status.AVAILABLE,
        )  # fmt: skip
        if not self.model.deps_done(model):
            model.status = Status.PENDING
        self.model.tasks[task.id] = model
        self.model.events += 1

    @rule(agent=st.integers(0, 2), data=st.data(), pick_best=st.booleans())
    def claim(self, agent: int, data: st.DataObject, pick_best: bool) -> None:
        agent_id = self.agents[agent]
        target = None if pick_best or not self.model.tasks else self.pick(data)

        def model() -> None:
            held = self.model.held_by(agent_id)
            if held:
                if target in (None, held) and held.last == ("claim", agent_id):
                    return  # a repeat of its claim: answered with the claim, unchanged
                raise Conflict("model: holds one")
            t = target
            if t is None:
                ready = [t for t in self.model.tasks.values() if t.status is Status.AVAILABLE]
                if not ready:
                    raise NothingToClaim("model: none")
                t = min(ready, key=lambda t: (t.priority, t.created_at, t.seq))
            if t.status is not Status.AVAILABLE:
                raise Conflict("model: not available")
            t.status, t.agent, t.epoch = Status.CLAIMED, agent_id, t.epoch + 1
            t.last = ("claim", agent_id)
            t.lease_until = self.clock.now + LEASE
            self.model.events += 1

        self.both(self.service.claim(agent_id, target and target.id), model)

    def _holder_call(self, data: st.DataObject, stale: bool) -> tuple[ModelTask, str, int]:
        """Mostly the live holder of a held task (the interesting case), sometimes anyone."""
        held = [t for t in self.model.tasks.values() if t.status in HELD]
        t = (
            data.draw(st.sampled_from(held))
            if held and data.draw(st.booleans())
            else self.pick(data)
        )
        agent = t.agent or data.draw(st.sampled_from(self.agents))
        return t, agent, stale_epoch(t) if stale else t.epoch

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), stale=st.booleans(), percent=st.integers(0, 100))
    def progress(self, data: st.DataObject, stale: bool, percent: int) -> None:
        t, agent, epoch = self._holder_call(data, stale)

        def model() -> None:
            self.model.check_holder(t, agent, epoch, "progress")
            t.status, t.lease_until = Status.IN_PROGRESS, self.clock.now + LEASE
            self.model.events += 1

        self.both(self.service.progress(t.id, agent, epoch, percent, "n"), model)

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), stale=st.booleans())
    def heartbeat(self, data: st.DataObject, stale: bool) -> None:
        t, agent, epoch = self._holder_call(data, stale)

        def model() -> None:
            if t.agent != agent or t.epoch != epoch or t.status not in HELD:
                raise Conflict("model: not the live holder")
            t.lease_until = self.clock.now + LEASE

        self.both(self.service.heartbeat(t.id, agent, epoch), model)

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), stale=st.booleans())
    def complete(self, data: st.DataObject, stale: bool) -> None:
        t, agent, epoch = self._holder_call(data, stale)

        def model() -> None:
            if self.model.check_holder(t, agent, epoch, "complete"):
                return
            if t.checks:
                t.status, t.lease_until = Status.VALIDATING, None
                self.model.events += 1
            else:
                self.model.complete(t)

        self.both(self.service.complete(t.id, agent, epoch, "done"), model)

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), stale=st.booleans(), passed=st.booleans())
    def verdict(self, data: st.DataObject, stale: bool, passed: bool) -> None:
        t = self.pick(data)
        epoch = stale_epoch(t) if stale else t.epoch

        def model() -> None:
            if t.epoch != epoch or t.status is not Status.VALIDATING:
                raise Conflict("model: no verdict now")
            if passed:
                self.model.complete(t)
            else:
                self.model.fail_attempt(t)

        self.both(self.service.record_verdict(t.id, epoch, passed, "output"), model)

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), stale=st.booleans(), block=st.booleans())
    def release_or_block(self, data: st.DataObject, stale: bool, block: bool) -> None:
        t, agent, epoch = self._holder_call(data, stale)

        def model() -> None:
            if self.model.check_holder(t, agent, epoch, "block" if block else "release"):
                return
            if block:
                t.status, t.agent, t.lease_until = Status.BLOCKED, None, None
                self.model.events += 1
            else:
                self.model.fail_attempt(t)

        call = self.service.block if block else self.service.release
        self.both(call(t.id, agent, epoch, "why"), model)

    @rule(seconds=st.floats(0, 2 * LEASE))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

        def model() -> None:
            for t in self.model.tasks.values():
                if (
                    t.status in HELD
                    and t.lease_until is not None
                    and t.lease_until < self.clock.now
                ):
                    self.model.fail_attempt(t)

        self.both(self.service.expire_leases(), model)

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), action=st.sampled_from(["await", "approve", "reject", "cancel", "retry"]))
    def operator(self, data: st.DataObject, action: str) -> None:
        t = self.pick(data)
        m, s = self.model, Status
        steer = {
            "await": (self.service.await_approval, (s.AVAILABLE,), s.AWAITING_APPROVAL),
            "approve": (self.service.approve, (s.AWAITING_APPROVAL, s.BLOCKED), s.AVAILABLE),
            "reject": (self.service.reject, (s.AWAITING_APPROVAL, s.BLOCKED), s.CANCELLED),
        }
        if action in steer:
            call, sources, target = steer[action]
            args = () if action == "approve" else ("why",)
            self.both(call(t.id, *args), lambda: m.move(t, sources, target))
            return
        if action == "cancel":
            live = (s.PENDING, s.AVAILABLE, s.AWAITING_APPROVAL, *HELD, s.VALIDATING, s.BLOCKED)

            def cancel() -> None:
                m.move(t, live, s.CANCELLED)
                t.agent = t.lease_until = None

            self.both(self.service.cancel(t.id), cancel)
            return

        def retry() -> None:
            m.move(t, (s.BLOCKED, s.FAILED, s.CANCELLED), s.AVAILABLE)
            t.status = s.AVAILABLE if m.deps_done(t) else s.PENDING
            t.attempts, t.agent, t.lease_until = 0, None, None

        self.both(self.service.retry(t.id), retry)

    # -- what must always hold ---------------------------------------------------------------

    @invariant()
    def registry_matches_model(self) -> None:
        real = {t.id: t for t in self.run(self.service.tasks())}
        assert set(real) == set(self.model.tasks)
        for task_id, m in self.model.tasks.items():
            r = real[task_id]
            assert (r.status, r.epoch, r.attempts) == (m.status, m.epoch, m.attempts), task_id
            if m.status in HELD:
                assert (r.agent_id, r.lease_expires_at) == (m.agent, m.lease_until), task_id
            else:
                assert r.lease is None, task_id
        assert self.run(self.registry.last_event_id()) == self.model.events

    @invariant()
    def one_task_per_agent(self) -> None:
        holders = [t.agent_id for t in self.run(self.service.tasks()) if t.status in HELD]
        assert len(holders) == len(set(holders))


RegistryMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRegistryAgainstModel = RegistryMachine.TestCase


class PostgresMachine(RegistryMachine):
    pass


def test_postgres_registry_against_model(pg_server: PgServer) -> None:
    PostgresMachine.pg = pg_server
    run_state_machine_as_test(
        PostgresMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
