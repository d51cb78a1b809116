"""Plans from a spec, piece by piece through real parts: proposals through the real MCP server
(in memory), refusals naming the task index and field, approval (all or nothing, dependencies
kept) and rejection, the planning task pinned to its agent type whatever the routing rules,
the REST endpoints on a real uvicorn server, and the CLI's refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.server.mcpserver import Context

from control_room.domain import Agent, Decision, InvalidInput, Status
from control_room.domain.plans import parse_proposal, tree
from control_room.domain.priority import Priority
from control_room.domain.routing import RoutingRules, World, decide
from control_room.engine import Coordinator
from control_room.engine.anthropic_runtime import AnthropicRuntime
from control_room.engine.notify import Notifier
from control_room.engine.prompt import build_prompt
from control_room.engine.runtimes import Launch
from control_room.server.tools import build_mcp
from tests.conftest import coordinator_at, run_cli
from tests.fake_anthropic import Block, scripted_model, text, tool_results, tool_use
from tests.hooks import Hook
from tests.serving import running_server
from tests.test_anthropic_runtime import MODEL

SPEC = "# Shop\nA cart, then checkout.\n"
GOOD: list[dict[str, Any]] = [
    {"title": "Cart", "priority": "P1", "capabilities": ["backend"]},
    {"title": "Checkout", "dependencies": [0], "checks": ["true"], "criteria": ["pays"]},
    {"title": "Docs", "dependencies": [0, 1], "type": "docs"},
]


async def planning(coordinator: Coordinator) -> tuple[Agent, str, int]:
    """A planning task claimed by a planner agent: (agent, task id, epoch)."""
    task = await coordinator.plans.add(SPEC, "shop.md", "planner")
    agent, _ = await coordinator.register_agent("planner", ["*"], "anthropic")
    claim = await coordinator.claim(agent.id, task.id)
    return agent, task.id, claim.lease.epoch


def mcp_for(coordinator: Coordinator, agent: Agent) -> Any:
    async def identify(ctx: Context) -> Agent | None:
        return agent

    async def connect(ctx: Context, name: str, capabilities: list[str]) -> Agent:
        return agent

    return build_mcp(coordinator, identify, connect)


def error_text(result: Any) -> str:
    assert result.is_error, result
    return str(result.content[0].text)


async def test_a_bad_proposal_is_refused_naming_index_and_field_then_fixed(tmp_path: Path) -> None:
    async with coordinator_at(tmp_path / "registry.db") as coordinator:
        agent, task_id, epoch = await planning(coordinator)
        args = {"taskId": task_id, "epoch": epoch}
        bad = {
            "tasks[1].title": [GOOD[0], {"title": " "}],
            "tasks[0].capabilities": [{"title": "x", "capabilities": ["Not A Word!"]}],
            "tasks[1].dependencies": [GOOD[0], {"title": "y", "dependencies": [5]}],
            "tasks[0].dependencies": [
                {"title": "a", "dependencies": [1]}, {"title": "b", "dependencies": [0]},
            ],
            "tasks[0].colour": [{"title": "a", "colour": "red"}],
            "no task T-NOPE99": [{"title": "a", "dependencies": ["T-NOPE99"]}],
        }  # fmt: skip
        async with Client(mcp_for(coordinator, agent), raise_exceptions=True) as client:
            for named, tasks in bad.items():
                said = error_text(await client.call_tool("proposeTasks", {**args, "tasks": tasks}))
                assert named in said and "refused" in said, said
            assert (await coordinator.task(task_id)).status is Status.CLAIMED, "nothing changed"
            assert not [i for i in await coordinator.permissions.inbox() if i.kind == "plan"]
            stale = await client.call_tool(
                "proposeTasks", {"taskId": task_id, "epoch": epoch + 1, "tasks": GOOD}
            )
            assert "epoch" in error_text(stale)
            done = await client.call_tool("proposeTasks", {**args, "tasks": GOOD})
            assert not done.is_error, done
            plan_id = done.structured_content["plan_id"]  # type: ignore[index]
            again = await client.call_tool("proposeTasks", {**args, "tasks": GOOD})
            assert again.is_error
        handed_in = await coordinator.task(task_id)
        assert handed_in.status is Status.COMPLETED and plan_id in handed_in.summary
        (item,) = [i for i in await coordinator.permissions.inbox() if i.kind == "plan"]
        assert (item.id, item.task, item.agent) == (plan_id, task_id, agent.id)
        assert item.summary == "3 tasks proposed: Plan: shop.md"


async def test_approve_creates_every_task_with_dependencies_once(tmp_path: Path) -> None:
    async with coordinator_at(tmp_path / "registry.db") as coordinator:
        agent, task_id, epoch = await planning(coordinator)
        plan = await coordinator.plans.propose(task_id, agent.id, epoch, GOOD)
        approved, created = await coordinator.plans.approve(plan.id)
        assert approved.status == "APPROVED" and list(approved.created) == [t.id for t in created]
        cart, checkout, docs = created
        assert (cart.status, cart.priority, cart.capabilities) == (
            Status.AVAILABLE, Priority.P1, ("backend",),
        )  # fmt: skip
        assert checkout.status is Status.PENDING and checkout.depends_on == (cart.id,)
        assert (checkout.checks, checkout.criteria) == (("true",), ("pays",))
        assert set(docs.depends_on) == {cart.id, checkout.id} and docs.type == "docs"
        with pytest.raises(Exception, match="already APPROVED"):
            await coordinator.plans.approve(plan.id)
        with pytest.raises(Exception, match="already APPROVED"):
            await coordinator.plans.reject(plan.id, "late")
        kinds = [e.kind for e in await coordinator.events(0, 1000)]
        assert kinds.count("plan_proposed") == 1 and kinds.count("plan_approved") == 1
        assert len(await coordinator.tasks()) == 4  # the planning task and the three


async def test_an_approval_that_cannot_create_everything_creates_nothing(tmp_path: Path) -> None:
    async with coordinator_at(tmp_path / "registry.db") as coordinator:
        blocker = await coordinator.add_task({"title": "existing"})
        agent, task_id, epoch = await planning(coordinator)
        tasks = [GOOD[0], {"title": "after existing", "dependencies": [blocker.id]}]
        plan = await coordinator.plans.propose(task_id, agent.id, epoch, tasks)
        # the existing dependency is gone by the time of the approval: a raw delete
        registry: Any = coordinator.registry
        await registry._write(
            lambda tx: tx.conn.execute("DELETE FROM tasks WHERE task_id = ?", (blocker.id,))
        )
        before = {t.id for t in await coordinator.tasks()}
        with pytest.raises(InvalidInput, match=f"no task {blocker.id}"):
            await coordinator.plans.approve(plan.id)
        assert {t.id for t in await coordinator.tasks()} == before
        assert (await coordinator.plans.get(plan.id)).status == "PENDING"


async def test_reject_keeps_the_reason_and_creates_nothing(tmp_path: Path) -> None:
    async with coordinator_at(tmp_path / "registry.db") as coordinator:
        agent, task_id, epoch = await planning(coordinator)
        plan = await coordinator.plans.propose(task_id, agent.id, epoch, GOOD)
        with pytest.raises(InvalidInput, match="reason"):
            await coordinator.plans.reject(plan.id, " ")
        rejected = await coordinator.plans.reject(plan.id, "too coarse")
        assert (rejected.status, rejected.reason) == ("REJECTED", "too coarse")
        assert len(await coordinator.tasks()) == 1
        events = [e for e in await coordinator.events(0, 1000) if e.kind == "plan_rejected"]
        assert [e.message for e in events] == ["too coarse"]
        assert not [i for i in await coordinator.permissions.inbox() if i.kind == "plan"]


async def test_the_planning_task_spawns_at_once_on_its_agent_type(tmp_path: Path) -> None:
    async with coordinator_at(tmp_path / "registry.db") as coordinator:
        task = await coordinator.plans.add(SPEC, "shop.md", "planner")
        assert (task.type, task.agent_type, task.description) == ("planning", "planner", SPEC)
        # rules that would never spawn it: no auto-spawn priority, planning needs approval
        rules = RoutingRules(spawn_priorities=frozenset(), approval_types=frozenset({"planning"}))
        made = decide(task, World(), rules)
        assert (made.decision, made.rule, made.agent_type, made.runtime) == (
            Decision.SPAWN, "pinned", "planner", "anthropic",
        )  # fmt: skip
        full = decide(task, World(running=3), rules)
        assert (full.decision, full.rule) == (Decision.HOLD, "agent-limit")
        other = await coordinator.plans.add(SPEC, "shop.md", "nobody")
        assert decide(other, World(), rules).rule == "unknown-agent-type"


def test_the_tree_indents_by_dependency() -> None:
    tasks = parse_proposal(
        [{"title": "a"}, {"title": "b", "dependencies": [0]}, {"title": "c"},
         {"title": "d", "dependencies": [1, 2]}]
    )  # fmt: skip
    assert tree(tasks) == [(0, 0), (1, 1), (0, 2), (1, 3)]


async def test_plans_over_rest(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        coordinator = server.coordinator
        agent, task_id, epoch = await planning(coordinator)
        plan = await coordinator.plans.propose(task_id, agent.id, epoch, GOOD)
        other = await planning(coordinator)
        second = await coordinator.plans.propose(other[1], other[0].id, other[2], GOOD[:1])
        async with httpx2.AsyncClient(base_url=server.url, timeout=10) as http:
            shown = await http.get(f"/api/plans/{plan.id}", headers=server.operator())
            assert shown.status_code == 200 and len(shown.json()["tasks"]) == 3
            _, token = await coordinator.register_agent("outsider", ["*"])
            agent_auth = {"Authorization": f"Bearer {token}"}
            forbidden = await http.post(
                f"/api/plans/{plan.id}/approve", json={}, headers=agent_auth
            )
            assert forbidden.status_code == 403
            missing = await http.post(
                "/api/plans/PL-NONE/approve", json={}, headers=server.operator()
            )
            assert missing.status_code == 404 and missing.json()["error"]
            ok = await http.post(
                f"/api/plans/{plan.id}/approve", json={}, headers=server.operator()
            )
            assert ok.status_code == 200 and len(ok.json()["created_tasks"]) == 3
            twice = await http.post(
                f"/api/plans/{plan.id}/approve", json={}, headers=server.operator()
            )
            assert twice.status_code == 409
            no_reason = await http.post(
                f"/api/plans/{second.id}/reject", json={}, headers=server.operator()
            )
            assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
            rejected = await http.post(
                f"/api/plans/{second.id}/reject", json={"reason": "no"}, headers=server.operator()
            )
            assert rejected.json()["status"] == "REJECTED"
            document = (await http.get("/api/openapi.json")).json()
            assert "/api/plans/{plan_id}/approve" in document["paths"]


def test_the_cli_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    spec = tmp_path / "spec.md"
    spec.write_text(SPEC)
    for argv, said in [
        (("plan", str(spec), "--agent", "nobody"), "no agent type 'nobody'"),
        (("plan", str(tmp_path / "missing.md")), "missing.md"),
        (("plan", "approve", "PL-NONE"), "no plan PL-NONE"),
        (("plan", "reject", "PL-NONE"), "reason"),
        (("plan", "approve"), "plan approve ID"),
    ]:
        done = run_cli(*argv, data_dir=home)
        assert done.returncode == 1 and said in done.stderr, (argv, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    empty = tmp_path / "empty.md"
    empty.write_text("  \n")
    assert "the spec is empty" in run_cli("plan", str(empty), data_dir=home).stderr
    added = run_cli("plan", str(spec), "--json", data_dir=home)
    assert added.returncode == 0, added.stderr
    task = json.loads(run_cli("task", "show", json.loads(added.stdout)["task"], "--json",
                              data_dir=home).stdout)  # fmt: skip
    assert task["type"] == "planning" and task["status"] == "AVAILABLE"


def anthropic_planner(body: dict[str, Any]) -> list[Block]:
    """Claim, propose a cycle (refused), propose the good plan, stop."""
    results = tool_results(body)
    if not results:
        return [tool_use("claimTask", {}, 1)]
    claim = json.loads(results[0])
    args = {"taskId": claim["task"]["id"], "epoch": claim["epoch"]}
    if len(results) == 1:
        cycle = [{"title": "a", "dependencies": [1]}, {"title": "b", "dependencies": [0]}]
        return [tool_use("proposeTasks", args | {"tasks": cycle}, 2)]
    if len(results) == 2:
        return [tool_use("proposeTasks", args | {"tasks": GOOD}, 3)]
    return [text("Proposed.")]


async def test_the_anthropic_runtime_plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    async with running_server(tmp_path) as server:
        task = await server.coordinator.plans.add(SPEC, "shop.md", "planner")
        agent, token = await server.coordinator.register_agent("planner", ["*"], "anthropic")
        launch = Launch(
            task_id=task.id, agent_id=agent.id, token=token, server_url=server.url,
            prompt=build_prompt(task), run_dir=tmp_path / "runs" / task.id / "1",
            workdir=tmp_path, wall_clock_seconds=60.0, planning=True,
        )  # fmt: skip
        with scripted_model(anthropic_planner) as model:
            url = f"http://127.0.0.1:{model.server_address[1]}"
            running = await AnthropicRuntime(MODEL, max_turns=8, base_url=url).start(launch)
            assert await running.wait() == 0
        assert "proposeTasks" in [t["name"] for t in model.requests[0]["tools"]]
        assert (
            "proposeTasks" in launch.prompt
            and SPEC.strip()
            in json.loads(launch.prompt.split("<<<TASK DATA\n")[1].split("\nTASK DATA>>>")[0])[
                "description"
            ]
        )
        said = tool_results(model.requests[-1])
        assert "tasks[0].dependencies" in said[1] and "cycle" in said[1], said
        assert (await server.coordinator.task(task.id)).status is Status.COMPLETED
        (item,) = [i for i in await server.coordinator.permissions.inbox() if i.kind == "plan"]
        plan = await server.coordinator.plans.get(item.id)
        assert [t["title"] for t in plan.tasks] == ["Cart", "Checkout", "Docs"]


async def test_a_proposed_plan_is_notified(tmp_path: Path, hook: Hook) -> None:
    async with coordinator_at(tmp_path / "registry.db") as coordinator:
        notifier = Notifier([hook.url])
        coordinator.feed.watch(notifier.on_events)
        agent, task_id, epoch = await planning(coordinator)
        plan = await coordinator.plans.propose(task_id, agent.id, epoch, GOOD)
        await notifier.step()
        (sent,) = hook.received
        assert sent["title"] == f"Control Room: task {task_id} proposed a plan"
        assert f"control-room plan approve {plan.id}" in sent["message"]
        assert "3 tasks proposed" in sent["message"]
