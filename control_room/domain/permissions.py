"""Permission requests of spawned agents, the inbox, and Claude Code's permission settings.

A Claude Code agent asks Control Room (through its `--permission-prompt-tool`) before it uses a
tool no rule allows. Each request waits for the operator: allow once, allow always for this task,
or deny with a reason. "Always" covers later requests of the same *grant key* for the same task:
the tool name, and for Bash also the program (the command's first word), so allowing
`pytest -q` always also allows `pytest tests/x.py`, but not `rm -rf /`.

Everything here is plain data (standard library only); the tool input is untrusted text.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from typing import Any

PENDING, ALLOWED, DENIED = "PENDING", "ALLOWED", "DENIED"
INPUT_MAX = 20_000  # characters of a request's input kept in the registry and events

# Claude Code's --permission-mode choices (checked against the bundled binary, 2.1.332).
PERMISSION_MODES = (
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "default",
    "dontAsk",
    "manual",
    "plan",
)


@dataclass(frozen=True, slots=True)
class ClaudeSettings:
    """What a claude-code agent may do without asking: rules for `--allowedTools` and
    `--disallowedTools`, the `--permission-mode`, and any further arguments."""

    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    permission_mode: str = "acceptEdits"
    extra_args: tuple[str, ...] = ()


def grant_key(tool: str, tool_input: Any) -> str:
    """What "allow always for this task" covers: the tool, and for Bash its program."""
    if tool == "Bash" and isinstance(tool_input, dict):
        command = tool_input.get("command")
        if isinstance(command, str):
            try:
                words = shlex.split(command)
            except ValueError:
                words = command.split()
            if words:
                return f"Bash({words[0]})"
    return tool


def input_text(tool_input: Any) -> str:
    """The tool input as JSON text, cut to INPUT_MAX characters."""
    text = json.dumps(tool_input, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= INPUT_MAX else text[: INPUT_MAX - 1] + "…"


def describe(tool: str, text: str, limit: int = 200) -> str:
    """One line for people: `Bash: pytest -q`, or the tool and its input."""
    shown = text
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("command", "file_path", "url", "pattern", "query"):
            if isinstance(data.get(key), str):
                shown = data[key]
                break
    line = " ".join("".join(c if c.isprintable() else " " for c in f"{tool}: {shown}").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class PermissionRequest:
    id: int
    task_id: str
    agent_id: str
    tool: str
    input: str  # JSON text, untrusted
    grant_key: str
    status: str = PENDING
    always: bool = False
    reason: str = ""
    tool_use_id: str = ""
    created_at: float = 0.0
    answered_at: float | None = None
    answered_by: str = ""

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    @property
    def summary(self) -> str:
        return describe(self.tool, self.input)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One thing waiting for the operator. `kind`: approval, blocked, permission (more kinds
    may come: each is one query in the store)."""

    kind: str
    id: str
    task: str | None
    agent: str | None
    summary: str
    since: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
