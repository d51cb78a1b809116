"""`control-room task diff|merge|push ID`: review a task's branch and deliver it.

`diff` prints the branch against the commit it started from: coloured on a terminal, plain when
piped (and with the agent's control characters defused either way). `merge` merges the branch
into its base branch (a conflict or a dirty checkout of the base branch changes nothing and
exits 1 with one line); merging an already merged task exits 0 and says so. `push` pushes the
branch to the `[delivery] remote`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from control_room.config import load_settings, resolve_home
from control_room.domain.text import printable
from control_room.engine import Coordinator
from control_room.engine.delivery import Delivery

ESC = "\x1b["
STYLES = (  # line prefix -> SGR codes, first match wins
    ("+++", "1"), ("---", "1"), ("diff --git", "1"), ("index ", "1"),
    ("@@", "36"), ("+", "32"), ("-", "31"),
)  # fmt: skip


def add_parsers(tasks: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """The three subcommands, under `control-room task`."""
    diff = command(tasks, "diff", "the task's branch against the commit it started from")
    diff.add_argument("id")
    merge = command(tasks, "merge", "merge the task's branch into its base branch")
    merge.add_argument("id")
    push = command(tasks, "push", "push the task's branch to the [delivery] remote")
    push.add_argument("id")
    push.add_argument("--remote", help="a remote name or URL (default: [delivery] remote)")


def _delivery(coordinator: Coordinator, args: argparse.Namespace) -> Delivery:
    home = resolve_home(getattr(args, "data_dir", None), getattr(args, "registry", None))
    named = getattr(args, "config", None)
    settings = load_settings(Path(named), required=True) if named else load_settings(home.config)
    return Delivery.from_settings(coordinator, settings, Path.cwd(), home.worktrees)


def colour(diff: str) -> str:
    lines = []
    for line in diff.splitlines():
        code = next((c for prefix, c in STYLES if line.startswith(prefix)), None)
        lines.append(f"{ESC}{code}m{line}{ESC}0m" if code else line)
    return "\n".join(lines)


async def task_diff(coordinator: Coordinator, args: argparse.Namespace) -> int:
    task = await coordinator.task(args.id)
    text = printable(await _delivery(coordinator, args).diff(task))
    if not text:
        base = (task.base_commit or "")[:12]
        print(f"{task.id}: no changes on {task.branch} since {base}", file=sys.stderr)
        return 0
    print(colour(text) if sys.stdout.isatty() else text)
    return 0


async def task_merge(coordinator: Coordinator, args: argparse.Namespace) -> int:
    done = await _delivery(coordinator, args).merge(args.id, "operator")
    task, sha = done.task, done.commit[:12]
    if done.already:
        print(f"{task.id} is already merged into {task.base_branch} ({sha})")
        return 0
    where = f"; the checkout in {done.checkout} is updated" if done.checkout else ""
    print(f"{task.id}: merged {task.branch} into {task.base_branch} as {sha}{where}")
    return 0


async def task_push(coordinator: Coordinator, args: argparse.Namespace) -> int:
    task = await coordinator.task(args.id)
    remote = await _delivery(coordinator, args).push(task, args.remote)
    print(f"{task.id}: pushed {task.branch} to {remote}")
    return 0


COMMANDS: dict[str, Callable[[Coordinator, argparse.Namespace], Awaitable[int]]] = {
    "diff": task_diff,
    "merge": task_merge,
    "push": task_push,
}
