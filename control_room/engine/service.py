"""The coordination service: the one set of operations every front end calls.

It validates what callers send (domain rules), applies it through the registry, and publishes
every committed event on the bus, in commit order. The CLI, the server, the loops and the screen
all go through here, so they share exactly the same semantics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from control_room.domain import (
    Agent,
    Claim,
    Event,
    InvalidInput,
    Lease,
    Status,
    Task,
    parse_task_spec,
)
from control_room.domain import specs as check
from control_room.engine import tokens
from control_room.engine.bus import EventBus
from control_room.store import Change, Registry

T = TypeVar("T")


class Coordinator:
    def __init__(
        self, registry: Registry, *, bus: EventBus | None = None, lease_seconds: float = 300.0
    ) -> None:
        self.registry = registry
        self.bus = bus or EventBus()
        self.lease_seconds = lease_seconds

    def _publish(self, change: Change[T]) -> T:
        self.bus.publish(change.events)
        return change.value

    # -- tasks -----------------------------------------------------------------------------

    async def add_task(self, raw: Mapping[str, Any], actor: str = "operator") -> Task:
        spec = parse_task_spec(raw)
        (task,) = self._publish(await self.registry.create_tasks([spec], actor))
        return task

    async def add_tasks(
        self, raws: Sequence[Mapping[str, Any]], actor: str = "operator"
    ) -> list[Task]:
        """All or nothing; an error names the task (by position and title) and the field."""
        specs = []
        for number, raw in enumerate(raws, 1):
            if not isinstance(raw, Mapping):
                raise InvalidInput(f"tasks[{number - 1}]", f"task {number} is not a table/object")
            try:
                specs.append(parse_task_spec(raw))
            except InvalidInput as error:
                label = f"task {number}" + (f" ({raw['title']!r})" if "title" in raw else "")
                raise InvalidInput(
                    f"tasks[{number - 1}].{error.field}", f"{label}: {error.field}: {error.detail}"
                ) from None
        return self._publish(await self.registry.create_tasks(specs, actor))

    async def claim(self, agent_id: str, task_id: str | None = None) -> Claim:
        return self._publish(await self.registry.claim(agent_id, task_id, self.lease_seconds))

    async def progress(
        self, task_id: str, agent_id: str, epoch: int, percent: int, note: str = ""
    ) -> Task:
        percent = check.integer(percent, "percent", 0, 100)
        note = check.text(note, "note", check.ITEM_MAX)
        change = await self.registry.progress(
            task_id, agent_id, epoch, percent, note, self.lease_seconds
        )
        return self._publish(change)

    async def heartbeat(self, task_id: str, agent_id: str, epoch: int) -> Lease:
        change = await self.registry.heartbeat(task_id, agent_id, epoch, self.lease_seconds)
        return self._publish(change)

    async def complete(
        self,
        task_id: str,
        agent_id: str,
        epoch: int,
        summary: str,
        files: Sequence[str] = (),
        hours: float | None = None,
    ) -> Task:
        summary = check.text(summary, "summary").strip()
        paths = check.texts(files, "files")
        if hours is not None:
            hours = check.number(hours, "hours", 0, 10_000)
        change = await self.registry.complete(task_id, agent_id, epoch, summary, paths, hours)
        return self._publish(change)

    async def record_verdict(
        self, task_id: str, epoch: int, passed: bool, output: str, actor: str = "validator"
    ) -> Task:
        return self._publish(await self.registry.verdict(task_id, epoch, passed, output, actor))

    async def release(self, task_id: str, agent_id: str, epoch: int, reason: str) -> Task:
        change = await self.registry.release(task_id, agent_id, epoch, check.reason(reason))
        return self._publish(change)

    async def block(self, task_id: str, agent_id: str, epoch: int, reason: str) -> Task:
        change = await self.registry.block(task_id, agent_id, epoch, check.reason(reason))
        return self._publish(change)

    async def expire_leases(self) -> list[Task]:
        return self._publish(await self.registry.expire_leases())

    async def await_approval(self, task_id: str, why: str, actor: str = "router") -> Task:
        return self._publish(await self.registry.await_approval(task_id, why, actor))

    async def approve(self, task_id: str, actor: str = "operator") -> Task:
        return self._publish(await self.registry.approve(task_id, actor))

    async def reject(self, task_id: str, reason: str, actor: str = "operator") -> Task:
        return self._publish(await self.registry.reject(task_id, check.reason(reason), actor))

    async def cancel(self, task_id: str, reason: str = "", actor: str = "operator") -> Task:
        reason = check.text(reason, "reason", check.ITEM_MAX).strip() or f"cancelled by {actor}"
        return self._publish(await self.registry.cancel(task_id, reason, actor))

    async def retry(self, task_id: str, actor: str = "operator") -> Task:
        return self._publish(await self.registry.retry(task_id, actor))

    async def task(self, task_id: str) -> Task:
        return await self.registry.get_task(task_id)

    async def tasks(
        self, status: Status | None = None, capability: str | None = None
    ) -> list[Task]:
        return await self.registry.list_tasks(status, capability)

    # -- agents ----------------------------------------------------------------------------

    async def register_agent(
        self, name: str, capabilities: Sequence[str] = (), runtime: str = "external"
    ) -> tuple[Agent, str]:
        """A new agent and its token; the token is returned once and stored only as a hash."""
        name = check.one_line(check.text(name, "name", 100).strip(), "name", 100)
        if not name:
            raise InvalidInput("name", "a name is required")
        caps = check.words(capabilities, "capabilities")
        runtime = check.word(runtime, "runtime")
        token = tokens.new_token()
        change = await self.registry.register_agent(
            tokens.new_agent_id(), name, caps, runtime, tokens.token_hash(token)
        )
        return self._publish(change), token

    async def revoke_agent(self, agent_id: str, actor: str = "operator") -> Agent:
        return self._publish(await self.registry.revoke_agent(agent_id, actor))

    async def authenticate(self, token: str) -> Agent | None:
        """The active agent this token belongs to, or None."""
        agent = await self.registry.agent_by_token_hash(tokens.token_hash(token))
        if agent is None or agent.status != "ACTIVE":
            return None
        return agent

    async def agents(self) -> list[Agent]:
        return await self.registry.list_agents()

    # -- history ---------------------------------------------------------------------------

    async def events(
        self, after: int = 0, limit: int = 1000, task_id: str | None = None
    ) -> list[Event]:
        return await self.registry.events(after, limit, task_id)
