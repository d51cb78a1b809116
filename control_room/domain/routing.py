"""The routing policy: for a task, spawn an agent, hold it for approval, wait for a claim, or hold.

Pure: `decide(task, world, rules)` looks only at its arguments. The defaults follow DESIGN
section 3 and the original design: P0 and P1 tasks spawn an agent at once; architecture and
strategic tasks wait for the operator's approval; manual tasks wait for a human-started agent;
everything else waits to be claimed. Each decision names the rule that made it and says why in
one sentence, for the routing pane and the event log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from control_room.domain.models import Decision, RoutingDecision, Task
from control_room.domain.priority import Priority
from control_room.domain.status import Status


@dataclass(frozen=True, slots=True)
class AgentType:
    """A kind of agent: which task capabilities it serves, and the runtime that starts it."""

    name: str
    runtime: str = "claude-code"
    capabilities: tuple[str, ...] = ()
    command: tuple[str, ...] = ()  # the argv template of the `command` runtime
    prompt_via: str = "stdin"  # command runtime: "stdin" or "file" ({prompt_file} in command)
    model: str | None = None  # anthropic / claude-code: the model to ask for
    max_turns: int | None = None
    # claude-code: None takes the [agents] default (see domain/permissions.py ClaudeSettings)
    allowed_tools: tuple[str, ...] | None = None
    disallowed_tools: tuple[str, ...] | None = None
    permission_mode: str | None = None
    extra_args: tuple[str, ...] | None = None
    # command runtime: Control Room claims, keeps the lease and hands in for the process
    managed: bool = False


# `control-room plan`'s default planner: an in-process agent loop over the Messages API
PLANNER_AGENT = AgentType("planner", "anthropic", ("planning",))
DEVELOPMENT_LEAD = AgentType("development-lead", "claude-code", ("integration",))

# The original design's capability map (determineAgentType), first match wins; development-lead
# also takes whatever no other type serves.
DEFAULT_AGENT_TYPES = (
    AgentType("decision-architect", "claude-code", ("architecture",)),
    AgentType("backend-specialist", "claude-code", ("backend",)),
    AgentType("ui-specialist-pro", "claude-code", ("frontend", "ui")),
    AgentType("quality-lead", "claude-code", ("testing",)),
    DEVELOPMENT_LEAD,
    AgentType("operations-lead", "claude-code", ("deployment",)),
)


@dataclass(frozen=True, slots=True)
class RoutingRules:
    spawn_priorities: frozenset[Priority] = frozenset({Priority.P0, Priority.P1})
    approval_types: frozenset[str] = frozenset({"architecture", "strategic"})
    max_running: int = 3
    budget_usd: float | None = 5.0  # per task; passed to the runtime
    daily_budget_usd: float | None = None  # past it (runs started today), nothing new spawns
    agent_types: tuple[AgentType, ...] = DEFAULT_AGENT_TYPES
    default_agent_type: AgentType = DEVELOPMENT_LEAD

    def agent_type_for(self, task: Task) -> AgentType:
        """The first agent type serving one of the task's capabilities (or its type)."""
        wanted = (*task.capabilities, task.type)
        for kind in self.agent_types:
            if any(need in kind.capabilities for need in wanted):
                return kind
        return self.default_agent_type

    def agent_type_named(self, name: str) -> AgentType | None:
        """The configured agent type of that name, or the built-in planner."""
        found = next((kind for kind in self.agent_types if kind.name == name), None)
        return found or (PLANNER_AGENT if name == PLANNER_AGENT.name else None)


@dataclass(frozen=True, slots=True)
class World:
    """What the policy needs to know beyond the task."""

    running: int = 0  # agents Control Room has started and that are still running
    starting: frozenset[str] = field(default_factory=frozenset)  # tasks an agent was started for
    # tasks whose agent could not be started lately, with the reason: not tried again for a while
    failing: Mapping[str, str] = field(default_factory=dict)
    over_budget: str | None = None  # why nothing may spawn today (the daily budget is spent)


