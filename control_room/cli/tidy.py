"""`control-room task edit`, `prune` and `backup`: change a task, tidy the data directory, copy
the registry.

`task edit` list options replace the whole list (`--check A --check B` leaves exactly A and B);
`--no-capabilities`, `--no-criteria`, `--no-checks`, `--no-depends-on` clear one.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from control_room.config import Home, load_settings, registry_location
from control_room.domain import InvalidInput, StoreError
from control_room.domain.urls import is_postgres_url
from control_room.engine import Coordinator
from control_room.engine.prune import PruneReport
from control_room.store.backup import backup

LISTS = (
    ("capabilities", "--capability", "C", "--no-capabilities"),
    ("criteria", "--criteria", "TEXT", "--no-criteria"),
    ("checks", "--check", "CMD", "--no-checks"),
    ("depends_on", "--depends-on", "ID", "--no-depends-on"),
)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")


def add_task_parser(tasks: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    edit = command(
        tasks, "edit",
        "change a task no agent holds; list options replace the list, --no-X clears it",
    )  # fmt: skip
    edit.add_argument("id")
    for flag in ("--title", "--description", "--priority", "--type"):
        edit.add_argument(flag, default=argparse.SUPPRESS)
    edit.add_argument("--max-attempts", type=int, metavar="N", default=argparse.SUPPRESS)
    for name, flag, metavar, clear in LISTS:
        edit.add_argument(flag, action="append", dest=name, metavar=metavar)
        edit.add_argument(clear, action="store_const", const=[], dest=f"clear_{name}")


def add_parsers(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    pruning = command(
        sub, "prune",
        "remove finished tasks' run folders, merged branches and their clean worktrees",
    )  # fmt: skip
    pruning.add_argument(
        "--older-than", required=True, type=duration, metavar="DURATION",
        help="last event at least this old: 30d, 12h, 90m, 45s, 2w",
    )  # fmt: skip
    pruning.add_argument("--dry-run", action="store_true", help="say what would be removed")
    copy = command(sub, "backup", "a consistent copy of the registry, even while it is in use")
    copy.add_argument("file", metavar="FILE")
    copy.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def duration(text: str) -> float:
    match = DURATION.fullmatch(text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use e.g. 30d, 12h, 90m")
    return float(match[1]) * UNITS[match[2]]


def edit_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("title", "description", "priority", "type", "max_attempts"):
        if hasattr(args, name):
            fields[name] = getattr(args, name)
    for name, flag, _, clear in LISTS:
        given, cleared = getattr(args, name), getattr(args, f"clear_{name}")
        if given is not None and cleared is not None:
            raise InvalidInput(name, f"give {flag} or {clear}, not both")
        if given is not None or cleared is not None:
            fields[name] = given if given is not None else []
    if not fields:
        raise InvalidInput("id", "nothing to change: give at least one option (see --help)")
    return fields


async def task_edit(coordinator: Coordinator, args: argparse.Namespace) -> int:
    before = await coordinator.task(args.id)
    after = await coordinator.edit_task(args.id, edit_fields(args))
    if after == before:
        print(f"{args.id}: nothing changed")
        return 0
    moved = f" ({before.status} → {after.status})" if after.status != before.status else ""
    changed = [n for n in _FIELDS if getattr(before, n) != getattr(after, n)]
    print(f"{args.id}: edited {', '.join(changed)}{moved}")
    return 0


_FIELDS = (
    "title", "description", "priority", "type", "capabilities", "criteria", "checks",
    "depends_on", "max_attempts",
)  # fmt: skip


def size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError


async def run_prune(coordinator: Coordinator, home: Home, args: argparse.Namespace) -> int:
    report = await coordinator.prune(
        home.runs, home.worktrees, args.older_than, dry_run=args.dry_run
    )
    print(prune_summary(report, args.dry_run))
    return 0


def prune_summary(report: PruneReport, dry_run: bool) -> str:
    verb = "would remove" if dry_run else "removed"
    lines = [
        f"{verb} {len(report.runs)} run folder(s), {len(report.worktrees)} worktree(s), "
        f"{len(report.branches)} branch(es): {size(report.bytes_freed)}"
    ]
    lines += [f"  {path}" for path in (*report.runs, *report.worktrees)]
    lines += [f"  branch {name}" for name in report.branches]
    lines += [f"kept {why}" for why in report.kept]
    return "\n".join(lines)


async def run_backup(home: Home, args: argparse.Namespace) -> int:
    if is_postgres_url(registry_location(home, load_settings(home.config))):
        raise StoreError("backup copies a SQLite registry; for PostgreSQL use pg_dump")
    made = await asyncio.to_thread(backup, home.registry, Path(args.file), force=args.force)
    print(
        f"backed up {home.registry} to {made.path}: {size(made.size)}, "
        f"{made.tasks} tasks, {made.events} events (integrity ok)"
    )
    return 0
