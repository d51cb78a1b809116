"""ASGI guard in front of every route: DNS-rebinding protection, request head and body limits.

A browser page on another site can make a browser send requests to 127.0.0.1; checking the Host
header (and Origin, when a browser sends one) against the addresses we serve on stops it. Bodies
above the limit are refused with 413 before anything reads them into memory. Heads (headers)
above server/http_limits.py's limits get 431; that protocol refuses them before parsing, this
check holds wherever the app is served by another HTTP implementation.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from control_room.server.http_limits import MAX_HEAD_BYTES, MAX_HEADERS, TOO_LONG, TOO_MANY

MAX_BODY = 1024 * 1024
DRAIN_MAX = 16 * MAX_BODY


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


SINGLE = ("host", "origin", "authorization")  # a second copy of these is refused


class Guard:
    def __init__(self, app: ASGIApp, hosts: Iterable[str], max_body: int = MAX_BODY) -> None:
        self.app = app
        self.hosts = {h.lower() for h in hosts}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope["headers"]) > MAX_HEADERS:
            await send_error(send, 431, "headers_too_large", TOO_MANY)
            return
        if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > MAX_HEAD_BYTES:
            await send_error(send, 431, "headers_too_large", TOO_LONG)
            return
        names = [k.decode("latin-1").lower() for k, _ in scope["headers"]]
        repeated = [name for name in SINGLE if names.count(name) > 1]
        if repeated:
            await send_error(send, 400, "bad_request", f"more than one {repeated[0]} header")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            await send_error(send, 421, "wrong_host", f"this server does not answer for {host!r}")
            return
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self.origins:
            await send_error(send, 403, "wrong_origin", f"requests from {origin!r} are refused")
            return
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._too_large(send)
            return
        await self._call_counting(scope, receive, send)

    async def _too_large(self, send: Send) -> None:
        await send_error(send, 413, "too_large", f"the body limit is {self.max_body} bytes")

    async def _call_counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; if a body without Content-Length grows past the limit, answer
        413 here, tell the app the client left, and drop whatever the app sends after that."""
        seen = 0
        started = refused = False

        async def counted_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    refused = True
                    if not started:
                        await self._too_large(send)
                    # Read and drop the rest (up to a cap) so the client can finish sending
                    # and read the 413, instead of finding the connection closed mid-upload.
                    drained = 0
                    while message.get("more_body", False) and drained < DRAIN_MAX:
                        message = await receive()
                        drained += len(message.get("body", b""))
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted_receive, tracked_send)


def served_hosts(host: str, port: int, extra: Iterable[str] = ()) -> list[str]:
    """Host header values that name this server: its address (loopback: every loopback name;
    a wildcard address: this machine's names and addresses), and the `extra` names ([server]
    hosts), each with and without the port."""
    if host in ("127.0.0.1", "localhost"):
        names = {host, "127.0.0.1", "localhost", "[::1]"}
    elif host in WILDCARDS:
        names = {"127.0.0.1", "localhost", "[::1]", *machine_names()}
    else:
        names = {host}
    found = [f"{name}:{port}" for name in sorted(names)]
    for name in extra:
        name = name.strip().lower()
        found += [name] if ":" in name.lstrip("[").split("]")[-1] else [name, f"{name}:{port}"]
    return found


WILDCARDS = ("0.0.0.0", "::", "[::]", "")


def machine_names() -> set[str]:
    """This machine's host names and the addresses they resolve to (IPv6 in brackets)."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            for *_, address in socket.getaddrinfo(name, None):
                ip = str(address[0])
                names.add(f"[{ip}]" if ":" in ip else ip)
        except OSError:
            continue
    return {n.lower() for n in names if n}
