"""Control rooms that share one registry: each engine's record, and when one counts as gone.

Every `run` registers its engine in the registry and heartbeats there; an engine that stopped,
or stayed silent for longer than `gone_seconds`, is gone, and the others settle its runs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

DEFAULT_GONE_SECONDS = 30.0
HEARTBEAT_MAX_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """One engine (the process of `control-room run` or the screen) as the registry knows it."""

    id: str
    host: str  # the name of the machine it runs on
    pid: int
    data_dir: str
    url: str  # where its server listens (for agents on its host)
    started_at: float
    seen_at: float  # its last heartbeat
    stopped_at: float | None = None  # it stopped cleanly, or another engine found it gone
    # where its pids mean something: this boot of its machine and its PID namespace ("" unknown)
    machine: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def heartbeat_seconds(gone_seconds: float) -> float:
    """How often an engine heartbeats: often enough that a few missed beats are not gone."""
    return min(HEARTBEAT_MAX_SECONDS, gone_seconds / 3)


def silent(engine: EngineInfo, now: float, gone_seconds: float) -> bool:
    """Whether the engine stopped, or has not heartbeat for longer than `gone_seconds`."""
    return engine.stopped_at is not None or now - engine.seen_at > gone_seconds
