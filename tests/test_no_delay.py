"""Answers leave at once: every connection the server accepts has Nagle's algorithm off.

`run` serves on the standard asyncio loop, which sets TCP_NODELAY only on sockets whose proto is
IPPROTO_TCP; the socket `bind` makes (proto 0) and the connections accepted on it are not, so
uvicorn's two sends per answer (head, body) waited for the client's delayed ACK: claim and
complete took ~45 ms more under `run` than under `serve` (uvloop), issue 12.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from starlette.types import Receive, Scope, Send

from control_room.server.http_limits import LimitedHttpToolsProtocol
from control_room.server.run import bind


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def test_an_accepted_connection_has_nagle_off_on_the_standard_loop() -> None:
    assert type(asyncio.get_running_loop()).__module__.startswith("asyncio")  # as under `run`
    listening = bind("127.0.0.1", 0)
    port = listening.getsockname()[1]
    config = uvicorn.Config(
        hello, log_level="warning", lifespan="off", http=LimitedHttpToolsProtocol
    )  # as StopSignals.server_for configures it, on the socket bind() makes, as `run` does
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        for _ in range(500):
            if server.started:
                break
            assert not serving.done(), "the server did not start"
            await asyncio.sleep(0.02)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            connections = list(server.server_state.connections)
            assert len(connections) == 1
            accepted = connections[0].transport.get_extra_info("socket")
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            writer.close()
    finally:
        server.should_exit = True
        await serving
        listening.close()
