"""The numbers of `control-room stats` and `GET /metrics`: plain data, and the parsing of a
`--since` duration. The store computes the figures in SQL (store/stats_sql.py)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from control_room.domain.errors import InvalidInput

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"([0-9]{1,9})([smhdw])")


def parse_duration(text: str, name: str = "--since") -> float:
    """Seconds in a duration like `30m`, `24h`, `7d` (units s, m, h, d, w; one number, one unit)."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None or int(found.group(1)) == 0:
        raise InvalidInput(name, f"{text!r} is not a duration like 30m, 24h or 7d")
    return int(found.group(1)) * _UNITS[found.group(2)]


@dataclass(frozen=True, slots=True)
class Spread:
    """Nearest-rank median and 90th percentile of some durations (seconds), and how many."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class Stats:
    """How the system is doing: over the tasks added since `since` (unix seconds; None: all),
    and the runs, stalls and permission requests that started in that window."""

    now: float
    since: float | None
    tasks_by_status: dict[str, int] = field(default_factory=dict)
    tasks_total: int = 0
    started: int = 0  # tasks claimed at least once
    started_auto: int = 0  # first claim by an agent Control Room spawned
    started_by_hand: int = 0  # first claim by an outside agent
    finished: int = 0  # started tasks now COMPLETED or FAILED
    first_attempt_successes: int = 0  # COMPLETED without a failed attempt
    completed: int = 0
    to_completed: Spread = Spread()
    to_merged: Spread = Spread()
    runs: int = 0
    cost_usd: float = 0.0
    agent_hours: float = 0.0  # spawned agents' run time
    reported_hours: float = 0.0  # tasks.hours that agents handed in, completed tasks
    stalls: int = 0
    permission_requests: int = 0
    permission_pending: int = 0
    permission_wait: Spread = Spread()

    @property
    def auto_share(self) -> float | None:
        return ratio(self.started_auto, self.started)

    @property
    def first_attempt_rate(self) -> float | None:
        return ratio(self.first_attempt_successes, self.finished)

    @property
    def cost_per_completed(self) -> float | None:
        return self.cost_usd / self.completed if self.completed else None

    @property
    def agent_hours_per_completed(self) -> float | None:
        return self.agent_hours / self.completed if self.completed else None

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data |= {
            "auto_share": self.auto_share,
            "first_attempt_rate": self.first_attempt_rate,
            "cost_per_completed_usd": self.cost_per_completed,
            "agent_hours_per_completed": self.agent_hours_per_completed,
        }
        return data

    def headline(self) -> str:
        """One short line of the key figures, for a header (the screen's, later)."""
        parts = [f"{self.completed}/{self.tasks_total} done"]
        if self.auto_share is not None:
            parts.append(f"auto {self.auto_share:.0%}")
        if self.first_attempt_rate is not None:
            parts.append(f"1st try {self.first_attempt_rate:.0%}")
        if self.to_completed.median is not None:
            parts.append(f"p50 {short_duration(self.to_completed.median)}")
        parts.append(f"${self.cost_usd:.2f}")
        if self.stalls:
            parts.append(f"{self.stalls} stalled")
        return " · ".join(parts)


def short_duration(seconds: float) -> str:
    """`42s`, `12m`, `3.5h`, `2.1d`."""
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
