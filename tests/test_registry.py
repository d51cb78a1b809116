"""Registry behaviour through the coordination service, on real SQLite files and on a real
PostgreSQL server (the `backend` fixture: both; tests about the SQLite file itself: SQLite only)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from control_room.domain import (
    Conflict,
    InvalidInput,
    NotFound,
    NothingToClaim,
    Status,
    StoreError,
)
from control_room.engine import Coordinator
from control_room.store import SqliteRegistry
from tests.conftest import FakeClock
from tests.pg import BACKENDS

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


SEED_INSERT = """
INSERT INTO tasks (
  task_id, project_name, title, description, priority,
  required_capabilities, status, created_at
) VALUES (
  'T-TEST-001',
  'central-mcp',
  'Create sample component',
  'Build a simple React component to test auto-spawning',
  'P1-HIGH',
  '["frontend", "ui"]',
  'AVAILABLE',
  datetime('now')
);
"""


async def test_claim_takes_best_fit_highest_priority_then_oldest(
    coordinator: Coordinator, new_agent: Any, clock: FakeClock
) -> None:
    low = await coordinator.add_task({"title": "low", "priority": "P3"})
    clock.advance(1)
    old_p1 = await coordinator.add_task({"title": "old p1", "priority": "P1"})
    clock.advance(1)
    await coordinator.add_task({"title": "new p1", "priority": "P1-HIGH"})
    ui = await coordinator.add_task(
        {"title": "ui", "priority": "P0", "capabilities": ["frontend", "ui"]}
    )

    backend = await new_agent("backend", ("backend",))
    assert (await coordinator.claim(backend)).task.id == old_p1.id  # P0 needs ui skills

    half = await new_agent("half", ("frontend",))
    taken = await coordinator.claim(half)
    assert taken.task.id != ui.id
    full = await new_agent("full", ("frontend", "ui", "css"))
    assert (await coordinator.claim(full)).task.id == ui.id

    rest = await new_agent("rest", ("backend",))
    assert (await coordinator.claim(rest)).task.id == low.id
    idle = await new_agent("idle", ("backend",))
    with pytest.raises(NothingToClaim, match="capabilities: backend"):
        await coordinator.claim(idle)


async def test_one_task_at_a_time_and_taken_tasks_name_their_holder(
    coordinator: Coordinator, new_agent: Any
) -> None:
    first, second = await coordinator.add_tasks([{"title": "a"}, {"title": "b"}])
    alice, bob = await new_agent("alice"), await new_agent("bob")
    await coordinator.claim(alice, first.id)
    with pytest.raises(Conflict, match=f"already holds {first.id}"):
        await coordinator.claim(alice, second.id)
    with pytest.raises(Conflict, match=f"already claimed by {alice}"):
        await coordinator.claim(bob, first.id)
    with pytest.raises(NotFound):
        await coordinator.claim(bob, "T-NOPE")
    with pytest.raises(NotFound):
        await coordinator.claim("A-unknown", second.id)


async def test_fencing_refuses_the_stale_holder_after_reclaim(
    coordinator: Coordinator, new_agent: Any, clock: FakeClock
) -> None:
    task = await coordinator.add_task({"title": "contended"})
    slow, fast = await new_agent("slow"), await new_agent("fast")
    old = await coordinator.claim(slow, task.id)
    clock.advance(coordinator.lease_seconds + 1)
    (expired,) = await coordinator.expire_leases()
    assert (expired.status, expired.attempts, expired.agent_id) == (Status.AVAILABLE, 1, None)
    new = await coordinator.claim(fast, task.id)
    assert new.lease.epoch == old.lease.epoch + 1

    before = await coordinator.task(task.id)
    for write in (
        coordinator.progress(task.id, slow, old.lease.epoch, 90, "late"),
        coordinator.complete(task.id, slow, old.lease.epoch, "late"),
        coordinator.release(task.id, slow, old.lease.epoch, "late"),
        coordinator.heartbeat(task.id, slow, old.lease.epoch),
        coordinator.progress(task.id, fast, old.lease.epoch, 90, "stale epoch, right agent"),
    ):
        with pytest.raises(Conflict):
            await write
    assert await coordinator.task(task.id) == before
    done = await coordinator.complete(task.id, fast, new.lease.epoch, "fine")
    assert done.status is Status.COMPLETED and done.agent_id == fast


async def test_progress_and_heartbeat_renew_the_lease(
    coordinator: Coordinator, new_agent: Any, clock: FakeClock
) -> None:
    task = await coordinator.add_task({"title": "long job"})
    agent = await new_agent()
    claim = await coordinator.claim(agent, task.id)
    last = await coordinator.registry.last_event_id()
    clock.advance(50)
    lease = await coordinator.heartbeat(task.id, agent, claim.lease.epoch)
    assert lease.expires_at == clock.now + coordinator.lease_seconds
    assert await coordinator.events(after=last) == [], "a heartbeat is not history"
    clock.advance(50)
    assert await coordinator.expire_leases() == []
    task = await coordinator.progress(task.id, agent, claim.lease.epoch, 40, "compiling")
    assert task.lease is not None and task.lease.expires_at == clock.now + coordinator.lease_seconds
    # An expired lease that the reaper has not collected yet still belongs to its holder:
    # nobody else can have claimed the task, so the renewal is safe.
    clock.advance(coordinator.lease_seconds + 5)
    task = await coordinator.progress(task.id, agent, claim.lease.epoch, 60, "still here")
    assert task.status is Status.IN_PROGRESS and await coordinator.expire_leases() == []


async def test_poison_task_fails_after_max_attempts_keeping_every_reason(
    coordinator: Coordinator, new_agent: Any, clock: FakeClock
) -> None:
    task = await coordinator.add_task({"title": "poison", "max_attempts": 3, "checks": ["make"]})
    agent = await new_agent()
    claim = await coordinator.claim(agent, task.id)
    await coordinator.release(task.id, agent, claim.lease.epoch, "segfault in build")
    await coordinator.claim(agent, task.id)
    clock.advance(coordinator.lease_seconds + 1)
    await coordinator.expire_leases()
    claim = await coordinator.claim(agent, task.id)
    await coordinator.complete(task.id, agent, claim.lease.epoch, "try")
    failed = await coordinator.record_verdict(task.id, claim.lease.epoch, False, "3 tests fail")

    assert (failed.status, failed.attempts, failed.agent_id) == (Status.FAILED, 3, None)
    assert "no attempts left" in failed.reason
    history = await coordinator.events(task_id=task.id)
    assert [e.kind for e in history] == [
        "created", "claimed", "released", "claimed", "expired", "claimed", "handed_in",
        "checks_failed",
    ]  # fmt: skip
    reasons = [e.message for e in history if e.kind in ("released", "expired", "checks_failed")]
    assert reasons[0] == "segfault in build"
    assert reasons[1] == f"lease expired (agent {agent}, epoch 2)"
    assert reasons[2].startswith("checks failed (attempt 3 of 3")
    assert history[-1].data["output"] == "3 tests fail"
    with pytest.raises(Conflict):
        await coordinator.claim(agent, task.id)


async def test_failed_checks_return_the_task_with_feedback(
    coordinator: Coordinator, new_agent: Any
) -> None:
    task = await coordinator.add_task({"title": "checked", "checks": ["pytest -q"]})
    agent = await new_agent()
    claim = await coordinator.claim(agent, task.id)
    handed = await coordinator.complete(task.id, agent, claim.lease.epoch, "ready", ["a.py"], 1.5)
    assert (handed.status, handed.files, handed.hours) == (Status.VALIDATING, ("a.py",), 1.5)
    with pytest.raises(Conflict):
        await coordinator.record_verdict(task.id, claim.lease.epoch - 1, True, "stale")
    back = await coordinator.record_verdict(task.id, claim.lease.epoch, False, "E   assert 1 == 2")
    assert (back.status, back.attempts, back.agent_id) == (Status.AVAILABLE, 1, None)
    assert back.feedback == "E   assert 1 == 2"
    claim = await coordinator.claim(agent, task.id)
    assert claim.task.feedback == "E   assert 1 == 2", "the next attempt sees the feedback"
    await coordinator.complete(task.id, agent, claim.lease.epoch, "fixed")
    done = await coordinator.record_verdict(task.id, claim.lease.epoch, True, "2 passed")
    assert done.status is Status.COMPLETED


async def test_retry_gives_a_fresh_start_and_respects_dependencies(
    coordinator: Coordinator, new_agent: Any
) -> None:
    base = await coordinator.add_task({"title": "base"})
    child = await coordinator.add_task({"title": "child", "depends_on": [base.id]})
    await coordinator.cancel(child.id, "not now")
    again = await coordinator.retry(child.id)
    assert again.status is Status.PENDING
    task = await coordinator.add_task({"title": "once", "max_attempts": 1})
    agent = await new_agent()
    claim = await coordinator.claim(agent, task.id)
    failed = await coordinator.release(task.id, agent, claim.lease.epoch, "broke")
    assert (failed.status, failed.attempts) == (Status.FAILED, 1)
    fresh = await coordinator.retry(task.id)
    assert (fresh.status, fresh.attempts, fresh.reason) == (Status.AVAILABLE, 0, "")


async def test_cancel_fences_out_the_holder(coordinator: Coordinator, new_agent: Any) -> None:
    task = await coordinator.add_task({"title": "doomed"})
    agent = await new_agent()
    claim = await coordinator.claim(agent, task.id)
    await coordinator.cancel(task.id, "wrong approach")
    with pytest.raises(Conflict, match="not held"):
        await coordinator.complete(task.id, agent, claim.lease.epoch, "done anyway")
    assert (await coordinator.task(task.id)).status is Status.CANCELLED
    other = await coordinator.add_task({"title": "next"})
    assert (await coordinator.claim(agent)).task.id == other.id, "the agent is free again"


@SQLITE_ONLY
async def test_revoked_agent_loses_its_token_and_its_task(
    coordinator: Coordinator, registry: SqliteRegistry
) -> None:
    task = await coordinator.add_task({"title": "held"})
    agent, token = await coordinator.register_agent("temp", ["backend"], "command")
    assert (await coordinator.authenticate(token)) == await registry.get_agent(agent.id)
    assert await coordinator.authenticate(token + "x") is None
    claim = await coordinator.claim(agent.id, task.id)
    await coordinator.revoke_agent(agent.id)
    assert await coordinator.authenticate(token) is None
    released = await coordinator.task(task.id)
    assert (released.status, released.attempts) == (Status.AVAILABLE, 1)
    with pytest.raises(NotFound):
        await coordinator.progress(task.id, agent.id, claim.lease.epoch, 5)
    await registry.close()
    raw = b"".join(p.read_bytes() for p in registry.path.parent.glob("registry.db*"))
    assert agent.id.encode() in raw, "the agent is in the file we read"
    assert token.encode() not in raw and token.split("_", 1)[1].encode() not in raw


@SQLITE_ONLY
async def test_the_seed_shell_insert_makes_a_normal_task(
    registry: SqliteRegistry, coordinator: Coordinator, new_agent: Any
) -> None:
    shell = sqlite3.connect(registry.path)
    shell.executescript(SEED_INSERT)
    shell.close()
    task = await coordinator.task("T-TEST-001")
    assert (task.priority, task.status, task.project) == ("P1", Status.AVAILABLE, "central-mcp")
    assert task.capabilities == ("frontend", "ui") and task.created_by == "sql"
    assert abs(task.created_at - __import__("time").time()) < 120
    (created,) = await coordinator.events(task_id="T-TEST-001")
    assert (created.kind, created.actor, created.to_status) == ("created", "sql", Status.AVAILABLE)
    with pytest.raises(NothingToClaim):
        await coordinator.claim(await new_agent("be", ("backend",)))
    claim = await coordinator.claim(await new_agent("fe", ("ui", "frontend")))
    assert claim.task.id == "T-TEST-001"


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("INSERT INTO tasks (title) VALUES ('no id')", "NOT NULL constraint failed: tasks.task_id"),
        (
            "INSERT INTO tasks (task_id, title, status) VALUES ('X', 'held by nobody', 'CLAIMED')",
            "a new task must start AVAILABLE or PENDING",
        ),
        (
            "INSERT INTO tasks (task_id, title, priority) VALUES ('Y', 't', 'P7')",
            "CHECK constraint",
        ),
    ],
)
@SQLITE_ONLY
async def test_the_schema_refuses_rows_the_registry_could_not_manage(
    registry: SqliteRegistry, statement: str, refusal: str
) -> None:
    shell = sqlite3.connect(registry.path)
    with pytest.raises(sqlite3.IntegrityError, match=refusal):
        shell.execute(statement)
    shell.close()
    assert await registry.list_tasks() == []


async def test_a_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    await (await SqliteRegistry.open(path)).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="schema version 99, newer than this Control Room"):
        await SqliteRegistry.open(path)


async def test_a_file_that_is_not_a_registry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a Control Room registry"):
        await SqliteRegistry.open(path)


@SQLITE_ONLY
async def test_the_event_log_cannot_be_rewritten(registry: SqliteRegistry) -> None:
    coordinator = Coordinator(registry)
    await coordinator.add_task({"title": "x"})
    shell = sqlite3.connect(registry.path)
    for statement in ("UPDATE events SET kind = 'forged'", "DELETE FROM events"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            shell.execute(statement)
    shell.close()


@pytest.mark.parametrize(
    ("batch", "error"),
    [
        ([{"title": "ok"}, {"title": "bad", "priority": "P7"}], "tasks\\[1\\].priority"),
        ([{"title": "ok"}, {"title": "x", "depends_on": ["T-MISSING"]}], "no task T-MISSING"),
        (
            [
                {"id": "A", "title": "a", "depends_on": ["B"]},
                {"id": "B", "title": "b", "depends_on": ["A"]},
            ],
            "cycle: A -> B -> A",
        ),
        ([{"id": "D", "title": "a"}, {"id": "D", "title": "b"}], "D appears twice"),
        ([{"title": "ok"}, {"titel": "typo"}], "tasks\\[1\\].titel"),
    ],
)
async def test_import_is_all_or_nothing(
    coordinator: Coordinator, batch: list[dict[str, Any]], error: str
) -> None:
    with pytest.raises(InvalidInput, match=error):
        await coordinator.add_tasks(batch)
    assert await coordinator.tasks() == []
    assert await coordinator.registry.last_event_id() == 0


async def test_existing_ids_conflict(coordinator: Coordinator) -> None:
    await coordinator.add_task({"id": "SAME", "title": "first"})
    with pytest.raises(Conflict, match="SAME already exists"):
        await coordinator.add_tasks([{"title": "other"}, {"id": "SAME", "title": "again"}])
    assert len(await coordinator.tasks()) == 1


async def test_a_refused_write_does_not_spoil_its_batch(
    coordinator: Coordinator, new_agent: Any
) -> None:
    tasks = await coordinator.add_tasks([{"title": f"t{i}"} for i in range(20)])
    agents = [await new_agent(f"a{i}") for i in range(20)]
    # Twenty claims and twenty impossible writes, all queued together: one group commit.
    commits = coordinator.registry.commits  # type: ignore[attr-defined]
    results = await asyncio.gather(
        *(coordinator.claim(a, t.id) for a, t in zip(agents, tasks, strict=True)),
        *(coordinator.progress(t.id, "A-nobody", 1, 5) for t in tasks),
        return_exceptions=True,
    )
    assert all(not isinstance(r, BaseException) for r in results[:20])
    assert all(isinstance(r, NotFound) for r in results[20:])
    assert coordinator.registry.commits == commits + 1  # type: ignore[attr-defined]
    claimed = await coordinator.tasks(status=Status.CLAIMED)
    assert len(claimed) == 20
    assert len([e for e in await coordinator.events() if e.kind == "claimed"]) == 20


async def test_list_filters(coordinator: Coordinator) -> None:
    await coordinator.add_tasks(
        [{"title": "a", "capabilities": ["ui"]}, {"title": "b"}, {"title": "c", "priority": "P0"}]
    )
    assert [t.title for t in await coordinator.tasks()] == ["c", "a", "b"]
    assert [t.title for t in await coordinator.tasks(capability="ui")] == ["a"]
    assert await coordinator.tasks(status=Status.FAILED) == []
