"""A plan in the inbox view: its proposed tasks as a tree, each under the proposed task it
waits for (domain/plans.py `tree`), with the other tasks it waits for named beside it; and the
inbox's answers to a plan: approve (every task created at once, or none) and reject (a reason).
Everything shown came from a planner agent: plain text, never markup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import RenderableType
from rich.text import Text
from rich.tree import Tree

from control_room.domain.permissions import InboxItem
from control_room.domain.plans import Plan, tree
from control_room.domain.text import one_line
from control_room.engine import Coordinator

SHOWN_TITLE = 90  # characters of a proposed task's title


def _line(index: int, task: Mapping[str, Any]) -> Text:
    line = Text(f"#{index} ", style="bold")
    line.append(f"[{task['priority']}] ", style="cyan")
    title = one_line(str(task["title"]))
    line.append(title if len(title) <= SHOWN_TITLE else title[: SHOWN_TITLE - 1] + "…")
    if task.get("type") and task["type"] != "implementation":
        line.append(f"  {one_line(str(task['type']))}", style="dim")
    waits = [f"#{i}" for i in task["after"]] + [one_line(str(d)) for d in task["depends_on"]]
    if waits:
        line.append(f"  after {', '.join(waits)}", style="dim")
    return line


def plan_tree(plan: Plan) -> RenderableType:
    """The plan's tasks as a tree (a task sits under the last proposed task it waits for)."""
    head = Text(f"plan {plan.id}", style="bold")
    head.append(f": {len(plan.tasks)} tasks proposed by {one_line(plan.agent_id or '-')}")
    head.append(f" for {plan.task_id}", style="dim")
    root = Tree(head, guide_style="dim")
    nodes: dict[int, Tree] = {}
    for depth, index in tree(plan.tasks):
        task = plan.tasks[index]
        parent = nodes[max(task["after"])] if depth else root
        nodes[index] = parent.add(_line(index, task))
    return root


async def approve(c: Coordinator, item: InboxItem, _: str) -> str:
    plan, created = await c.plans.approve(item.id)
    return f"Approved plan {plan.id}: created {', '.join(t.id for t in created)}"


async def reject(c: Coordinator, item: InboxItem, reason: str) -> str:
    plan = await c.plans.reject(item.id, reason)
    return f"Rejected plan {plan.id}"
