"""Keep-alive: a real `serve` keeps an idle agent connection open well past uvicorn's 5 s
default (a heartbeat every 5 s or more used to find it closed); `[server] keep_alive_seconds`
sets how long, and a bad value is refused naming the key."""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from control_room.config import load_settings
from control_room.domain import InvalidInput
from tests.conftest import run_cli
from tests.serving import free_port

IDLE_SECONDS = 6.5  # longer than uvicorn's default keep-alive (5 s)


@contextmanager
def serve(home: Path) -> Iterator[int]:
    """`control-room serve` as a real process; yields its port once it answers."""
    port = free_port()
    script = Path(sys.executable).with_name("control-room")
    server = subprocess.Popen(
        [str(script), "--data-dir", str(home), "serve", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/api/health", timeout=1).is_success:
                    break
            except httpx2.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=15)
        assert server.stderr is not None
        server.stderr.close()


def ask(connection: socket.socket, port: int) -> bytes:
    """One HTTP/1.1 keep-alive request over `connection`; the whole answer (head and body)."""
    connection.sendall(
        f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Connection: keep-alive\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection instead of answering: {answer!r}"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection in the middle of an answer"
        body += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"connection: close" not in head.lower(), head
    return body


def closed_within(connection: socket.socket, seconds: float) -> bool:
    """Wait up to `seconds` for the server to close the idle connection (True if it did)."""
    readable, _, _ = select.select([connection], [], [], seconds)
    if not readable:
        return False
    return connection.recv(1) == b""


def test_an_idle_agent_connection_survives_past_five_seconds(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    with serve(home) as port, socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        assert b'"ok"' in ask(conn, port)
        started = time.monotonic()
        assert not closed_within(conn, IDLE_SECONDS), (
            f"closed after {time.monotonic() - started:.1f} s idle"
        )
        assert b'"ok"' in ask(conn, port), "the second request went over the same connection"


def test_keep_alive_seconds_sets_how_long_an_idle_connection_stays(tmp_path: Path) -> None:
    """With keep_alive_seconds = 1 the server does close an idle connection (so the setting
    reaches uvicorn, and the test above could fail)."""
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    config = home / "control-room.toml"
    config.write_text(
        config.read_text().replace("keep_alive_seconds = 75", "keep_alive_seconds = 1")
    )
    assert load_settings(config).keep_alive_seconds == 1
    with serve(home) as port, socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        ask(conn, port)
        started = time.monotonic()
        assert closed_within(conn, 30), "the idle connection stayed open"
        assert time.monotonic() - started < IDLE_SECONDS


@pytest.mark.parametrize("value", ["0", "-5", "3601", "'75'", "7.5", "true"])
def test_a_bad_keep_alive_is_refused_naming_the_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "control-room.toml"
    path.write_text(f"[server]\nkeep_alive_seconds = {value}\n")
    with pytest.raises(InvalidInput) as refused:
        load_settings(path)
    assert "server.keep_alive_seconds" in refused.value.message


def test_the_default_keep_alive_is_well_above_the_recommended_heartbeat() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "every 30-60 s" in readme
    assert load_settings(Path("/nonexistent/control-room.toml")).keep_alive_seconds == 75
