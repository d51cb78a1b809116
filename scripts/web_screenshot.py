"""Save docs/web.png: `control-room web` in headless chromium (Debian's package, driven by
Playwright) on the demo world, with `control-room run --headless` beside it: its engine starts
the demo's scripted agents, and the architecture task waits for the operator.

    python scripts/web_screenshot.py
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "web.png"
sys.path.insert(0, str(ROOT))
from control_room.demo.world import create_world  # noqa: E402
from tests.test_web import CATCH_TERMINAL, CHROMIUM, CHROMIUM_ARGS, SCREEN_TEXT  # noqa: E402

CONTROL_ROOM = [sys.executable, "-m", "control_room"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        home, project = asyncio.run(create_world(Path(folder)))
        data = str(home.root)
        web = engine = None
        try:
            web = subprocess.Popen(
                [*CONTROL_ROOM, "--data-dir", data, "web", "--port", str(free_port())],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert web.stdout is not None
            url = web.stdout.readline().split("open ", 1)[1].strip()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1084, "height": 724})
                page.add_init_script(CATCH_TERMINAL)
                page.goto(url)

                def shows(*words: str) -> bool:
                    deadline = time.monotonic() + 120
                    while time.monotonic() < deadline:
                        text = str(page.evaluate(SCREEN_TEXT))
                        if all(word in text for word in words):
                            return True
                        time.sleep(0.2)
                    return False

                assert shows("loops", "DEMO-"), "the screen did not start"
                run = ["run", "--headless", "--port", str(free_port())]
                engine = subprocess.Popen(
                    [*CONTROL_ROOM, "--data-dir", data, *run],
                    cwd=project,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                shows("IN_PROGRESS", "AWAITING_APPROVAL", "%")
                time.sleep(1.5)  # some progress, and the last frame on the canvas
                page.screenshot(path=str(OUT))
                size = page.evaluate("() => [window.__terminal.cols, window.__terminal.rows]")
                browser.close()
            print(f"wrote {OUT} ({size[0]}x{size[1]} cells)")
        finally:
            for process in (engine, web):
                if process is not None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(timeout=60)


if __name__ == "__main__":
    main()
