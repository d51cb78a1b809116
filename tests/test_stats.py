"""`control-room stats`: the figures checked against a registry with a known history (built
through the coordinator on a controlled clock), the --since window, --json and bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from control_room.domain import InvalidInput
from control_room.domain.stats import parse_duration
from control_room.engine import Coordinator
from control_room.store import SqliteRegistry, delivery_ops, permission_ops
from control_room.store.permission_ops import request as ask
from tests.conftest import START, FakeClock, coordinator_at, run_cli

DAY = 86400.0
T = START + 2 * DAY  # the recent tasks are added then; the old one at START


async def history(c: Coordinator, clock: FakeClock, root: Path) -> None:
    """A known history: one old task and six recent ones (see each step's comment)."""
    outside, _ = await c.register_agent("outside", ["*"])

    async def by_hand(task_id: str) -> int:
        return (await c.claim(outside.id, task_id)).lease.epoch

    async def spawned(task_id: str) -> tuple[str, int]:
        run, _ = await c.start_run(task_id, "worker", "command", ["*"], root)
        return run.agent_id, (await c.claim(run.agent_id, task_id)).lease.epoch

    # O: added at START, claimed by hand, completed 50 s later (1 h reported)
    await c.add_task({"id": "O", "title": "old"})
    epoch = await by_hand("O")
    clock.advance(50)
    await c.complete("O", outside.id, epoch, "done", hours=1.0)

    clock.now = T
    for name in "ABCDEF":
        await c.add_task({"id": name, "title": name, "checks": ["true"] if name == "C" else []})
    # A: spawned at T+10, completed at T+100 (first try); its run ends at T+110 costing $0.50
    clock.now = T + 10
    a, epoch = await spawned("A")
    clock.now = T + 100
    await c.complete("A", a, epoch, "done")
    clock.now = T + 110
    await c.end_run(a, 0, "exited", cost_usd=0.5)
    # B: by hand at T+20, released (a failed attempt) at T+30, again by hand, done at T+400
    clock.now = T + 20
    epoch = await by_hand("B")
    clock.now = T + 30
    await c.release("B", outside.id, epoch, "gave up")
    epoch = await by_hand("B")
    clock.now = T + 400
    await c.complete("B", outside.id, epoch, "done", hours=1.5)
    # C: spawned at T+500, handed in at T+900, checks passed at T+1000, merged at T+1200;
    # its run ends at T+1000 costing $1.50
    clock.now = T + 500
    cc, epoch = await spawned("C")
    clock.now = T + 900
    await c.complete("C", cc, epoch, "done", hours=0.25)
    clock.now = T + 1000
    await c.record_verdict("C", epoch, True, "ok")
    await c.end_run(cc, 0, "exited", cost_usd=1.5)
    clock.now = T + 1200
    await c.registry.write(delivery_ops.record_merge, "C", "m" * 40, "c" * 40, "operator")
    # D: never claimed. E: by hand, one attempt allowed, released: FAILED
    await c.add_task({"id": "E2", "title": "E2", "max_attempts": 1})
    epoch = await by_hand("E2")
    await c.release("E2", outside.id, epoch, "cannot")
    # F: spawned at T+1500, in progress, its run still live; two permission requests, one
    # answered after 60 s, one waiting; a `stalled` event at T+1800
    clock.now = T + 1500
    f, epoch = await spawned("F")
    await c.progress("F", f, epoch, 10, "working")
    clock.now = T + 1600
    first = await c.registry.write(ask, f, "Bash", '{"command": "ls"}', "Bash:ls")
    clock.now = T + 1660
    await c.registry.write(permission_ops.answer, first.id, True, False, "", "operator")
    clock.now = T + 1700
    await c.registry.write(ask, f, "Bash", '{"command": "rm x"}', "Bash:rm")
    clock.now = T + 1800
    await c.note("stalled", "stall-watch", "F made no progress")


async def test_figures_of_a_known_history(
    coordinator: Coordinator, registry: SqliteRegistry, clock: FakeClock, tmp_path: Path
) -> None:
    await history(coordinator, clock, tmp_path)
    s = await registry.stats(None, now=T + 2000)
    assert s.tasks_by_status == {"AVAILABLE": 2, "COMPLETED": 4, "FAILED": 1, "IN_PROGRESS": 1}
    assert s.tasks_total == 8
    # started: O B E2 by hand, A C F spawned
    assert (s.started, s.started_auto, s.started_by_hand) == (6, 3, 3)
    assert s.auto_share == pytest.approx(0.5)
    # finished: O A B C (completed) and E2 (failed); first try: O A C
    assert (s.finished, s.first_attempt_successes) == (5, 3)
    assert s.first_attempt_rate == pytest.approx(0.6)
    assert s.completed == 4
    # added -> completed: O 50, A 100, B 400, C 1000 (checks passed); nearest rank
    assert (s.to_completed.count, s.to_completed.median, s.to_completed.p90) == (4, 100, 1000)
    assert (s.to_merged.count, s.to_merged.median, s.to_merged.p90) == (1, 1200, 1200)
    # runs: A 100 s, C 500 s, F live 500 s (to now)
    assert s.runs == 3
    assert s.cost_usd == pytest.approx(2.0)
    assert s.agent_hours == pytest.approx(1100 / 3600)
    assert s.cost_per_completed == pytest.approx(0.5)
    assert s.agent_hours_per_completed == pytest.approx(1100 / 3600 / 4)
    assert s.reported_hours == pytest.approx(2.75)
    assert s.stalls == 1
    assert (s.permission_requests, s.permission_pending) == (2, 1)
    assert (s.permission_wait.count, s.permission_wait.median) == (1, 60)
    assert s.headline() == "4/8 done · auto 50% · 1st try 60% · p50 2m · $2.00 · 1 stalled"


async def test_the_window_keeps_recent_tasks_only(
    coordinator: Coordinator, registry: SqliteRegistry, clock: FakeClock, tmp_path: Path
) -> None:
    await history(coordinator, clock, tmp_path)
    s = await registry.stats(T - DAY, now=T + 2000)
    assert s.tasks_total == 7 and s.tasks_by_status["COMPLETED"] == 3  # O is older
    assert (s.started, s.started_auto, s.finished, s.first_attempt_successes) == (5, 3, 4, 2)
    assert (s.to_completed.count, s.to_completed.median, s.to_completed.p90) == (3, 400, 1000)
    assert s.reported_hours == pytest.approx(1.75)
    later = await registry.stats(T + 1650, now=T + 2000)  # only what started after T+1650
    assert (later.tasks_total, later.runs, later.stalls, later.permission_requests) == (0, 0, 1, 1)


async def test_an_empty_registry_has_no_rates(registry: SqliteRegistry) -> None:
    s = await registry.stats()
    assert s.tasks_total == 0 and s.auto_share is None and s.first_attempt_rate is None
    assert s.to_completed.median is None and s.cost_per_completed is None


@pytest.mark.parametrize("backend", ["sqlite"])  # SQLite's query plans
async def test_the_figures_come_from_indexes(registry: SqliteRegistry) -> None:
    """The queries that would scan the event log at scale use its kind index instead."""
    from control_room.store import stats_sql as q

    for query, params in (
        (q.STARTED, (0.0,)),
        (q.TO_COMPLETED[False], (0.0,)),
        (q.TO_COMPLETED[True], (0.0,)),
        (q.STALLS, (0.0,)),
    ):
        found = await registry._fetch(f"EXPLAIN QUERY PLAN {query}", params)
        plan = [str(r[3]) for r in found]
        assert any("events_by_kind" in line for line in plan), plan
        assert not any(
            line.split()[:2] in (["SCAN", "events"], ["SCAN", "e"], ["SCAN", "f"]) for line in plan
        ), plan


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("24h", 86400), ("7d", 604800), ("45s", 45), ("2w", 1209600)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "d", "0h", "1.5h", "-1d", "1y", "1d2h", "9999999999d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput, match="--since"):
        parse_duration(text)


async def test_cli_json_shape_and_bad_since(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_cli("init", data_dir=data).returncode == 0
    async with coordinator_at(data / "registry.db") as c:
        await c.add_task({"id": "X", "title": "x"})
        agent, _ = await c.register_agent("outside", ["*"])
        claim = await c.claim(agent.id, "X")
        await c.complete("X", agent.id, claim.lease.epoch, "done")
    done = run_cli("stats", "--json", "--since", "1h", data_dir=data)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["tasks_by_status"] == {"COMPLETED": 1}
    assert (figures["started"], figures["started_by_hand"], figures["auto_share"]) == (1, 1, 0.0)
    assert figures["first_attempt_rate"] == 1.0
    assert set(figures["to_completed"]) == {"count", "median", "p90"}
    assert figures["since"] == pytest.approx(figures["now"] - 3600)
    for key in ("cost_usd", "agent_hours", "reported_hours", "stalls", "permission_wait"):
        assert key in figures
    text = run_cli("stats", data_dir=data)
    assert text.returncode == 0 and "started auto" in text.stdout and "0% (0 of 1)" in text.stdout
    bad = run_cli("stats", "--since", "yesterday", data_dir=data)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "control-room: error: --since: 'yesterday' is not a duration like 30m, 24h or 7d"
    ]
