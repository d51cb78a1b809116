"""Two control rooms on ONE PostgreSQL registry, end to end (issue 14, item 4): two real
`control-room run --headless` processes (data directories a and b, as on hosts alpha and beta;
b's `init --registry URL` joins a's registry), 300 tasks worked by 16 outside agents over REST
(claim -> progress -> complete, half starting on each server, each going on at the other server
when its own stops answering) and a few tasks the engines spawn command agents for.

While they work, a change made through one server reaches the other process's change feed (its
SSE stream) within a second, both ways (the figures are printed). Then engine a is killed with
SIGKILL: b finds it gone after `gone_seconds` of silence, settles its runs and spawns their
tasks again. At the end:
* every task is COMPLETED, completed once;
* per task one `claimed` event per epoch, epochs 1..n, each claim made while nobody held the
  task, and every holder write (progress, hand-in) made by the holder of the current epoch;
* every transition an agent was told about (2xx) is in the registry;
* each task was spawned at most once at a time: its runs never overlap, a's killed runs were
  settled by b (after a was silent for gone_seconds) and spawned once more, by b, without
  counting an attempt.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx2

from control_room.domain.engines import heartbeat_seconds
from tests.conftest import run_cli
from tests.faults.agents_http import Ack, Ledger, OutsideAgent, stop_fleet
from tests.pg import pg_server, pg_url  # noqa: F401 - fixtures
from tests.serving import free_port
from tests.two_rooms import Registry, engines, healthy, homes, rows, statuses, wait

OUTSIDE_TASKS = 300
SPAWNED_TASKS = 6  # 3 per engine: max_running = 3
AGENTS = 16
GONE = 3.0  # [engine] gone_seconds
FEED_SECONDS = 1.0  # "both screens show the same state within a second"
HELD = ("CLAIMED", "IN_PROGRESS")


class RoamingAgent(OutsideAgent):
    """An outside agent that knows both servers: when its server stops answering, it sends the
    same request to the other one (either server may be used; the registry is the same)."""

    def __init__(self, index: int, urls: list[str], operator: str, **shared: Any) -> None:
        super().__init__(index, urls[0], operator, **shared)
        self.urls = urls
        self.moves = 0

    def run(self) -> None:
        try:
            with contextlib.ExitStack() as stack:
                self.clients = [
                    stack.enter_context(httpx2.Client(base_url=url, timeout=5)) for url in self.urls
                ]
                self.http = self.clients[0]
                if self._register():
                    self._work()
        except Exception as error:  # reported by the test, not lost in a thread
            self.errors.append(repr(error))

    def unanswered(self) -> None:
        self.moves += 1
        self.http = self.clients[self.moves % len(self.clients)]
        self.stop.wait(0.05)


class Feed(threading.Thread):
    """A server's SSE stream (`GET /api/events/stream`), noting when each `created` event came."""

    def __init__(self, port: int, token: str, after: int) -> None:
        super().__init__(name=f"feed-{port}", daemon=True)
        self.url = f"http://127.0.0.1:{port}/api/events/stream?after={after}"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.created: dict[str, float] = {}
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            timeout = httpx2.Timeout(10, read=10)
            with httpx2.stream("GET", self.url, headers=self.headers, timeout=timeout) as answer:
                assert answer.status_code == 200, answer.status_code
                self.connected.set()
                for line in answer.iter_lines():
                    if self.stop.is_set():
                        return
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        if event["kind"] == "created":
                            self.created.setdefault(event["task_id"], time.monotonic())
        except Exception as error:
            if not self.stop.is_set():
                self.errors.append(repr(error))


