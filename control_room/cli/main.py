"""`control-room` argument parsing and dispatch; user errors become one line and exit code 1.

Exit codes: 0 success, 1 a refused request (bad value, unknown task, conflict, store problem),
2 a malformed command line, 70 an internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from control_room import __version__, early_stop
from control_room.cli import delivery, import_backlog, inbox, plan, shared, stats, steer, tidy
from control_room.domain import ControlRoomError, InvalidInput, Status

PROG = "control-room"


# Field names of the domain -> the `task add` flags that set them, for error messages.
FLAGS = {
    "capabilities": "--capability",
    "checks": "--check",
    "depends_on": "--depends-on",
    "max_attempts": "--max-attempts",
} | {n: f"--{n}" for n in ("id", "title", "description", "project", "priority", "type", "criteria")}


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _common() -> Parser:
    """Options accepted before or after the subcommand."""
    common = Parser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="data directory (default: $CONTROL_ROOM_HOME or ./.control-room)",
    )
    common.add_argument(
        "--registry",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="the registry: a postgresql:// URL or a SQLite file (default: $CONTROL_ROOM_REGISTRY, "
        "[registry] url, or registry.db in the data directory)",
    )
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="config file (default: control-room.toml in the data directory)",
    )
    return common


def build_parser() -> Parser:
    common = _common()
    parser = Parser(
        prog=PROG,
        parents=[common],
        description="Coordinate AI coding agents: a task registry with leases, and its doors.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(parent: argparse._SubParsersAction[Parser], name: str, help: str) -> Parser:
        return parent.add_parser(name, help=help, description=help, parents=[common])

    command(sub, "init", "create the data directory, default config and operator token")

    def listens(command: Parser) -> Parser:
        command.add_argument("--host", help="address to listen on (default 127.0.0.1)")
        command.add_argument("--port", type=_port, help="port (default 3003)")
        command.add_argument(
            "--allow-remote", action="store_true", help="allow listening on a non-loopback address"
        )
        return command

    run = listens(command(sub, "run", "the engine and the server: routes tasks, spawns agents"))
    run.add_argument("--headless", action="store_true", help="no screen: JSON event lines")
    listens(command(sub, "serve", "the REST and MCP server with the housekeeping loops"))
    listens(command(sub, "web", "the screen in a browser (default 127.0.0.1:3004), token-guarded"))
    demo = command(sub, "demo", "a sample world with scripted local agents (no API key)")
    demo.add_argument("--headless", action="store_true", help="no screen: JSON event lines")
    demo.add_argument(
        "--exit-when-idle", action="store_true", help="stop once nothing is left to do"
    )
    demo.add_argument("--port", type=_port, help="port (default: any free one)")
    demo.add_argument(
        "--keep", action="store_true", help="keep the temporary world when the demo ends"
    )
    command(sub, "mcp", "the MCP tools over stdio, for clients that launch their servers")

    task = command(sub, "task", "add, import, list, show and steer tasks")
    tasks = task.add_subparsers(dest="task_command", metavar="ACTION", parser_class=Parser)
    tasks.required = True
    add = command(tasks, "add", "add a task; prints its id")
    add.add_argument("--title", required=True)
    add.add_argument("--id", help="a task id (default: a generated T-XXXXXX)")
    add.add_argument("--description")
    add.add_argument("--project")
    add.add_argument("--priority", help="P0|P1|P2|P3 or P0-CRITICAL|P1-HIGH|P2-MEDIUM|P3-LOW")
    add.add_argument("--type", help="implementation, architecture, strategic, testing, ...")
    add.add_argument("--capability", action="append", dest="capabilities", metavar="C")
    add.add_argument("--criteria", action="append", metavar="TEXT")
    add.add_argument("--check", action="append", dest="checks", metavar="CMD")
    add.add_argument("--depends-on", action="append", metavar="ID")
    add.add_argument("--manual", action="store_true", default=None)
    add.add_argument("--max-attempts", type=int, metavar="N")

    imp = command(tasks, "import", "add every task in a file or backlog, all or nothing")
    import_backlog.add_arguments(imp)

    listing = command(tasks, "list", "list open tasks by priority, then age")
    shown = listing.add_mutually_exclusive_group()
    shown.add_argument("--status", type=_status, help="only tasks in this status")
    shown.add_argument("--all", action="store_true", help="finished tasks too")
    listing.add_argument("--limit", type=_positive, metavar="N", help="at most N tasks")
    listing.add_argument("--json", action="store_true", help="one JSON list, written as it is read")

    show = command(tasks, "show", "a task with its history")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")

    command(tasks, "approve", "approve a task awaiting approval (or unblock one)").add_argument(
        "id"
    )
    reject = command(tasks, "reject", "reject a task awaiting approval")
    reject.add_argument("id")
    reject.add_argument("--reason", required=True)
    cancel = command(tasks, "cancel", "cancel a task (its holder's next write is refused)")
    cancel.add_argument("id")
    cancel.add_argument("--reason", default="")
    command(tasks, "retry", "give a failed, cancelled or blocked task a fresh start").add_argument(
        "id"
    )
    delivery.add_parsers(tasks, command)
    tidy.add_task_parser(tasks, command)

    agent = command(sub, "agent", "list agents")
    agents = agent.add_subparsers(dest="agent_command", metavar="ACTION", parser_class=Parser)
    agents.required = True
    listed = command(agents, "list", "list live agents (ACTIVE)")
    listed.add_argument("--all", action="store_true", help="revoked agents too")
    listed.add_argument("--json", action="store_true")
    new_agent = command(agents, "add", "register an agent; prints its id and token (shown once)")
    new_agent.add_argument("--name", required=True)
    new_agent.add_argument("--capability", action="append", dest="capabilities", metavar="C")
    new_agent.add_argument("--runtime", default="external")
    new_agent.add_argument("--json", action="store_true")
    command(agents, "revoke", "revoke an agent's token; its task is released").add_argument("id")
    steer.add_parser(agents, command)

    inbox.add_commands(sub, command)
    tidy.add_parsers(sub, command)
    stats.add_commands(sub, command)
    plan.add_command(sub, command)
    shared.add_commands(sub, command)

    events = command(sub, "events", "the event log, oldest first")
    events.add_argument("--after", type=_count, default=None, metavar="N", help="events after id N")
    events.add_argument("--task", metavar="ID", help="only this task's events")
    events.add_argument("--limit", type=_positive, default=50, metavar="N", help="default 50")
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def _status(text: str) -> Status:
    try:
        return Status(text.strip().upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown status {text!r}: use one of {', '.join(Status)}"
        ) from None


def _port(text: str) -> int:
    value = _count(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1-65535)")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _event_loop_factory(command: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (it comes with uvicorn[standard]): a faster event loop for
    serving. Not for the commands that spawn agents: starting a process costs about 3.6 ms
    under uvloop and 0.9 ms under the standard loop (bench/dispatch.py: spawn p99 halves)."""
    if command in ("run", "demo", "screen"):
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        return _fail(f"{error} (see `{PROG} --help`)", 2)
    if args.command is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            parser.print_help()  # no terminal to draw the screen on
            return 0
        args.command = "screen"
    if args.command == "serve" or getattr(args, "headless", False):
        early_stop.catch_early()  # a stop while starting up ends in a clean exit 0
    from control_room.cli import commands  # after catch_early: most of start-up's imports

    try:
        with asyncio.Runner(loop_factory=_event_loop_factory(args.command)) as runner:
            return runner.run(commands.run(args))
    except InvalidInput as error:
        flag = FLAGS.get(error.field) if args.command == "task" else None
        return _fail(f"{flag}: {error.detail}" if flag else error.message, 1)
    except ControlRoomError as error:
        return _fail(error.message, 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`): not an error
        return 0
    except OSError as error:  # a path the user gave that cannot be used
        where = f": {error.filename}" if error.filename else ""
        return _fail(f"{error.strerror or error}{where}", 1)
    except Exception as error:
        if os.environ.get("CONTROL_ROOM_DEBUG"):
            traceback.print_exc()
        hint = "set CONTROL_ROOM_DEBUG=1 to see the traceback"
        return _fail(f"internal error: {type(error).__name__}: {error} ({hint})", 70)
