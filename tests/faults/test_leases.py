"""Issue 6: leases and fencing under faults.

* A stale holder: a real agent process claims a task from a real `control-room serve` (leases of
  2 s, the reaper every second), is frozen with SIGSTOP until its lease expires and a second agent
  claims the task, then resumes with SIGCONT and sends progress and complete with its old epoch.
  Both are refused with 409 and a JSON error, and nothing changes: the task (epoch, holder,
  progress, note, lease) and the event log are exactly as the second holder left them. The
  second holder then completes normally.

* A lease-overlap checker: 64 clients in-process against the coordination service, with short
  leases (0.2 s) on a real clock and a reaper every 50 ms, claim -> renew (progress or heartbeat)
  -> release / complete / abandon (sleep past the lease, then write with the old epoch) on a
  bounded pool of tasks that are claimed many times (FAILED ones are retried). Every acknowledged
  operation is recorded with its epoch, the time the call started and returned, and the lease
  expiry it returned. Then:
  (a) fencing: no write acknowledged for epoch e started after the claim of epoch e+1 was
      acknowledged; no claim of epoch e+1 was acknowledged before the known expiry of epoch e
      unless e was released; per task, the event log replayed in id order only ever shows
      progress/complete/release from the current holder of the current epoch, and every
      acknowledged write is in the log exactly once in its own epoch;
  (b) epochs per task are exactly 1..n, one acknowledged claim each;
  (c) at the end every task is COMPLETED, FAILED or AVAILABLE, held by nobody, the last status
      event's to_status is the row's status, the row's epoch is its number of claims, and a task
      is completed at most once;
  (d) `PRAGMA integrity_check` is ok.
  About 10,000 operations by default, 100,000 with `pytest --long`; a summary line is printed.
  The checker itself is tested on synthetic logs with an overlapping write.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import httpx2
import pytest

from control_room.domain import Conflict, Event, NothingToClaim, Status
from control_room.engine import Coordinator
from control_room.store import SqliteRegistry
from tests.conftest import run_cli
from tests.serving import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("control-room")

# -- 1. a stale holder, frozen past its lease --------------------------------------------------

STALE_LEASE_SECONDS = 2
TASK = "STALE-1"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str], Path]]:
    """`control-room serve` on a fresh data dir with `[leases] seconds = 2`."""
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    (home / "control-room.toml").write_text(f"[leases]\nseconds = {STALE_LEASE_SECONDS}\n")
    added = run_cli("task", "add", "--id", TASK, "--title", "frozen holder", data_dir=home)
    assert added.returncode == 0, added.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    errors = tmp_path / "serve.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    with errors.open("w") as stderr:
        server = subprocess.Popen(
            [str(SCRIPT), "--data-dir", str(home), "serve", "--port", str(port)],
            stderr=stderr, stdout=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, errors.read_text()
            time.sleep(0.1)
        yield url, home, server, errors
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)


def _wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_frozen_holder_is_refused_after_its_lease_expired_and_changes_nothing(
    serve: tuple[str, Path, subprocess.Popen[str], Path],
) -> None:
    url, home, server, errors = serve
    operator = {"Authorization": f"Bearer {(home / 'operator.token').read_text().strip()}"}
    with httpx2.Client(base_url=url, timeout=10) as http:

        def join(name: str) -> tuple[str, str]:
            answer = http.post("/api/agents", json={"name": name, "capabilities": ["*"]},
                               headers=operator)  # fmt: skip
            assert answer.status_code == 201, answer.text
            return answer.json()["agent_id"], answer.json()["token"]

        stale_id, stale_token = join("frozen")
        second_id, second_token = join("second")
        second = {"Authorization": f"Bearer {second_token}"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
        env |= {"CONTROL_ROOM_URL": url, "CONTROL_ROOM_TOKEN": stale_token}
        agent = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.stale_agent", TASK], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert agent.stdout is not None and agent.stdin is not None
            claimed = json.loads(agent.stdout.readline())
            assert claimed["status"] == 200 and claimed["epoch"] == 1, claimed
            agent.send_signal(signal.SIGSTOP)
            frozen_at = time.monotonic()

            def task() -> dict[str, Any]:
                answer = http.get(f"/api/tasks/{TASK}", headers=operator)
                assert answer.status_code == 200, answer.text
                return dict(answer.json())

            # The reaper (every second) returns the task once the 2 s lease ran out.
            back = _wait_for("the lease to expire", lambda: task()["status"] == "AVAILABLE", 15)
            assert back and time.monotonic() - frozen_at >= STALE_LEASE_SECONDS - 0.1
            expired = task()
            assert (expired["epoch"], expired["agent_id"], expired["attempts"]) == (1, None, 1)

            taken = http.post("/api/tasks/claim", json={"task_id": TASK}, headers=second)
            assert taken.status_code == 200, taken.text
            assert taken.json()["lease"]["epoch"] == 2
            body = {"epoch": 2, "percent": 40, "note": "the second holder"}
            renewed = http.post(f"/api/tasks/{TASK}/progress", json=body, headers=second)
            assert renewed.status_code == 200, renewed.text
            before = task()
            assert (before["status"], before["epoch"], before["agent_id"]) == (
                "IN_PROGRESS", 2, second_id,
            )  # fmt: skip
            log_before = http.get("/api/events", headers=operator).json()["events"]
            last_id = log_before[-1]["id"]

            agent.send_signal(signal.SIGCONT)
            out, err = agent.communicate("go\n", timeout=30)
        finally:
            if agent.poll() is None:
                agent.send_signal(signal.SIGCONT)
                agent.kill()
                agent.wait(timeout=10)
        assert agent.returncode == 0, err
        lines = {line["step"]: line for line in map(json.loads, out.splitlines())}
        for step in ("progress", "complete"):
            answer = lines[step]
            assert answer["status"] == 409, answer
            assert isinstance(answer["body"], dict), answer
            assert answer["body"]["error"] == "conflict", answer
            assert (
                "stale epoch 1" in answer["body"]["message"]
                or "not held by" in (answer["body"]["message"])
            ), answer

        after = task()
        assert after == before, "a refused write changed the task"
        new = http.get(f"/api/events?after={last_id}", headers=operator).json()["events"]
        assert new == [], f"refused writes were logged: {new}"
        everything = http.get("/api/events", headers=operator).json()["events"]
        by_stale = [(e["kind"], e["actor"]) for e in everything if e["agent_id"] == stale_id]
        assert by_stale == [
            ("agent_registered", "frozen"), ("claimed", stale_id), ("expired", "reaper"),
        ], by_stale  # fmt: skip
        expiry = next(e for e in everything if e["kind"] == "expired")
        assert "epoch 1" in expiry["message"]
        claims = [(e["agent_id"], e["data"]["epoch"]) for e in everything if e["kind"] == "claimed"]
        assert claims == [(stale_id, 1), (second_id, 2)]

        done = {"epoch": 2, "summary": "the second holder did it"}
        finished = http.post(f"/api/tasks/{TASK}/complete", json=done, headers=second)
        assert finished.status_code == 200, finished.text
        final = task()
        assert (final["status"], final["epoch"], final["agent_id"]) == ("COMPLETED", 2, second_id)
        assert final["summary"] == "the second holder did it" and final["files"] == []
        last = http.get(f"/api/events?after={last_id}", headers=operator).json()["events"]
        assert [(e["kind"], e["agent_id"], e["to_status"]) for e in last] == [
            ("completed", second_id, "COMPLETED"),
        ]  # fmt: skip

    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=15) == 0
    assert "Traceback" not in errors.read_text(), errors.read_text()
    db = sqlite3.connect(home / "registry.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


# -- 2. the lease-overlap checker --------------------------------------------------------------

LEASE = 0.2
REAPER_EVERY = 0.05
CLIENTS = 64
POOL = 200  # tasks not yet completed, kept topped up
MAX_ATTEMPTS = 20
WRITES = ("progress", "heartbeat", "release", "complete")
FINAL = {Status.COMPLETED, Status.FAILED, Status.AVAILABLE}
FREE = {Status.FAILED, Status.AVAILABLE}
HOLDER_WRITES = {"progress": "progress", "completed": "complete", "handed_in": "complete"}


@dataclass(frozen=True)
class Ack:
    """One acknowledged operation: what, on which task, by whom, under which epoch, when."""

    op: str  # claim, progress, heartbeat, release, complete
    task_id: str
    agent_id: str
    epoch: int
    started: float  # time.time() when the call was made
    returned: float  # time.time() when its answer came back
    expires_at: float | None = None  # the lease's expiry as returned (claim, progress, heartbeat)


class Row(NamedTuple):
    """What the checker needs of a task's final row."""

    status: Status
    epoch: int
    agent_id: str | None
    attempts: int
    max_attempts: int


