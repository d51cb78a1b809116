"""A scripted OpenAI-compatible chat-completions API on 127.0.0.1, for driving aider offline.

It answers `POST .../chat/completions` (any prefix, so a base URL with or without `/v1` works)
as one JSON completion, or as server-sent chunks when the request asks to stream, and
`GET .../models` with the one model it pretends to be. What the "model" says is decided by a
script: a function from the request body (the conversation so far) to the reply text. Every
request body is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = Callable[[dict[str, Any]], str]


def whole_file(path: str, content: str, words: str = "Here is the updated file.") -> str:
    """A reply in aider's `whole` edit format: the file name, then its whole text fenced."""
    return f"{words}\n\n{path}\n```\n{content.rstrip(chr(10))}\n```\n"


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(str(part.get("text", "")) for part in content)
            return str(content)
    return ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _json(self, status: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            model = {"id": self.server.model, "object": "model", "owned_by": "tests"}
            self._json(200, {"object": "list", "data": [model]})
        else:
            self._json(404, {"error": {"message": f"no such path {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no such path {self.path}"}})
            return
        self.server.requests.append(body)
        reply = self.server.script(body)
        number = len(self.server.requests)
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        head = {"id": f"chatcmpl-{number}", "created": int(time.time()), "model": body["model"]}
        if body.get("stream") is not True:
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
            }
            answer = {"object": "chat.completion", "choices": [choice], "usage": usage}
            self._json(200, head | answer)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        chunk = head | {"object": "chat.completion.chunk"}
        for delta, finish in (
            ({"role": "assistant", "content": reply}, None),
            ({}, "stop"),
        ):
            data = chunk | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script, model: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.model = model
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@contextmanager
def scripted_openai(script: Script, model: str = "scripted") -> Iterator[_Server]:
    """The server, listening until the block ends; its base URL is `server.url` (…/v1)."""
    server = _Server(script, model)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
