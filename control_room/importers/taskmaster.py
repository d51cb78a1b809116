"""Task Master's `tasks.json` (github.com/eyaltoledano/claude-task-master) as Control Room tasks.

Both forms the tool has written: tagged, `{"master": {"tasks": [...], "metadata": {...}}, ...}`
(any tag), and the older `{"tasks": [...]}`. Task `12` becomes `TM-12`, its subtask `3`
becomes `TM-12.3` (another tag than master: `TM-<tag>-12`), and the parent waits for its
subtasks (those not cancelled or deferred).
`details` goes into the description and `testStrategy` into the criteria; `done` tasks are
imported COMPLETED, `cancelled` and `deferred` ones CANCELLED, the rest open. A subtask's
numeric dependency names a sibling subtask, a dotted one (`"2.1"`) any subtask.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from control_room.domain import Status
from control_room.domain.specs import DESCRIPTION_MAX, ITEM_MAX
from control_room.importers.common import Backlog, Imported, fail, optional_text, read_json

SOURCE = "Task Master"
PRIORITIES = {"critical": "P0", "high": "P1", "medium": "P2", "low": "P3"}
OPEN = ("pending", "in-progress", "review", "blocked", "todo")
FINISHED = {
    "done": Status.COMPLETED,
    "completed": Status.COMPLETED,
    "cancelled": Status.CANCELLED,
    "deferred": Status.CANCELLED,
}
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}")
_TAG = re.compile(r"[^A-Za-z0-9_-]+")
PLACES = (".taskmaster/tasks/tasks.json", "tasks/tasks.json", "tasks.json")


def locate(path: Path) -> Path:
    """The tasks.json for PATH: the file itself, or where Task Master keeps it in a project."""
    if path.is_dir():
        for place in PLACES:
            if (path / place).is_file():
                return path / place
        raise fail(str(path), "path", "no " + " or ".join(PLACES) + " in this folder")
    return path


def read(path: Path, tag: str | None = None) -> Backlog:
    path = locate(path)
    name = str(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise fail(name, "tasks", "expected a Task Master tasks.json object")
    if "tasks" in data:  # the older, untagged form
        if tag not in (None, "master"):
            raise fail(name, "tag", f"{tag!r}: this file has no tags (an untagged tasks.json)")
        tasks, where = data["tasks"], name
    else:
        tag = tag or "master"
        tagged = data.get(tag)
        if not isinstance(tagged, dict) or "tasks" not in tagged:
            tags = [k for k, v in data.items() if isinstance(v, dict) and "tasks" in v]
            known = ", ".join(tags) or "none"
            raise fail(name, "tag", f"no tag {tag!r} with tasks (tags in this file: {known})")
        tasks, where = tagged["tasks"], f"{name} (tag {tag})"
    if not isinstance(tasks, list):
        raise fail(where, "tasks", "must be a list")
    backlog = Backlog(SOURCE, path)
    prefix = "TM-" if tag in (None, "master") else f"TM-{_TAG.sub('-', str(tag))[:20]}-"
    for index, raw in enumerate(tasks):
        if not isinstance(raw, dict):
            raise fail(f"{where}: tasks[{index}]", "task", "must be an object")
        found = _task(raw, where, f"tasks[{index}]", None, "P2")
        backlog.tasks += [_prefixed(task, prefix) for task in found]
    return backlog


def _prefixed(task: Imported, prefix: str) -> Imported:
    """Ids under `prefix`: `TM-` for the master tag, `TM-<tag>-` for the others (each tag
    numbers its tasks from 1)."""
    fields = task.fields | {
        "id": prefix + task.fields["id"],
        "depends_on": [prefix + dep for dep in task.fields["depends_on"]],
    }
    return Imported(fields, task.origin, task.status, task.reason)


def _task(
    raw: Mapping[str, Any], where: str, position: str, parent: str | None, inherited: str
) -> list[Imported]:
    """The task and its subtasks; `where` names the file, `position` the task until its id
    is known."""
    number = _number(raw.get("id"), f"{where}: {position}", parent)
    own = number if parent is None else f"{parent}.{number}"
    origin = f"{where}: task {own}"
    priority = _priority(raw.get("priority"), origin, inherited)
    status, reason = _status(raw.get("status"), origin)
    description, criteria = _text(raw, origin)
    depends = [_dependency(d, origin, parent) for d in _list(raw, "dependencies", origin)]
    subtasks: list[Imported] = []
    for index, sub in enumerate(_list(raw, "subtasks", origin)):
        if not isinstance(sub, dict):
            raise fail(f"{origin}: subtasks[{index}]", "subtask", "must be an object")
        subtasks += _task(sub, where, f"task {own}: subtasks[{index}]", own, priority)
    children = [s for s in subtasks if s.fields["id"].count(".") == own.count(".") + 1]
    depends += [s.fields["id"] for s in children if s.status is not Status.CANCELLED]
    fields = {
        "id": own,
        "title": raw.get("title"),
        "description": description,
        "priority": priority,
        "criteria": criteria,
        "depends_on": list(dict.fromkeys(depends)),
    }
    return [Imported(fields, origin, status, reason), *subtasks]


def _number(value: Any, origin: str, parent: str | None) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _ID.fullmatch(value.strip()):
        return value.strip()
    if parent is not None and isinstance(value, str) and value.startswith(f"{parent}."):
        return _number(value[len(parent) + 1 :], origin, parent)  # "2.1" written in full
    raise fail(origin, "id", f"{value!r} is not a Task Master task id (a whole number)")


def _priority(value: Any, origin: str, inherited: str) -> str:
    if value is None or value == "":
        return inherited
    found = PRIORITIES.get(value.strip().lower()) if isinstance(value, str) else None
    if found is None:
        raise fail(origin, "priority", f"{value!r}: expected high, medium or low")
    return found


def _status(value: Any, origin: str) -> tuple[Status | None, str]:
    given = "pending" if value is None else value
    if isinstance(given, str) and given.strip().lower() in OPEN:
        return None, ""
    if isinstance(given, str) and given.strip().lower() in FINISHED:
        word = given.strip().lower()
        return FINISHED[word], f"{word} in Task Master"
    known = ", ".join((*OPEN, *FINISHED))
    raise fail(origin, "status", f"{value!r}: expected one of {known}")


def _text(raw: Mapping[str, Any], origin: str) -> tuple[str, list[str]]:
    description = optional_text(raw, "description", origin)
    details = optional_text(raw, "details", origin)
    strategy = optional_text(raw, "testStrategy", origin)
    parts = [description] if description else []
    if details:
        parts.append(f"Details:\n{details}")
    criteria = []
    if strategy and len(strategy) <= ITEM_MAX - 20:
        criteria.append(f"Test strategy: {strategy}")
    elif strategy:  # too long for one criterion: kept whole in the description
        parts.append(f"Test strategy:\n{strategy}")
        criteria.append("The test strategy in the description passes")
    text = "\n\n".join(parts)
    if len(text) > DESCRIPTION_MAX:
        raise fail(origin, "details", f"description and details are {len(text):,} characters; "
                   f"the limit is {DESCRIPTION_MAX:,}")  # fmt: skip
    return text, criteria


def _list(raw: Mapping[str, Any], key: str, origin: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(origin, key, "must be a list")
    return value


def _dependency(value: Any, origin: str, parent: str | None) -> str:
    """The id (before its prefix) a dependency names: a number is a sibling inside subtasks,
    a top-level task outside them; a dotted string names that subtask wherever it is."""
    if isinstance(value, bool):
        raise fail(origin, "dependencies", f"{value!r} is not a task id")
    text = str(value).strip() if isinstance(value, int | str) else ""
    if "." in text and all(_ID.fullmatch(part) for part in text.split(".")):
        return text
    if text and _ID.fullmatch(text):
        return f"{parent}.{text}" if parent is not None else text
    raise fail(origin, "dependencies", f"{value!r} is not a task id")
