"""What every backlog reader returns, and the checks they share (file reading, error naming)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from control_room.domain import InvalidInput, Status, parse_task_spec

MAX_BYTES = 10 * 1024 * 1024
FINAL = (Status.COMPLETED, Status.CANCELLED)


@dataclass(frozen=True, slots=True)
class Imported:
    """One task to create: its fields, and where it came from (named in every error)."""

    fields: dict[str, Any]
    origin: str
    status: Status | None = None  # COMPLETED or CANCELLED when the source had finished it
    reason: str = ""  # why, in the source's words ("done in Task Master")


@dataclass(slots=True)
class Backlog:
    source: str  # "Task Master", "Backlog.md", "GitHub issues"
    path: Path
    tasks: list[Imported] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # why -> how many

    def finished(self) -> dict[str, tuple[Status, str]]:
        return {t.fields["id"]: (t.status, t.reason) for t in self.tasks if t.status in FINAL}


def read_text(path: Path) -> str:
    """The file's text; a clear error naming it when it is missing, too big or unreadable."""
    name = str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InvalidInput(name, f"is larger than {MAX_BYTES // 1024 // 1024} MB")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(name, "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(name, f"cannot read it: {error}") from None


def read_json(path: Path) -> Any:
    content = read_text(path)
    try:
        return json.loads(content)
    except RecursionError:
        raise InvalidInput(str(path), "is nested too deeply") from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise InvalidInput(str(path), f"is not valid JSON ({where}: {error.msg})") from None


def fail(origin: str, field_name: str, detail: str) -> InvalidInput:
    """An error naming the file and task (`origin`) and the field."""
    return InvalidInput(f"{origin}: {field_name}", detail)


def optional_text(value: Mapping[str, Any], key: str, origin: str) -> str:
    found = value.get(key)
    if found is None:
        return ""
    if not isinstance(found, str):
        raise fail(origin, key, f"must be text, not {type(found).__name__}")
    return found.strip()


def validate(backlog: Backlog) -> Backlog:
    """Check every task as `task add` would, naming the file, the task and the field."""
    seen: set[str] = set()
    for task in backlog.tasks:
        try:
            parse_task_spec(task.fields)
        except InvalidInput as error:
            raise fail(task.origin, error.field, error.detail) from None
        task_id = task.fields["id"]
        if task_id in seen:
            raise fail(task.origin, "id", f"{task_id} appears twice")
        seen.add(task_id)
    if not backlog.tasks:
        raise InvalidInput(str(backlog.path), f"holds no {backlog.source} tasks to import")
    return backlog


def clip(text: str, limit: int, note: str) -> str:
    """`text` cut to `limit` characters, saying so and where the rest is."""
    if len(text) <= limit:
        return text
    tail = f"\n\n[… cut here: {note}]"
    return text[: limit - len(tail)].rstrip() + tail
