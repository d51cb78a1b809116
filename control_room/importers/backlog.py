"""Backlog.md's task files (github.com/MrLesk/Backlog.md) as Control Room tasks.

PATH is the project root, its `backlog/` folder or `backlog/tasks/`; every `*.md` there is one
task (drafts, completed and archived folders are not read). Task `task-3` (or `BACK-3`) becomes
`BL-task-3` (`BL-back-3`): Backlog.md ids ignore case, so they are lowercased. The front matter
gives title, status (`Done` -> COMPLETED, `Cancelled`/`Canceled` -> CANCELLED, any other -> open),
priority (high/medium/low -> P1/P2/P3), labels (mapped as in labels.py), dependencies and
parent_task_id (the parent waits for its subtasks); a dependency on a task in `completed/` or
`archive/tasks/` is dropped. `## Description` is the description (with
the assignee, when there is one); the acceptance criteria checkboxes are the criteria.
"""

from __future__ import annotations

import re
from pathlib import Path

from control_room.domain import Status
from control_room.domain.specs import DESCRIPTION_MAX
from control_room.importers import frontmatter
from control_room.importers.common import Backlog, Imported, clip, fail, read_text
from control_room.importers.labels import map_labels

SOURCE = "Backlog.md"
PRIORITIES = {"high": "P1", "medium": "P2", "low": "P3"}
FINISHED = {"done": Status.COMPLETED, "cancelled": Status.CANCELLED, "canceled": Status.CANCELLED}
FIELDS = frozenset(
    ("id", "title", "status", "assignee", "labels", "dependencies", "priority", "parent_task_id",
     "parent")
)  # fmt: skip
_SECTION = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_CHECKBOX = re.compile(r"^\s*[-*]\s+\[[ xX]\]\s+(?:#\d+\s+)?(.+?)\s*$", re.MULTILINE)
_MARKED = re.compile(r"<!--\s*(SECTION:DESCRIPTION|AC):BEGIN\s*-->(.*?)<!--\s*\1:END\s*-->", re.S)
_FILE_ID = re.compile(r"^([A-Za-z]+-[0-9][0-9.]*)\s+-\s+")


def locate(path: Path) -> Path:
    """The folder of task files for PATH (the root, `backlog/` or `backlog/tasks/`)."""
    for folder in (path / "backlog" / "tasks", path / "tasks", path):
        if folder.is_dir() and any(folder.glob("*.md")):
            return folder
    if not path.exists():
        raise fail(str(path), "path", "no such file or folder")
    raise fail(str(path), "path", "no Backlog.md task files (backlog/tasks/*.md) here")


def read(path: Path) -> Backlog:
    folder = locate(path)
    backlog = Backlog(SOURCE, folder)
    parents: dict[str, list[str]] = {}
    for file in sorted(folder.glob("*.md")):
        if file.name.lower() == "readme.md":
            continue
        task, parent = _task(file)
        backlog.tasks.append(task)
        if parent and task.status is not Status.CANCELLED:
            parents.setdefault(parent, []).append(task.fields["id"])
    put_away = _put_away(folder.parent)
    for task in backlog.tasks:
        children = parents.get(task.fields["id"], [])
        wanted = [d for d in task.fields["depends_on"] if d not in put_away]
        task.fields["depends_on"] = list(dict.fromkeys([*wanted, *children]))
    return backlog


def _put_away(backlog_folder: Path) -> set[str]:
    """Ids of the tasks Backlog.md moved to `completed/` or `archive/tasks/`: a dependency on
    one is dropped (done, or abandoned), instead of naming a task that is not imported."""
    found = set()
    for folder in (backlog_folder / "completed", backlog_folder / "archive" / "tasks"):
        for file in folder.glob("*.md") if folder.is_dir() else ():
            if match := _FILE_ID.match(file.name):
                found.add(_id(match.group(1)))
    return found


def _task(file: Path) -> tuple[Imported, str | None]:
    name = str(file)
    fields, body = frontmatter.split(read_text(file), name, FIELDS)
    raw_id = _one(fields, "id", name)
    if not raw_id:
        found = _FILE_ID.match(file.name)
        raw_id = found.group(1) if found else ""
    if not raw_id:
        raise fail(name, "id", "no id in the front matter or the file name")
    task_id = _id(raw_id)
    origin = f"{name}: task {raw_id}"
    status, reason = _status(_one(fields, "status", origin))
    mapped = map_labels(_many(fields, "labels", origin))
    priority = _one(fields, "priority", origin).lower()
    if priority and priority not in PRIORITIES:
        raise fail(origin, "priority", f"{priority!r}: expected high, medium or low")
    description = _description(body, _many(fields, "assignee", origin))
    task = {
        "id": task_id,
        "title": _one(fields, "title", origin),
        "description": clip(description, DESCRIPTION_MAX, f"the rest is in {file.name}"),
        "priority": PRIORITIES.get(priority) or mapped.priority or "P2",
        "type": mapped.type or "implementation",
        "capabilities": list(mapped.capabilities),
        "criteria": _criteria(body),
        "depends_on": [_id(d) for d in _many(fields, "dependencies", origin)],
    }
    parent = _one(fields, "parent_task_id", origin) or _one(fields, "parent", origin)
    return Imported(task, origin, status, reason), _id(parent) if parent else None


def _id(raw: str) -> str:
    return "BL-" + raw.strip().lower()


def _one(fields: dict[str, frontmatter.Value], key: str, origin: str) -> str:
    value = fields.get(key, "")
    if isinstance(value, list):
        if len(value) > 1:
            raise fail(origin, key, "expected one value, not a list")
        return value[0] if value else ""
    return value


def _many(fields: dict[str, frontmatter.Value], key: str, origin: str) -> list[str]:
    value = fields.get(key, [])
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [v for v in value if v]


def _status(value: str) -> tuple[Status | None, str]:
    final = FINISHED.get(value.strip().lower())
    return (final, f"{value.strip()} in Backlog.md") if final else (None, "")


def _sections(body: str) -> dict[str, str]:
    """Each `## Heading` (lowercased, without "(Optional)") -> its text."""
    heads = list(_SECTION.finditer(body))
    found = {}
    for index, head in enumerate(heads):
        end = heads[index + 1].start() if index + 1 < len(heads) else len(body)
        title = head.group(1).lower().replace("(optional)", "").strip()
        found[title] = body[head.end() : end]
    return found


def _marked(text: str, marker: str) -> str:
    for match in _MARKED.finditer(text):
        if match.group(1) == marker:
            return match.group(2)
    return text


def _description(body: str, assignees: list[str]) -> str:
    text = _marked(_sections(body).get("description", ""), "SECTION:DESCRIPTION").strip()
    if assignees:
        text += ("\n\n" if text else "") + "Assignee in Backlog.md: " + ", ".join(assignees)
    return text


def _criteria(body: str) -> list[str]:
    sections = _sections(body)
    section = next((text for title, text in sections.items() if "acceptance" in title), "")
    return [m.group(1) for m in _CHECKBOX.finditer(_marked(section, "AC"))]
