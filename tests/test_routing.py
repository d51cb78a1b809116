"""The routing policy: DESIGN section 3's defaults, the agent limit, and the agent-type map."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from control_room.config import load_settings
from control_room.default_config import DEFAULT_CONFIG
from control_room.domain import Decision, InvalidInput, Priority, RoutingDecision, Status, Task
from control_room.domain.routing import (
    AgentType,
    RoutingRules,
    World,
    decide,
    is_news,
    route_all,
)
from control_room.engine import Coordinator
from tests.conftest import FakeClock

RULES = RoutingRules()


def task(**fields: object) -> Task:
    base = Task(id="T-1", title="t", status=Status.AVAILABLE, priority=Priority.P2)
    return replace(base, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "decision", "rule"),
    [
        ({"priority": Priority.P0}, Decision.SPAWN, "auto-spawn"),
        ({"priority": Priority.P1}, Decision.SPAWN, "auto-spawn"),
        ({"priority": Priority.P2}, Decision.WAIT_FOR_CLAIM, "claimable"),
        ({"priority": Priority.P3}, Decision.WAIT_FOR_CLAIM, "claimable"),
        ({"priority": Priority.P0, "type": "architecture"}, Decision.AWAIT_APPROVAL, "approval"),
        ({"priority": Priority.P3, "type": "strategic"}, Decision.AWAIT_APPROVAL, "approval"),
        (
            {"type": "architecture", "approved": True, "priority": Priority.P1},
            Decision.SPAWN,
            "approved",
        ),
        ({"type": "strategic", "approved": True}, Decision.SPAWN, "approved"),  # P2 too
        ({"priority": Priority.P0, "manual": True}, Decision.WAIT_FOR_CLAIM, "manual"),
        # the operator's go (`g` on the screen): any priority spawns
        ({"priority": Priority.P3, "approved": True}, Decision.SPAWN, "approved"),
        ({"priority": Priority.P0, "status": Status.PENDING}, Decision.HOLD, "dependencies"),
        ({"priority": Priority.P0, "status": Status.CLAIMED}, Decision.HOLD, "not-available"),
    ],
)
def test_the_default_rules(fields: dict[str, object], decision: Decision, rule: str) -> None:
    made = decide(task(**fields), World(), RULES, now=5.0)
    assert (made.decision, made.rule, made.task_id, made.at) == (decision, rule, "T-1", 5.0)
    assert made.why.endswith(".") and len(made.why) < 120
    spawning = decision is Decision.SPAWN
    assert (made.agent_type is not None, made.runtime is not None) == (spawning, spawning)
    assert made.budget_usd == (RULES.budget_usd if spawning else None)


def test_a_go_ahead_keeps_to_the_agent_limit() -> None:
    low = task(priority=Priority.P3, approved=True)
    held = decide(low, World(running=RULES.max_running), RULES)
    assert (held.decision, held.rule) == (Decision.HOLD, "agent-limit")


def test_the_agent_limit_holds_spawns() -> None:
    urgent = task(priority=Priority.P0)
    held = decide(urgent, World(running=3), RULES)
    assert (held.decision, held.rule) == (Decision.HOLD, "agent-limit")
    assert "3 of 3 agents" in held.why
    assert decide(urgent, World(running=2), RULES).decision is Decision.SPAWN
    starting = decide(urgent, World(starting=frozenset({"T-1"})), RULES)
    assert (starting.decision, starting.rule) == (Decision.HOLD, "already-starting")


def test_one_pass_never_exceeds_the_limit_and_takes_the_most_urgent_first() -> None:
    tasks = [
        task(id=f"T-{i}", priority=p, created_at=float(i))
        for i, p in enumerate([Priority.P1, Priority.P0, Priority.P1, Priority.P0, Priority.P2])
    ]
    decisions = route_all(tasks, World(running=1), RULES)  # two of three slots free
    assert [d.task_id for d in decisions] == ["T-1", "T-3", "T-0", "T-2", "T-4"]  # queue order
    assert [(d.decision, d.rule) for d in decisions] == [
        (Decision.SPAWN, "auto-spawn"),
        (Decision.SPAWN, "auto-spawn"),
        (Decision.HOLD, "agent-limit"),
        (Decision.HOLD, "agent-limit"),
        (Decision.WAIT_FOR_CLAIM, "claimable"),
    ]


@pytest.mark.parametrize(
    ("capabilities", "type_", "expected"),
    [
        (("backend",), "implementation", "backend-specialist"),
        (("ui", "css"), "implementation", "ui-specialist-pro"),
        (("testing",), "testing", "quality-lead"),
        ((), "architecture", "decision-architect"),
        (("cobol",), "implementation", "development-lead"),
    ],
)
def test_capabilities_map_to_agent_types(
    capabilities: tuple[str, ...], type_: str, expected: str
) -> None:
    made = decide(
        task(priority=Priority.P0, capabilities=capabilities, type=type_, approved=True),
        World(),
        RULES,
    )
    assert made.agent_type == expected and made.runtime == "claude-code"


def test_rules_can_be_changed() -> None:
    rules = RoutingRules(
        spawn_priorities=frozenset({Priority.P0}),
        approval_types=frozenset(),
        max_running=1,
        budget_usd=None,
        agent_types=(AgentType("scripted", "command", ("backend",)),),
    )
    assert decide(task(priority=Priority.P1), World(), rules).decision is Decision.WAIT_FOR_CLAIM
    made = decide(task(priority=Priority.P0, capabilities=("backend",)), World(), rules)
    assert (made.agent_type, made.runtime, made.budget_usd) == ("scripted", "command", None)
    plan = decide(task(priority=Priority.P0, type="architecture"), World(), rules)
    assert plan.decision is Decision.SPAWN, "no approval types configured"


def test_rules_come_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "control-room.toml"
    path.write_text(DEFAULT_CONFIG)
    assert load_settings(path).routing == RoutingRules(), "the written defaults are the defaults"
    path.write_text(
        "[routing]\nspawn_priorities = ['P0-CRITICAL']\napproval_types = []\nmax_running = 8\n"
        "budget_usd = 0\ndefault_agent = 'generalist'\n\n"
        "[[agent_types]]\nname = 'generalist'\nruntime = 'command'\ncommand = ['aider']\n\n"
        "[[agent_types]]\nname = 'db-expert'\nruntime = 'anthropic'\ncapabilities = ['db', 'sql']\n"
    )
    rules = load_settings(path).routing
    assert rules.spawn_priorities == {Priority.P0} and rules.approval_types == frozenset()
    assert (rules.max_running, rules.budget_usd) == (8, None)
    assert [(a.name, a.runtime) for a in rules.agent_types] == [
        ("generalist", "command"), ("db-expert", "anthropic"),
    ]  # fmt: skip
    assert rules.default_agent_type.name == "generalist"
    assert rules.agent_type_for(task(capabilities=("sql",))).name == "db-expert"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[routing]\nspawn_priorities = ['P9']\n", "routing.spawn_priorities"),
        ("[routing]\nmax_running = -1\n", "routing.max_running"),
        ("[routing]\nspawn = ['P0']\n", "routing.spawn: unknown setting"),
        ("[[agent_types]]\nname = 'x'\nruntime = 'docker'\n", "agent_types[1].runtime"),
        ("[[agent_types]]\nname = 'x'\nmodal = 'y'\n", "agent_types[1].modal: unknown setting"),
        ("[[agent_types]]\nname = 'x'\nruntime = 'command'\n", "agent_types[1].command: the"),
        ("[[agent_types]]\nname = 'x'\nprompt_via = 'pipe'\n", "agent_types[1].prompt_via"),
        ("[[agent_types]]\nruntime = 'command'\n", "agent_types[1].name"),
        ("agent_types = 3\n", "agent_types"),
        ("[agents]\non_shutdown = 'pause'\n", "agents.on_shutdown: use one of stop, leave"),
        ("[agents]\nwall_clock_seconds = 0\n", "agents.wall_clock_seconds"),
        ("[agents]\nmax_turns = 'many'\n", "agents.max_turns: has the wrong type"),
        ("[worktrees]\ncleanup = 'sometimes'\n", "worktrees.cleanup: use one of"),
        ("[worktrees]\nenabled = 'yes'\n", "worktrees.enabled: has the wrong type"),
        ("[notify]\nurls = 'ntfy://x'\n", "notify.urls: has the wrong type"),
        ("[notify]\nurls = [3]\n", "notify.urls: must be a list of strings"),
        ("[screen]\nkeys = { approve = 3 }\n", "screen.keys: each key must be a string"),
        ("[screen]\nkeys = 'A'\n", "screen.keys: has the wrong type"),
    ],
)
def test_bad_routing_config_is_named(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "control-room.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=re.escape(where)):
        load_settings(path)


async def record(coordinator: Coordinator, decisions: list[RoutingDecision]) -> Any:
    """What the assignment loop does: keep the news (against each task's last stored
    decision), and append those."""
    last = await coordinator.registry.open_decisions()
    news = [d for d in decisions if is_news(last.get(d.task_id), d)]
    return await coordinator.append_decisions(news)


async def test_decisions_are_stored_and_published_only_when_they_change(
    coordinator: Coordinator, clock: FakeClock
) -> None:
    urgent = await coordinator.add_task({"title": "urgent", "priority": "P0"})
    later = await coordinator.add_task({"title": "later", "priority": "P3"})
    subscription = coordinator.feed.subscribe()
    first = route_all([urgent, later], World(), RULES, now=clock.now)
    stored = await record(coordinator, first)
    assert [d.decision for d in stored] == [Decision.SPAWN, Decision.WAIT_FOR_CLAIM]
    events = [await subscription.get() for _ in range(2)]
    assert [(e.kind, e.task_id, e.data["rule"]) for e in events] == [
        ("routed", urgent.id, "auto-spawn"), ("routed", later.id, "claimable"),
    ]  # fmt: skip
    assert events[0].message == first[0].why

    clock.advance(5)
    again = await record(coordinator, route_all([urgent, later], World(), RULES))
    assert [(d.task_id, d.rule) for d in again] == [(urgent.id, "auto-spawn")], (
        "a spawn starts another agent each time: recorded again; the unchanged wait is not"
    )
    changed = route_all([urgent], World(running=3), RULES)
    assert [d.rule for d in await record(coordinator, changed)] == ["agent-limit"]
    history = await coordinator.decisions()
    assert [(d.task_id, d.rule) for d in history] == [
        (urgent.id, "auto-spawn"), (later.id, "claimable"), (urgent.id, "auto-spawn"),
        (urgent.id, "agent-limit"),
    ]  # fmt: skip
    assert history[0].agent_type == "development-lead" and history[-1].at == clock.now
