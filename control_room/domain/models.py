"""Plain records passed around Control Room: tasks, agents, leases, events, decisions."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from control_room.domain.priority import Priority
from control_room.domain.status import Status


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a task, under which fencing epoch, until when (unix seconds)."""

    task_id: str
    agent_id: str
    epoch: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    title: str
    status: Status
    priority: Priority = Priority.P2
    description: str = ""
    project: str = ""
    type: str = "implementation"
    capabilities: tuple[str, ...] = ()
    criteria: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    manual: bool = False
    max_attempts: int = 3
    approved: bool = False
    attempts: int = 0
    epoch: int = 0
    agent_id: str | None = None
    lease_expires_at: float | None = None
    progress: int = 0
    note: str = ""
    reason: str = ""
    feedback: str = ""
    summary: str = ""
    files: tuple[str, ...] = ()
    hours: float | None = None
    created_by: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    # Delivery, for tasks worked on by agents Control Room started in a git worktree: the
    # repository and branch, where the branch started, the newest commit collected on it
    # (at hand-in: the one its checks ran on), and the merge commit once merged.
    repository: str | None = None
    branch: str | None = None
    base_branch: str | None = None
    base_commit: str | None = None
    commit_sha: str | None = None
    merged_commit: str | None = None
    # the agent type routing spawns at once, whatever its rules (a planning task's planner)
    agent_type: str | None = None

    @property
    def lease(self) -> Lease | None:
        if self.agent_id is None or self.lease_expires_at is None:
            return None
        return Lease(self.id, self.agent_id, self.epoch, self.lease_expires_at)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: enums as text, tuples as lists."""
        data = {name: getattr(self, name) for name in _TASK_FIELDS}
        for key in ("capabilities", "criteria", "checks", "depends_on", "files"):
            data[key] = list(data[key])
        data["status"] = str(self.status)
        data["priority"] = str(self.priority)
        return data


_TASK_FIELDS = tuple(f.name for f in fields(Task))


class AgentStatus(StrEnum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str
    capabilities: tuple[str, ...] = ()
    runtime: str = "external"
    status: AgentStatus = AgentStatus.ACTIVE
    created_at: float = 0.0
    last_seen: float | None = None
    task_id: str | None = None  # the task it holds now, if any
    # For agents Control Room started (one per attempt): the process while it runs, and the
    # turns and cost its report shows so far.
    pid: int | None = None
    turns: int | None = None
    cost_usd: float | None = None
    host: str | None = None  # the host of the engine that started it (control rooms sharing)

    def can_take(self, required: tuple[str, ...]) -> bool:
        """An agent fits a task when it has every required capability (`*` fits all)."""
        return "*" in self.capabilities or set(required) <= set(self.capabilities)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["capabilities"] = list(self.capabilities)
        data["status"] = str(self.status)
        return data


@dataclass(frozen=True, slots=True)
class Run:
    """One attempt of an agent Control Room started for a task: where, which process, how it
    ended. The agent (and its token) exists for this run only."""

    agent_id: str
    task_id: str
    attempt: int  # 1, 2, ... per task: the folder runs/<task>/<attempt>/
    agent_type: str
    runtime: str
    run_dir: str
    workdir: str
    started_at: float
    pid: int | None = None
    pid_identity: str | None = None  # tells a reused pid from the process that was started
    owner_pid: int | None = None  # the Control Room process that started and watches it
    ended_at: float | None = None
    exit_code: int | None = None
    outcome: str = ""
    turns: int | None = None
    cost_usd: float | None = None
    commit_sha: str | None = None  # the commit its work was collected in (a git worktree)
    engine_id: str | None = None  # the engine (control room) that started and watches it

    @property
    def live(self) -> bool:
        return self.ended_at is None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the append-only history: who did what to which task, when and why."""

    id: int
    at: float
    kind: str
    actor: str
    task_id: str | None = None
    agent_id: str | None = None
    from_status: Status | None = None
    to_status: Status | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["data"] = dict(self.data)
        data["from_status"] = self.from_status and str(self.from_status)
        data["to_status"] = self.to_status and str(self.to_status)
        return data


@dataclass(frozen=True, slots=True)
class Claim:
    """What a successful claim returns: the task as claimed and its lease."""

    task: Task
    lease: Lease


class Decision(StrEnum):
    SPAWN = "spawn"
    AWAIT_APPROVAL = "await_approval"
    WAIT_FOR_CLAIM = "wait_for_claim"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """What the routing policy decided for a task, by which rule, and one sentence of why."""

    task_id: str
    decision: Decision
    rule: str
    why: str
    agent_type: str | None = None
    runtime: str | None = None
    budget_usd: float | None = None
    at: float = 0.0
