"""What each `control-room` subcommand does, given parsed arguments."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from control_room.cli import (
    delivery,
    import_backlog,
    inbox,
    listing,
    plan,
    render,
    shared,
    stats,
    steer,
    tidy,
)
from control_room.config import (
    Home,
    Settings,
    load_settings,
    registry_location,
    resolve_home,
    with_registry,
)
from control_room.domain import Event, InvalidInput, Status
from control_room.domain.urls import is_postgres_url, redact
from control_room.engine import Coordinator, init_home, open_coordinator
from control_room.engine.setup import joins
from control_room.engine.validators import NO_RUNNER, checks_have_a_runner
from control_room.private import make_private, private_umask


def _home(args: argparse.Namespace) -> Home:
    return resolve_home(getattr(args, "data_dir", None), getattr(args, "registry", None))


LONG_RUNNING = ("serve", "run", "mcp", "screen", "web")


async def run(args: argparse.Namespace) -> int:
    home = _home(args)
    private_umask()  # the demo too: its world is a data directory like any other
    if args.command != "demo":  # its world is not `home`
        keep_private(home, deep=args.command in LONG_RUNNING)
    if args.command == "init":
        return await init(home)
    if args.command == "demo":
        return await demo(args)
    named = getattr(args, "config", None)
    settings = load_settings(Path(named), required=True) if named else load_settings(home.config)
    home = with_registry(home, settings)
    if args.command == "screen" or (args.command == "run" and not args.headless):
        from control_room.screen import run_screen

        host = getattr(args, "host", None) or settings.host
        await run_screen(home, settings, host, getattr(args, "port", None) or settings.port)
        return 0
    if args.command == "web":
        from control_room.web.command import run_web

        return await run_web(args, home)
    if args.command in ("serve", "mcp", "run"):
        return await doors(args, home, settings)
    if args.command == "backup":
        return await tidy.run_backup(home, args)
    async with open_coordinator(home, settings) as coordinator:
        if args.command == "task":
            return await TASK_COMMANDS[args.task_command](coordinator, args)
        if args.command == "agent":
            return await AGENT_COMMANDS[args.agent_command](coordinator, args)
        if args.command == "events":
            return await events(coordinator, args)
        if args.command in ("inbox", "permission"):
            return await inbox.run(coordinator, args)
        if args.command == "prune":
            return await tidy.run_prune(coordinator, home, args)
        if args.command == "stats":
            return await stats.run(coordinator, args)
        if args.command == "plan":
            return await plan.run(coordinator, args, settings)
        if args.command in ("engine", "operator"):
            return await shared.run(coordinator, args)
    raise AssertionError(f"unhandled command {args.command}")


def keep_private(home: Home, *, deep: bool) -> None:
    """What was left readable by others in the data directory is made private."""
    if changed := make_private(home.root, deep=deep):
        print(
            f"control-room: warning: {changed} files and folders in {home.root} were readable "
            "by other users: made them private (folders 0700, files 0600)",
            file=sys.stderr,
        )


async def doors(args: argparse.Namespace, home: Home, settings: Settings) -> int:
    """`serve`, `run` and `mcp`: the server libraries are imported only when asked for."""
    if args.command == "mcp":
        from control_room.server.stdio import serve_stdio

        await serve_stdio(home, settings)
        return 0
    from control_room.headless import run_headless
    from control_room.server.run import is_loopback

    host, port = args.host or settings.host, args.port or settings.port
    if not is_loopback(host):
        if not args.allow_remote:
            raise InvalidInput("--host", f"{host} is not a loopback address: add --allow-remote")
        print(
            f"warning: listening on {host}: anyone who can reach it and holds a token can act",
            file=sys.stderr,
        )
    spawn = args.command == "run"
    await run_headless(home, settings, host, port, spawn=spawn, log_events=spawn)
    return 0


async def demo(args: argparse.Namespace) -> int:
    """A fresh world in a temporary folder, on the screen, or headless."""
    from control_room.demo.world import create_world

    root = getattr(args, "data_dir", None)
    home, project = await create_world(Path(root) if root else None)
    try:
        return await _run_demo(args, home, project)
    finally:  # a temporary world goes with the demo, unless --keep
        if root is None and not getattr(args, "keep", False):
            shutil.rmtree(home.root.parent, ignore_errors=True)
            print(f"Removed the demo world {home.root.parent} (--keep keeps it)", file=sys.stderr)
        elif root is None:
            print(f"Kept the demo world in {home.root.parent}", file=sys.stderr)


async def _run_demo(args: argparse.Namespace, home: Home, project: Path) -> int:
    from control_room.demo.world import Operator, summary
    from control_room.headless import run_headless

    if not args.headless and sys.stdout.isatty():
        from control_room.screen import run_screen

        settings = load_settings(home.config)
        where = f"demo world {home.root.parent}"
        await run_screen(home, settings, "127.0.0.1", args.port or 0, project, where=where)
        return 0
    print(
        f"Demo world in {home.root.parent}: 6 sample tasks, scripted local agents, no API key.\n"
        "Headless, the demo approves the architecture task itself after a short pause.",
        file=sys.stderr,
    )
    operator = Operator(exit_when_idle=args.exit_when_idle)
    started = time.monotonic()
    await run_headless(
        home, load_settings(home.config), "127.0.0.1", args.port or 0,
        project=project, until=operator.idle,
    )  # fmt: skip
    print(await summary(home, time.monotonic() - started), file=sys.stderr)
    return 1 if operator.timed_out else 0


async def init(home: Home) -> int:
    joined = await joins(home, home.url)
    created = await init_home(home, home.url)
    if not created:
        print(f"Control Room is already initialised in {home.root}")
        return 0
    print(f"Initialised Control Room in {home.root}")
    for path in created:
        print(f"  created {path.name}")
    where = registry_location(home, load_settings(home.config))
    if joined:
        print(
            f"  joined the existing registry {redact(str(where))} (its tasks and agents are shared)"
        )
    elif is_postgres_url(where):
        print(f"  registry {redact(str(where))}")
    if home.config in created and redact(str(where)) != str(where):
        print(
            f"control-room: warning: the registry URL's password is now in {home.config} (0600);"
            " libpq reads PGPASSWORD or ~/.pgpass instead: you may take it out of the URL there",
            file=sys.stderr,
        )
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


SHOW_EVENTS = 40


async def task_show(coordinator: Coordinator, args: argparse.Namespace) -> int:
    """The task and its history: all of it as JSON, the newest part as text."""
    task = await coordinator.task(args.id)
    unchecked = task.status is Status.VALIDATING and not checks_have_a_runner(_home(args))
    note = {"checks_waiting": NO_RUNNER} if unchecked else {}  # `task show` says why it waits
    if args.json:
        history, page = [], await coordinator.events(task_id=task.id)
        while page:
            history += page
            page = await coordinator.events(after=page[-1].id, task_id=task.id)
        pending = [r.to_dict() for r in await coordinator.permissions.pending(task.id)]
        extra = note | {"waiting_for_permission": pending}
        print(render.as_json(task.to_dict() | extra | {"events": [e.to_dict() for e in history]}))
        return 0
    recent = await coordinator.recent_events(SHOW_EVENTS + 1, task_id=task.id)
    waits = note.get("checks_waiting", "")
    print(render.task_details(task, recent[-SHOW_EVENTS:], time.time(), waits))
    for line in inbox.waiting_lines(await coordinator.permissions.pending(task.id)):
        print(line)
    if len(recent) > SHOW_EVENTS:
        print(f"  (older events: control-room events --task {task.id} --limit 1000)")
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
    "import": import_backlog.task_import,
    "list": listing.task_list,
    "show": task_show,
    "approve": task_approve,
    "reject": task_reject,
    "cancel": task_cancel,
    "retry": task_retry,
    "edit": tidy.task_edit,
    **delivery.COMMANDS,
}


async def agent_add(coordinator: Coordinator, args: argparse.Namespace) -> int:
    agent, token = await coordinator.register_agent(
        args.name, args.capabilities or [], args.runtime
    )
    if args.json:
        print(render.as_json({"agent_id": agent.id, "token": token}))
    else:
        print(f"agent {agent.id} ({agent.name})")
        print(f"token {token}")
        print("The token is shown only now; pass it as CONTROL_ROOM_TOKEN or a Bearer header.")
    return 0


async def agent_revoke(coordinator: Coordinator, args: argparse.Namespace) -> int:
    agent = await coordinator.revoke_agent(args.id)
    print(f"{agent.id} ({agent.name}): token revoked")
    return 0


AGENT_COMMANDS = {
    "list": listing.agent_list, "add": agent_add, "revoke": agent_revoke, "say": steer.agent_say,
}  # fmt: skip


async def events(coordinator: Coordinator, args: argparse.Namespace) -> int:
    """Print the log (the last --limit events unless --after is given); --follow keeps going."""
    if args.after is not None:
        batch = await coordinator.events(after=args.after, limit=args.limit, task_id=args.task)
    else:
        batch = await coordinator.recent_events(args.limit, task_id=args.task)
    last = batch[-1].id if batch else (args.after or await coordinator.last_event_id())
    show(batch, args)
    if not args.follow:
        return 0
    # Then every event committed from here on, by any process, as the change feed carries it.
    with coordinator.feed.subscribe(last) as subscription:
        async for found in subscription.batches():
            show([e for e in found if args.task is None or e.task_id == args.task], args)
    return 0


def show(events: list[Event], args: argparse.Namespace) -> None:
    for event in events:
        line = render.json_line(event.to_dict()) if args.json else render.event_line(event)
        print(line, flush=args.follow)
