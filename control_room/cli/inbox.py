"""`control-room inbox` (what waits for the operator) and `control-room permission allow|deny`
(answering an agent's permission request, from any process while the engine runs)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from control_room.cli import render
from control_room.cli.plan import plan_tree
from control_room.domain.permissions import InboxItem, PermissionRequest
from control_room.domain.plans import Plan
from control_room.domain.text import printable
from control_room.engine import Coordinator

HINTS = {
    "approval": "control-room task approve {id}",
    "blocked": "control-room task retry {id}",
    "permission": "control-room permission allow {id}",
    "stalled": "control-room task show {task}",
    "budget": "control-room agent list",
    "plan": "control-room plan approve {id}",
}


def add_commands(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    inbox = command(sub, "inbox", "what waits for the operator, oldest first")
    inbox.add_argument("--json", action="store_true")
    permission = command(sub, "permission", "answer an agent's permission request")
    actions = permission.add_subparsers(
        dest="permission_command", metavar="ACTION", parser_class=type(permission)
    )
    actions.required = True
    allow = command(actions, "allow", "allow the request (once, or --always for its task)")
    allow.add_argument("id")
    allow.add_argument(
        "--always", action="store_true", help="also allow the same tool for the rest of the task"
    )
    deny = command(actions, "deny", "deny the request; the agent is told the reason")
    deny.add_argument("id")
    deny.add_argument("--reason", default="")


def _item(item: InboxItem, plans: dict[str, Plan]) -> dict[str, Any]:
    shown = item.to_dict()
    return shown | {"tasks": list(plans[item.id].tasks)} if item.id in plans else shown


def inbox_table(items: list[InboxItem], now: float) -> str:
    rows = [
        (i.kind, i.id, i.task or "-", i.agent or "-", render.ago(i.since, now),
         printable(i.summary))
        for i in items
    ]  # fmt: skip
    return render.table(("KIND", "ID", "TASK", "AGENT", "SINCE", "SUMMARY"), rows)


async def run(coordinator: Coordinator, args: argparse.Namespace) -> int:
    desk = coordinator.permissions
    if args.command == "inbox":
        items = await desk.inbox()
        plans = {i.id: await coordinator.plans.get(i.id) for i in items if i.kind == "plan"}
        if args.json:
            print(render.as_json([_item(item, plans) for item in items]))
        elif items:
            print(inbox_table(items, time.time()))
            for plan_id, shown in plans.items():
                print(f"plan {plan_id}:", *plan_tree(shown.tasks), sep="\n")
            hint = HINTS.get(items[0].kind, "control-room inbox --json")
            hints = [hint.format(id=items[0].id, task=items[0].task)]
            print(f"  (oldest first; e.g. {', '.join(hints)})")
        else:
            print("the inbox is empty: nothing waits for you")
        return 0
    if args.permission_command == "allow":
        done = await desk.answer(args.id, True, always=args.always)
    else:
        done = await desk.answer(args.id, False, reason=args.reason)
    print(answered(done))
    return 0


def answered(r: PermissionRequest) -> str:
    if r.status == "ALLOWED":
        how = "allowed always for this task" if r.always else "allowed once"
    else:
        how = f"denied ({r.reason})"
    return f"permission {r.id} ({printable(r.summary)}) for {r.task_id}: {how}"


def waiting_lines(pending: list[PermissionRequest]) -> list[str]:
    """For `task show`: the requests its agent is waiting on."""
    return [
        f"  waiting for permission: request {r.id}: {printable(r.summary)}"
        f"  (control-room permission allow {r.id} | deny {r.id} --reason ...)"
        for r in pending
    ]
