"""`control-room` with no subcommand (and `control-room demo`): the screen, with the engine and
the server running inside it. Put together here, so the screen never imports the server."""

from __future__ import annotations

import contextlib
from pathlib import Path

from control_room.config import Home, Settings
from control_room.server.run import StopSignals
from control_room.tui.app import create_app
from control_room.tui.themes import remember_theme
from control_room.world import World, open_world


async def run_screen(
    home: Home,
    settings: Settings,
    host: str,
    port: int,
    project: Path | None = None,
    where: str = "",
) -> None:
    """`where`: a line for the status line (the demo names its world's folder)."""
    signals = StopSignals()

    def opener() -> contextlib.AbstractAsyncContextManager[World]:
        return open_world(
            home,
            settings,
            host,
            port,
            spawn=True,
            signals=signals,
            project=project,
            quiet=True,
            check_later=True,  # draw first; serve and write only once the file is checked
        )

    app = create_app(
        opener,
        theme_name=settings.theme,
        remember_theme=lambda name: remember_theme(home.config, name),
        keys=dict(settings.keys),
        finished_rows=settings.finished_rows,
        where=where,
    )
    await app.run_async()
    if app.failure is not None:  # one line from the CLI, non-zero exit
        raise app.failure
