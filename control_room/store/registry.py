"""The store's one interface: what the engine may ask of any registry implementation.

Reads are methods. Writes go through one method, `write(op, *args, **kwargs)`: `op` is an
operation of the store (store/ops.py, run_ops.py, delivery_ops.py, ...), a function of the
open transaction and the arguments, defined once; the registry runs it in its writer's group
commit. A write either commits whole and returns its result, or raises a domain error and
changes nothing. Every committed event reaches the registry's change `feed` (store/feed.py) in
commit order, right after the commit, whether or not the caller is still waiting for the
result; `outside_changes()` is the backend's wake-up for other processes' writes. SQLite
(store/sqlite.py) is the embedded default; the shape leaves room for a PostgreSQL registry
(SKIP LOCKED claims, LISTEN/NOTIFY for events).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from control_room.domain import (
    Agent,
    Event,
    RoutingDecision,
    Run,
    Status,
    Task,
)
from control_room.domain.engines import EngineInfo
from control_room.domain.listing import Page, TaskFilter
from control_room.domain.models import AgentStatus
from control_room.domain.permissions import InboxItem, PermissionRequest
from control_room.domain.plans import Plan
from control_room.domain.stats import Stats
from control_room.store.feed import ChangeFeed
from control_room.store.routing_store import Changes
from control_room.store.tx import Tx
from control_room.store.watch_store import Activity

Listener = Callable[[Sequence[Event]], None]
P = ParamSpec("P")
T = TypeVar("T")


class Registry(Protocol):
    feed: ChangeFeed

    def outside_changes(self) -> AsyncIterator[None]: ...  # yields when others may have written

    async def close(self) -> None: ...
    async def verified(self) -> None: ...  # the check at open done; StoreError if corrupt

    # every write: `op(tx, *args, **kwargs)` in one transaction of the writer
    async def write(
        self, op: Callable[Concatenate[Tx, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    # tasks
    async def get_task(self, task_id: str) -> Task: ...
    async def list_tasks(
        self, status: Status | None = None, capability: str | None = None
    ) -> list[Task]: ...
    async def task_page(
        self, where: TaskFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[Task]: ...
    async def count_tasks(self, where: TaskFilter, cap: int) -> int: ...
    async def recent_finished(self, before_event: int, limit: int) -> list[tuple[int, Task]]: ...

    # agents
    async def get_agent(self, agent_id: str) -> Agent: ...
    async def agent_by_token_hash(self, token_hash: str) -> Agent | None: ...
    async def list_agents(self) -> list[Agent]: ...
    async def agent_page(
        self, status: AgentStatus | None = None, cursor: str | None = None, limit: int = 100
    ) -> Page[Agent]: ...

    # runs of the agents Control Room starts
    async def get_run(self, agent_id: str) -> Run: ...
    async def runs(self, *, live: bool = False, limit: int = 200) -> list[Run]: ...

    # routing
    async def recent_decisions(self, limit: int) -> list[RoutingDecision]: ...
    # the incremental assignment loop (store/routing_store.py)
    async def changes_since(self, after: int, limit: int = 2000) -> Changes: ...
    async def last_event(self) -> int: ...
    async def tasks_by_id(self, ids: Sequence[str]) -> list[Task]: ...
    async def open_decisions(self) -> dict[str, RoutingDecision]: ...

    # control rooms sharing the registry (store/engine_store.py)
    async def get_engine(self, engine_id: str) -> EngineInfo | None: ...
    async def engines(self, *, running_runs: bool = False) -> list[EngineInfo]: ...

    # history
    async def events(
        self, after: int = 0, limit: int = 1000, task_id: str | None = None
    ) -> list[Event]: ...
    async def recent_events(self, limit: int, task_id: str | None = None) -> list[Event]: ...
    async def last_event_id(self) -> int: ...

    # permission requests of spawned agents, and the operator's inbox
    async def get_permission(self, request_id: int) -> PermissionRequest: ...
    async def permission_requests(
        self, *, task_id: str | None = None, pending: bool = False
    ) -> list[PermissionRequest]: ...
    async def inbox(self) -> list[InboxItem]: ...

    # figures (store/stats_store.py)
    async def stats(self, since: float | None = None, now: float | None = None) -> Stats: ...
    async def event_counts(self, after: int) -> tuple[int, dict[str, int]]: ...
    async def live_counts(self) -> dict[str, Any]: ...
    # the stall guard and the daily budget (store/watch_store.py)
    async def activity(self, agent_ids: Sequence[str]) -> dict[str, Activity]: ...
    async def spent_since(self, since: float) -> float: ...
    async def noted_since(self, kind: str, since: float) -> bool: ...
    # plans proposed by planner agents (store/plan_store.py)
    async def get_plan(self, plan_id: str) -> Plan: ...
    # control rooms sharing the registry (store/engine_store.py)
    async def operator_status(self, token_hash: str) -> str | None: ...
    async def operators(self) -> list[dict[str, Any]]: ...
