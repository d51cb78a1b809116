"""`control-room stats [--since DURATION] [--json]`: how well the system is doing (the figures
are computed by the store, store/stats_sql.py, and reached through the coordinator)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from control_room.cli import render
from control_room.domain.stats import Spread, Stats, parse_duration
from control_room.engine import Coordinator


def add_commands(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    stats = command(sub, "stats", "how well the system is doing: tasks, speed, cost, waits")
    stats.add_argument(
        "--since",
        metavar="DURATION",
        help="only tasks added (runs started) in the last 30m, 24h, 7d…",
    )
    stats.add_argument("--json", action="store_true")


def _share(part: int, whole: int, rate: float | None) -> str:
    return f"{rate:.0%} ({part} of {whole})" if rate is not None else "- (none yet)"


def _spread(s: Spread) -> str:
    if not s.count or s.median is None or s.p90 is None:
        return "- (none yet)"
    return f"median {render.duration(s.median)}, p90 {render.duration(s.p90)} ({s.count} tasks)"


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.2f}"


def _hours(value: float | None) -> str:
    return "-" if value is None else render.duration(value * 3600)


def stats_text(s: Stats, since: str | None = None) -> str:
    """The figures as lines; `since` names the window as the user wrote it."""
    if s.since is None:
        window = "all tasks"
    else:
        window = f"tasks added in the last {since or render.duration(s.now - s.since)}"
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


async def run(coordinator: Coordinator, args: argparse.Namespace) -> int:
    within = parse_duration(args.since) if args.since is not None else None
    figures = await coordinator.stats(within)
    print(render.as_json(figures.to_dict()) if args.json else stats_text(figures, args.since))
    return 0
