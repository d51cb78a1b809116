"""`control-room web`: a real server process, a real headless chromium (Debian's package, driven
by Playwright), the token at the door, the four panes drawn and a key that approves a task."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from control_room.config import Home
from tests.conftest import coordinator_at, run_cli
from tests.serving import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# textual-serve keeps its xterm.js terminal private: catch it when the page assigns it to
# `this.terminal`, so the test reads the screen's text through xterm's public buffer API.
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    if (value && value.buffer) { window.__terminal = value; }
    Object.defineProperty(this, "terminal", {
      value, writable: true, configurable: true, enumerable: true,
    });
  },
});
"""
SCREEN_TEXT = """() => {
  const t = window.__terminal;
  if (!t) return "";
  const lines = [];
  for (let i = 0; i < t.rows; i++) {
    const line = t.buffer.active.getLine(i);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
}"""
TASK = "ARCH-1"
STARTUP_SECONDS = 60
WAIT_SECONDS = 90


def browser_or_skip() -> Any:
    """Playwright's module, or a skip (a failure under CI=true) saying what is missing."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            from playwright import sync_api
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[test]')"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test cannot run in CI: {missing}")
        pytest.skip(missing)
    return sync_api


def wait_for(
    condition: Callable[[], Any],
    what: str,
    seconds: float = WAIT_SECONDS,
    shown: Callable[[], str] = lambda: "",
) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}\n{shown()}")


@dataclass
class Web:
    url: str
    token: str
    data: Path
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """`control-room web` on a free loopback port over a world with a task awaiting approval."""
    data = tmp_path_factory.mktemp("web") / "data"
    assert run_cli("init", data_dir=data).returncode == 0
    add = ("task", "add", "--id", TASK, "--title", "Design the store", "--type", "architecture")
    assert run_cli(*add, data_dir=data).returncode == 0

    async def hold() -> None:
        async with coordinator_at(Home(data).registry) as coordinator:
            await coordinator.await_approval(TASK, "architecture needs a human")

    asyncio.run(hold())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    process = subprocess.Popen(
        [sys.executable, "-m", "control_room", "--data-dir", str(data), "web", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    started = time.monotonic()
    line = process.stdout.readline()  # the URL line, or "" if it ended
    assert "?token=" in line, (line, process.stderr.read() if process.poll() is not None else "")
    assert time.monotonic() - started < STARTUP_SECONDS
    token = Home(data).operator_token.read_text().strip()
    assert line.strip().endswith(f"http://127.0.0.1:{port}/?token={token}")
    try:
        yield Web(f"http://127.0.0.1:{port}", token, data, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        assert process.stderr is not None
        process.stderr.close()


def status(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_without_the_token_every_route_answers_401(web: Web) -> None:
    for path in ("/", "/ws", "/static/js/textual.js", "/?token=wrong"):
        code, body = status(web.url + path)
        assert code == 401, path
        assert json.loads(body)["error"] == "unauthorized"
    code, _ = status(web.url + "/", {"Cookie": "control_room_web=forged"})
    assert code == 401


def test_the_token_once_in_the_url_then_a_cookie(web: Web) -> None:
    code, _ = status(f"{web.url}/?token={web.token}")
    assert code == 303
    request = urllib.request.Request(f"{web.url}/?token={web.token}")
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(NoRedirect).open(request, timeout=30)
    with redirect.value as answer:
        assert answer.headers["Location"] == "/"  # the token leaves the address bar
        cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert web.token not in cookie  # the cookie holds a value derived from it
    session = cookie.split(";")[0]
    code, page = status(web.url + "/", {"Cookie": session})
    assert code == 200 and "textual-terminal" in page
    # A websocket opened from another site is refused even with the cookie.
    foreign = {"Cookie": session, "Origin": "http://evil.example"}
    assert status(web.url + "/ws", foreign)[0] == 403


def test_the_screen_in_a_browser_approves_a_task(web: Web, tmp_path: Path) -> None:
    sync_api = browser_or_skip()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1180, "height": 800})
            page.add_init_script(CATCH_TERMINAL)
            page.goto(f"{web.url}/?token={web.token}")
            assert page.url == web.url + "/"  # the token is gone from the address bar

            def screen() -> str:
                return str(page.evaluate(SCREEN_TEXT))

            def drawn() -> str:
                text = screen()
                panes = ("tasks", "agents", "routing", "report", TASK)
                ready = all(p in text for p in panes) and "loops" in text
                # the world is open once the task shows awaiting approval and the inbox counts it
                return text if ready and "APPROVAL?" in text and "inbox 1" in text else ""

            # Drawn, and the screen's world is open (its status line shows the loops).
            text = wait_for(drawn, "the four panes and the task", shown=screen)
            assert "APPROVAL?" in text and "inbox 1" in text, text
            shot = tmp_path / "web.png"
            page.screenshot(path=str(shot))
            keep(shot)

            # The keyboard goes to xterm.js's input; the tasks table has the focus and its cursor
            # is on the one task (a click on the selected row would open its details instead).
            page.focus(".xterm-helper-textarea")
            assert TASK in screen().splitlines()[row_of(text, TASK)]
            page.keyboard.press("a")

            def approved() -> dict[str, Any] | None:
                shown = run_cli("task", "show", TASK, "--json", data_dir=web.data)
                task: dict[str, Any] = json.loads(shown.stdout)
                return task if task["status"] == "AVAILABLE" else None

            task = wait_for(approved, "the approval to reach the registry", shown=screen)
            assert task["approved"] is True
            wait_for(lambda: f"Approved {TASK}" in screen(), "the screen to say so", shown=screen)
            after = tmp_path / "web-approved.png"
            page.screenshot(path=str(after))
            keep(after)
        finally:
            browser.close()


def row_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


def keep(shot: Path) -> None:
    assert shot.stat().st_size > 10_000  # a drawn page, not a blank one
    if folder := os.environ.get("CONTROL_ROOM_ARTIFACTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(folder) / shot.name)


def test_sigterm_stops_it_and_every_tab_screen(web: Web) -> None:
    """Last in the module: with two tabs open (their screens drawing), SIGTERM ends the server
    with exit 0 and leaves no screen process behind."""
    import aiohttp

    from control_room.web.auth import COOKIE, cookie_value

    pattern = f"control_room.web.session --data-dir {web.data}"

    def screens() -> str:
        found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        return found.stdout.strip()

    async def drawing(socket: aiohttp.ClientWebSocketResponse) -> None:
        drawn = 0
        while drawn < 2000:  # the tab's screen is running and drawing
            message = await asyncio.wait_for(socket.receive(), WAIT_SECONDS)
            assert message.type == aiohttp.WSMsgType.BINARY, message
            drawn += len(message.data)

    async def open_tab_then_stop() -> None:
        cookies = {COOKIE: cookie_value(web.token)}
        tab = f"{web.url}/ws?width=100&height=30"
        async with (
            aiohttp.ClientSession(cookies=cookies) as session,
            session.ws_connect(tab) as one,
            session.ws_connect(tab) as two,
        ):
            # Two tabs: two screens at once (neither takes the data directory's engine lock).
            await asyncio.gather(drawing(one), drawing(two))
            assert len(screens().split()) == 2
            web.process.send_signal(signal.SIGTERM)
            for socket in (one, two):
                while not socket.closed:  # the server closes each tab
                    await asyncio.wait_for(socket.receive(), WAIT_SECONDS)

    wait_for(lambda: not screens(), "the earlier tab's screen to end")  # its tab was closed
    asyncio.run(open_tab_then_stop())
    assert web.process.wait(timeout=60) == 0
    wait_for(lambda: not screens(), "every tab's screen process to end", seconds=30)


def test_a_remote_host_needs_allow_remote(tmp_path: Path) -> None:
    result = run_cli("web", "--host", "0.0.0.0", data_dir=tmp_path / "data")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "control-room: error: --host: 0.0.0.0 is not a loopback address: add --allow-remote"
    ]
