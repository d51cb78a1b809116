"""Listings page: a cursor walk sees every task once while tasks come and go, bad paging input
is a 422 naming the field, the default views (open tasks, live agents), `--json` streamed as one
list, getAvailableTasks kept small, and query plans that use an index without sorting."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.server.mcpserver import Context

from control_room.domain import Agent, Status
from control_room.domain.listing import OPEN, TaskFilter, encode_cursor
from control_room.domain.models import AgentStatus
from control_room.engine import Coordinator
from control_room.server.tools import AVAILABLE_SHOWN, build_mcp
from control_room.store import listing_sql
from tests.conftest import FakeClock, coordinator_at, run_cli
from tests.serving import Running, running_server


def key(task: Any) -> tuple[str, float, str]:
    return (str(task.priority), task.created_at, task.id)


async def test_a_walk_returns_every_task_once_while_tasks_come_and_go(
    coordinator: Coordinator, clock: FakeClock
) -> None:
    """Between pages tasks are added (before and after the cursor), claimed, completed and
    cancelled. Every task that exists for the whole walk comes back exactly once in the --all
    walk; in the open walk, every task open for the whole walk does; neither walk repeats one,
    and both stay in (priority, created_at, id) order. The clock moves only now and then, so
    many tasks tie on priority and time and the id decides."""
    rng = random.Random(12)
    worker, _ = await coordinator.register_agent("worker", ["*"])
    await coordinator.add_tasks(
        [{"title": f"first {i}", "priority": f"P{rng.randrange(4)}"} for i in range(300)]
    )
    for open_only in (False, True):
        where = TaskFilter(statuses=OPEN) if open_only else TaskFilter()
        before = {t.id: t for t in await coordinator.tasks()}
        finished_meanwhile: set[str] = set()
        seen: list[Any] = []
        cursor: str | None = None
        while True:
            page = await coordinator.task_page(where, cursor, rng.choice((1, 7, 25, 60)))
            seen += page.items
            if page.next is None:
                break
            cursor = page.next
            clock.advance(rng.choice((0, 0, 1)))
            await coordinator.add_tasks(
                [{"title": "late", "priority": f"P{rng.randrange(4)}"} for _ in range(3)]
            )
            for _ in range(2):  # claim the best fit and finish it, one way or another
                claim = await coordinator.claim(worker.id, None)
                if rng.random() < 0.5:
                    await coordinator.complete(claim.task.id, worker.id, claim.lease.epoch, "ok")
                else:
                    await coordinator.cancel(claim.task.id, "enough")
                finished_meanwhile.add(claim.task.id)
        counts = Counter(t.id for t in seen)
        assert max(counts.values()) == 1, "a task came back twice"
        assert [key(t) for t in seen] == sorted(key(t) for t in seen)
        must = {
            i
            for i, t in before.items()
            if not open_only or (t.status in OPEN and i not in finished_meanwhile)
        }
        assert must, "the walk had something to find"
        assert must <= set(counts), f"missed {sorted(must - set(counts))[:5]}"


async def test_the_last_page_has_no_next(coordinator: Coordinator) -> None:
    await coordinator.add_tasks([{"title": f"t{i}"} for i in range(10)])
    first = await coordinator.task_page(None, None, 5)
    assert len(first.items) == 5 and first.next is not None
    last = await coordinator.task_page(None, first.next, 5)
    assert len(last.items) == 5 and last.next is None, "no empty page at the end"
    everything = await coordinator.task_page(None, None, 1000)
    assert len(everything.items) == 10 and everything.next is None


async def test_filters_run_in_sql(coordinator: Coordinator) -> None:
    holder, _ = await coordinator.register_agent("holder", ["*"])
    await coordinator.add_tasks(
        [
            {"id": "UI", "title": "Button", "capabilities": ["ui"], "priority": "P0"},
            {"id": "API", "title": "Endpoint", "description": "100% of _calls_"},
            {"id": "DOCS", "title": "Write the docs", "capabilities": ["docs"]},
        ]
    )
    await coordinator.claim(holder.id, "UI")

    async def ids(**given: Any) -> list[str]:
        return [t.id for t in (await coordinator.task_page(TaskFilter(**given))).items]

    assert await ids(capability="ui") == ["UI"]
    assert await ids(agent_id=holder.id) == ["UI"]
    assert await ids(statuses=(Status.CLAIMED,)) == ["UI"]
    assert await ids(statuses=(Status.AVAILABLE,)) == ["API", "DOCS"]
    assert await ids(text="100%") == ["API"], "LIKE wildcards are taken literally"
    assert await ids(text="_calls_") == ["API"]
    assert await ids(text="%") == ["API"]
    assert await ids(text="WRITE") == ["DOCS"], "ASCII case does not matter"
    assert await ids(text="nothing like it") == []


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_server(tmp_path) as running:
        yield running


async def walk(http: httpx2.AsyncClient, path: str, key: str, **params: str) -> list[Any]:
    rows: list[Any] = []
    while True:
        answer = await http.get(path, params=params)
        assert answer.status_code == 200, answer.text
        rows += answer.json()[key]
        if answer.json()["next"] is None:
            return rows
        params["cursor"] = answer.json()["next"]


async def test_rest_listings_page(server: Running) -> None:
    await server.coordinator.add_tasks(
        [{"title": f"task {i}", "capabilities": ["ui"] if i % 3 == 0 else []} for i in range(250)]
    )
    agent, _ = await server.coordinator.register_agent("a", ["*"])
    await server.coordinator.claim(agent.id, None)
    async with httpx2.AsyncClient(
        base_url=server.url, headers=server.operator(), timeout=30
    ) as http:
        first = (await http.get("/api/tasks")).json()
        assert len(first["tasks"]) == 100 and first["next"], "default limit 100"
        everything = await walk(http, "/api/tasks", "tasks", limit="99")
        assert len(everything) == len({t["id"] for t in everything}) == 250
        ui = await walk(http, "/api/tasks", "tasks", capability="ui", limit="10")
        assert len(ui) == 84 and all(t["capabilities"] == ["ui"] for t in ui)
        held = (await http.get("/api/tasks", params={"agent": agent.id})).json()
        assert [t["agent_id"] for t in held["tasks"]] == [agent.id] and held["next"] is None
        several = await walk(http, "/api/tasks", "tasks", status="claimed,available", limit="1000")
        assert len(several) == 250
        assert len(await walk(http, "/api/tasks", "tasks", status="open")) == 250
        assert len(await walk(http, "/api/tasks", "tasks", text="task 24")) == 11

        for n in range(4):
            await server.coordinator.register_agent(f"b{n}", [])
        revoked = await server.coordinator.register_agent("gone", [])
        await server.coordinator.revoke_agent(revoked[0].id)
        agents = await walk(http, "/api/agents", "agents", limit="2")
        assert len(agents) == 6 and len({a["id"] for a in agents}) == 6
        live = await walk(http, "/api/agents", "agents", status="active", limit="2")
        assert len(live) == 5 and all(a["status"] == "ACTIVE" for a in live)
        spec = (await http.get("/api/openapi.json")).json()["paths"]
        named = {p["name"] for p in spec["/api/tasks"]["get"]["parameters"]}
        assert {"status", "capability", "agent", "text", "limit", "cursor"} <= named
        assert {"status", "limit", "cursor"} <= {
            p["name"] for p in spec["/api/agents"]["get"]["parameters"]
        }


BAD_PAGING = [
    ("/api/tasks", {"limit": "0"}, "limit"),
    ("/api/tasks", {"limit": "1001"}, "limit"),
    ("/api/tasks", {"limit": "-1"}, "limit"),
    ("/api/tasks", {"limit": "ten"}, "limit"),
    ("/api/tasks", {"limit": "1e3"}, "limit"),
    ("/api/tasks", {"limit": ""}, "limit"),
    ("/api/tasks", {"cursor": "not a cursor"}, "cursor"),
    ("/api/tasks", {"cursor": "e30"}, "cursor"),  # base64 of {}
    ("/api/tasks", {"cursor": ""}, "cursor"),
    ("/api/tasks", {"cursor": encode_cursor("a", (1.0, "A-1"))}, "cursor"),  # an agents cursor
    ("/api/tasks", {"cursor": encode_cursor("t", ("P1", "soon", "T-1"))}, "cursor"),
    ("/api/tasks", {"cursor": "x" * 5000}, "cursor"),
    ("/api/tasks", {"status": "DONE"}, "status"),
    ("/api/tasks", {"status": "AVAILABLE,"}, "status"),
    ("/api/tasks", {"text": "a\x00b"}, "text"),
    ("/api/tasks", {"agent": "A" * 201}, "agent"),
    ("/api/tasks", {"capability": "ui\nx"}, "capability"),
    ("/api/agents", {"limit": "100000"}, "limit"),
    ("/api/agents", {"cursor": encode_cursor("t", ("P1", 1.0, "T-1"))}, "cursor"),
    ("/api/agents", {"status": "SLEEPING"}, "status"),
]


@pytest.mark.parametrize(("path", "params", "field"), BAD_PAGING)
async def test_bad_paging_is_a_422_naming_the_field(
    server: Running, path: str, params: dict[str, str], field: str
) -> None:
    async with httpx2.AsyncClient(base_url=server.url, timeout=30) as http:
        answer = await http.get(path, params=params, headers=server.operator())
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "invalid" and body["field"] == field, body


def seed_cli_world(home: Path) -> None:
    """Two open tasks, one COMPLETED, one CANCELLED; a live agent and a revoked one."""

    async def seed() -> None:
        async with coordinator_at(home / "registry.db") as c:
            for name in ("OPEN-1", "OPEN-2", "FIN", "GONE"):
                await c.add_task({"id": name, "title": f"task {name}"})
            agent, _ = await c.register_agent("live", ["*"])
            claim = await c.claim(agent.id, "FIN")
            await c.complete("FIN", agent.id, claim.lease.epoch, "ok")
            await c.cancel("GONE", "not needed")
            await c.claim(agent.id, "OPEN-2")
            revoked, _ = await c.register_agent("revoked", [])
            await c.revoke_agent(revoked.id)

    asyncio.run(seed())


def listed(home: Path, *args: str) -> list[dict[str, Any]]:
    result = run_cli(*args, "--json", data_dir=home)
    assert result.returncode == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def test_the_default_views_show_open_tasks_and_live_agents(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    seed_cli_world(home)
    assert [t["id"] for t in listed(home, "task", "list")] == ["OPEN-1", "OPEN-2"]
    table = run_cli("task", "list", data_dir=home).stdout
    assert "OPEN-1" in table and "FIN" not in table and "GONE" not in table
    everything = {t["id"] for t in listed(home, "task", "list", "--all")}
    assert everything == {"OPEN-1", "OPEN-2", "FIN", "GONE"}
    assert [t["id"] for t in listed(home, "task", "list", "--status", "completed")] == ["FIN"]
    assert len(listed(home, "task", "list", "--all", "--limit", "3")) == 3
    limited = run_cli("task", "list", "--all", "--limit", "1", data_dir=home)
    assert limited.stdout.count("\n") == 2 and "raise it" in limited.stderr
    both = run_cli("task", "list", "--all", "--status", "COMPLETED", data_dir=home)
    assert both.returncode == 2 and "not allowed with" in both.stderr
    zero = run_cli("task", "list", "--limit", "0", data_dir=home)
    assert zero.returncode == 2 and zero.stderr.count("\n") == 1

    assert [a["name"] for a in listed(home, "agent", "list")] == ["live"]
    assert [a["name"] for a in listed(home, "agent", "list", "--all")] == ["live", "revoked"]
    assert "revoked" not in run_cli("agent", "list", data_dir=home).stdout


def test_empty_default_views_point_to_all(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    assert "no tasks yet" in run_cli("task", "list", data_dir=home).stdout

    async def finish_everything() -> None:
        async with coordinator_at(home / "registry.db") as c:
            await c.add_task({"id": "X", "title": "x"})
            await c.cancel("X")
            agent, _ = await c.register_agent("gone", [])
            await c.revoke_agent(agent.id)

    asyncio.run(finish_everything())
    assert "--all" in run_cli("task", "list", data_dir=home).stdout
    assert "--all" in run_cli("agent", "list", data_dir=home).stdout
    assert listed(home, "task", "list") == [] and listed(home, "agent", "list") == []


def test_json_listing_is_one_list_written_row_by_row(tmp_path: Path) -> None:
    """More tasks than one page (1000): the output is one JSON list, one row per line."""
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0

    async def seed() -> None:
        async with coordinator_at(home / "registry.db") as c:
            await c.add_tasks(
                [{"title": f"t\u0085{i}", "priority": f"P{i % 4}"} for i in range(2500)]
            )

    asyncio.run(seed())
    result = run_cli("task", "list", "--json", data_dir=home)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == len({r["id"] for r in rows}) == 2500
    keys = [(r["priority"], r["created_at"], r["id"]) for r in rows]
    assert keys == sorted(keys)
    lines = result.stdout.splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == 2502
    assert all(json.loads(line.rstrip(","))["id"] for line in lines[1:-1])
    assert "\u0085" not in result.stdout, "C1 controls stay escaped, as render.json_line does"
    assert len(listed(home, "task", "list", "--limit", "1001")) == 1001


async def test_get_available_tasks_stays_small(tmp_path: Path) -> None:
    async with coordinator_at(tmp_path / "registry.db") as coordinator:
        agent, _ = await coordinator.register_agent("reader", ["*"])
        await coordinator.add_tasks(
            [{"title": f"t{i}", "priority": "P0" if i == 29 else "P2"} for i in range(30)]
        )

        async def identify(ctx: Context) -> Agent | None:
            return agent

        async def connect(ctx: Context, name: str, capabilities: list[str]) -> Agent:
            return agent

        async with Client(build_mcp(coordinator, identify, connect)) as client:
            answer = (await client.call_tool("getAvailableTasks", {})).structured_content
            assert answer is not None
            assert len(answer["tasks"]) == AVAILABLE_SHOWN and answer["more"] == 10
            assert answer["tasks"][0]["title"] == "t29", "the most urgent first"
            assert "10 more" in answer["note"]
            few = (
                await client.call_tool("getAvailableTasks", {"capability": "nobody"})
            ).structured_content
            assert few == {"tasks": [], "more": 0, "note": ""}


def plan(db: sqlite3.Connection, query: str, params: list[Any]) -> str:
    return "\n".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {query}", params))


async def test_default_views_use_an_index_and_never_sort(tmp_path: Path) -> None:
    """On a registry of mostly finished tasks and ended agents: the open view, the --all view
    and the agents' views walk an index in order (no temp B-tree), from the start and from a
    cursor."""
    async with coordinator_at(tmp_path / "registry.db") as coordinator:
        await coordinator.add_tasks([{"title": f"t{i}"} for i in range(50)])
        await coordinator.register_agent("a", [])
    db = sqlite3.connect(tmp_path / "registry.db")
    db.executemany(
        "INSERT INTO tasks (task_id, title, priority, status, created_at) VALUES (?, ?, ?, ?, ?)",
        [(f"OLD-{i}", "old", f"P{i % 4}", "AVAILABLE", 1000.0 + i) for i in range(5000)],
    )
    db.execute("UPDATE tasks SET status = 'COMPLETED' WHERE task_id LIKE 'OLD-%'")
    db.executemany(
        "INSERT INTO agents (agent_id, name, status, created_at) VALUES (?, ?, ?, ?)",
        [(f"A-{i}", "spawned", "REVOKED" if i % 50 else "ACTIVE", 1000.0 + i) for i in range(3000)],
    )
    db.commit()
    db.execute("ANALYZE")  # with statistics too, the planner keeps to the index
    for after_task, after_agent in ((None, None), (("P1", 1.0, "T"), (1.0, "A"))):
        views = {
            "tasks_open": listing_sql.task_page(TaskFilter(statuses=OPEN), after_task, 100),
            "tasks_listing": listing_sql.task_page(TaskFilter(), after_task, 100),
            "tasks_by_status": listing_sql.task_page(
                TaskFilter(statuses=(Status.AVAILABLE,)), after_task, 100
            ),
            "agents_live": listing_sql.agent_page(AgentStatus.ACTIVE, after_agent, 100),
            "agents_listing": listing_sql.agent_page(None, after_agent, 100),
        }
        for index, (query, params) in views.items():
            shown = plan(db, query, params)
            assert f"USING INDEX {index}" in shown, shown
            assert "TEMP B-TREE" not in shown, shown
    db.close()
