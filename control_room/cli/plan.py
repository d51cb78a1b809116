"""`control-room plan SPEC_FILE [--agent TYPE]` (a planning task, spawned at once on a planner
agent type), `plan show ID`, `plan approve ID` (every proposed task created at once) and
`plan reject ID --reason R`; and the tree of a plan's tasks that `control-room inbox` shows."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from control_room.cli import render
from control_room.config import Settings
from control_room.domain import InvalidInput
from control_room.domain.plans import PLANNER, Plan, tree
from control_room.domain.text import printable
from control_room.engine import Coordinator

ACTIONS = ("show", "approve", "reject")


def add_command(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    plan = command(
        sub, "plan",
        "plan SPEC_FILE: a planner agent proposes tasks; plan show|approve|reject ID",
    )  # fmt: skip
    plan.add_argument("words", nargs="+", metavar="SPEC_FILE | show|approve|reject ID")
    plan.add_argument("--agent", default=PLANNER, metavar="TYPE", help="the planner's agent type")
    plan.add_argument("--reason", default="", help="why a plan is rejected")
    plan.add_argument("--json", action="store_true")


def plan_tree(tasks: Sequence[Mapping[str, Any]], indent: str = "  ") -> list[str]:
    """One line per task, indented under the proposed task it waits for."""
    lines = []
    for depth, index in tree(tasks):
        task = tasks[index]
        deps = [f"#{i}" for i in task["after"]] + list(task["depends_on"])
        after = f" (after {', '.join(deps)})" if deps else ""
        line = f"#{index} [{task['priority']}] {printable(task['title'])}{after}"
        lines.append(indent + "  " * depth + line)
    return lines


def _shown(plan: Plan) -> str:
    head = f"plan {plan.id}: {plan.status}, {len(plan.tasks)} tasks (from {plan.task_id})"
    reason = f"\n  reason: {printable(plan.reason)}" if plan.reason else ""
    return "\n".join([head + reason, *plan_tree(plan.tasks)])


async def run(coordinator: Coordinator, args: argparse.Namespace, settings: Settings) -> int:
    words: list[str] = args.words
    desk = coordinator.plans
    if words[0] in ACTIONS:
        if len(words) != 2:
            raise InvalidInput("plan", f"use `control-room plan {words[0]} ID`")
        if words[0] == "show":
            plan = await desk.get(words[1])
        elif words[0] == "approve":
            plan, created = await desk.approve(words[1])
            if not args.json:
                print(f"approved plan {plan.id}: created {', '.join(t.id for t in created)}")
                return 0
        else:
            plan = await desk.reject(words[1], args.reason)
            if not args.json:
                print(f"rejected plan {plan.id}")
                return 0
        print(render.as_json(plan.to_dict()) if args.json else _shown(plan))
        return 0
    if len(words) != 1:
        raise InvalidInput("plan", "use `control-room plan SPEC_FILE [--agent TYPE]`")
    if settings.routing.agent_type_named(args.agent) is None:
        known = ", ".join(kind.name for kind in settings.routing.agent_types)
        raise InvalidInput("--agent", f"no agent type {args.agent!r} (known: {PLANNER}, {known})")
    path = Path(words[0])
    try:
        spec = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("SPEC_FILE", f"{path} is not UTF-8 text") from None
    task = await desk.add(spec, path.name, args.agent)
    print(render.as_json({"task": task.id, "agent_type": args.agent}) if args.json else task.id)
    return 0