def decide(task: Task, world: World, rules: RoutingRules, now: float = 0.0) -> RoutingDecision:
    def decision(
        kind: Decision, rule: str, why: str, agent: AgentType | None = None
    ) -> RoutingDecision:
        return RoutingDecision(
            task.id, kind, rule, why,
            agent_type=agent.name if agent else None,
            runtime=agent.runtime if agent else None,
            budget_usd=rules.budget_usd if agent else None,
            at=now,
        )  # fmt: skip

    if task.status is Status.PENDING:
        return decision(
            Decision.HOLD, "dependencies", "Waits until its dependencies are completed."
        )
    if task.status is not Status.AVAILABLE:
        return decision(Decision.HOLD, "not-available", f"It is {task.status}: nothing to route.")
    if task.id in world.starting:
        return decision(
            Decision.HOLD,
            "already-starting",
            "An agent was started for it and has not claimed it yet.",
        )
    if task.manual:
        return decision(
            Decision.WAIT_FOR_CLAIM, "manual", "Marked manual: waits for a human-started agent."
        )
    if task.agent_type is not None:  # pinned (a planning task): spawned at once on that type
        return _pinned(task, world, rules, decision)
    needs_approval = task.type in rules.approval_types
    if needs_approval and not task.approved:
        return decision(
            Decision.AWAIT_APPROVAL, "approval",
            f"{task.type.capitalize()} tasks wait for the operator's approval.",
        )  # fmt: skip
    # The operator's approval (or go, `g` on the screen) starts an agent, whatever the priority.
    go_ahead = needs_approval or task.approved
    if go_ahead or task.priority in rules.spawn_priorities:
        if world.over_budget:
            return decision(Decision.HOLD, "daily-budget", world.over_budget)
        if world.running >= rules.max_running:
            busy = f"{world.running} of {rules.max_running} agents are running"
            return decision(Decision.HOLD, "agent-limit", f"{busy}; it spawns when one ends.")
        agent = rules.agent_type_for(task)
        if task.id in world.failing:
            return decision(Decision.HOLD, "start-failed", world.failing[task.id], agent)
        rule, why = (
            ("approved", f"Approved by the operator: starting {agent.name} on {agent.runtime}.")
            if go_ahead
            else ("auto-spawn", f"{task.priority.long_name} task: starting {agent.name} on "
                  f"{agent.runtime}.")
        )  # fmt: skip
        return decision(Decision.SPAWN, rule, why, agent)
    return decision(
        Decision.WAIT_FOR_CLAIM, "claimable",
        f"{task.priority.long_name} tasks wait for an agent to claim them.",
    )  # fmt: skip


def _pinned(
    task: Task, world: World, rules: RoutingRules, decision: Callable[..., RoutingDecision]
) -> RoutingDecision:
    agent = rules.agent_type_named(task.agent_type or "")
    if agent is None:
        return decision(Decision.HOLD, "unknown-agent-type", f"No agent type {task.agent_type}.")
    if world.running >= rules.max_running:
        busy = f"{world.running} of {rules.max_running} agents are running"
        return decision(Decision.HOLD, "agent-limit", f"{busy}; it spawns when one ends.")
    if task.id in world.failing:
        return decision(Decision.HOLD, "start-failed", world.failing[task.id], agent)
    why = f"Pinned to {agent.name}: starting it on {agent.runtime}."
    return decision(Decision.SPAWN, "pinned", why, agent)


def route_all(
    tasks: Iterable[Task], world: World, rules: RoutingRules, now: float = 0.0
) -> list[RoutingDecision]:
    """Decisions for many tasks in queue order, counting the spawns already decided against the
    limit, so one pass never starts more agents than `max_running` allows."""
    ordered = sorted(tasks, key=lambda t: (t.priority, t.created_at))
    running, starting = world.running, set(world.starting)
    decisions = []
    for task in ordered:
        now_world = World(running, frozenset(starting), world.failing, world.over_budget)
        made = decide(task, now_world, rules, now)
        if made.decision is Decision.SPAWN:
            running += 1
            starting.add(task.id)
        decisions.append(made)
    return decisions


def is_news(last: RoutingDecision | None, made: RoutingDecision) -> bool:
    """Worth storing after `last` (the task's last stored decision): every spawn (each starts
    an agent), and any other change of mind; re-deciding the same thing is not news."""
    if last is None or made.decision is Decision.SPAWN:
        return True
    fields = ("decision", "rule", "why", "agent_type", "runtime")
    return any(getattr(last, name) != getattr(made, name) for name in fields)
