"""Validation of an operator's edit of a task: which fields may change, and their new values.

An edit names only the fields it changes. Each value is checked exactly as `parse_task_spec`
checks it for a new task, so an edit can never store what `task add` would refuse. A list field
is replaced as a whole; an empty list clears it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from control_room.domain.errors import InvalidInput
from control_room.domain.models import Task
from control_room.domain.specs import parse_task_spec

EDITABLE = (
    "title", "description", "priority", "type", "capabilities", "criteria", "checks",
    "depends_on", "max_attempts",
)  # fmt: skip


def parse_edit(task_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The validated new values of the fields `raw` names (at least one), by field name."""
    unknown = sorted(set(raw) - set(EDITABLE))
    if unknown:
        raise InvalidInput(unknown[0], f"cannot be edited (editable: {', '.join(EDITABLE)})")
    if not raw:
        raise InvalidInput("fields", f"nothing to change: give one of {', '.join(EDITABLE)}")
    spec = parse_task_spec({"title": "unchanged", **raw})
    if task_id in spec.depends_on:
        raise InvalidInput("depends_on", f"{task_id} cannot depend on itself")
    return {name: getattr(spec, name) for name in raw}


SHOWN = 500  # characters of a long text kept in the `edited` event


def _plain(value: Any) -> Any:
    """A field's value as JSON: lists for tuples, text for a priority, long text shortened."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, str) and len(value) > SHOWN:
        return value[:SHOWN] + f"... ({len(value):,} characters)"
    return value if isinstance(value, int | str) and type(value) in (int, str) else str(value)


def differences(before: Task, changes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What an edit really changes: {field: {"from": old, "to": new}}, JSON-ready."""
    return {
        name: {"from": _plain(getattr(before, name)), "to": _plain(new)}
        for name, new in changes.items()
        if _key(name, getattr(before, name)) != _key(name, new)
    }


def _key(name: str, value: Any) -> Any:
    """Dependencies are a set (the registry keeps no order among them); other lists keep it."""
    return frozenset(value) if name == "depends_on" else value
