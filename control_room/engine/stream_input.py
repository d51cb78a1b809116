"""Claude Code's streaming input: the prompt and the operator's later messages as user messages.

A claude-code agent is started with `--input-format stream-json`: each line on its stdin is one
user message, in the shape the claude-agent-sdk sends (`{"type": "user", "message": {"role":
"user", "content": TEXT}, "parent_tool_use_id": null, "session_id": ""}`). A message that arrives
while the agent works is shown to the model within the running turn. Claude Code keeps going while
its stdin is open, so stdin is closed once the agent's report shows its `result` event (or when
the agent is stopped): the process then ends by itself, as it did with a prompt on stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from control_room.domain import Conflict
from control_room.engine.reports import parse_line

POLL_SECONDS = 0.2  # how often the report is looked at for the result event


def user_message(text: str) -> bytes:
    """One stream-json user message line."""
    message = {
        "type": "user",
        "message": {"role": "user", "content": text},
        "parent_tool_use_id": None,
        "session_id": "",
    }
    return (json.dumps(message) + "\n").encode()


class StreamInput:
    """The open stdin of one claude-code process; `say` adds a message until the result."""

    def __init__(self, process: asyncio.subprocess.Process, report: Path, prompt: str) -> None:
        self.process = process
        self.report = report
        self._offset = report.stat().st_size if report.exists() else 0
        self._pending = b""
        self._lock = asyncio.Lock()
        self.closed = False
        # The prompt goes first, before any message: buffered now, sent in the background.
        assert process.stdin is not None
        process.stdin.write(user_message(prompt))
        self._job = asyncio.create_task(self._run(), name=f"stdin-{process.pid}")

    async def _write(self, line: bytes) -> None:
        pipe = self.process.stdin
        assert pipe is not None
        async with self._lock:
            if self.closed:
                raise Conflict("the agent takes no more messages (its run has ended)")
            try:
                pipe.write(line)
                await pipe.drain()
            except (BrokenPipeError, ConnectionResetError):
                self.close()
                raise Conflict("the agent takes no more messages (its input is closed)") from None

    async def say(self, text: str) -> None:
        """Send one more user message; Conflict once the agent has finished or stopped."""
        await self._write(user_message(text))

    def close(self) -> None:
        """End the input (the process finishes what it does and exits)."""
        if self.closed:
            return
        self.closed = True
        pipe = self.process.stdin
        if pipe is not None:
            with contextlib.suppress(OSError, RuntimeError):
                pipe.close()

    def stop(self) -> None:
        """Close the input and stop watching the report."""
        self.close()
        self._job.cancel()

    async def _run(self) -> None:
        """Send the prompt, then close the input after the result event (or once it exits)."""
        with contextlib.suppress(Conflict):
            await self._write(b"")
        while not self.closed and self.process.returncode is None:
            if self._result_seen():
                break
            await asyncio.sleep(POLL_SECONDS)
        self.close()

    def _result_seen(self) -> bool:
        try:
            with self.report.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return False
        self._offset += len(chunk)
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        return any((e := parse_line(line)) is not None and e["type"] == "result" for line in lines)
