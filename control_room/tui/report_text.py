"""Agents' reports made readable for the report pane: short styled lines, no UI imports.

A report is stream-json (Claude Code or the anthropic runtime), plain text from other runtimes, or
either with Control Room's own appended blocks. Everything in it is untrusted: escape sequences
and control characters are removed, and text is never parsed as rich markup.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.text import Text

from control_room.engine.reports import parse_line

MAX_LINES = 40  # of one assistant message
SHORT = 80  # characters of a tool argument or result
LONG = 2000  # characters of any one line
MAX_PENDING = 1024 * 1024  # a "line" longer than this is shown cut, the rest of it dropped

_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, to BEL or ST
    r"|(?:\x1b[P^_X]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]?"  # any other escape, or a lone ESC
)
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

MAIN_ARGUMENT = {
    "claimTask": "taskId", "completeTask": "summary", "releaseTask": "reason",
    "reportBlocked": "reason", "Bash": "command", "Read": "file_path", "Write": "file_path",
    "Edit": "file_path", "Grep": "pattern", "Glob": "pattern", "WebFetch": "url",
}  # fmt: skip


def clean(text: str) -> str:
    """One line with escape sequences and control characters (but tab) removed."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short(value: Any) -> str:
    """The first non-blank line of a value, cleaned and cut; "…" when more lines follow."""
    lines = [line for line in str(value).split("\n") if clean(line).strip()]
    if not lines:
        return ""
    first = cut(clean(lines[0]).strip(), SHORT)
    return first + ("" if len(lines) == 1 or first.endswith("…") else " …")


def tool_name(name: Any) -> str:
    """`mcp__<server>__claimTask` -> `claimTask`."""
    parts = str(name).split("__", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "mcp" else str(name)


def main_argument(name: str, arguments: Any) -> str:
    if not isinstance(arguments, dict):
        return ""
    if name == "updateProgress":
        percent, note = arguments.get("percent"), arguments.get("note")
        parts = [f"{short(percent)}%" if percent is not None else "", short(note or "")]
        return " ".join(part for part in parts if part)
    key = MAIN_ARGUMENT.get(name)
    if key is not None:
        return short(arguments.get(key) or "")
    return next((short(v) for v in arguments.values() if isinstance(v, str) and short(v)), "")


def result_text(content: Any, tool: str | None) -> str:
    """What a tool answered, in a few words."""
    if isinstance(content, list):
        parts = [b.get("text") for b in content if isinstance(b, dict)]
        content = "\n".join(part for part in parts if isinstance(part, str))
    if not isinstance(content, str):
        return ""
    if tool == "Read":
        return f"{content.count(chr(10)) + 1} lines"
    try:
        answer = json.loads(content)
    except ValueError:
        answer = None
    if isinstance(answer, dict):  # Control Room's own answers: the task, or where it went
        task = answer.get("task")
        if isinstance(task, dict) and "id" in task:
            return short(f"{task['id']} · {task.get('title', '')}")
        if "task_id" in answer and "status" in answer:
            return short(f"{answer['task_id']} {answer['status']}")
    return short(content)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class ReportFormatter:
    """Turns a growing report into readable lines; remembers which tool each call was."""

    def __init__(self) -> None:
        self.tools: dict[str, str] = {}  # tool_use_id -> tool name
        self._pending = ""
        self._skipping = False  # dropping the rest of an overlong line

    def feed(self, chunk: str) -> list[Text]:
        """Lines for every line completed by this chunk; a partial line waits for its end."""
        out: list[Text] = []
        *lines, self._pending = (self._pending + chunk).split("\n")
        for line in lines:
            if not self._skipping:
                out += self.render(line)
            self._skipping = False
        if len(self._pending) > MAX_PENDING and not self._skipping:
            out += self.render(self._pending)
            self._pending, self._skipping = "", True
        elif self._skipping:
            self._pending = ""
        return out

    def flush(self) -> list[Text]:
        """The last line when the report ends without a newline."""
        pending, self._pending = self._pending, ""
        return [] if not pending or self._skipping else self.render(pending)

    def render(self, line: str) -> list[Text]:
        event = parse_line(line)
        if event is None:
            line = cut(clean(line), LONG)
            return [Text(line, style="bold" if line.startswith("--- Control Room:") else "")]
        kind, message = event["type"], event.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if kind == "system" and event.get("subtype") == "init":
            return [self._init(event)]
        if kind == "assistant":
            return self._assistant(content)
        if kind == "user" and isinstance(content, list):
            results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
            return [self._result(block) for block in results]
        if kind == "result":
            return self._summary(event)
        return []

    def _init(self, event: dict[str, Any]) -> Text:
        parts = ["● session started"]
        if event.get("model"):
            parts.append(f"model {short(event['model'])}")
        if isinstance(event.get("tools"), list):
            parts.append(plural(len(event["tools"]), "tool"))
        servers = event.get("mcp_servers")
        if isinstance(servers, list) and servers:
            listed = [s for s in servers if isinstance(s, dict)]
            states = (f"{short(s.get('name'))}: {short(s.get('status'))}" for s in listed)
            parts.append("MCP " + ", ".join(states))
        return Text(" · ".join(parts), style="dim")

    def _assistant(self, content: Any) -> list[Text]:
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        out: list[Text] = []
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                lines = block["text"].strip().split("\n")
                out += [Text(cut(clean(line), LONG)) for line in lines[:MAX_LINES]]
                if len(lines) > MAX_LINES:
                    out.append(Text(f"… ({len(lines) - MAX_LINES} more lines)", style="dim"))
            elif block.get("type") == "tool_use":
                name = tool_name(block.get("name", "?"))
                self.tools[str(block.get("id"))] = name
                shown = Text().append("→ ", style="cyan").append(clean(name), style="bold cyan")
                argument = main_argument(name, block.get("input"))
                out.append(shown.append(f"  {argument}" if argument else ""))
        return out

    def _result(self, block: dict[str, Any]) -> Text:
        tool = self.tools.get(str(block.get("tool_use_id")))
        mark = ("  ✗ ", "red") if block.get("is_error") else ("  ✓ ", "green")
        return Text().append(*mark).append(result_text(block.get("content"), tool), style="dim")

    def _summary(self, event: dict[str, Any]) -> list[Text]:
        subtype, turns = short(event.get("subtype") or "error"), event.get("num_turns")
        failed = bool(event.get("is_error")) or subtype != "success"
        counted = plural(turns, "turn") if type(turns) is int else ""
        if failed:
            head = f"■ stopped: {subtype if subtype != 'success' else 'error'}"
            head += f" after {counted}" if counted else ""
        else:
            head = f"■ done in {counted}" if counted else "■ done"
        parts = [head]
        cost, duration = event.get("total_cost_usd"), event.get("duration_ms")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            parts.append(f"${cost:.4f}")
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            parts.append(f"{duration / 1000:.1f} s")
        out = [Text(" · ".join(parts), style="bold red" if failed else "bold green")]
        errors = event.get("errors")
        if failed and isinstance(errors, list) and errors and short(errors[0]):
            out.append(Text(f"  {short(errors[0])}", style="red"))
        return out


def render_line(line: str) -> list[Text]:
    """One report line, without memory of earlier lines (tool results lose their tool's name)."""
    return ReportFormatter().render(line)
