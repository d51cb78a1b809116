"""The stall guard: finds running agents that are stuck, for the supervisor to stop.

An agent is stalled when, for `stall_seconds` of its run, nothing shows it alive: its report
(what it writes, stream-json or plain text) does not grow and, unless it is managed, it makes no
call to Control Room (claim, progress, heartbeat, ...: the agent's `last_seen`). A managed
agent's lease is renewed by Control Room itself, so only its output counts. While the agent
waits for the operator's answer to a permission request the clock is paused (the time waited
does not count; the clock goes on where it stopped once the request is answered).

An agent is also stopped when it made the same tool call with the same input `max_repeats`
times in a row (from the `tool_use` blocks of its stream-json report). Either check is off
when its setting is 0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from control_room.store.watch_store import Activity

CALL_SHOWN = 200  # characters of the repeated call quoted in the reason


@dataclass(frozen=True, slots=True)
class Watched:
    """What the guard needs of one running agent."""

    agent_id: str
    report: Path
    managed: bool
    repeated_call: str
    repeats: int


@dataclass(slots=True)
class _Clock:
    signature: tuple[int, float | None]
    idle: float = 0.0  # seconds without a sign of life, pauses left out
    checked: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class Verdict:
    agent_id: str
    rule: str  # "stall" or "repeats"
    why: str  # what the task's reason and the `stalled` event say


def _size(report: Path) -> int:
    try:
        return os.stat(report).st_size
    except OSError:
        return 0


class StallGuard:
    """Keeps an idle clock per running agent; `check` returns those to stop."""

    def __init__(
        self,
        stall_seconds: float,
        max_repeats: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stall_seconds = stall_seconds
        self.max_repeats = max_repeats
        self.clock = clock
        self._clocks: dict[str, _Clock] = {}

    @property
    def enabled(self) -> bool:
        return self.stall_seconds > 0 or self.max_repeats > 0

    def check(self, agents: list[Watched], activity: Mapping[str, Activity]) -> list[Verdict]:
        """Advance each agent's clock to now; the agents to stop, with the reason."""
        now = self.clock()
        self._clocks = {a.agent_id: c for a in agents if (c := self._clocks.get(a.agent_id))}
        found = []
        for agent in agents:
            if self.max_repeats > 0 and agent.repeats >= self.max_repeats:
                call = agent.repeated_call
                shown = call if len(call) <= CALL_SHOWN else call[: CALL_SHOWN - 1] + "…"
                why = f"made the same tool call {agent.repeats} times in a row: {shown}"
                found.append(Verdict(agent.agent_id, "repeats", why))
                continue
            if self.stall_seconds <= 0:
                continue
            seen = activity.get(agent.agent_id)
            signature = (_size(agent.report), None if agent.managed or not seen else seen.last_seen)
            clock = self._clocks.get(agent.agent_id)
            if clock is None or clock.signature != signature:
                self._clocks[agent.agent_id] = _Clock(signature, 0.0, now)
                continue
            if seen is None or not seen.waiting:  # a pending permission request pauses it
                clock.idle += now - clock.checked
            clock.checked = now
            if clock.idle >= self.stall_seconds:
                why = (
                    f"made no progress for {clock.idle:.0f} s (no output"
                    + ("" if agent.managed else ", call or heartbeat")
                    + f"; [agents] stall_seconds = {self.stall_seconds:g})"
                )
                found.append(Verdict(agent.agent_id, "stall", why))
        return found

    def forget(self, agent_id: str) -> None:
        self._clocks.pop(agent_id, None)
