"""Reading agents' reports: the `report.log` in each run folder.

Claude Code (and the anthropic runtime) write stream-json, one JSON object per line, ending with
a `result` event that carries the number of turns and the cost. Other runtimes write plain
text; for them nothing is known beyond the text. Nothing here imports the UI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK_BYTES = 1024 * 1024  # per look at a live report: a chatty agent cannot stall the loop


@dataclass(frozen=True, slots=True)
class Usage:
    turns: int | None = None
    cost_usd: float | None = None


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """One stream-json event, or None for a line that is not one (plain text, a torn line)."""
    line = line.strip()
    if not line or line[:1] not in ("{", b"{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("type"), str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class CallRepeats:
    """The last tool call an agent made (its name and input, from the `tool_use` blocks of its
    `assistant` events) and how many times in a row it made exactly that call."""

    def __init__(self) -> None:
        self.last = ""  # name(input as compact JSON)
        self.count = 0

    def take(self, event: dict[str, Any]) -> None:
        message = event.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if not isinstance(block, dict) or block.get("type") != "tool_use":
                continue
            try:
                given = json.dumps(block.get("input"), sort_keys=True, separators=(",", ":"))
            except (TypeError, ValueError):
                given = repr(block.get("input"))
            call = f"{block.get('name')}({given})"
            self.count = self.count + 1 if call == self.last else 1
            self.last = call

    def seen(self) -> tuple[str, int]:
        """The last call, and how many times in a row it was made."""
        return self.last, self.count


class ReportTail:
    """Follows one growing report: the usage seen so far (assistant turns counted live; the
    result event's figures win when it arrives). Reads whole lines only: a torn last line waits
    for its end."""

    def __init__(self, report: Path) -> None:
        self.report = report
        self.offset = 0
        self.turns = 0
        self.cost_usd: float | None = None
        self.final: Usage | None = None
        self.denials: list[Any] = []  # Claude Code's permission_denials, from its result event
        self.calls = CallRepeats()  # the same tool call made again and again

    def read(self, limit: int = CHUNK_BYTES) -> int:
        """Take in up to `limit` more bytes of complete lines; how many were taken."""
        try:
            with self.report.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(limit)
        except OSError:
            return 0
        end = chunk.rfind(b"\n") + 1
        if end == 0 and len(chunk) == limit:
            end = limit  # one line longer than a chunk: not a stream-json event anyway
        self.offset += end
        for line in chunk[:end].split(b"\n"):  # not splitlines: U+2028 may sit in JSON text
            self._take(line)
        return end

    def drain(self) -> None:
        """Read to the end (once the agent has stopped writing)."""
        while self.read():
            pass

    def _take(self, line: bytes) -> None:
        event = parse_line(line)
        if event is None:
            return
        if event["type"] == "assistant":
            self.turns += 1
            self.calls.take(event)
        elif event["type"] == "result":
            turns, cost = event.get("num_turns"), event.get("total_cost_usd")
            self.final = Usage(_int(turns), _float(cost))
            denials = event.get("permission_denials")
            self.denials = denials if isinstance(denials, list) else []
            self.cost_usd = self.final.cost_usd

    @property
    def usage(self) -> Usage:
        return self.final or Usage(self.turns or None, self.cost_usd)
