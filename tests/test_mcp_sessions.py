"""MCP sessions do not pile up: each agent keeps at most MAX_PER_AGENT open (the one idle
longest is closed), and a session idle for `[server] mcp_idle_seconds` is closed
(issue 11, finding 4). Against a real `control-room serve`."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2

from control_room.server.mcp_sessions import MAX_PER_AGENT
from tests.conftest import run_cli
from tests.serve_process import Served, serving

ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "t", "version": "1"}},
}  # fmt: skip
PING = {"jsonrpc": "2.0", "id": 2, "method": "ping"}


def open_session(http: httpx2.Client, served: Served, token: str) -> str:
    opened = http.post(
        f"{served.url}/mcp", json=INITIALIZE, headers=ACCEPT | {"Authorization": f"Bearer {token}"}
    )
    assert opened.status_code == 200, opened.text
    return opened.headers["mcp-session-id"]


def ping(http: httpx2.Client, served: Served, token: str, session: str) -> int:
    headers = ACCEPT | {"Authorization": f"Bearer {token}", "mcp-session-id": session}
    return http.post(f"{served.url}/mcp", json=PING, headers=headers).status_code


def test_one_agent_keeps_at_most_a_few_sessions_the_idlest_closed_first(tmp_path: Path) -> None:
    with serving(tmp_path / "data") as served, httpx2.Client(timeout=30) as http:
        churner, neighbour = served.join("churner"), served.join("neighbour")
        theirs = open_session(http, served, neighbour)
        kept = open_session(http, served, churner)  # in use all along
        opened = []
        for _ in range(5 * MAX_PER_AGENT):
            opened.append(open_session(http, served, churner))
            assert ping(http, served, churner, kept) == 200, "the session in use stays open"
        newest = opened[-(MAX_PER_AGENT - 1) :]
        deadline = time.monotonic() + 20
        while True:
            alive = [s for s in opened if ping(http, served, churner, s) == 200]
            if alive == newest or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert alive == newest, f"{len(alive)} open, expected the newest {len(newest)}"
        assert ping(http, served, churner, kept) == 200
        assert ping(http, served, neighbour, theirs) == 200, "another agent's session is kept"


def test_an_idle_session_is_closed_after_the_configured_time(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    config = home / "control-room.toml"
    text = config.read_text()
    assert "mcp_idle_seconds = 600" in text
    config.write_text(text.replace("mcp_idle_seconds = 600", "mcp_idle_seconds = 0"))
    refused = run_cli("serve", data_dir=home)
    assert refused.returncode == 1 and "server.mcp_idle_seconds" in refused.stderr
    assert refused.stderr.count("\n") == 1, refused.stderr
    idle = 1.0
    config.write_text(text.replace("mcp_idle_seconds = 600", f"mcp_idle_seconds = {idle}"))
    with serving(home) as served, httpx2.Client(timeout=30) as http:
        token = served.join()
        session = open_session(http, served, token)
        assert ping(http, served, token, session) == 200
        # Every probe is a use that restarts the idle clock, so each waits out a full period.
        for _ in range(10):
            time.sleep(idle * 1.5)
            if ping(http, served, token, session) == 404:
                break
        else:
            raise AssertionError("the idle session was never closed")
        assert ping(http, served, token, open_session(http, served, token)) == 200