@dataclass
class Tally:
    ops: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # stale writes refused, by op
    nothing: int = 0  # claims that found nothing
    late: int = 0  # writes acknowledged although begun after the lease's known expiry
    acks: list[Ack] = field(default_factory=list)


def check_acks(acks: Iterable[Ack]) -> list[str]:
    """(a) and (b) from what the clients were told."""
    problems: list[str] = []
    by_task: dict[str, list[Ack]] = defaultdict(list)
    for ack in acks:
        by_task[ack.task_id].append(ack)
    for task_id, done in by_task.items():
        claims: dict[int, Ack] = {}
        for ack in done:
            if ack.op == "claim":
                if ack.epoch in claims:
                    problems.append(f"{task_id}: epoch {ack.epoch} claimed twice")
                claims[ack.epoch] = ack
        if sorted(claims) != list(range(1, len(claims) + 1)):
            problems.append(f"{task_id}: claimed epochs {sorted(claims)} are not 1..n")
        writes: dict[int, list[Ack]] = defaultdict(list)
        for ack in done:
            if ack.op != "claim":
                writes[ack.epoch].append(ack)
        for epoch, mine in writes.items():
            holder = claims.get(epoch)
            if holder is None:
                problems.append(f"{task_id}: {mine[0].op} acknowledged for unclaimed epoch {epoch}")
                continue
            successor = claims.get(epoch + 1)
            ends = [a for a in mine if a.op in ("release", "complete")]
            if len(ends) > 1:
                problems.append(f"{task_id}: epoch {epoch} ended {len(ends)} times")
            for ack in mine:
                if ack.agent_id != holder.agent_id:
                    problems.append(f"{task_id}: {ack.op} by non-holder {ack.agent_id} @{epoch}")
                if successor is not None and ack.started > successor.returned:
                    problems.append(
                        f"{task_id}: {ack.op} of epoch {epoch} by {ack.agent_id} started "
                        f"{ack.started - successor.returned:.3f}s after epoch {epoch + 1} "
                        f"was claimed by {successor.agent_id}"
                    )
                if ends and ack is not ends[0] and ack.started > ends[0].returned:
                    problems.append(f"{task_id}: {ack.op} of epoch {epoch} after it ended")
        for epoch, holder in claims.items():
            successor = claims.get(epoch + 1)
            if successor is None:
                continue
            if successor.returned < holder.started:
                problems.append(f"{task_id}: epoch {epoch + 1} acknowledged before {epoch}")
            if any(a.op == "release" for a in writes.get(epoch, [])):
                continue  # given back: the next claim may come at once
            known = [a.expires_at for a in [holder, *writes.get(epoch, [])] if a.expires_at]
            if known and successor.returned < max(known):
                problems.append(
                    f"{task_id}: epoch {epoch + 1} claimed {max(known) - successor.returned:.3f}s "
                    f"before epoch {epoch}'s lease expired (never released)"
                )
    return problems


