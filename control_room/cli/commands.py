"""What each `control-room` subcommand does, given parsed arguments."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from control_room.cli import render
from control_room.cli.importer import read_task_file
from control_room.config import Home, load_settings, resolve_home
from control_room.engine import Coordinator, init_home, open_coordinator

FOLLOW_POLL_SECONDS = 0.25


def _home(args: argparse.Namespace) -> Home:
    return resolve_home(getattr(args, "data_dir", None))


async def run(args: argparse.Namespace) -> int:
    home = _home(args)
    if args.command == "init":
        return await init(home)
    settings = load_settings(Path(getattr(args, "config", None) or home.config))
    async with open_coordinator(home, settings) as coordinator:
        if args.command == "task":
            return await TASK_COMMANDS[args.task_command](coordinator, args)
        if args.command == "agent":
            return await agent_list(coordinator, args)
        if args.command == "events":
            return await events(coordinator, args)
    raise AssertionError(f"unhandled command {args.command}")


async def init(home: Home) -> int:
    created = await init_home(home)
    if not created:
        print(f"Control Room is already initialised in {home.root}")
        return 0
    print(f"Initialised Control Room in {home.root}")
    for path in created:
        print(f"  created {path.name}")
    print("Next: control-room task add --title 'My first task'")
    return 0


def _given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The task fields the user actually gave (unset ones keep the domain defaults)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


async def task_add(coordinator: Coordinator, args: argparse.Namespace) -> int:
    raw = _given(
        args,
        "id",
        "title",
        "description",
        "project",
        "priority",
        "type",
        "capabilities",
        "criteria",
        "checks",
        "depends_on",
        "manual",
        "max_attempts",
    )
    task = await coordinator.add_task(raw)
    print(task.id)
    return 0


async def task_import(coordinator: Coordinator, args: argparse.Namespace) -> int:
    tasks = await coordinator.add_tasks(read_task_file(Path(args.file)))
    for task in tasks:
        print(task.id)
    return 0


async def task_list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    tasks = await coordinator.tasks(status=args.status)
    if args.json:
        print(render.as_json([t.to_dict() for t in tasks]))
    elif tasks:
        print(render.task_table(tasks))
    elif args.status:
        print(f"no {args.status} tasks")
    else:
        print("no tasks yet: add one with `control-room task add --title '...'`")
    return 0


async def task_show(coordinator: Coordinator, args: argparse.Namespace) -> int:
    task = await coordinator.task(args.id)
    history = await coordinator.events(task_id=task.id)
    if args.json:
        print(render.as_json(task.to_dict() | {"events": [e.to_dict() for e in history]}))
    else:
        print(render.task_details(task, history, time.time()))
    return 0


def _moved(task_id: str, before: str, after: Any) -> int:
    reason = f" ({after.reason})" if after.reason else ""
    print(f"{task_id}: {before} → {after.status}{reason}")
    return 0


async def task_approve(coordinator: Coordinator, args: argparse.Namespace) -> int:
    before = (await coordinator.task(args.id)).status
    return _moved(args.id, before, await coordinator.approve(args.id))


async def task_reject(coordinator: Coordinator, args: argparse.Namespace) -> int:
    before = (await coordinator.task(args.id)).status
    return _moved(args.id, before, await coordinator.reject(args.id, args.reason))


async def task_cancel(coordinator: Coordinator, args: argparse.Namespace) -> int:
    before = (await coordinator.task(args.id)).status
    return _moved(args.id, before, await coordinator.cancel(args.id, args.reason))


async def task_retry(coordinator: Coordinator, args: argparse.Namespace) -> int:
    before = (await coordinator.task(args.id)).status
    return _moved(args.id, before, await coordinator.retry(args.id))


TASK_COMMANDS = {
    "add": task_add,
    "import": task_import,
    "list": task_list,
    "show": task_show,
    "approve": task_approve,
    "reject": task_reject,
    "cancel": task_cancel,
    "retry": task_retry,
}


async def agent_list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    agents = await coordinator.agents()
    if args.json:
        print(render.as_json([a.to_dict() for a in agents]))
    elif agents:
        print(render.agent_table(agents, time.time()))
    else:
        print("no agents have registered yet")
    return 0


async def events(coordinator: Coordinator, args: argparse.Namespace) -> int:
    """Print the log (the last --limit events unless --after is given); --follow keeps going."""
    registry = coordinator.registry
    if args.after is not None:
        batch = await coordinator.events(after=args.after, limit=args.limit, task_id=args.task)
    elif args.task:
        batch = (await coordinator.events(task_id=args.task, limit=1_000_000))[-args.limit :]
    else:
        batch = await registry.recent_events(args.limit)
    last = batch[-1].id if batch else (args.after or await registry.last_event_id())
    while True:
        for event in batch:
            line = json.dumps(event.to_dict()) if args.json else render.event_line(event)
            print(line, flush=args.follow)
            last = event.id
        if not args.follow:
            return 0
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
        batch = await coordinator.events(after=last, limit=1000, task_id=args.task)
