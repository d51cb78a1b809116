"""Control rooms sharing one registry: `control-room engine list` (the engines registered in
it, live or found gone) and `control-room operator list|revoke NAME` (the operator tokens of
the data directories sharing it, stored hashed)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from control_room.cli import render
from control_room.domain import NotFound
from control_room.engine import Coordinator


def add_commands(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    engine = command(sub, "engine", "the engines (control rooms) sharing the registry")
    engines = engine.add_subparsers(
        dest="engine_command", metavar="ACTION", parser_class=type(engine)
    )
    engines.required = True
    listed = command(engines, "list", "the running engines, with their host and last heartbeat")
    listed.add_argument("--json", action="store_true")
    operator = command(sub, "operator", "the operator tokens of every data directory sharing it")
    operators = operator.add_subparsers(
        dest="operator_command", metavar="ACTION", parser_class=type(operator)
    )
    operators.required = True
    command(operators, "list", "the registered operator tokens (by name; only hashes are kept)")
    revoke = command(operators, "revoke", "revoke the operator token registered under NAME")
    revoke.add_argument("name", help="as `operator list` shows it (host:data directory)")


async def run(coordinator: Coordinator, args: argparse.Namespace) -> int:
    now = time.time()
    if args.command == "engine":
        engines = await coordinator.engines()
        now = await coordinator.registry_time()  # heartbeats are on the registry's clock
        if args.json:
            print(render.as_json([e.to_dict() for e in engines]))
            return 0
        rows = [
            (e.id, e.host, str(e.pid), render.ago(e.started_at, now), render.ago(e.seen_at, now),
             e.data_dir)
            for e in engines
        ]  # fmt: skip
        headers = ("ID", "HOST", "PID", "STARTED", "SEEN", "DATA DIR")
        print(render.table(headers, rows) if rows else "No engine runs on this registry.")
        return 0
    if args.operator_command == "revoke":
        if not await coordinator.revoke_operator(args.name):
            raise NotFound(f"no active operator token named {args.name} (see operator list)")
        print(f"operator token of {args.name}: revoked (every server refuses it)")
        return 0
    tokens = [
        (str(o["name"]), str(o["status"]), render.ago(float(o["created_at"]), now))
        for o in await coordinator.operators()
    ]
    print(render.table(("NAME", "STATUS", "REGISTERED"), tokens) if tokens else "None.")
    return 0