def check_log(
    events: Iterable[Event],
    rows: dict[str, Row],
    acks: Iterable[Ack],
    lease_seconds: float,
) -> tuple[list[str], Counter[str]]:
    """(a) from the event log, replayed per task in id order, tied to the acknowledgements,
    and (c) the final rows. Returns the problems and counts of what was seen."""
    problems: list[str] = []
    seen: Counter[str] = Counter()
    status: dict[str, Status] = {}
    holder: dict[str, tuple[str, int] | None] = {}
    epoch: Counter[str] = Counter()
    expiry: dict[str, float] = {}
    attempts: Counter[str] = Counter()
    completions: Counter[str] = Counter()
    logged: Counter[tuple[str, int, str, str]] = Counter()  # (task, epoch, agent, op)
    heartbeats: dict[tuple[str, int], float] = {}
    for ack in acks:
        if ack.op == "heartbeat" and ack.expires_at is not None:
            key = (ack.task_id, ack.epoch)
            heartbeats[key] = max(heartbeats.get(key, 0.0), ack.expires_at)
    last_id = 0
    for e in events:
        if e.id <= last_id:
            problems.append(f"event {e.id} out of order")
        last_id = e.id
        t = e.task_id
        if t is None:
            continue
        seen[e.kind] += 1
        if e.kind == "created":
            status[t], holder[t] = e.to_status or Status.AVAILABLE, None
            continue
        if t not in status:
            problems.append(f"event {e.id} ({e.kind}) for unknown task {t}")
            continue
        if e.to_status is not None and e.from_status != status[t]:
            problems.append(f"event {e.id} {e.kind} on {t}: from {e.from_status}, was {status[t]}")
        held = holder[t]
        if e.kind == "claimed":
            epoch[t] += 1
            if held is not None:
                problems.append(f"event {e.id}: {t} claimed while {held} held it")
            if e.data.get("epoch") != epoch[t]:
                problems.append(f"event {e.id}: {t} claimed at epoch {e.data.get('epoch')}, "
                                f"expected {epoch[t]}")  # fmt: skip
            holder[t] = (str(e.agent_id), epoch[t])
            expiry[t] = float(e.data["expires_at"])
        elif e.kind in HOLDER_WRITES or (e.kind == "released" and e.actor == e.agent_id):
            op = HOLDER_WRITES.get(e.kind, "release")
            if held is None or e.agent_id != held[0] or e.actor != held[0]:
                problems.append(f"event {e.id}: {e.kind} on {t} by {e.actor}, holder {held}")
            else:
                logged[(t, held[1], held[0], op)] += 1
                best = max(expiry[t], heartbeats.get((t, held[1]), 0.0))
                if e.at > best:
                    seen["late write logged"] += 1
            if e.kind == "progress":
                expiry[t] = e.at + lease_seconds
            else:
                holder[t] = None
            if e.kind == "completed":
                completions[t] += 1
            if e.kind == "released":
                attempts[t] += 1
        elif e.kind == "expired":
            if held is None:
                problems.append(f"event {e.id}: {t} expired while nobody held it")
            else:
                best = max(expiry[t], heartbeats.get((t, held[1]), 0.0))
                if e.at <= best:
                    problems.append(f"event {e.id}: {t} expired {best - e.at:.3f}s early")
                if f"epoch {held[1]})" not in e.message:
                    problems.append(f"event {e.id}: expiry of {t} names {e.message!r}")
            holder[t] = None
            attempts[t] += 1
        elif e.kind == "retried":
            attempts[t] = 0
        elif e.kind in ("released", "cancelled", "blocked", "abandoned"):
            holder[t] = None
        if e.to_status is not None:
            status[t] = e.to_status
    acked: Counter[tuple[str, int, str, str]] = Counter(
        (a.task_id, a.epoch, a.agent_id, a.op) for a in acks if a.op in HOLDER_WRITES.values()
        or a.op == "release"
    )  # fmt: skip
    if acked != logged:
        missing, extra = acked - logged, logged - acked
        problems.append(f"acknowledged writes missing from the log: {dict(missing)}; "
                        f"logged writes never acknowledged: {dict(extra)}")  # fmt: skip
    for t, row in rows.items():
        # A COMPLETED row keeps the agent that did it; any other final row is held by nobody.
        if row.status not in FINAL or (row.agent_id is not None and row.status in FREE):
            problems.append(f"{t} ended {row.status} held by {row.agent_id}")
        if status.get(t) != row.status:
            problems.append(f"{t}: the log ends at {status.get(t)}, the row is {row.status}")
        if row.epoch != epoch[t]:
            problems.append(f"{t}: epoch {row.epoch}, {epoch[t]} claims logged")
        if completions[t] != (row.status is Status.COMPLETED):
            problems.append(f"{t}: completed {completions[t]} times, ends {row.status}")
        if row.status is not Status.COMPLETED and row.attempts != attempts[t]:
            problems.append(f"{t}: {row.attempts} attempts, {attempts[t]} since the last retry")
        if (row.status is Status.FAILED) != (row.attempts >= row.max_attempts):
            problems.append(f"{t}: {row.status} after {row.attempts}/{row.max_attempts} attempts")
    if set(status) != set(rows):
        problems.append(f"tasks in the log but not the registry: {set(status) ^ set(rows)}")
    return problems, seen


