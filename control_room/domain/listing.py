"""Listings that page: what a task or agent listing asks for, and the opaque cursor between pages.

Tasks are listed by (priority, created_at, task_id) and agents by (created_at, agent_id): keys
that never change once a row exists, so a walk that passes each page's `next` back as `cursor`
returns every row that exists for the whole walk and matches its filter exactly once, in order,
however many rows are added, claimed or finished meanwhile. (A row whose status leaves the
filter during the walk may be missed; a new one whose key sorts before the cursor, such as a new
P0 task, is not seen.)

A cursor is the last row's key, as base64url JSON tagged with the listing's kind; callers must
treat it as opaque. A cursor that is not one of ours is refused, naming the field `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from control_room.domain.errors import InvalidInput
from control_room.domain.status import FINAL, Status

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
OPEN: tuple[Status, ...] = tuple(s for s in Status if s not in FINAL)
"""Open tasks: every status except COMPLETED, FAILED and CANCELLED."""

TaskKey = tuple[str, float, str]  # (priority, created_at, task_id)
AgentKey = tuple[float, str]  # (created_at, agent_id)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks a listing holds: `statuses` None means every status."""

    statuses: tuple[Status, ...] | None = None
    capability: str | None = None
    agent_id: str | None = None
    text: str | None = None  # a substring of the id, title or description (ASCII case-insensitive)

    @property
    def open_only(self) -> bool:
        return self.statuses is not None and set(self.statuses) == set(OPEN)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; `next` is the cursor of the following page, None at the end."""

    items: list[T]
    next: str | None


def checked(where: TaskFilter) -> TaskFilter:
    """The filter, its words refused (naming the field) when they are not short single lines."""
    for name, label in (("capability", "capability"), ("agent_id", "agent"), ("text", "text")):
        value = getattr(where, name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 200 or not value.isprintable():
            raise InvalidInput(label, "must be a line of at most 200 printable characters")
    return where


def limit_value(value: object, field: str = "limit") -> int:
    """A page size from 1 to MAX_LIMIT (digits in a string are accepted, for query strings)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 7:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(field, f"must be a whole number from 1 to {MAX_LIMIT}")
    return value


def statuses_value(text: str, field: str = "status") -> tuple[Status, ...]:
    """`open`, one status, or several separated by commas (any case)."""
    names = [part.strip().upper() for part in text.split(",")]
    if names == ["OPEN"]:
        return OPEN
    if not all(names) or any(name not in Status.__members__ for name in names):
        known = ", ".join(Status)
        raise InvalidInput(field, f"use open, or one or more of {known} separated by commas")
    return tuple(dict.fromkeys(Status(name) for name in names))


def encode_cursor(kind: str, key: tuple[Any, ...]) -> str:
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_BAD = "not a cursor from this listing: pass back `next` as it came"


def _decode(kind: str, cursor: str) -> list[Any]:
    if not isinstance(cursor, str) or not 0 < len(cursor) <= 1000 or not cursor.isascii():
        raise InvalidInput("cursor", _BAD)
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise InvalidInput("cursor", _BAD) from None
    if not isinstance(data, list) or not data or data[0] != kind:
        raise InvalidInput("cursor", _BAD)
    return data[1:]


def _time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def task_cursor(cursor: str) -> TaskKey:
    key = _decode("t", cursor)
    if len(key) == 3 and isinstance(key[0], str) and _time(key[1]) and isinstance(key[2], str):
        return (key[0], float(key[1]), key[2])
    raise InvalidInput("cursor", _BAD)


def agent_cursor(cursor: str) -> AgentKey:
    key = _decode("a", cursor)
    if len(key) == 2 and _time(key[0]) and isinstance(key[1], str):
        return (float(key[0]), key[1])
    raise InvalidInput("cursor", _BAD)
