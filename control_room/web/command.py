"""`control-room web [--host H] [--port P] [--allow-remote]`: the screen in a browser.

Each browser tab runs its own screen process (control_room/web/session.py) that never spawns
agents: the data directory's one engine (`control-room` or `control-room run`) does, beside it.
"""

from __future__ import annotations

import argparse
import fcntl
import sys

from control_room.config import Home
from control_room.domain import InvalidInput, StoreError
from control_room.server.run import bind, is_loopback
from control_room.web.server import WebScreen, serve
from control_room.web.session import command

DEFAULT_PORT = 3004


def engine_runs(home: Home) -> bool:
    """Whether another process holds the data directory's engine lock (see world.engine_lock)."""
    path = home.root / "engine.lock"
    if not path.exists():
        return False
    with path.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


async def run_web(args: argparse.Namespace, home: Home) -> int:
    host = args.host or "127.0.0.1"
    if not is_loopback(host):
        if not args.allow_remote:
            raise InvalidInput("--host", f"{host} is not a loopback address: add --allow-remote")
        print(
            f"warning: listening on {host}: anyone who can reach it and holds the operator token "
            "can use the screen",
            file=sys.stderr,
        )
    if not home.operator_token.is_file():
        raise StoreError(f"no operator token in {home.root}: run `control-room init` first")
    token = home.operator_token.read_text(encoding="utf-8").strip()
    config = getattr(args, "config", None)
    argv = command(home, config)
    listening = bind(host, args.port or DEFAULT_PORT)
    try:
        port = listening.getsockname()[1]
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        screen = WebScreen(argv, token, public_url=f"http://{shown}:{port}")
        if not engine_runs(home):
            print(
                f"note: no engine runs on {home.root}: the screen shows and steers tasks, but no "
                "agent starts until `control-room run` (or `control-room`) runs beside it",
                file=sys.stderr,
            )
        await serve(screen, listening)
    finally:
        listening.close()
    return 0