async def _client(index: int, coordinator: Coordinator, tally: Tally, budget: int) -> None:
    rnd = random.Random(index)
    agent, _ = await coordinator.register_agent(f"client-{index}", ["*"])
    me = agent.id

    async def call(op: str, task_id: str, epoch: int) -> Ack | None:
        """One write under `epoch`: its Ack, or None when it was refused as stale."""
        tally.ops += 1
        started = time.time()
        try:
            if op == "progress":
                task = await coordinator.progress(task_id, me, epoch, rnd.randint(0, 99), "w")
                expires = task.lease_expires_at
            elif op == "heartbeat":
                expires = (await coordinator.heartbeat(task_id, me, epoch)).expires_at
            elif op == "release":
                await coordinator.release(task_id, me, epoch, "giving it back")
                expires = None
            else:
                await coordinator.complete(task_id, me, epoch, f"done by {me}")
                expires = None
        except Conflict:
            tally.refused[op] += 1
            return None
        ack = Ack(op, task_id, me, epoch, started, time.time(), expires)
        if started > known_expiry:
            tally.late += 1
        tally.acks.append(ack)
        return ack

    while tally.ops < budget:
        tally.ops += 1
        started = time.time()
        try:
            claim = await coordinator.claim(me)
        except Conflict as error:  # this agent still holds a task: a bug of this test
            raise AssertionError(f"{me}: {error}") from None
        except NothingToClaim:
            tally.nothing += 1
            await asyncio.sleep(0.01)
            continue
        task_id, epoch = claim.task.id, claim.lease.epoch
        known_expiry = claim.lease.expires_at
        tally.acks.append(Ack("claim", task_id, me, epoch, started, time.time(), known_expiry))
        alive = True
        for _ in range(rnd.randint(0, 3)):
            await asyncio.sleep(rnd.uniform(0, LEASE / 4))
            renewed = await call("heartbeat" if rnd.random() < 0.25 else "progress", task_id, epoch)
            if renewed is None:  # the lease went meanwhile (a slow turn): claim again
                alive = False
                break
            known_expiry = renewed.expires_at or known_expiry
        if not alive:
            continue
        fate = rnd.random()
        if fate < 0.5:
            await call("release", task_id, epoch)
        elif fate < 0.65:
            await call("complete", task_id, epoch)
        else:  # abandon: sleep past the lease, then write with the old epoch
            # Sometimes only just past it, before the reaper came by (a lazily expired lease).
            await asyncio.sleep(LEASE + rnd.uniform(0, 4 * REAPER_EVERY))
            op = rnd.choice(WRITES)
            if await call(op, task_id, epoch) is not None and op in ("progress", "heartbeat"):
                await call("release", task_id, epoch)  # not reaped yet: give it back