def _feed_delay(port: int, token: str, feed: Feed, title: str) -> float:
    """Seconds from posting a task on one server to its event on the other's feed."""
    began = time.monotonic()
    answer = httpx2.post(
        f"http://127.0.0.1:{port}/api/tasks", json={"title": title, "priority": "P3"},
        headers={"Authorization": f"Bearer {token}"}, timeout=10,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    task_id = answer.json()["id"]
    deadline = began + 10
    while task_id not in feed.created:
        assert time.monotonic() < deadline, f"{title} never reached the other server's feed"
        time.sleep(0.005)
    return feed.created[task_id] - began


def _tasks() -> list[dict[str, Any]]:
    spawned = [
        {"id": f"S-{i}", "title": f"spawned {i}", "priority": "P0", "capabilities": ["spawn-only"]}
        for i in range(SPAWNED_TASKS)
    ]
    outside = [{"id": f"O-{i:03d}", "title": f"outside {i}"} for i in range(OUTSIDE_TASKS)]
    return spawned + outside


def _engine_of(registry: Registry, host: str) -> str:
    ((engine_id,),) = rows(registry, "SELECT engine_id FROM engines WHERE host = ?", host)
    return str(engine_id)


def _live_runs(registry: Registry) -> list[tuple[object, ...]]:
    return rows(registry, "SELECT engine_id, run_dir, pid FROM runs WHERE ended_at IS NULL")


def _kill_groups(pids: list[int]) -> None:
    for pid in pids:  # a's agents: b could not stop them ("another host")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def test_two_engines_on_one_postgresql_with_outside_agents_and_a_kill9(
    tmp_path: Path,
    pg_url: str,  # noqa: F811 - fixture
) -> None:
    began = time.monotonic()
    routing = 'spawn_priorities = ["P0"]\nmax_running = 3\n'
    a, b, registry = homes(
        tmp_path, "wait,work", GONE, url=pg_url, capabilities=("spawn-only",), routing=routing
    )
    (tmp_path / "tasks.json").write_text(json.dumps(_tasks()))
    ports = free_port(), free_port()
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    tokens = [(home / "operator.token").read_text().strip() for home in (a, b)]
    ledger, stop = Ledger(), threading.Event()
    fleet = [
        RoamingAgent(i, urls if i % 2 == 0 else urls[::-1], tokens[i % 2], ledger=ledger,
                     stop=stop)
        for i in range(AGENTS)
    ]  # fmt: skip
    feeds: list[Feed] = []
    delays: dict[str, list[float]] = {"a->b": [], "b->a": []}
    a_pids: list[int] = []
    try:
        with engines((a, tmp_path, ports[0]), (b, tmp_path, ports[1]), logs=tmp_path) as running:
            first, second = running
            wait(lambda: all(healthy(p) for p in ports), 60, "the engines did not come up")
            live = "SELECT count(*) FROM engines WHERE stopped_at IS NULL"
            wait(lambda: rows(registry, live) == [(2,)], 30, "both engines registered")
            alpha, beta = _engine_of(registry, "alpha"), _engine_of(registry, "beta")
            imported = run_cli("task", "import", str(tmp_path / "tasks.json"), data_dir=a)
            assert imported.returncode == 0, imported.stderr
            for agent in fleet:
                agent.start()

            # each engine spawns 3 (its max_running): a task spawned by one is not by the other
            def three_each() -> bool:
                runs = Counter(str(e) for e, _, pid in _live_runs(registry) if pid)
                return runs == Counter({alpha: 3, beta: 3})

            wait(three_each, 60, "each engine started 3 agents")

            # a change through one server reaches the other process's feed within a second
            (head,) = rows(registry, "SELECT max(id) FROM events")[0]
            after = int(str(head))
            feeds = [Feed(ports[1], tokens[1], after), Feed(ports[0], tokens[0], after)]
            for feed in feeds:
                feed.start()
                assert feed.connected.wait(10), feed.errors
            for i in range(3):
                delays["a->b"].append(_feed_delay(ports[0], tokens[0], feeds[0], f"probe a{i}"))
                delays["b->a"].append(_feed_delay(ports[1], tokens[1], feeds[1], f"probe b{i}"))
            for feed in feeds:
                feed.stop.set()
                feed.join(10)

            done = "SELECT count(*) FROM tasks WHERE status = 'COMPLETED'"
            wait(lambda: int(str(rows(registry, done)[0][0])) >= 100, 60, "100 tasks done")
            for engine_id, run_dir, pid in _live_runs(registry):
                if engine_id == beta:  # b's agents finish; a's wait (their engine dies)
                    Path(str(run_dir), "go").write_text("")
                else:
                    a_pids.append(int(str(pid)))
            left_at_kill = OUTSIDE_TASKS - int(str(rows(registry, done)[0][0]))
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            killed_at = time.time()
            wait(
                lambda: set(statuses(registry).values()) == {"COMPLETED"}, 90,
                "every task COMPLETED after the kill",
            )  # fmt: skip
            stop_fleet(fleet, stop)
            assert second.poll() is None, "b runs on"
    finally:
        stop.set()
        for feed in feeds:
            feed.stop.set()
        _kill_groups(a_pids)

    assert not [e for agent in fleet for e in agent.errors], [agent.errors for agent in fleet]
    assert not [f.errors for f in feeds if f.errors]
    assert not [s for s in ledger.statuses if s >= 500], ledger.statuses
    assert "Traceback" not in (tmp_path / "b.err").read_text()
    worst = max(max(d) for d in delays.values())
    assert worst < FEED_SECONDS, f"a change took {worst:.3f} s to reach the other feed: {delays}"

    events = _events(registry)
    tasks = {
        str(t): (str(s), int(str(e)), int(str(n)))
        for t, s, e, n in rows(registry, "SELECT task_id, status, epoch, attempts FROM tasks")
    }
    assert len(tasks) == OUTSIDE_TASKS + SPAWNED_TASKS + 6  # and the 6 probes
    assert {s for s, _, _ in tasks.values()} == {"COMPLETED"}
    assert _lease_problems(events) == []
    assert _lost(ledger.acks, events, tasks) == []
    claims = Counter(e["task_id"] for e in events if e["kind"] == "claimed")
    completions = Counter(e["task_id"] for e in events if e["kind"] == "completed")
    assert set(completions.values()) == {1} and set(completions) == set(tasks)
    outside = [t for t in tasks if not t.startswith("S-")]
    assert all(claims[t] == 1 for t in outside), "each outside task claimed once"

    runs = rows(
        registry,
        "SELECT task_id, engine_id, started_at, ended_at, outcome FROM runs ORDER BY started_at",
    )
    by_task: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for run in runs:
        by_task[str(run[0])].append(run)
    assert set(by_task) == {f"S-{i}" for i in range(SPAWNED_TASKS)}, "only P0 tasks spawned"
    started = Counter(e["task_id"] for e in events if e["kind"] == "agent_started")
    for task_id, mine in by_task.items():
        assert started[task_id] == len(mine) == claims[task_id], (task_id, mine)
        for earlier, later in itertools.pairwise(mine):
            assert earlier[3] is not None and float(str(earlier[3])) <= float(str(later[2])), (
                f"{task_id}: a second agent started while the first ran: {mine}"
            )
        if mine[0][1] == beta:
            assert len(mine) == 1, f"{task_id}: spawned once, by b"
        else:
            killed, again = mine  # a's run, settled by b; then b's
            assert "elsewhere" in str(killed[4]) and again[1] == beta, mine
            silent = float(str(killed[3])) - killed_at
            assert silent >= GONE - heartbeat_seconds(GONE) - 0.5, "settled once a was gone"
        assert tasks[task_id][2] == 0, "an engine's death costs its task no attempt"
    gone = rows(registry, "SELECT engine_id FROM engines WHERE stopped_at IS NOT NULL")
    assert {str(e) for (e,) in gone} == {alpha, beta}, "a found gone, b stopped cleanly"
    assert [e["data"]["engine_id"] for e in events if e["kind"] == "engine_gone"] == [alpha]
    moved = sum(agent.moves for agent in fleet)
    print(
        f"\ntwo engines on PostgreSQL: {len(tasks)} tasks COMPLETED, {len(runs)} runs "
        f"({len(a_pids)} of the killed engine's settled by the other), {AGENTS} outside agents "
        f"({len(ledger.acks)} acknowledged transitions checked, {moved} requests sent again to "
        f"the other server, {left_at_kill} outside tasks left at the kill), feed delay a->b "
        f"{_ms(delays['a->b'])}, b->a {_ms(delays['b->a'])}, "
        f"HTTP {dict(sorted(ledger.statuses.items()))}, {time.monotonic() - began:.1f} s"
    )


