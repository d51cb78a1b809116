"""Save docs/screenshot.svg: the real screen on the demo world, once the architecture task is
waiting for approval and the other agents are at work.

    python scripts/screenshot.py
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

from control_room.config import load_settings
from control_room.demo.world import create_world
from control_room.server.run import StopSignals
from control_room.tui.app import create_app
from control_room.world import World, open_world

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshot.svg"


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        home, project = await create_world(Path(folder))
        settings, signals = load_settings(home.config), StopSignals()

        def opener() -> contextlib.AbstractAsyncContextManager[World]:
            return open_world(home, settings, "127.0.0.1", 0, spawn=True, signals=signals,
                              project=project, quiet=True)  # fmt: skip

        app = create_app(opener, theme_name="control-room-dark")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(2.5)
            app.tasks.focus()
            app.tasks.move_cursor(row=1)
            await pilot.pause(0.5)
            OUT.write_text(app.export_screenshot(title="Control Room"))
            await app.action_quit()
            while app.is_running:
                await pilot.pause(0.1)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