async def _reaper(coordinator: Coordinator, stop: asyncio.Event, expired: list[int]) -> None:
    while not stop.is_set():
        expired[0] += len(await coordinator.expire_leases())
        await asyncio.sleep(REAPER_EVERY)


async def _operator(coordinator: Coordinator, stop: asyncio.Event, added: list[int]) -> None:
    """Retries FAILED tasks and tops the pool up as tasks complete."""
    while not stop.is_set():
        for task in await coordinator.tasks(Status.FAILED):
            await coordinator.retry(task.id)
        open_tasks = 0
        for status in (Status.AVAILABLE, Status.CLAIMED, Status.IN_PROGRESS):
            open_tasks += len(await coordinator.tasks(status))
        if open_tasks < POOL:
            more = [{"title": f"t{added[0] + i}", "max_attempts": MAX_ATTEMPTS}
                    for i in range(POOL - open_tasks)]  # fmt: skip
            await coordinator.add_tasks(more)
            added[0] += len(more)
        await asyncio.sleep(0.05)


async def _all_events(coordinator: Coordinator) -> list[Event]:
    events: list[Event] = []
    while True:
        page = await coordinator.events(after=events[-1].id if events else 0, limit=10_000)
        if not page:
            return events
        events += page


async def test_no_two_live_leases_overlap_under_64_clients(tmp_path: Path, long_mode: bool) -> None:
    budget = 100_000 if long_mode else 10_000
    registry = await SqliteRegistry.open(tmp_path / "registry.db")
    try:
        coordinator = Coordinator(registry, lease_seconds=LEASE)
        added, expired, tally = [0], [0], Tally()
        stop_loops = asyncio.Event()
        first = [{"title": f"t{i}", "max_attempts": MAX_ATTEMPTS} for i in range(POOL)]
        added[0] = len(await coordinator.add_tasks(first))
        began = time.monotonic()
        loops = [
            asyncio.create_task(_reaper(coordinator, stop_loops, expired)),
            asyncio.create_task(_operator(coordinator, stop_loops, added)),
        ]
        clients = [_client(i, coordinator, tally, budget) for i in range(CLIENTS)]
        await asyncio.gather(*clients)
        seconds = time.monotonic() - began
        stop_loops.set()
        await asyncio.gather(*loops)
        # The clients gave back what they held, or abandoned it: let those leases run out.
        await asyncio.sleep(LEASE + REAPER_EVERY)
        expired[0] += len(await coordinator.expire_leases())

        tasks = await coordinator.tasks()
        rows = {t.id: Row(t.status, t.epoch, t.agent_id, t.attempts, t.max_attempts) for t in tasks}
        events = await _all_events(coordinator)
        problems = check_acks(tally.acks)
        log_problems, seen = check_log(events, rows, tally.acks, LEASE)
        problems += log_problems
        integrity = await registry.integrity_check()
    finally:
        await registry.close()

    kinds = Counter(a.op for a in tally.acks)
    claims_per_task = Counter(a.task_id for a in tally.acks if a.op == "claim")
    refused = sum(tally.refused.values())
    print(
        f"\nleases: {tally.ops} ops, {len(tally.acks)} acknowledged {dict(kinds)}, "
        f"{refused} refused as stale {dict(tally.refused)}, {tally.nothing} empty claims, "
        f"{expired[0]} expiries, {seen['retried']} retries, {len(rows)} tasks "
        f"(max {max(claims_per_task.values())} claims on one), "
        f"{tally.late} writes acknowledged after the lease's known expiry, "
        f"{seconds:.1f} s, {tally.ops / seconds:.0f} ops/s"
    )
    assert problems == [], "\n".join(problems[:30])
    assert integrity == "ok"
    assert tally.ops >= budget
    # The run did what it is meant to: leases expired, stale writes were refused, tasks were
    # taken again and again, and some were retried after failing.
    assert expired[0] > 0 and refused > 0 and seen["retried"] > 0, (expired, refused, seen)
    assert max(claims_per_task.values()) >= 5
    assert {r.status for r in rows.values()} <= FINAL