def _ms(delays: list[float]) -> str:
    return "/".join(f"{d * 1000:.0f}" for d in delays) + " ms"


def _events(registry: Registry) -> list[dict[str, Any]]:
    columns = ("id", "kind", "actor", "task_id", "agent_id", "from_status", "to_status", "data")
    found = rows(registry, f"SELECT {', '.join(columns)} FROM events ORDER BY id")
    events = [dict(zip(columns, row, strict=True)) for row in found]
    for event in events:
        event["data"] = json.loads(str(event["data"]))
    return events


def _lease_problems(events: list[dict[str, Any]]) -> list[str]:
    """The log replayed per task: each status change starts where the last one ended; a claim
    only of a task nobody holds, at the next epoch; holder writes only by the current holder."""
    problems: list[str] = []
    status: dict[str, str] = {}
    holder: dict[str, tuple[str, int] | None] = {}
    epoch: Counter[str] = Counter()
    for e in events:
        t = e["task_id"]
        if t is None:
            continue
        if e["kind"] == "created":
            status[t], holder[t] = str(e["to_status"]), None
            continue
        if e["to_status"] is not None and e["from_status"] != status.get(t):
            problems.append(f"{e['id']} {e['kind']} {t}: from {e['from_status']}, was {status[t]}")
        if e["kind"] == "claimed":
            epoch[t] += 1
            if holder[t] is not None or status[t] in HELD:
                problems.append(f"{e['id']}: {t} claimed while {holder[t]} held it")
            if e["data"].get("epoch") != epoch[t]:
                problems.append(f"{e['id']}: {t} claimed at epoch {e['data'].get('epoch')}")
            holder[t] = (str(e["agent_id"]), epoch[t])
        elif e["kind"] in ("progress", "completed", "handed_in") and e["actor"] == e["agent_id"]:
            held = holder[t]
            if held is None or held[0] != e["agent_id"]:
                problems.append(f"{e['id']}: {e['kind']} on {t} by {e['agent_id']}, holder {held}")
        if e["to_status"] is not None:
            status[t] = str(e["to_status"])
            if status[t] not in HELD:
                holder[t] = None
    return problems


