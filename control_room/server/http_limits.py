"""uvicorn's httptools protocol with limits on a request's head (request line and headers).

httptools has no limit of its own: it buffers a header value of any size (a 64 MB header was
answered 200 and blocked the event loop, and every other request, for seconds while it was
copied), and accepts any number of headers. This protocol counts the bytes of each request head
before handing them to the parser and refuses with 431 as soon as the head passes
MAX_HEAD_BYTES or holds more than MAX_HEADERS headers, so at most MAX_HEAD_BYTES (plus one
socket read, between pipelined requests) of a head is ever parsed. After the 431 the connection
reads and drops what the client still sends for a moment, so the client can read the answer,
then closes.

It also turns Nagle's algorithm off on each accepted connection (TCP_NODELAY). uvicorn writes an
answer in two sends (head, then body); with Nagle on, the body waits for the client's delayed
ACK of the head, ~40 ms on Linux. uvloop sets TCP_NODELAY itself, the standard asyncio loop
(used by `run`) only on sockets whose proto is IPPROTO_TCP, which a socket made with proto 0
and the connections accepted on it are not: `run` answered every claim ~45 ms late.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024
MAX_HEADERS = 100
DRAIN_BYTES = 1024 * 1024  # read and dropped after a refusal, at most
DRAIN_SECONDS = 2.0


class HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a refused head."""


def head_refusal(message: str) -> bytes:
    """A complete 431 answer that closes the connection."""
    body = json.dumps({"error": "headers_too_large", "message": message}).encode()
    return b"".join(
        [
            STATUS_LINE[431],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


TOO_MANY = f"a request may carry at most {MAX_HEADERS} headers"
TOO_LONG = f"the request line and headers may take at most {MAX_HEAD_BYTES} bytes"


def no_delay(transport: asyncio.Transport) -> None:
    """Send small writes at once on a TCP connection (see the module docstring)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):  # the connection is already gone: nothing to speed up
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol refusing oversized request heads with 431 before parsing them."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        no_delay(transport)
        self._in_head = True  # bytes now arriving belong to a request head
        self._head_bytes = 0
        self._header_count = 0
        self._too_many = False
        self._refusal: str | None = None
        self._drained = 0
        self._closer: asyncio.TimerHandle | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closer is not None:
            self._closer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:  # refused: drop what still comes, then close
            self._drained += len(data)
            if self._drained > DRAIN_BYTES:
                self.transport.close()
            return
        if not self._in_head:
            super().data_received(data)
            return
        room = MAX_HEAD_BYTES - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # Only the bytes the head may still take go to the parser; the rest goes on only if
        # the head ended within them (the rest is then a body, or the next request).
        self._head_bytes = MAX_HEAD_BYTES
        super().data_received(data[:room])
        if self._refusal is not None or self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(TOO_LONG)
            return
        self.data_received(data[room:])

    def on_message_begin(self) -> None:
        self._header_count = 0
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            self._too_many = True
            raise HeadTooLarge(TOO_MANY)  # the parser stops and reports a callback error
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        """The parser failed: because a callback refused the head (431), or a real 400."""
        if self._too_many:
            self._refuse(TOO_MANY)
            return
        super().send_400_response(msg)

    def _refuse(self, message: str) -> None:
        self._refusal = message
        self.logger.warning("Refused a request head: %s.", message)
        self.transport.write(head_refusal(message))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._closer = self.loop.call_later(DRAIN_SECONDS, self.transport.close)