# -- the checker can fail ------------------------------------------------------------------------


def _event(n: int, kind: str, task: str, agent: str | None, at: float, **data: Any) -> Event:
    moves = {
        "created": (None, Status.AVAILABLE), "claimed": (Status.AVAILABLE, Status.CLAIMED),
        "progress": (Status.CLAIMED, Status.IN_PROGRESS),
        "expired": (Status.IN_PROGRESS, Status.AVAILABLE),
        "completed": (Status.IN_PROGRESS, Status.COMPLETED),
    }  # fmt: skip
    source, target = moves[kind]
    actor = "reaper" if kind == "expired" else agent or "operator"
    message = f"lease expired (agent {agent}, epoch 1)" if kind == "expired" else ""
    return Event(n, at, kind, actor, task, agent, source, target, message, data)


def _history(stale_write: bool) -> tuple[list[Ack], list[Event]]:
    """A, claims epoch 1 and renews; the lease expires; B claims epoch 2, renews, completes. With
    `stale_write`, A's late progress is acknowledged (and logged) after B's claim."""
    acks = [
        Ack("claim", "T", "A", 1, 0.0, 0.01, 0.21),
        Ack("progress", "T", "A", 1, 0.1, 0.11, 0.31),
        Ack("claim", "T", "B", 2, 0.40, 0.41, 0.61),
        Ack("progress", "T", "B", 2, 0.45, 0.46, 0.66),
        Ack("complete", "T", "B", 2, 0.50, 0.51),
    ]
    events = [
        _event(1, "created", "T", None, 0.0),
        _event(2, "claimed", "T", "A", 0.005, epoch=1, expires_at=0.205),
        _event(3, "progress", "T", "A", 0.105, percent=10),
        _event(4, "expired", "T", "A", 0.35),
        _event(5, "claimed", "T", "B", 0.405, epoch=2, expires_at=0.605),
        _event(6, "progress", "T", "B", 0.455, percent=50),
        _event(7, "completed", "T", "B", 0.505),
    ]
    if stale_write:
        acks.insert(3, Ack("progress", "T", "A", 1, 0.42, 0.43, 0.63))
        late = Event(
            55, 0.425, "progress", "A", "T", "A", Status.CLAIMED, Status.IN_PROGRESS, "", {}
        )
        events.insert(5, late)
        events = [replace(e, id=i) for i, e in enumerate(events, 1)]  # ids in order again
    return acks, events