def _lost(
    acks: list[Ack], events: list[dict[str, Any]], tasks: dict[str, tuple[str, int, int]]
) -> list[str]:
    """Acknowledged transitions missing from the registry: a claim without its `claimed` event
    (that epoch, that agent); progress without a `progress` event of that agent in that epoch;
    a completion whose task is not COMPLETED under that epoch."""
    claimed: dict[tuple[str, int], tuple[str, int]] = {}  # (task, epoch) -> (agent, event id)
    progress: dict[str, list[tuple[int, str]]] = defaultdict(list)  # task -> (event id, agent)
    for e in events:
        if e["kind"] == "claimed":
            claimed[(e["task_id"], e["data"]["epoch"])] = (str(e["agent_id"]), int(e["id"]))
        elif e["kind"] == "progress":
            progress[e["task_id"]].append((int(e["id"]), str(e["agent_id"])))
    lost = []
    for ack in acks:
        claim = claimed.get((ack.task_id, ack.epoch))
        if claim is None or claim[0] != ack.agent_id:
            lost.append(f"claim of epoch {ack.epoch} lost: {ack}")
            continue
        following = claimed.get((ack.task_id, ack.epoch + 1), ("", 1 << 62))[1]
        if ack.kind == "progress" and not any(
            claim[1] < i < following and agent == ack.agent_id for i, agent in progress[ack.task_id]
        ):
            lost.append(f"progress lost: {ack}")
        if ack.kind == "complete" and tasks[ack.task_id][:2] != ("COMPLETED", ack.epoch):
            lost.append(f"completion lost: {ack} (the task is {tasks[ack.task_id]})")
    return lost


Move = tuple[str | None, str]  # (from status, to status)


def _event(
    n: int, kind: str, task: str, agent: str | None, move: Move | None, **data: Any
) -> dict[str, Any]:
    source, target = move or (None, None)
    return {
        "id": n, "kind": kind, "actor": agent or "operator", "task_id": task, "agent_id": agent,
        "from_status": source, "to_status": target, "data": data,
    }  # fmt: skip


def test_the_checkers_flag_an_overlapping_claim_and_a_lost_write() -> None:
    clean = [
        _event(1, "created", "T", None, (None, "AVAILABLE")),
        _event(2, "claimed", "T", "A-1", ("AVAILABLE", "CLAIMED"), epoch=1),
        _event(3, "progress", "T", "A-1", ("CLAIMED", "IN_PROGRESS")),
        _event(4, "completed", "T", "A-1", ("IN_PROGRESS", "COMPLETED")),
    ]
    acks = [Ack("claim", "T", "A-1", 1, "CLAIMED"), Ack("progress", "T", "A-1", 1, "IN_PROGRESS"),
            Ack("complete", "T", "A-1", 1, "COMPLETED")]  # fmt: skip
    assert _lease_problems(clean) == []
    assert _lost(acks, clean, {"T": ("COMPLETED", 1, 0)}) == []
    overlapping = [
        *clean[:3],
        _event(4, "claimed", "T", "A-2", ("IN_PROGRESS", "CLAIMED"), epoch=2),
    ]
    assert any("claimed while" in p for p in _lease_problems(overlapping))
    stranger = [*clean[:3], _event(4, "progress", "T", "A-2", None)]
    assert any("holder" in p for p in _lease_problems(stranger))
    assert _lost(acks, clean[:2] + clean[3:], {"T": ("COMPLETED", 1, 0)}) == [
        f"progress lost: {acks[1]}"
    ]
    assert _lost(acks, clean, {"T": ("AVAILABLE", 1, 0)})[0].startswith("completion lost")
    assert _lost([Ack("claim", "T", "A-2", 1, "CLAIMED")], clean, {})[0].startswith("claim of")
