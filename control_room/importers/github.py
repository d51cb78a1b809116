"""GitHub issues as `gh issue list --json number,title,body,labels,state` writes them.

Open issues become tasks `GH-<number>`; closed ones are skipped and counted. The body is the
description (cut, saying so, past the description limit) and its task-list checkboxes the
criteria; labels give priority, type and capabilities as labels.py documents.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from control_room.domain.specs import DESCRIPTION_MAX
from control_room.importers.common import Backlog, Imported, clip, fail, optional_text, read_json
from control_room.importers.labels import map_labels

SOURCE = "GitHub issues"
_CHECKBOX = re.compile(r"^\s*[-*]\s+\[[ xX]\]\s+(.+?)\s*$", re.MULTILINE)
COMMAND = "gh issue list --json number,title,body,labels,state"


def read(path: Path) -> Backlog:
    name = str(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise fail(name, "issues", f"expected the list `{COMMAND}` writes")
    backlog = Backlog(SOURCE, path)
    for index, issue in enumerate(data):
        if not isinstance(issue, dict):
            raise fail(f"{name}: [{index}]", "issue", "must be an object")
        number = issue.get("number")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise fail(f"{name}: [{index}]", "number", f"{number!r} is not an issue number")
        origin = f"{name}: issue #{number}"
        state = issue.get("state")
        if not isinstance(state, str) or state.upper() not in ("OPEN", "CLOSED"):
            raise fail(origin, "state", f"{state!r}: expected OPEN or CLOSED")
        if state.upper() == "CLOSED":
            backlog.skipped["closed"] = backlog.skipped.get("closed", 0) + 1
            continue
        backlog.tasks.append(Imported(_task(issue, number, origin), origin))
    return backlog


def _task(issue: dict[str, Any], number: int, origin: str) -> dict[str, Any]:
    body = optional_text(issue, "body", origin).replace("\r\n", "\n")
    mapped = map_labels(_labels(issue.get("labels"), origin))
    source = f"GitHub issue #{number}"
    description = clip(body, DESCRIPTION_MAX - 40, f"the rest is in {source}")
    return {
        "id": f"GH-{number}",
        "title": issue.get("title"),
        "description": f"{description}\n\n({source})" if description else f"({source})",
        "priority": mapped.priority or "P2",
        "type": mapped.type or "implementation",
        "capabilities": list(mapped.capabilities),
        "criteria": [m.group(1) for m in _CHECKBOX.finditer(body)][:100],
    }


def _labels(value: Any, origin: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(origin, "labels", "must be a list")
    names = []
    for label in value:
        name = label.get("name") if isinstance(label, dict) else label
        if not isinstance(name, str):
            raise fail(origin, "labels", f"{label!r} has no name")
        names.append(name)
    return names
