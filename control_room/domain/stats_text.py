"""The figures of `control-room stats` as lines of text: what the command prints and what the
screen's stats view (key `s`) shows, written once (plain text, standard library only)."""

from __future__ import annotations

from control_room.domain.stats import Spread, Stats


def duration(seconds: float) -> str:
    """`42s`, `3m 07s`, `2h 05m`, `1d 4h`."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"
    return f"{seconds // 86400}d {seconds // 3600 % 24}h"


def _share(part: int, whole: int, rate: float | None) -> str:
    return f"{rate:.0%} ({part} of {whole})" if rate is not None else "- (none yet)"


def _spread(s: Spread) -> str:
    if not s.count or s.median is None or s.p90 is None:
        return "- (none yet)"
    return f"median {duration(s.median)}, p90 {duration(s.p90)} ({s.count} tasks)"


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.2f}"


def _hours(value: float | None) -> str:
    return "-" if value is None else duration(value * 3600)


def stats_text(s: Stats, since: str | None = None) -> str:
    """The figures as lines; `since` names the window as the user wrote it."""
    if s.since is None:
        window = "all tasks"
    else:
        window = f"tasks added in the last {since or duration(s.now - s.since)}"
    statuses = ", ".join(f"{k} {v}" for k, v in s.tasks_by_status.items()) or "none"
    lines = [
        f"Control Room stats ({window})",
        f"  tasks                {s.tasks_total}: {statuses}",
        f"  started auto         {_share(s.started_auto, s.started, s.auto_share)}"
        f"; by hand {s.started_by_hand}",
        f"  first-attempt wins   "
        f"{_share(s.first_attempt_successes, s.finished, s.first_attempt_rate)}",
        f"  added -> completed   {_spread(s.to_completed)}",
        f"  added -> merged      {_spread(s.to_merged)}",
        f"  cost                 {_money(s.cost_usd)} over {s.runs} runs"
        f"; {_money(s.cost_per_completed)} per completed task",
        f"  agent hours          {_hours(s.agent_hours)}"
        f"; {_hours(s.agent_hours_per_completed)} per completed task"
        f"; reported by agents {_hours(s.reported_hours)}",
        f"  stalls               {s.stalls}",
        f"  permission requests  {s.permission_requests} ({s.permission_pending} waiting)"
        f"; answer {_spread(s.permission_wait).replace('tasks', 'answered')}",
    ]
    return "\n".join(lines)
