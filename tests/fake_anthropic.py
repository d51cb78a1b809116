"""A scripted Anthropic Messages API on 127.0.0.1, for driving Claude Code or the SDK offline.

It answers `HEAD /api/hello` and `POST /v1/messages`: as server-sent events when the request asks
to stream (Claude Code), else as one JSON message (the SDK's plain `messages.create`). What the
"model" says next is decided by a script: a function from the request body (the whole
conversation so far) to a list of content blocks. Every request (body, headers) is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Block = dict[str, Any]
Script = Callable[[dict[str, Any]], list[Block]]


def text(words: str) -> Block:
    return {"type": "text", "text": words}


def tool_use(name: str, arguments: dict[str, Any], number: int) -> Block:
    return {"type": "tool_use", "id": f"toolu_{number:04d}", "name": name, "input": arguments}


def tool_results(body: dict[str, Any]) -> list[str]:
    """The text of every tool result in the conversation, oldest first."""
    found = []
    for message in body.get("messages", []):
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    inner = "".join(part.get("text", "") for part in inner)
                found.append(str(inner))
    return found


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(body)
        self.server.headers.append(dict(self.headers))
        blocks = self.server.script(body)
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        usage = {"input_tokens": 100, "output_tokens": 20}
        if body.get("stream") is not True:  # the SDK's plain messages.create: one JSON message
            message = {
                "id": f"msg_{len(self.server.requests)}", "type": "message", "role": "assistant",
                "model": body.get("model", "claude"), "content": blocks, "stop_reason": stop,
                "stop_sequence": None, "usage": usage,
            }  # fmt: skip
            payload = json.dumps(message).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        self._event("message_start", {"type": "message_start", "message": {
            "id": f"msg_{len(self.server.requests)}", "type": "message", "role": "assistant",
            "model": body.get("model", "claude"), "content": [], "stop_reason": None,
            "stop_sequence": None, "usage": usage}})  # fmt: skip
        for index, block in enumerate(blocks):
            start = dict(block, input={}) if block["type"] == "tool_use" else dict(block, text="")
            self._event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
            if block["type"] == "tool_use":
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            else:
                delta = {"type": "text_delta", "text": block["text"]}
            self._event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        self._event("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": stop, "stop_sequence": None}, "usage": usage})  # fmt: skip
        self._event("message_stop", {"type": "message_stop"})

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        self.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # of each request, in the same order


@contextmanager
def scripted_model(script: Script) -> Iterator[_Server]:
    """The server, listening until the block ends; its URL is http://127.0.0.1:<port>."""
    server = _Server(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
