"""Permission requests of spawned agents: asking the operator, waiting, answering.

Claude Code sends every tool use no rule allows to Control Room's `requestPermission` MCP tool
(`--permission-prompt-tool`). `PermissionDesk.ask` stores the request (it shows in the inbox and
is notified), then waits for the operator's answer, written by this process or another one
(the CLI): it wakes on the answer's event in the registry's change feed (from any process), and
re-reads the request every half second in any case. While it waits, the task's lease is renewed.
No answer within the configured time: the request is denied, and the agent is told why.

The answer is what Claude Code expects from a permission prompt tool, as JSON text (checked
against the binary): {"behavior": "allow", "updatedInput": {...}} or
{"behavior": "deny", "message": "..."}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from control_room.domain import ControlRoomError, Event, InvalidInput
from control_room.domain import specs as check
from control_room.domain.permissions import (
    ALLOWED,
    InboxItem,
    PermissionRequest,
    grant_key,
    input_text,
)
from control_room.domain.status import HELD
from control_room.store import permission_ops

if TYPE_CHECKING:
    from control_room.engine.service import Coordinator

POLL_SECONDS = 0.5
DEFAULT_TIMEOUT_SECONDS = 600.0
ANSWERS = ("permission_allowed", "permission_denied")


def request_id(value: Any) -> int:
    """A request id as given on a command line or in a URL."""
    text = str(value).strip() if isinstance(value, int | str) else ""
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput("id", f"{value!r} is not a permission request id (a number)")
    return int(text)


def claude_answer(r: PermissionRequest, tool_input: dict[str, Any]) -> str:
    """The text Claude Code takes from a permission prompt tool."""
    if r.status == ALLOWED:
        return json.dumps({"behavior": "allow", "updatedInput": tool_input})
    if r.answered_by in ("timeout", "supervisor", "agent"):  # not a person's answer
        message = f"Permission to use {r.tool} was denied: {r.reason}."
    else:
        message = f"The operator denied permission to use {r.tool}: {r.reason}"
    return json.dumps({"behavior": "deny", "message": message})


class PermissionDesk:
    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.timeout_seconds = DEFAULT_TIMEOUT_SECONDS
        self._waiting: set[asyncio.Event] = set()
        self.watch = coordinator.feed.watch(self._on_events)  # every process's commits

    def _on_events(self, events: Sequence[Event]) -> None:
        if any(e.kind in ANSWERS for e in events):
            self.wake()

    def wake(self) -> None:
        """Something may have been answered (another process wrote to the registry)."""
        for waiter in self._waiting:
            waiter.set()

    async def ask(self, agent_id: str, tool: str, tool_input: Any, tool_use_id: str = "") -> str:
        """Store the request and wait for the answer; Claude Code's answer text."""
        tool = check.one_line(check.text(tool, "tool_name", 200).strip(), "tool_name", 200)
        if not tool:
            raise InvalidInput("tool_name", "a tool name is required")
        if not isinstance(tool_input, dict):
            raise InvalidInput("input", "must be an object (the tool's input)")
        use_id = check.text(tool_use_id or "", "tool_use_id", 200)
        registry = self.coordinator.registry
        r = await registry.write(
            permission_ops.request,
            agent_id, tool, input_text(tool_input), grant_key(tool, tool_input), use_id,
        )  # fmt: skip
        if r.pending:
            r = await self._wait(r)
        return claude_answer(r, tool_input)

    async def _wait(self, r: PermissionRequest) -> PermissionRequest:
        registry = self.coordinator.registry
        waiter = asyncio.Event()
        self._waiting.add(waiter)
        deadline = time.monotonic() + self.timeout_seconds
        renew_every = max(0.5, self.coordinator.lease_seconds / 3)
        renewed = 0.0
        try:
            while r.pending:
                now = time.monotonic()
                if now >= deadline:
                    return await self._time_out(r)
                if now - renewed >= renew_every:
                    await self._keep_lease(r)
                    renewed = now
                waiter.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(POLL_SECONDS, deadline - now)):
                        await waiter.wait()
                r = await registry.get_permission(r.id)
            return r
        except asyncio.CancelledError:  # the agent went away while it waited
            stopped = "the agent stopped waiting"
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    registry.write(permission_ops.answer, r.id, False, False, stopped, "agent")
                )
            raise
        finally:
            self._waiting.discard(waiter)

    async def _time_out(self, r: PermissionRequest) -> PermissionRequest:
        reason = f"no answer from the operator within {self.timeout_seconds:g} s (timed out)"
        try:
            return await self.coordinator.registry.write(
                permission_ops.answer, r.id, False, False, reason, "timeout"
            )
        except ControlRoomError:  # answered at the last moment
            return await self.coordinator.registry.get_permission(r.id)

    async def _keep_lease(self, r: PermissionRequest) -> None:
        with contextlib.suppress(ControlRoomError):
            task = await self.coordinator.registry.get_task(r.task_id)
            if task.agent_id == r.agent_id and task.status in HELD:
                await self.coordinator.heartbeat(task.id, r.agent_id, task.epoch)

    async def answer(
        self,
        request: Any,
        allow: bool,
        *,
        always: bool = False,
        reason: str = "",
        actor: str = "operator",
    ) -> PermissionRequest:
        """Allow (once, or always for this task) or deny with a reason."""
        number = request_id(request)
        always = check.boolean(always, "always")
        reason = check.text(reason or "", "reason", check.ITEM_MAX).strip()
        if not allow:
            reason = reason or f"denied by {actor}"
            always = False
        return await self.coordinator.registry.write(
            permission_ops.answer, number, allow, always, reason, actor
        )

    async def get(self, request: Any) -> PermissionRequest:
        return await self.coordinator.registry.get_permission(request_id(request))

    async def pending(self, task_id: str | None = None) -> list[PermissionRequest]:
        return await self.coordinator.registry.permission_requests(task_id=task_id, pending=True)

    async def inbox(self) -> list[InboxItem]:
        return await self.coordinator.registry.inbox()

    async def agent_ended(self, agent_id: str, outcome: str) -> None:
        """Deny what an ended agent was still waiting for: it left the inbox with its agent."""
        if any(r.agent_id == agent_id for r in await self.pending()):  # mostly none: no write
            reason = f"the agent {outcome}"
            await self.coordinator.registry.write(
                permission_ops.close_pending, agent_id, reason, "supervisor"
            )

    async def record_denials(
        self, agent_id: str, task_id: str, denials: Sequence[dict[str, Any]]
    ) -> int:
        """Claude Code's `permission_denials` at the end of a run, as events."""
        found = [d for d in denials if isinstance(d, dict)]
        if not found:
            return 0
        return await self.coordinator.registry.write(
            permission_ops.record_denials, agent_id, task_id, found
        )
