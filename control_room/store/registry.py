"""The store's one interface: what the engine may ask of any registry implementation.

A write either commits whole and returns its result, or raises a domain error and changes
nothing. Every committed event is handed, in commit order, to each of `listeners` right after
the commit, whether or not the caller is still waiting for the result. SQLite
(store/sqlite.py) is the embedded default; the shape leaves room for a PostgreSQL registry
(SKIP LOCKED claims, LISTEN/NOTIFY for events).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from control_room.domain import (
    Agent,
    Claim,
    Event,
    Lease,
    RoutingDecision,
    Run,
    Status,
    Task,
    TaskSpec,
)
from control_room.domain.listing import Page, TaskFilter
from control_room.domain.models import AgentStatus
from control_room.domain.permissions import InboxItem, PermissionRequest

Listener = Callable[[Sequence[Event]], None]


class Registry(Protocol):
    listeners: list[Listener]

    async def close(self) -> None: ...

    # tasks
    async def create_tasks(self, specs: Sequence[TaskSpec], actor: str) -> list[Task]: ...
    async def create_task_once(
        self, spec: TaskSpec, actor: str, key: str, fingerprint: str
    ) -> tuple[Task, bool]: ...
    async def import_tasks(
        self,
        specs: Sequence[TaskSpec],
        finished: Mapping[str, tuple[Status, str]],
        actor: str,
        *,
        dry_run: bool = False,
    ) -> list[Task]: ...
    async def claim(self, agent_id: str, task_id: str | None, lease_seconds: float) -> Claim: ...
    async def progress(
        self, task_id: str, agent_id: str, epoch: int, percent: int, note: str, lease_seconds: float
    ) -> Task: ...
    async def heartbeat(
        self, task_id: str, agent_id: str, epoch: int, lease_seconds: float
    ) -> Lease: ...
    async def complete(
        self,
        task_id: str,
        agent_id: str,
        epoch: int,
        summary: str,
        files: tuple[str, ...],
        hours: float | None,
    ) -> Task: ...
    async def verdict(
        self, task_id: str, epoch: int, passed: bool, output: str, actor: str
    ) -> Task: ...
    async def release(self, task_id: str, agent_id: str, epoch: int, reason: str) -> Task: ...
    async def block(self, task_id: str, agent_id: str, epoch: int, reason: str) -> Task: ...
    async def expire_leases(self) -> list[Task]: ...
    async def await_approval(self, task_id: str, why: str, actor: str) -> Task: ...
    async def approve(self, task_id: str, actor: str) -> Task: ...
    async def reject(self, task_id: str, reason: str, actor: str) -> Task: ...
    async def cancel(self, task_id: str, reason: str, actor: str) -> Task: ...
    async def retry(self, task_id: str, actor: str) -> Task: ...

    async def get_task(self, task_id: str) -> Task: ...
    async def list_tasks(
        self, status: Status | None = None, capability: str | None = None
    ) -> list[Task]: ...
    async def task_page(
        self, where: TaskFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[Task]: ...
    async def count_tasks(self, where: TaskFilter, cap: int) -> int: ...

    # agents
    async def register_agent(
        self, agent_id: str, name: str, capabilities: tuple[str, ...], runtime: str, token_hash: str
    ) -> Agent: ...
    async def revoke_agent(self, agent_id: str, actor: str) -> Agent: ...
    async def get_agent(self, agent_id: str) -> Agent: ...
    async def agent_by_token_hash(self, token_hash: str) -> Agent | None: ...
    async def list_agents(self) -> list[Agent]: ...
    async def agent_page(
        self, status: AgentStatus | None = None, cursor: str | None = None, limit: int = 100
    ) -> Page[Agent]: ...

    # runs of the agents Control Room starts
    async def start_run(
        self,
        agent: Agent,
        token_hash: str,
        task_id: str,
        agent_type: str,
        run_root: str,
        owner_pid: int,
    ) -> Run: ...
    async def run_process(
        self, agent_id: str, pid: int | None, identity: str | None, workdir: str
    ) -> Run: ...
    async def end_run(
        self,
        agent_id: str,
        exit_code: int | None,
        outcome: str,
        *,
        counts: bool = True,
        turns: int | None = None,
        cost_usd: float | None = None,
    ) -> Run: ...
    async def start_failed(
        self, agent_id: str, why: str, failures: int, give_up: bool
    ) -> Run | None: ...
    async def run_usage(self, agent_id: str, turns: int | None, cost_usd: float | None) -> None: ...
    async def get_run(self, agent_id: str) -> Run: ...
    async def runs(self, *, live: bool = False, limit: int = 200) -> list[Run]: ...
    async def note(self, kind: str, actor: str, message: str, **data: Any) -> None: ...

    # delivery (store/delivery_ops.py)
    async def set_branch(
        self,
        task_id: str,
        repository: str,
        branch: str,
        base_branch: str | None,
        base_commit: str,
    ) -> Task: ...
    async def record_commit(
        self, task_id: str, agent_id: str | None, sha: str, files: int, on_task: bool, why: str
    ) -> Task: ...
    async def record_merge(self, task_id: str, merged: str, commit: str, actor: str) -> Task: ...
    async def merge_conflict(
        self, task_id: str, files: tuple[str, ...], actor: str, epoch: int | None, feedback: str
    ) -> Task: ...

    # routing
    async def record_decisions(
        self, decisions: Sequence[RoutingDecision]
    ) -> list[RoutingDecision]: ...
    async def recent_decisions(self, limit: int) -> list[RoutingDecision]: ...

    # history
    async def events(
        self, after: int = 0, limit: int = 1000, task_id: str | None = None
    ) -> list[Event]: ...
    async def recent_events(self, limit: int, task_id: str | None = None) -> list[Event]: ...
    async def last_event_id(self) -> int: ...

    # permission requests of spawned agents, and the operator's inbox
    async def request_permission(
        self, agent_id: str, tool: str, text: str, key: str, tool_use_id: str = ""
    ) -> PermissionRequest: ...
    async def answer_permission(
        self, request_id: int, allow: bool, always: bool, reason: str, actor: str
    ) -> PermissionRequest: ...
    async def close_permissions(self, agent_id: str, reason: str, actor: str) -> int: ...
    async def record_denials(
        self, agent_id: str, task_id: str, denials: Sequence[dict[str, Any]]
    ) -> int: ...
    async def get_permission(self, request_id: int) -> PermissionRequest: ...
    async def permission_requests(
        self, *, task_id: str | None = None, pending: bool = False
    ) -> list[PermissionRequest]: ...
    async def inbox(self) -> list[InboxItem]: ...
