"""`control-room stats [--since DURATION] [--json]`: how well the system is doing (the figures
are computed by the store, store/stats_sql.py, and reached through the coordinator; the
text is domain/stats_text.py, shared with the screen's stats view)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from control_room.cli import render
from control_room.domain.stats import parse_duration
from control_room.domain.stats_text import stats_text as stats_text
from control_room.engine import Coordinator


def add_commands(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    stats = command(sub, "stats", "how well the system is doing: tasks, speed, cost, waits")
    stats.add_argument(
        "--since",
        metavar="DURATION",
        help="only tasks added (runs started) in the last 30m, 24h, 7d…",
    )
    stats.add_argument("--json", action="store_true")


async def run(coordinator: Coordinator, args: argparse.Namespace) -> int:
    within = parse_duration(args.since) if args.since is not None else None
    figures = await coordinator.stats(within)
    print(render.as_json(figures.to_dict()) if args.json else stats_text(figures, args.since))
    return 0