def test_the_checker_passes_a_clean_history_and_flags_a_stale_write() -> None:
    final = {"T": Row(Status.COMPLETED, 2, None, 1, MAX_ATTEMPTS)}
    acks, events = _history(stale_write=False)
    assert check_acks(acks) == []
    assert check_log(events, final, acks, LEASE)[0] == []

    acks, events = _history(stale_write=True)
    flagged = check_acks(acks)
    assert any("progress of epoch 1 by A started" in p for p in flagged), flagged
    problems = check_log(events, final, acks, LEASE)[0]
    assert any("progress on T by A, holder ('B', 2)" in p for p in problems), problems


def test_the_checker_flags_a_lease_taken_early_and_a_double_claim() -> None:
    acks, events = _history(stale_write=False)
    early = [a if a.epoch != 2 or a.op != "claim" else Ack("claim", "T", "B", 2, 0.2, 0.25, 0.45)
             for a in acks]  # fmt: skip
    assert any("before epoch 1's lease expired" in p for p in check_acks(early))
    twice = [*acks, Ack("claim", "T", "C", 2, 0.40, 0.41, 0.61)]
    assert any("epoch 2 claimed twice" in p for p in check_acks(twice))
    final = {"T": Row(Status.COMPLETED, 2, None, 1, MAX_ATTEMPTS)}
    soon = list(events)
    soon[3] = _event(4, "expired", "T", "A", 0.30)  # before A's renewed lease (0.305) ran out
    assert any("expired" in p and "early" in p for p in check_log(soon, final, acks, LEASE)[0])
    wrong_row = {"T": Row(Status.AVAILABLE, 2, None, 1, MAX_ATTEMPTS)}
    problems = check_log(events, wrong_row, acks, LEASE)[0]
    assert any("the log ends at COMPLETED, the row is AVAILABLE" in p for p in problems)
