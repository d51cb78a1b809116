"""One browser tab's screen: what `control-room web` runs for each connection (as argv, never a
shell line). It is the ordinary screen, opened without spawning: any number of tabs may be open
at once, and only the data directory's one engine (`control-room` or `control-room run`) starts
agents. Its own REST server listens on a free loopback port, like `serve` beside the engine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from control_room.config import Home, Settings, load_settings, resolve_home
from control_room.domain import ControlRoomError
from control_room.private import private_umask
from control_room.server.run import StopSignals
from control_room.tui.app import ControlRoomApp, create_app
from control_room.tui.themes import remember_theme
from control_room.world import World, open_world

MODULE = "control_room.web.session"


def command(home: Home, config: str | None) -> list[str]:
    """The argv of a tab's screen process: fixed parts and the operator's own paths."""
    argv = [sys.executable, "-m", MODULE, "--data-dir", str(home.root)]
    return [*argv, "--config", str(Path(config).absolute())] if config else argv


class WebSessionApp(ControlRoomApp):
    """The screen, ended from the browser's side (the tab closed, `control-room web` stopping)
    as its quit key ends it: the world stops and closes the registry first. Textual's web driver
    asks the app to exit at once, which cancelled the world mid-way and left the registry's
    connection thread keeping the process alive."""

    _stopping = False

    async def _on_exit_app(self) -> None:
        if self.world is not None and not self._stopping:
            self._stopping = True
            self.world.stop()  # the world worker exits the app once everything has stopped
            return
        await super()._on_exit_app()


async def run_session(home: Home, settings: Settings) -> None:
    signals = StopSignals()

    def opener() -> contextlib.AbstractAsyncContextManager[World]:
        return open_world(home, settings, "127.0.0.1", 0, spawn=False, signals=signals, quiet=True)

    app = create_app(
        opener,
        theme_name=settings.theme,
        remember_theme=lambda name: remember_theme(home.config, name),
        keys=dict(settings.keys),
    )
    app.__class__ = WebSessionApp  # the factory's app, with the browser's way of ending it
    await app.run_async()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="control-room web session")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    private_umask()
    home = resolve_home(args.data_dir)
    try:
        config = Path(args.config) if args.config else None
        settings = load_settings(config, required=True) if config else load_settings(home.config)
        asyncio.run(run_session(home, settings))
    except ControlRoomError as error:
        print(f"control-room: error: {error.message}", file=sys.stderr)
        return 1
    return 0


def exit_now(code: int) -> None:
    """The screen has ended: leave at once. A registry connection the screen's world left open
    when it was cancelled (the tab closed while it started or stopped) keeps a non-daemon
    thread that would hold the process at interpreter exit; its writes are committed already."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
