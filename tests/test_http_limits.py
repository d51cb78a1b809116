"""Request heads: a real `control-room serve` refuses oversized headers with 431 before reading
them, and stays responsive meanwhile (issue 11, finding 1)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from control_room.server.http_limits import MAX_HEAD_BYTES, MAX_HEADERS
from tests.serve_process import Served, serving
from tests.serving import running_server

FLOOD = 64 << 20


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path / "data") as server:
        yield server


def exchange(port: int, request: bytes, timeout: float = 30) -> bytes:
    """Send raw bytes, return everything answered until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
                if answer.count(b"HTTP/1.1 ") >= request.count(b" HTTP/1.1\r\n") and (
                    answer.endswith(b"}") or b"connection: close" in answer
                ):
                    break
        except TimeoutError:
            pass
    return answer


def head(port: int, extra: int, path: str = "/api/health") -> bytes:
    """A GET with the Host header and `extra` more headers."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"x-h{i}: v" for i in range(extra)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_64_mb_header_is_refused_at_once_and_health_stays_fast(served: Served) -> None:
    sent = 0
    answer = bytearray()
    with socket.create_connection(("127.0.0.1", served.port), timeout=60) as conn:

        def flood() -> None:
            nonlocal sent
            start = f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nX-Big: "
            try:
                conn.sendall(start.encode())
                chunk = b"a" * (1 << 16)
                while sent < FLOOD:
                    conn.sendall(chunk)
                    sent += len(chunk)
                conn.sendall(b"\r\n\r\n")
            except OSError:
                pass  # the server closed the connection: expected once it refused

        sender = threading.Thread(target=flood)
        sender.start()
        deadline = time.monotonic() + 60
        while sent < (1 << 18) and sender.is_alive():  # the flood is under way
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        health = httpx2.get(f"{served.url}/api/health", timeout=30)
        health_seconds = time.monotonic() - started
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        sent_at_answer = sent
        sender.join(timeout=60)
    assert answer.startswith(b"HTTP/1.1 431 "), bytes(answer[:200])
    body = json.loads(bytes(answer).split(b"\r\n\r\n", 1)[1] or b"{}") if b"}" in answer else {}
    assert body.get("error", "headers_too_large") == "headers_too_large"
    assert sent_at_answer < FLOOD, "refused before the whole header was read"
    assert health.status_code == 200
    # Before the limit, the parser's copying stalled every request for 2-3 s.
    assert health_seconds < 1.5, f"health took {health_seconds:.2f} s during the flood"
    assert httpx2.get(f"{served.url}/api/health", timeout=10).status_code == 200


def test_too_many_headers_are_refused(served: Served) -> None:
    allowed = exchange(served.port, head(served.port, MAX_HEADERS - 1))  # + Host
    assert allowed.startswith(b"HTTP/1.1 200 "), allowed[:200]
    refused = exchange(served.port, head(served.port, MAX_HEADERS))
    assert refused.startswith(b"HTTP/1.1 431 "), refused[:200]
    assert b'"headers_too_large"' in refused
    thousands = exchange(served.port, head(served.port, 2000))
    assert thousands.startswith(b"HTTP/1.1 431 "), thousands[:200]


def test_a_head_near_the_limit_with_a_large_body_in_one_write_is_served(served: Served) -> None:
    """The head limit counts only the head: a body sent in the same packets still arrives."""
    body = json.dumps({"title": "padded", "description": "d" * 19_000}).encode()
    pad = "p" * (MAX_HEAD_BYTES - 2000)
    token = served.operator["Authorization"]
    request = (
        f"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nAuthorization: {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nX-Pad: {pad}\r\n\r\n"
    ).encode() + body
    answer = exchange(served.port, request)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    too_long = request.replace(b"X-Pad: ", b"X-Pad: " + b"q" * 3000)
    assert exchange(served.port, too_long).startswith(b"HTTP/1.1 431 ")


def test_pipelined_requests_on_one_connection_are_each_answered(served: Served) -> None:
    answer = exchange(served.port, head(served.port, 3) * 3)
    assert answer.count(b"HTTP/1.1 200 ") == 3, answer


async def test_the_guard_refuses_large_heads_under_any_http_implementation(
    tmp_path: Path,
) -> None:
    # running_server is plain uvicorn, without the head limits of `serve`'s protocol.
    async with running_server(tmp_path) as server, httpx2.AsyncClient(timeout=30) as http:
        many = {f"x-h{i}": "v" for i in range(MAX_HEADERS + 1)}
        assert (await http.get(f"{server.url}/api/health", headers=many)).status_code == 431
        big = {"x-big": "b" * MAX_HEAD_BYTES}
        refused = await http.get(f"{server.url}/api/health", headers=big)
        assert refused.status_code == 431
        assert refused.json()["error"] == "headers_too_large"
        assert (await http.get(f"{server.url}/api/health")).status_code == 200
