"""`control-room task import [--from FORMAT] [--tag TAG] [--dry-run] PATH`.

The default format is Control Room's own JSON/TOML list (cli/importer.py); `taskmaster`,
`backlog` and `github` read other tools' backlogs (control_room/importers). Everything is
checked before anything is written, and written in one transaction; `--dry-run` runs the same
transaction and rolls it back, printing what it would have created.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from control_room.cli.importer import read_task_file
from control_room.domain import InvalidInput, Status, Task
from control_room.engine import Coordinator
from control_room.importers import Backlog, backlog, github, taskmaster
from control_room.importers.common import validate

FORMATS = ("controlroom", "taskmaster", "backlog", "github")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `task import` arguments (cli/main.py builds the parser)."""
    parser.add_argument("file", metavar="PATH", help="the file (or, for backlog, the folder)")
    parser.add_argument(
        "--from", dest="source", choices=FORMATS, default="controlroom",
        help="the format: controlroom (JSON/TOML, the default), taskmaster (tasks.json), "
        "backlog (Backlog.md folder), github (gh issue list --json "
        "number,title,body,labels,state)",
    )  # fmt: skip
    parser.add_argument("--tag", help="taskmaster: the tag to import (default: master)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be created; change nothing"
    )


def read_backlog(source: str, path: Path, tag: str | None) -> Backlog:
    if source == "taskmaster":
        return validate(taskmaster.read(path, tag))
    if source == "backlog":
        return validate(backlog.read(path))
    return validate(github.read(path))


async def task_import(coordinator: Coordinator, args: argparse.Namespace) -> int:
    path = Path(args.file)
    if args.tag is not None and args.source != "taskmaster":
        raise InvalidInput("--tag", "only Task Master files have tags (use --from taskmaster)")
    if args.source == "controlroom":
        raws = read_task_file(path)
        if not args.dry_run:  # unchanged: the ids, one a line
            for task in await coordinator.add_tasks(raws):
                print(task.id)
            return 0
        tasks = await coordinator.import_tasks(raws, dry_run=True)
        _print_plan(tasks, f"would add {len(tasks)} tasks from {path}", {})
        return 0
    found = read_backlog(args.source, path, args.tag)
    raws = [task.fields for task in found.tasks]
    try:
        tasks = await coordinator.import_tasks(raws, found.finished(), dry_run=args.dry_run)
    except InvalidInput as error:  # a dependency on nothing, a cycle: name the file
        raise InvalidInput(f"{found.path}: {error.field}", error.detail) from None
    counts = Counter(_kind(task) for task in tasks)
    shares = ", ".join(f"{counts[k]} {k}" for k in ("open", "completed", "cancelled") if counts[k])
    skipped = "".join(f"; {n} {why} skipped" for why, n in found.skipped.items())
    what = f"{len(tasks)} tasks from {found.source} ({found.path}): {shares}{skipped}"
    if args.dry_run:
        _print_plan(tasks, f"would import {what}", found.skipped)
        return 0
    for task in tasks:
        print(task.id)
    print(f"imported {what}", file=sys.stderr)
    return 0


def _kind(task: Task) -> str:
    if task.status is Status.COMPLETED:
        return "completed"
    return "cancelled" if task.status is Status.CANCELLED else "open"


def _print_plan(tasks: Sequence[Task], headline: str, skipped: dict[str, int]) -> None:
    print(f"dry run: {headline}; nothing was changed")
    width = max(len(task.id) for task in tasks)
    for task in tasks:
        after = f"  (after {', '.join(task.depends_on)})" if task.depends_on else ""
        print(f"  {task.id:<{width}}  {task.status:<9}  {task.priority}  {task.title}{after}")
