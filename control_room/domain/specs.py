"""Validation of what people and agents send: new tasks, progress, hand-ins, reasons.

Every check names the field and says what is acceptable, so a CLI line, an HTTP 422 or an MCP
error can pass the message on unchanged.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from control_room.domain.errors import InvalidInput
from control_room.domain.priority import Priority, parse_priority

TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
WORD = re.compile(r"[a-z0-9*][a-z0-9_.*-]{0,39}")
TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
ITEM_MAX = 2_000
LIST_MAX = 100
TEXT_MAX = 20_000
MAX_ATTEMPTS_RANGE = (1, 20)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A validated request to create a task; the store picks an id when `id` is None."""

    id: str | None
    title: str
    description: str = ""
    project: str = ""
    priority: Priority = Priority.P2
    type: str = "implementation"
    capabilities: tuple[str, ...] = ()
    criteria: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    manual: bool = False
    max_attempts: int = 3


SPEC_FIELDS = (
    "id", "title", "description", "project", "priority", "type", "capabilities", "criteria",
    "checks", "depends_on", "manual", "max_attempts",
)  # fmt: skip


def new_task_id() -> str:
    """A short random id such as `T-7KQ2MX` (collisions are retried by the store)."""
    alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "T-" + "".join(secrets.choice(alphabet) for _ in range(6))


def parse_task_spec(raw: Mapping[str, Any]) -> TaskSpec:
    """Validate one task as given by the CLI, an import file or an HTTP body."""
    unknown = sorted(set(raw) - set(SPEC_FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], f"unknown field (known: {', '.join(SPEC_FIELDS)})")
    task_id = raw.get("id")
    if task_id is not None and (not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id)):
        raise InvalidInput(
            "id", f"{task_id!r} is not a task id: 1-64 letters, digits, '.', '_' or '-'"
        )
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput("title", "a title is required")
    title = one_line(title.strip(), "title", TITLE_MAX)
    return TaskSpec(
        id=task_id,
        title=title,
        description=text(raw.get("description", ""), "description", DESCRIPTION_MAX),
        project=one_line(text(raw.get("project", ""), "project", 100), "project", 100),
        priority=parse_priority(raw.get("priority", "P2")),
        type=word(raw.get("type", "implementation"), "type"),
        capabilities=words(raw.get("capabilities", ()), "capabilities"),
        criteria=texts(raw.get("criteria", ()), "criteria"),
        checks=texts(raw.get("checks", ()), "checks"),
        depends_on=task_ids(raw.get("depends_on", ()), "depends_on", task_id),
        manual=boolean(raw.get("manual", False), "manual"),
        max_attempts=integer(raw.get("max_attempts", 3), "max_attempts", *MAX_ATTEMPTS_RANGE),
    )


def text(value: Any, field: str, limit: int = TEXT_MAX) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be text, not {type(value).__name__}")
    if len(value) > limit:
        raise InvalidInput(field, f"is {len(value):,} characters; the limit is {limit:,}")
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, "is not valid Unicode (a lone surrogate)") from None
    return value


def one_line(value: str, field: str, limit: int) -> str:
    value = text(value, field, limit)
    if "\n" in value or "\r" in value:
        raise InvalidInput(field, "must be a single line")
    return value


def word(value: Any, field: str) -> str:
    name = text(value, field, 40).strip().lower()
    if not WORD.fullmatch(name):
        raise InvalidInput(field, f"{name!r} is not a name: lowercase letters, digits, '_', '-'")
    return name


def _items(value: Any, field: str) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput(field, "must be a list")
    if len(value) > LIST_MAX:
        raise InvalidInput(field, f"has {len(value)} items; the limit is {LIST_MAX}")
    return list(value)


def words(value: Any, field: str) -> tuple[str, ...]:
    return _unique(word(v, field) for v in _items(value, field))


def texts(value: Any, field: str) -> tuple[str, ...]:
    items = (text(v, field, ITEM_MAX).strip() for v in _items(value, field))
    return tuple(item for item in items if item)


def task_ids(value: Any, field: str, own_id: str | None) -> tuple[str, ...]:
    ids = _unique(text(v, field, 64).strip() for v in _items(value, field))
    for dep in ids:
        if not TASK_ID.fullmatch(dep):
            raise InvalidInput(field, f"{dep!r} is not a task id")
        if dep == own_id:
            raise InvalidInput(field, f"{own_id} cannot depend on itself")
    return ids


def reference(value: Any, field: str) -> str:
    """An id given to look something up: text of 1-64 printable characters."""
    if not isinstance(value, str) or not 0 < len(value) <= 64 or not value.isprintable():
        raise InvalidInput(field, f"{value!r} is not an id")
    return text(value, field, 64)


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(field, "must be true or false")
    return value


def integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be a whole number from {low} to {high}")
    if not low <= value <= high:
        raise InvalidInput(field, f"{value} is out of range: use {low} to {high}")
    return value


def number(value: Any, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(field, f"must be a number from {low:g} to {high:g}")
    if not low <= value <= high:
        raise InvalidInput(field, f"{value:g} is out of range: use {low:g} to {high:g}")
    return float(value)


def reason(value: Any, field: str = "reason") -> str:
    given = text(value, field, ITEM_MAX).strip()
    if not given:
        raise InvalidInput(field, "a reason is required")
    return given


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle among `edges` (task -> what it depends on), as a path, or None."""
    done: set[str] = set()
    for start in edges:
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, Iterable[str]]] = [(start, iter(edges.get(start, ())))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, children = stack[-1]
            child = next(iter(children), None)
            if child is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif child in on_path:
                return [*path[path.index(child) :], child]
            elif child not in done:
                stack.append((child, iter(edges.get(child, ()))))
                path.append(child)
                on_path.add(child)
    return None
